"""Per-fold hyperparameter search: Ray Tune + OptunaSearch (TPE) + ASHA, then one final fit.

The Ray and Optuna half of tuning; the space, budget, options, rows and progress lines are
``vidsum.tuning`` (no Ray). Any method of ``vidsum.training.methods``: the method gives the
config class the space is checked against, the trial's training loop and the final fit's stages.
For each fold of a split set:

  1. the fold's training keys are split by ``validation_holdout`` (the same rule, fraction and
     seed that ``vidsum.training.fold.run_fold`` uses) into tune-train and validation videos.
     ONLY these two key lists enter the trials (:class:`vidsum.tuning.plan.TrialContext`): a
     trial reads those videos from the data file and nothing else, so it cannot see a test video;
  2. each trial trains the method with the preset plus the trial's parameters, on a reduced
     epoch budget (:class:`vidsum.tuning.plan.TuneBudget`), and reports after every scored epoch
     (TR-SUM: RL epoch) ``objective`` = the best validation value so far (rule from the space
     file: mean F of the validation videos, or the label-free reconstruction reward); ASHA stops
     weak trials early;
  3. the best trial's parameters are trained once, fresh, with the preset's full epochs, by
     ``run_fold`` (same holdout, so label-free / validation selection work) and the test videos
     are scored under every selection rule. Human and random rows for the same test videos are
     written next to it (``vidsum.tuning.rows.write_fold``).

Rows go to ``<results>/{trials,folds,videos}.parquet`` (``vidsum.results.leaderboard``); each
trial's row is appended when the trial ends. The Optuna study of fold k is stored on disk
(``<results>/optuna/<run_id>.journal``, study ``fold<k>``); ``--resume`` reuses the run id,
skips folds already in folds.parquet and runs only the trials a fold still lacks (finished
trials stay in the study and keep informing TPE; interrupted ones are re-run).

Storage (``--storage``, :mod:`vidsum.distributed.storage`; default the results folder): Tune's
trials (``ray_tune/``), Ray Train's runs (``ray_train/``) and the final models
(``checkpoints/<run_id>/fold<k>/``) go there, and the driver mirrors the leaderboards, the Optuna
journal and the run ids there after every fold. An in-process trial reports a Tune checkpoint per
scored epoch (:mod:`vidsum.distributed.resume`); Tune's FailureConfig restarts a trial whose process
or node died from it (``ray.tune.get_checkpoint``), at the next epoch, on any node. An in-process
final fit checkpoints every epoch of every stage the same way, into
``checkpoints/<run_id>/fold<k>/progress/`` (:func:`progress_storage`); Ray's retry of a final fit
task whose process or node died continues there, and the driver deletes them once the fold's rows
are written.

Final fits run as Ray tasks, so fold k's final fit overlaps fold k+1's search (on 2 cores, one
core trains the final model while the other runs trials; ``final_fit_slots``).

Resources: :func:`trial_request` is what a trial (and a final fit) holds -- 1 CPU and
``--gpus-per-trial`` in the trial's process, or 0.01 CPU plus Ray Train workers -- both for Tune
and for the cluster checks tune.py runs first (:mod:`vidsum.distributed.preflight`). GPU trials
run as many at once as fit on the cluster (``preflight.plan_concurrency``: 0.25 GPU each puts four
on every GPU); inside, :func:`pick_device` takes cuda when torch sees the GPU Ray assigned and
falls back to CPU with a note in the trial's log. :class:`_StallGuard` stops a fold whose trials
wait while none runs for ``preflight.STALL_LIMIT_S`` (Tune itself would wait forever).

Ray 2.60 API relied on: ray.tune.Tuner(trainable, tune_config=ray.tune.TuneConfig(search_alg,
scheduler, num_samples, max_concurrent_trials), run_config=ray.tune.RunConfig(name,
storage_path, storage_filesystem, failure_config=ray.tune.FailureConfig(max_failures),
checkpoint_config=ray.tune.CheckpointConfig(num_to_keep), callbacks, verbose)) -- ray.tune.RunConfig, NOT ray.train.RunConfig;
ray.tune.with_parameters / with_resources; ray.tune.report(metrics, checkpoint=
ray.tune.Checkpoint.from_directory(d)) in a function trainable (persisted before it returns),
ray.tune.get_checkpoint(), ray.tune.get_context().get_trial_id();
ray.get_runtime_context().get_node_id();
ray.tune.search.optuna.OptunaSearch(space=<optuna distributions>, metric, mode,
points_to_evaluate, sampler, study_name, storage=<optuna BaseStorage>) -- it creates the study
with load_if_exists=True; ray.tune.schedulers.ASHAScheduler(time_attr, metric, mode, max_t,
grace_period, reduction_factor); ray.tune.Callback hooks on_trial_start / on_trial_result /
on_trial_complete / on_trial_error. Tune over Train (``workers_per_trial >= 1``): trainer.fit()
inside the trial with ray.tune.integration.ray_train.TuneReportCallback; the trial itself holds
0.01 CPU (0 is rejected) and the Train workers 0.9 CPU each.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import optuna
import ray
import ray.tune
import torch
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages.journal import JournalFileBackend, JournalStorage
from optuna.trial import TrialState
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from vidsum.data.splits import Split, load_splits, validation_holdout
from vidsum.distributed import preflight
from vidsum.distributed.preflight import TrialRequest
from vidsum.distributed.resume import (PROGRESS_DIR, EpochCheckpointer, FitProgress, Resume, SaveEpoch,
                                       read_checkpoint_dir, resumed_from, train_stages)
from vidsum.distributed.storage import Storage, fetch_results, mirror_results
from vidsum.tuning import timeline
from vidsum.distributed.train import (DEFAULT_CPUS_PER_WORKER, DataSpec, data_spec, fit_stage_full, load_videos,
                                      prepare_data, running_objective, train_stages_on_ray)
from vidsum.progress import EpochProgress
from vidsum.progress import enabled as progress_enabled
from vidsum.results import leaderboard
from vidsum.training.fold import FoldResult, run_fold
from vidsum.training.loop import Runtime
from vidsum.training.methods import Method, get_method
from vidsum.tuning.plan import (TUNE_DEFAULTS, FinalJob, SearchOptions, TrialContext, TuneBudget, check_options,
                                final_fit_slots, trial_config)
from vidsum.tuning.rows import (fmt_epochs, fmt_params, folds_done, print_fold, resolve_run_id, trial_epoch_line,
                                write_fold)
from vidsum.tuning.space import ParamSpec, SearchSpace

# CPU held by a Tune trial that only drives Train workers (0 is rejected by Tune).
DRIVER_CPU = 0.01
# Tune restarts a failed trial (its process or node died) this often, from its last checkpoint.
TRIAL_MAX_FAILURES = 2
# A final fit task whose worker or node dies is run again this often: in process (workers 0) from
# the epoch after its last checkpoint (_final_in_process), with Ray Train workers from the start.
FINAL_MAX_RETRIES = 2
# CPU held by a trial that trains in its own process (workers_per_trial 0), and by its final fit.
TRIAL_CPU = 1.0


def trial_request(workers: int, gpus: float) -> TrialRequest:
    """The resources one trial holds: what Tune is given (``tune_fold``) and what the cluster
    checks of ``vidsum.distributed.preflight`` test, from the one place.

    workers == 0: TRIAL_CPU and all ``gpus`` in the trial's process. workers >= 1: the trial holds
    DRIVER_CPU and its Ray Train workers DEFAULT_CPUS_PER_WORKER and gpus / workers GPU each
    (``run_trial``'s TorchTrainer scaling)."""
    if workers == 0:
        return TrialRequest(cpus=TRIAL_CPU, gpus=gpus)
    return TrialRequest(cpus=DRIVER_CPU, workers=workers, worker_cpus=DEFAULT_CPUS_PER_WORKER, worker_gpus=gpus / workers)


def pick_device(gpus: float, what: str) -> torch.device:
    """'cuda' when this process holds GPUs (``gpus`` > 0) and torch sees one, else CPU.

    Ray sets CUDA_VISIBLE_DEVICES to the GPU id(s) it assigned to the process, so 'cuda' is that GPU
    (shared with other trials when gpus < 1). A process holding a GPU that torch cannot see (a
    CPU-only torch build, or a node declaring GPUs it lacks) trains on CPU and says so on stderr,
    i.e. in its Ray worker log (shown by the driver with --verbose)."""
    if gpus <= 0:
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    print(f"{what}: holds {gpus:g} GPU (Ray GPU id(s) {_gpu_ids() or 'none'}, CUDA_VISIBLE_DEVICES="
          f"{os.environ.get('CUDA_VISIBLE_DEVICES', '')!r}) but torch {torch.__version__} sees no CUDA device"
          f"{'' if torch.version.cuda else ' (a CPU-only build)'}: training on CPU", file=sys.stderr, flush=True)
    return torch.device("cpu")


def _gpu_ids() -> str:
    """The GPU ids Ray assigned to this process, comma-separated ('' for none)."""
    return ",".join(str(i) for i in ray.get_runtime_context().get_accelerator_ids().get("GPU", []))


# ---------------------------------------------------------------------- Optuna distributions


def distribution(p: ParamSpec) -> BaseDistribution:
    """The Optuna distribution of one searched parameter."""
    if p.type == "float":
        return FloatDistribution(p.low, p.high, log=p.log, step=p.step)
    if p.type == "int":
        return IntDistribution(int(p.low), int(p.high), log=p.log, step=int(p.step or 1))
    return CategoricalDistribution(list(p.choices))


def distributions(space: SearchSpace) -> dict[str, BaseDistribution]:
    """{name: Optuna distribution} of a space (OptunaSearch's ``space``)."""
    return {n: distribution(p) for n, p in space.params.items()}


# --------------------------------------------------------------------------------- the trial


# An in-process trial checkpoints every scored epoch as a Tune checkpoint (kept by Tune in its
# storage): the folder of vidsum.distributed.resume (the scored stage's loop state, the rows
# reported so far, the models of the stages before it), so a trial restarted by Tune's
# FailureConfig -- on any node -- continues at the epoch after it without redoing pretraining.


def _tune_save(device: str) -> SaveEpoch:
    """EpochCheckpointer.save of a trial: one Tune result per scored epoch, with its checkpoint."""
    # where the trial trains and on which of Ray's GPU ids (the driver warns about CPU fallback)
    where = {"device": device, "gpu_ids": _gpu_ids()}

    def save(row: dict[str, Any], folder: Path | None) -> None:
        # node_id: where this epoch ran (a trial restarted after a node loss shows the move)
        result = {**{k: v for k, v in row.items() if k != "stage"}, "node_id": ray.get_runtime_context().get_node_id(),
                  **where}
        # persisted to the experiment's storage before report returns
        ray.tune.report(result, checkpoint=None if folder is None else ray.tune.Checkpoint.from_directory(str(folder)))

    return save


def _trial_checkpoint(method: Method) -> Resume:
    """This trial's last checkpoint (``ray.tune.get_checkpoint``), or a fresh Resume on its first attempt."""
    ckpt = ray.tune.get_checkpoint()
    if ckpt is None:
        return Resume()
    with ckpt.as_directory() as d:
        return read_checkpoint_dir(Path(d), method, method.scored.name)


def _run_trial_in_process(method: Method, cfg: Any, ctx: TrialContext, spec: DataSpec) -> None:
    """The stages of ``method`` in this process; the scored stage reports (and checkpoints) each epoch.

    On a restart the scored stage resumes from the trial's last checkpoint and the earlier stages'
    models come from it too (their training is not redone); a trial killed before its first scored
    epoch starts over. Every result gets ``resumed_from``: the checkpoint epoch this attempt
    started from (-1: fresh)."""
    torch.set_num_threads(1)
    videos = load_videos(spec, list(ctx.train_keys) + list(ctx.val_keys))
    train = [videos[k] for k in ctx.train_keys]
    val = [videos[k] for k in ctx.val_keys]
    device = pick_device(ctx.gpus, f"trial {ray.tune.get_context().get_trial_id()}")
    resume = _trial_checkpoint(method)
    rule = ctx.space.objective
    reporter = EpochCheckpointer(_tune_save(device.type), resume, {"resumed_from": resume.epoch},
                                 annotate=lambda row, history: running_objective(row, rule, history),
                                 crash_once=ctx.crash_once)
    # unscored stages report nothing: every Tune result carries the objective
    train_stages(method, cfg, train, val, None, spec.dataset, device, resume, reporter, report_unscored=False)


def run_trial(params: dict[str, Any], ctx: TrialContext) -> None:
    """The Tune function trainable: train on ctx.train_keys, report the objective on ctx.val_keys."""
    method = get_method(ctx.method)
    cfg = trial_config(method, ctx.base, ctx.space, params, ctx.epochs)
    spec = DataSpec.from_dict(ctx.data)
    if ctx.workers == 0:
        _run_trial_in_process(method, cfg, ctx, spec)
        return
    # Tune over Train: this trial holds 0.01 CPU and drives ctx.workers DDP workers.
    from ray.tune.integration.ray_train import TuneReportCallback

    # Train's runs of this trial: below --storage (every node reaches it), else the trial's own folder
    trial_id = ray.tune.get_context().get_trial_id()
    storage = ctx.storage.child(f"trial-{trial_id}") if ctx.storage is not None else ray.tune.get_context().get_trial_dir()
    common = dict(num_workers=ctx.workers, use_gpu=ctx.gpus > 0, storage_path=storage, max_failures=1,
                  gpus_per_worker=(ctx.gpus / ctx.workers) if ctx.gpus > 0 else None)
    # Only the scored stage reports to Tune: one result per epoch (ASHA's time unit).
    scored = dict(val_keys=ctx.val_keys, objective=ctx.space.objective, callbacks=[TuneReportCallback()], **common)
    inputs: dict[str, Path] = {}
    for stage in method.stages:
        extra = scored if stage is method.scored else common
        fit = fit_stage_full(stage.name, cfg, spec, ctx.train_keys, inputs=dict(inputs), name=stage.name, **extra)
        inputs[stage.name] = fit.checkpoint


# ---------------------------------------------------------------------------- trial progress


# Without --verbose, a running trial's epoch line comes at most this often (its start and end
# lines always come): a paper-preset trial trains for hours, a quick one for seconds.
TRIAL_EPOCH_LINE_EVERY_S = 30.0


class _TrialRows(ray.tune.Callback):
    """Prints a line per trial event and appends one trials.parquet row per finished trial.

    Epoch progress arrives as the trials' normal Tune results (``scored_epoch``, ``objective``,
    Tune's ``time_total_s``): with ``verbose`` a line per epoch, by default at most one per trial
    every TRIAL_EPOCH_LINE_EVERY_S (with the trial's time left at this pace), with ``quiet`` no
    per-trial line at all (the fold's lines and the rows stay).
    """

    def __init__(self, results_dir: Path, base_row: dict[str, Any], fold: int, n_trials: int, max_t: int, verbose: bool,
                 already_finished: int = 0, quiet: bool = False, gpus: float = 0.0):
        self.results_dir, self.base_row, self.fold = results_dir, base_row, fold
        self.gpus = gpus  # GPUs each trial holds: a trial reporting device 'cpu' then fell back (warned once)
        self._warned_cpu = False
        self.n_trials, self.max_t, self.verbose, self.quiet = n_trials, max_t, verbose, quiet
        self.finished = already_finished  # finished trials of this fold (earlier attempts included, for the n/N display)
        self.ended = 0  # trials of this Tuner that ended (finished or errored)
        self.trial_s = 0.0  # their summed wall time (each holds one CPU): the time breakdown's trial CPU-seconds
        self._last_line: dict[str, float] = {}  # trial id -> time of its last line

    def _say(self, trial, text: str) -> None:
        if not self.quiet:
            print(f"[fold {self.fold}] trial {trial.trial_id} {text}", flush=True)
            self._last_line[trial.trial_id] = time.monotonic()

    def on_trial_start(self, iteration, trials, trial, **info):
        self._say(trial, f"started: {fmt_params(trial.config)}")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if self.gpus > 0 and result.get("device") == "cpu" and not self._warned_cpu:
            self._warned_cpu = True
            print(f"\n*** WARNING: [fold {self.fold}] trial {trial.trial_id} holds {self.gpus:g} GPU (Ray GPU id(s) "
                  f"{result.get('gpu_ids') or 'none'}) but trains on CPU: torch sees no CUDA device on its node "
                  f"(the trial's log says why).\n", file=sys.stderr, flush=True)
        if self.quiet or not self.verbose and not self._epoch_line_due(trial, result):
            return
        self._say(trial, trial_epoch_line(result, self.max_t))

    def _epoch_line_due(self, trial, result: dict[str, Any]) -> bool:
        if result.get("scored_epoch", 0) >= self.max_t:
            return False  # its end line follows at once
        return time.monotonic() - self._last_line.get(trial.trial_id, -math.inf) >= TRIAL_EPOCH_LINE_EVERY_S

    def _row(self, trial, status: str) -> None:
        last = trial.last_result or {}
        objective = last.get("objective")
        objective = None if objective is None or (isinstance(objective, float) and math.isnan(objective)) else float(objective)
        if status == "TERMINATED" and last.get("scored_epoch", self.max_t) < self.max_t:
            status = "EARLY_STOPPED"
        self.ended += 1
        if status != "ERROR":
            self.finished += 1
        wall = last.get("time_total_s")
        self.trial_s += float(wall or 0.0)
        self._say(trial, f"{status} ({self.finished}/{self.n_trials}) after {last.get('scored_epoch', 0)}/{self.max_t} "
                         f"epochs, {wall or 0:.0f} s: objective {'n/a' if objective is None else f'{objective:.4f}'}  "
                         f"{fmt_params(trial.config)}")
        leaderboard.append_rows(self.results_dir, "trials", [{
            **self.base_row, "trial_id": trial.trial_id, "params": dict(trial.config), "objective": objective,
            "status": status, "wall_s": None if wall is None else float(wall),
        }])

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._row(trial, "TERMINATED")

    def on_trial_error(self, iteration, trials, trial, **info):
        self._row(trial, "ERROR")


class _StallGuard(ray.tune.Callback):
    """Ends the search with one clear error when trials wait and none has run for ``limit_s``.

    Tune waits without end for resources nobody frees (a Ray Train trial stopped early on a cluster
    without the State API leaks its workers' CPUs; a node lost for good; a cluster held by other
    jobs): this turns that into a RuntimeError out of ``tuner.fit()`` naming the request and what
    each node has free. ``busy()``: whether work of ours holds the resources meanwhile (final
    fits of earlier folds), which is waiting for a reason and does not count.
    """

    def __init__(self, fold: int, request: TrialRequest, limit_s: float, busy: Callable[[], bool] | None = None):
        self.fold, self.request, self.limit_s, self.busy = fold, request, limit_s, busy or (lambda: False)
        self.since: float | None = None  # when trials started waiting with none running

    def on_step_end(self, iteration, trials, **info):
        waiting = [t for t in trials if t.status == "PENDING"]
        if not waiting or any(t.status == "RUNNING" for t in trials) or self.busy():
            self.since = None
            return
        self.since = self.since if self.since is not None else time.monotonic()
        if time.monotonic() - self.since >= self.limit_s:
            facts = preflight.cluster_facts()
            free = "; ".join(preflight.describe_node(n, "free") for n in preflight.alive_nodes(facts)) or "no node alive"
            raise RuntimeError(
                f"fold {self.fold}: no trial has run for {self.limit_s:.0f} s while {len(waiting)} wait(s) for "
                f"{self.request.describe()}; free now: {free}. Something holds the resources (Ray Train trials on a "
                f"cluster without the State API leak theirs; README, \"Never hangs\") or a node is gone; "
                f"--wait-for-resources S waits longer")


class _Every(ray.tune.Callback):
    """Calls ``fn()`` from Tune's driver loop at most every ``period_s`` (collects finished final fits
    while a later fold is being searched, so their rows appear as soon as they exist)."""

    def __init__(self, fn, period_s: float = 2.0):
        self.fn, self.period_s, self.last = fn, period_s, 0.0

    def on_step_end(self, iteration, trials, **info):
        if time.monotonic() - self.last >= self.period_s:
            self.last = time.monotonic()
            self.fn()


# ---------------------------------------------------------------------------------- one fold


@dataclass
class FoldSearch:
    """What the search of one fold found (from the Optuna study: this run's trials, all attempts)."""

    fold: int
    best_params: dict[str, Any]
    best_objective: float
    n_finished: int
    wall_s: float
    trial_s: float = 0.0  # summed wall time of the trials run now (not those of an earlier attempt)


def _study(storage: JournalStorage, name: str) -> optuna.Study:
    return optuna.create_study(storage=storage, study_name=name, direction="maximize", load_if_exists=True)


def finished_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Trials that count toward the budget: completed (incl. ASHA-stopped) or pruned.

    Errored and interrupted trials do not count, so --resume runs them again.
    """
    return [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]


def _close_interrupted(study: optuna.Study) -> int:
    """Mark trials left RUNNING by a killed run as FAIL (they will be re-run). Returns how many."""
    stale = [t for t in study.trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    for t in stale:
        study.tell(t.number, state=TrialState.FAIL)
    return len(stale)


def tune_fold(
    *,
    fold: int,
    method: Method,
    data: DataSpec,
    train_keys: tuple[str, ...],
    val_keys: tuple[str, ...],
    base: dict[str, Any],
    space: SearchSpace,
    budget: TuneBudget,
    n_trials: int,
    run_id: str,
    results_dir: Path,
    base_row: dict[str, Any],
    workers: int = 0,
    gpus: float = 0.0,
    seed: int = 0,
    verbose: bool = False,
    while_waiting=None,
    quiet: bool = False,
    storage: Storage | None = None,
    crash_once: dict[str, Any] | None = None,
    stall_s: float = preflight.STALL_LIMIT_S,
    busy: Callable[[], bool] | None = None,
) -> FoldSearch:
    """Search one fold; takes the tune-train and validation keys only (never a Split).

    while_waiting: an optional no-argument callable run every few seconds during the search.
    verbose / quiet: a line per trial epoch / no per-trial lines (see :class:`_TrialRows`).
    storage: where Ray Tune keeps the trials and their checkpoints (``ray_tune/`` below it;
    default: ``results_dir``). crash_once: fault injection for tests (TrialContext.crash_once).
    stall_s / busy: the search stops with an error when trials wait and none has run for
    ``stall_s`` seconds while ``busy()`` is false (:class:`_StallGuard`).
    """
    storage = storage or Storage.parse(results_dir)
    t0 = time.perf_counter()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    overlap = sorted(set(train_keys) & set(val_keys))
    if overlap or not train_keys or not val_keys:
        raise ValueError(f"tune_fold: need disjoint, non-empty train/val keys (overlap: {overlap})")
    journal = results_dir / "optuna" / f"{run_id}.journal"
    journal.parent.mkdir(parents=True, exist_ok=True)
    journal_storage = JournalStorage(JournalFileBackend(str(journal)))
    study_name = f"fold{fold}"
    study = _study(journal_storage, study_name)
    stale = _close_interrupted(study)
    done = len(finished_trials(study))
    remaining = max(0, n_trials - done)
    if done or stale:
        print(f"[fold {fold}] resuming the search: {done} finished trial(s) kept, {stale} interrupted, "
              f"{remaining} to run", flush=True)
    cfg = trial_config(method, base, space, {})
    epochs = budget.trial_epochs(method, cfg)
    trial_s = 0.0
    if remaining:
        # The preset's own values go first (when inside the space), so the search starts from them.
        default_point = {n: getattr(cfg, n) for n in space.params}
        in_space = all(p.contains(default_point[n]) for n, p in space.params.items())
        sampler = optuna.samplers.TPESampler(
            seed=seed * 1000 + fold, n_startup_trials=min(10, max(2, n_trials // 2)),
            constant_liar=budget.max_concurrent != 1)
        searcher = OptunaSearch(
            space=distributions(space), metric="objective", mode="max", sampler=sampler, study_name=study_name,
            storage=journal_storage, points_to_evaluate=[default_point] if in_space and not study.trials else None)
        max_t = epochs[method.scored_epochs]
        scheduler = ASHAScheduler(time_attr="scored_epoch", metric="objective", mode="max", max_t=max_t,
                                  grace_period=min(budget.grace_period, max_t), reduction_factor=budget.reduction_factor)
        experiment = f"{run_id}-fold{fold}-{int(time.time())}"
        ctx = TrialContext(method.name, data.to_dict(), tuple(train_keys), tuple(val_keys), dict(base), space, epochs, workers, gpus,
                           crash_once, storage.child("ray_train", experiment) if workers else None)
        request = trial_request(workers, gpus)
        trainable = ray.tune.with_resources(ray.tune.with_parameters(run_trial, ctx=ctx), request.tune_resources())
        print(f"[fold {fold}] searching {remaining} trial(s) of {space.name} on {len(train_keys)} train / "
              f"{len(val_keys)} validation videos; trial = {fmt_epochs(method, epochs)}; "
              f"objective = best {space.objective} value", flush=True)
        rows = _TrialRows(results_dir, {**base_row, "fold": fold}, fold, n_trials, max_t, verbose, done, quiet, gpus)
        guard = _StallGuard(fold, request, stall_s, busy)
        tuner = ray.tune.Tuner(
            trainable,
            tune_config=ray.tune.TuneConfig(search_alg=searcher, scheduler=scheduler, num_samples=remaining,
                                            max_concurrent_trials=budget.max_concurrent or None),
            # (reuse_actors=True is refused for function trainables in Ray 2.60: "requires reset_config()")
            run_config=ray.tune.RunConfig(
                name=experiment, **storage.ray_storage("ray_tune"),
                # a trial whose process or node dies restarts from its last checkpoint
                failure_config=ray.tune.FailureConfig(max_failures=TRIAL_MAX_FAILURES),
                checkpoint_config=ray.tune.CheckpointConfig(num_to_keep=2),
                callbacks=[rows, guard] + ([_Every(while_waiting)] if while_waiting else []), verbose=0),
        )
        tuner.fit()
        trial_s = rows.trial_s
        if rows.ended < remaining:  # Tune returns normally after Ctrl-C
            raise RuntimeError(f"fold {fold}: the search stopped after {rows.ended} of {remaining} trial(s) "
                               f"(interrupted?); run again with --resume to continue it")
    study = _study(journal_storage, study_name)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE and t.value is not None
                and not math.isnan(t.value)]
    if not complete:
        raise RuntimeError(f"fold {fold}: no trial finished with an objective (see the trial errors above; "
                           f"study in {journal})")
    best = max(complete, key=lambda t: t.value)
    print(f"[fold {fold}] best of {len(complete)} trial(s): objective {best.value:.4f}  {fmt_params(best.params)}",
          flush=True)
    return FoldSearch(fold, dict(best.params), float(best.value), len(finished_trials(study)), time.perf_counter() - t0,
                      trial_s)


# --------------------------------------------------------------------------------- final fit


def run_final(job: FinalJob) -> FoldResult:
    """Train the chosen config once with the preset's epochs and score the test fold.

    In process (``job.workers == 0``) with ``job.progress``: every epoch of every stage is
    checkpointed there (:func:`_final_in_process`), so a retry of this task by Ray continues after
    the last checkpoint."""
    method = get_method(job.method)
    spec = DataSpec.from_dict(job.data)
    cfg = method.config_cls.from_dict(job.cfg)
    dataset = prepare_data(spec, quiet=True)
    split = Split(job.train_keys, job.test_keys)
    if job.upload_to is not None:  # remote storage: write the models here, then upload them
        with tempfile.TemporaryDirectory(prefix="vidsum-final-") as tmp:
            result = run_final(replace(job, checkpoint_dir=tmp, upload_to=None))
            Storage(**job.upload_to).upload(tmp)
        return result
    if job.workers == 0:
        torch.set_num_threads(1)
        device = pick_device(job.gpus, f"[fold {job.fold}] final fit")
        # A plain line per epoch on this Ray worker's stderr (its log; the driver shows it with
        # --verbose); VIDSUM_PROGRESS=0, which tune.py --quiet sets before Ray starts, silences it.
        epochs = EpochProgress(f"[fold {job.fold}] final fit {method.name}", method.stage_epochs(cfg))
        try:
            if job.progress is not None:
                return _final_in_process(method, cfg, dataset, split, job, device, epochs)
            return run_fold(method, cfg, dataset, split, fold=job.fold, split_set=job.split_set,
                            rt=Runtime(device=device, report=epochs), checkpoint_dir=job.checkpoint_dir)
        finally:
            epochs.close()
    on_ray = dict(num_workers=job.workers, use_gpu=job.gpus > 0,
                  gpus_per_worker=(job.gpus / job.workers) if job.gpus > 0 else None,
                  storage_path=job.train_storage or Path(job.checkpoint_dir) / "ray_train", name=f"final-fold{job.fold}")
    return run_fold(method, cfg, dataset, split, fold=job.fold, split_set=job.split_set, checkpoint_dir=job.checkpoint_dir,
                    train=train_stages_on_ray(method, spec, **on_ray))


def final_progress(job: FinalJob) -> FitProgress:
    """Where the in-process final fit ``job`` keeps its epoch checkpoints, and what they belong to:
    a checkpoint of another config, data or keys is not resumed from."""
    if job.progress is None:
        raise ValueError(f"[fold {job.fold}] final fit: no progress storage")
    fit = {"method": job.method, "data": job.data, "train_keys": list(job.train_keys), "test_keys": list(job.test_keys),
           "cfg": job.cfg}
    return FitProgress(Storage(**job.progress), fit)


def _final_in_process(method: Method, cfg: Any, dataset: Any, split: Split, job: FinalJob, device: torch.device,
                      show: Callable[[dict[str, Any]], None]) -> FoldResult:
    """run_fold with every epoch of every stage checkpointed to ``job.progress``, continuing after the
    last checkpoint there: the stages before it are loaded (no pretraining again), its stage goes on
    at the next epoch. The result's history is the rows reported, each with ``resumed_from`` (the
    checkpoint epoch this attempt started from, -1: fresh) and ``resumed_stage``."""
    progress = final_progress(job)
    resume = progress.latest(method)
    if resume.stage is not None:  # in this worker's log (the driver prints its own line)
        print(f"[fold {job.fold}] final fit: continuing after {resume.stage} epoch {resume.epoch} "
              f"(checkpoint in {progress.storage.uri})", file=sys.stderr, flush=True)

    def save(row: dict[str, Any], folder: Path | None) -> None:
        if folder is not None:
            progress.save(str(row["stage"]), int(row["epoch"]), folder)

    reporter = EpochCheckpointer(save, resume, {"resumed_from": resume.epoch, "resumed_stage": resume.stage},
                                 show=show, crash_once=job.crash_once)

    def train(cfg: Any, train_videos, val, test, dataset_name: str):
        return train_stages(method, cfg, train_videos, val, test, dataset_name, device, resume, reporter)

    result = run_fold(method, cfg, dataset, split, fold=job.fold, split_set=job.split_set,
                      checkpoint_dir=job.checkpoint_dir, train=train)
    return replace(result, history=list(reporter.history))


# ------------------------------------------------------------------------------ whole search


def progress_storage(storage: Storage, run_id: str, fold: int) -> Storage:
    """Where fold ``fold``'s in-process final fit keeps its epoch checkpoints: beside its models,
    ``<storage>/checkpoints/<run_id>/fold<k>/progress/`` (deleted once the fold's rows are written)."""
    return storage.child("checkpoints", run_id, f"fold{fold}", PROGRESS_DIR)


def warn_if_unshared(storage: Storage) -> bool:
    """On a cluster of more than one node, say loudly that a local storage path must be shared.

    Ray (since 2.7) does not sync files between nodes; its docs ("Configuring Persistent
    Storage") require cloud storage or a shared filesystem for multi-node runs. Returns whether
    it warned."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if len(nodes) < 2 or not storage.is_local:
        return False
    print(f"\n*** WARNING: a cluster of {len(nodes)} nodes with a LOCAL storage path ({storage.uri}): this path must be\n"
          f"*** the same shared folder on EVERY node (e.g. an NFS mount). Ray does not copy files between nodes\n"
          f"*** (Ray docs, \"Configuring Persistent Storage\": multi-node runs need cloud storage or a shared\n"
          f"*** filesystem): otherwise trial checkpoints and the final models stay on the worker that wrote them.\n"
          f"*** Use --storage s3://bucket/prefix (or a shared path).\n", file=sys.stderr, flush=True)
    return True


def run_search(o: SearchOptions) -> dict[str, Any]:
    """Search every requested fold and score it; returns a summary dict. Ray must be initialised."""
    space = check_options(o)
    t0 = time.perf_counter()
    results_dir = Path(o.results).resolve()
    method = get_method(o.method)
    base = method.preset(o.preset, **o.config_overrides).to_dict()
    budget = o.budget or TUNE_DEFAULTS[o.preset]
    n_trials = o.trials or budget.trials
    request = trial_request(o.workers_per_trial, o.gpus_per_trial)
    fits = preflight.trials_that_fit(preflight.cluster_facts(), request)
    concurrent = preflight.plan_concurrency(o.max_concurrent, budget.max_concurrent, o.gpus_per_trial, fits)
    if concurrent != budget.max_concurrent:
        budget = TuneBudget(**{**asdict(budget), "max_concurrent": concurrent})
    if o.gpus_per_trial > 0:
        print(f"GPU trials: each holds {request.describe()}; {fits} fit on the cluster at once; running "
              f"{concurrent or 'as many as fit'} at a time", flush=True)
    spec = data_spec(o.dataset, o.data_dir, feature_dim=o.feature_dim, strength=o.strength, cue=o.cue)
    dataset = prepare_data(spec)  # builds the stand-in once, here, and prints the banner
    if dataset.features_kind == "generated":
        print(f"\n*** STAND-IN DATA: no real {o.dataset} features in {spec.data_dir}; every row is tagged "
              f"features=generated.\n", file=sys.stderr, flush=True)
    splits = load_splits(o.dataset, o.splits, keys=list(dataset.videos))
    folds = list(range(len(splits))) if o.folds is None else list(o.folds)
    bad = [f for f in folds if not 0 <= f < len(splits)]
    if bad:
        raise ValueError(f"--folds {bad} out of range: {o.dataset}/{o.splits} has folds 0..{len(splits) - 1}")
    storage = Storage.parse(o.storage or results_dir, o.storage_endpoint)
    if o.resume:
        fetched = fetch_results(storage, results_dir)
        if fetched:
            print(f"--resume: fetched {', '.join(fetched)} from {storage.uri} into {results_dir}", flush=True)
    warn_if_unshared(storage)
    run_id = resolve_run_id(results_dir, o, space)
    done = folds_done(results_dir, run_id, method.name) if o.resume else set()
    run_row = {"run_id": run_id, "method": method.name, "dataset": o.dataset, **dataset.row_tags(),
               "split_set": o.splits, "commit": leaderboard.git_commit()}
    trial_row = {k: run_row[k] for k in ("run_id", "method", "dataset", "features", "cue", "strength", "split_set")}
    print(f"run {run_id}: {method.name} on {o.dataset}/{o.splits} folds {folds}, preset {o.preset}, space {space.name}, "
          f"{n_trials} trials/fold, results in {results_dir}"
          + ("" if storage.uri == str(results_dir) else f", storage {storage.uri}"), flush=True)

    final_cpu = request.cpus  # a final fit holds what a trial's process holds (its Train workers: their own)
    final_remote = ray.remote(run_final).options(num_cpus=final_cpu, num_gpus=request.gpus,
                                                 max_retries=FINAL_MAX_RETRIES)
    pending: dict[Any, tuple[int, tuple[str, ...], dict[str, Any], float]] = {}
    waiting: list[tuple[FinalJob, str, tuple[int, tuple[str, ...], dict[str, Any], float]]] = []  # (job, line, info)
    summary: dict[str, Any] = {"run_id": run_id, "folds": {}, "skipped": sorted(done & set(folds))}

    searches: list[timeline.Span] = []  # the time breakdown's clock: seconds since t0
    fits: list[timeline.Span] = []
    trial_s = 0.0
    first_search: float | None = None

    def submit(searching: bool) -> None:
        """Start waiting final fits: while folds remain to search, only as many as ``slots``."""
        # the cluster's CPUs now (an autoscaling cluster grows), read only when a fit waits
        slots = final_fit_slots(float(ray.cluster_resources().get("CPU", 0.0)), budget, o.workers_per_trial) if waiting else None
        while waiting and (not searching or slots is None or len(pending) < slots):
            job, line, info = waiting.pop(0)
            pending[final_remote.remote(job)] = info
            print(line, flush=True)

    def collect(block: bool) -> None:
        submit(searching=not block)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=None if block else 0)
            if not ready:
                return
            ref = ready[0]
            fold, test_keys, row, started = pending.pop(ref)
            result = ray.get(ref)
            rows = write_fold(results_dir, dataset, result, test_keys, row, fold)
            mirror_results(storage, results_dir, run_id)
            # the rows are written: the fit's epoch checkpoints have served (a retry would have read them)
            progress_storage(storage, run_id, fold).delete()
            resumed = resumed_from(result.history)
            if resumed is not None:
                print(f"[fold {fold}] the final fit was restarted and continued after {resumed['stage']} epoch "
                      f"{resumed['epoch']} (its last checkpoint)", flush=True)
            print_fold(fold, method.name, rows, result.fold_rows[0]["wall_s"] if result.fold_rows else float("nan"))
            fit_s = result.fold_rows[0]["wall_s"] if result.fold_rows else 0.0
            now = time.perf_counter() - t0
            fits.append(timeline.Span(now - fit_s, now, final_cpu))
            summary["folds"][fold] = {"wall_s": time.perf_counter() - started,
                                      "f1": {r["selection"]: r["f1"] for r in rows if r["method"] == method.name},
                                      "resumed_from": resumed, "final_history": result.history}
            submit(searching=not block)

    for fold in folds:
        if fold in done:
            print(f"[fold {fold}] already in folds.parquet for run {run_id}: skipped", flush=True)
            progress_storage(storage, run_id, fold).delete()  # left by a driver killed after writing the rows
            continue
        collect(block=False)
        started, started_at = time.perf_counter(), leaderboard.utc_now()
        split = splits[fold]
        # The only place the fold's test keys are read: they go to the final fit, never to tune_fold.
        tune_train, val = validation_holdout(list(split.train_keys), base["val_fraction"], base["seed"])
        search_start = time.perf_counter() - t0
        first_search = search_start if first_search is None else first_search
        found = tune_fold(fold=fold, method=method, data=spec, train_keys=tune_train, val_keys=val, base=base, space=space,
                          budget=budget, n_trials=n_trials, run_id=run_id, results_dir=results_dir,
                          base_row=trial_row, workers=o.workers_per_trial, gpus=o.gpus_per_trial,
                          seed=o.seed, verbose=o.verbose, while_waiting=lambda: collect(block=False),
                          quiet=o.quiet or not progress_enabled(), storage=storage, crash_once=o.crash_once,
                          stall_s=preflight.stall_limit_s(o.wait_for_resources), busy=lambda: bool(pending))
        mirror_results(storage, results_dir, run_id)
        searches.append(timeline.Span(search_start, time.perf_counter() - t0))
        trial_s += found.trial_s
        cfg = trial_config(method, base, space, found.best_params)
        models = storage.child("checkpoints", run_id, f"fold{fold}")
        job = FinalJob(fold, method.name, spec.to_dict(), tuple(split.train_keys), tuple(split.test_keys), cfg.to_dict(), o.splits,
                       models.uri if models.is_local else "", o.workers_per_trial, o.gpus_per_trial,
                       None if models.is_local else models.to_dict(),
                       None if models.is_local else storage.child("ray_train", run_id, f"fold{fold}"),
                       progress_storage(storage, run_id, fold).to_dict() if o.workers_per_trial == 0 else None,
                       o.final_crash_once)
        line = (f"[fold {fold}] final fit with the best parameters "
                f"({fmt_epochs(method, {f: getattr(cfg, f) for f in method.epoch_fields}, at_most=False)}) started")
        waiting.append((job, line, (fold, tuple(split.test_keys), {**run_row, "started_at": started_at}, started)))
        submit(searching=True)
    collect(block=True)
    summary["wall_s"] = time.perf_counter() - t0
    if searches:
        cpus = float(ray.cluster_resources().get("CPU", 0.0))
        summary["time"] = timeline.breakdown(summary["wall_s"], cpus, first_search, searches, trial_s, fits)
        print(timeline.format_breakdown(summary["time"]), flush=True)
    print(f"run {run_id} done in {summary['wall_s']:.0f} s; `vidsum report {results_dir}` prints the leaderboard",
          flush=True)
    return summary
