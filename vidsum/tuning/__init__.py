"""Tuning without Ray: what a per-fold search searches, how much, and what it writes and prints.

    space.py     a ``tune_spaces/*.yaml`` file: :class:`SearchSpace` and ``load_space``
    plan.py      the trial budget (``TUNE_DEFAULTS``), trial configs, what tune.py asks for
                 (``SearchOptions``, ``check_options``) and the jobs a trial / final fit receives
    rows.py      human / random reference rows, ``write_fold``, run ids for --resume, progress lines
    timeline.py  where a run's wall time went (the breakdown tune.py prints at the end)

``vidsum.distributed.search`` runs the search itself (Ray Tune + Optuna); nothing here imports
Ray or Optuna.
"""
