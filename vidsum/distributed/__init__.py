"""Ray lives here and only here: Ray Train wrappers around ``vidsum.training`` and the per-fold
Ray Tune + Optuna search that ``tune.py`` drives.

    train.py   ``fit_stage``: one stage of a method (``vidsum.training.methods``) under
               ``TorchTrainer`` (DDP workers, checkpoints, restart from the last checkpoint);
               ``train_stages_on_ray`` for a whole fold
    search.py  ``run_search``: for each fold, OptunaSearch (TPE) + ASHA on a validation part of the
               fold's training videos, then the best config trained once and scored on the test fold
    resume.py  checkpoint every epoch of an in-process run (a trial: Tune checkpoints; a final
               fit: ``FitProgress`` files in the run's storage) and continue after the last one
    preflight.py  what the cluster offers against what a trial asks (nodes, CPUs / GPUs, State
               API), checked before the search so that tune.py refuses instead of hanging;
               ``connect``: ray.init with a deadline

What the search plans, writes and prints without Ray is ``vidsum.tuning``. Importing this
package does not import Ray; the submodules do.
"""
