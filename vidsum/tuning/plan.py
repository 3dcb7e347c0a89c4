"""The plan of a search, without Ray: budget, trial configs, options and the jobs handed to Ray.

:class:`TuneBudget` (``TUNE_DEFAULTS`` per preset) sets how many trials a fold gets and how many
epochs a trial trains; :func:`trial_config` builds the method's config of a trial or of the final
fit; :class:`SearchOptions` is what tune.py asks for and :func:`check_options` every check that
needs neither Ray nor data (tune.py runs it before starting Ray). :class:`TrialContext` and
:class:`FinalJob` are what a trial and a final fit receive (``vidsum.distributed.search`` runs
them): a trial gets the tune-train and validation keys only, never a test key.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

from vidsum.data.splits import SPLIT_SETS
from vidsum.data.standin import check_cue, check_strength
from vidsum.training.methods import Method, get_method
from vidsum.tuning.space import SearchSpace, default_space, load_space

# ------------------------------------------------------------------------------------ budget


@dataclass(frozen=True)
class TuneBudget:
    """How much search a preset gets per fold.

    trials:          trials per fold (``--trials`` overrides)
    max_concurrent:  trials at once (0: as many as the cluster's resources allow)
    pretrain_frac:   a trial trains ceil(frac x the preset's epochs) of the pretraining stage
                     (TR-SUM's generator; methods without one ignore it)
    scored_frac:     ... and of the scored stage (TR-SUM's RL; SG-VS / DR-DSN training)
    grace_period, reduction_factor: ASHA, in scored epochs
    """

    trials: int
    max_concurrent: int
    pretrain_frac: float
    scored_frac: float
    grace_period: int
    reduction_factor: float

    def trial_epochs(self, method: Method, cfg: Any) -> dict[str, int]:
        """{epoch field: epochs} of one trial: fractions of the preset's, read at run time."""
        out = {method.scored_epochs: max(1, math.ceil(self.scored_frac * getattr(cfg, method.scored_epochs)))}
        if method.pretrain_epochs:
            out[method.pretrain_epochs] = max(1, math.ceil(self.pretrain_frac * getattr(cfg, method.pretrain_epochs)))
        return out


# quick: sized for `python tune.py --dataset summe --preset quick` (5 folds) in <= 15 min on 2
# CPU cores (measured, see README); paper: for a GPU cluster.
TUNE_DEFAULTS: dict[str, TuneBudget] = {
    "quick": TuneBudget(trials=2, max_concurrent=2, pretrain_frac=0.1, scored_frac=0.2, grace_period=2,
                        reduction_factor=2),
    "paper": TuneBudget(trials=24, max_concurrent=0, pretrain_frac=0.2, scored_frac=0.5, grace_period=10,
                        reduction_factor=3),
}


def trial_config(method: Method, base: dict[str, Any], space: SearchSpace, params: dict[str, Any],
                 epochs: dict[str, int] | None = None):
    """The method's config of a trial (``epochs`` given) or of the final fit (preset epochs)."""
    return method.config_cls.from_dict({**base, **space.fixed, **params, **(epochs or {})})


# -------------------------------------------------------------------------------------- jobs


@dataclass(frozen=True)
class TrialContext:
    """Everything a trial gets besides its parameters. No test keys: by construction."""

    method: str
    data: dict[str, Any]  # DataSpec
    train_keys: tuple[str, ...]
    val_keys: tuple[str, ...]
    base: dict[str, Any]  # preset config (full epochs) as a dict
    space: SearchSpace
    epochs: dict[str, int]
    workers: int = 0
    gpus: float = 0.0
    # fault injection for tests: {'after_epoch', 'marker'[, 'delay_s']} -- the first trial to
    # report that scored epoch exits hard after its checkpoint, once (the marker file remembers)
    crash_once: dict[str, Any] | None = None
    # Ray Train trials (workers >= 1): a vidsum.distributed.storage.Storage their runs go below
    # (``trial-<id>/``); None: the trial's own folder
    storage: Any = None


@dataclass(frozen=True)
class FinalJob:
    """The final fit of one fold (runs as a Ray task; may see the test keys: it scores them)."""

    fold: int
    method: str
    data: dict[str, Any]
    train_keys: tuple[str, ...]
    test_keys: tuple[str, ...]
    cfg: dict[str, Any]
    split_set: str
    checkpoint_dir: str  # where the models are written (a temp folder when ``upload_to`` is set)
    workers: int = 0
    gpus: float = 0.0
    # a remote storage folder (vidsum.distributed.storage.Storage.to_dict) that receives the
    # models once the fit is done; None: checkpoint_dir is their final place (a local or shared path)
    upload_to: dict[str, Any] | None = None
    # Ray Train's storage for workers >= 1 (a Storage); None: checkpoint_dir / 'ray_train'
    train_storage: Any = None
    # workers == 0: a storage folder (Storage.to_dict) for the fit's epoch checkpoints, which a
    # retry of the task continues from (vidsum.distributed.resume.FitProgress); None: none kept
    progress: dict[str, Any] | None = None
    # fault injection for tests: {'stage', 'after_epoch', 'marker'[, 'delay_s']} -- the fit exits
    # hard after that epoch of that stage (its checkpoint written), once (the marker remembers)
    crash_once: dict[str, Any] | None = None


# ----------------------------------------------------------------------------------- options


@dataclass
class SearchOptions:
    """What ``tune.py`` asks for (see its --help)."""

    dataset: str
    method: str = "trsum"
    splits: str = "standard"
    folds: list[int] | None = None
    trials: int | None = None
    preset: str = "quick"
    space: str | os.PathLike | None = None  # None: tune_spaces/<method>.yaml
    gpus_per_trial: float = 0.0
    workers_per_trial: int = 0
    resume: bool = False
    data_dir: str | None = None
    results: str | os.PathLike = "results"
    # where Ray Tune / Train storage, checkpoints and final models go, and the leaderboards are
    # mirrored (vidsum.distributed.storage): a path or s3://bucket/prefix; None: ``results``
    storage: str | None = None
    storage_endpoint: str | None = None  # S3-compatible endpoint URL (MinIO, moto, ...)
    seed: int = 0
    max_concurrent: int | None = None
    verbose: bool = False
    quiet: bool = False  # no per-trial lines (nor with VIDSUM_PROGRESS=0) and no progress; the fold's lines stay
    # stand-in feature size, and overrides of the preset / tuning budget (small runs, tests)
    feature_dim: int = 1024
    # which stand-in (vidsum.data.standin): cue None = 'events', strength None = its default
    cue: str | None = None
    strength: float | None = None
    config_overrides: dict[str, Any] = field(default_factory=dict)
    budget: TuneBudget | None = None
    crash_once: dict[str, Any] | None = None  # fault injection for tests (TrialContext.crash_once)
    final_crash_once: dict[str, Any] | None = None  # the same for the final fits (FinalJob.crash_once)
    # seconds: how long --address's ray.init may take; how long to wait at start for a node that can
    # hold one trial (0: refuse at once) and, at least STALL_LIMIT_S, for a waiting trial to run
    # (vidsum.distributed.preflight)
    connect_timeout: float = 60.0
    wait_for_resources: float = 0.0


def check_options(o: SearchOptions) -> SearchSpace:
    """Every check that needs no Ray and no data (tune.py runs it before starting Ray); returns the space."""
    method = get_method(o.method)
    if o.preset not in TUNE_DEFAULTS or o.preset not in method.presets:
        raise ValueError(f"unknown preset {o.preset!r}; expected one of {', '.join(TUNE_DEFAULTS)}")
    if o.workers_per_trial > 1:
        try:
            method.check_workers(method.preset(o.preset, **o.config_overrides), o.workers_per_trial)
        except ValueError as e:
            raise ValueError(f"--workers-per-trial {o.workers_per_trial}: {e}") from e
    if o.splits not in SPLIT_SETS:
        raise ValueError(f"unknown split set {o.splits!r}; expected one of {', '.join(SPLIT_SETS)}")
    if o.trials is not None and o.trials < 1:
        raise ValueError(f"--trials must be >= 1, got {o.trials}")
    if o.workers_per_trial < 0:
        raise ValueError(f"--workers-per-trial must be >= 0, got {o.workers_per_trial}")
    check_gpus(o.gpus_per_trial, o.workers_per_trial)
    if not o.connect_timeout > 0 or not math.isfinite(o.connect_timeout):
        raise ValueError(f"--connect-timeout must be a number of seconds > 0, got {o.connect_timeout}")
    if not o.wait_for_resources >= 0 or not math.isfinite(o.wait_for_resources):
        raise ValueError(f"--wait-for-resources must be a number of seconds >= 0, got {o.wait_for_resources}")
    if o.max_concurrent is not None and o.max_concurrent < 0:
        raise ValueError(f"max_concurrent must be >= 0, got {o.max_concurrent}")
    if o.folds is not None and (not o.folds or any(isinstance(f, bool) or not isinstance(f, int) or f < 0 for f in o.folds)):
        raise ValueError(f"folds must be a non-empty list of fold numbers >= 0, got {o.folds!r}")
    if o.storage is not None or o.storage_endpoint is not None:
        from vidsum.distributed.storage import Storage  # pyarrow only

        if o.storage is None:
            raise ValueError("--storage-endpoint needs --storage s3://...")
        Storage.parse(o.storage, o.storage_endpoint)
    if o.cue is not None:
        check_cue(o.cue)
    if o.strength is not None:
        check_strength(o.strength, "--strength")
    space = load_space(o.space or default_space(o.method), config_cls=method.config_cls)
    trial_config(method, method.preset(o.preset, **o.config_overrides).to_dict(), space, {})  # overrides + fixed are valid
    return space


def check_gpus(gpus_per_trial: float, workers_per_trial: int) -> None:
    """Refuse a GPU share Ray cannot place: below 0, NaN, or above 1 but not whole (Ray gives a
    process a fraction of one GPU or whole GPUs); with Ray Train workers each worker gets
    gpus_per_trial / workers_per_trial, which must obey the same rule."""
    if not gpus_per_trial >= 0 or not math.isfinite(gpus_per_trial):
        raise ValueError(f"--gpus-per-trial must be >= 0, got {gpus_per_trial}")
    share = gpus_per_trial / workers_per_trial if workers_per_trial > 0 else gpus_per_trial
    if share > 1 and share != int(share):
        who = (f"each of the {workers_per_trial} Ray Train workers would get {share:g} GPU"
               if workers_per_trial > 0 else f"a trial would get {share:g} GPU")
        raise ValueError(f"--gpus-per-trial {gpus_per_trial:g}: {who}; Ray gives a process a fraction of one GPU "
                         f"(0.25: four share a GPU) or whole GPUs, not {share:g}")
    if 0 < share < 1 / 10_000:
        raise ValueError(f"--gpus-per-trial {gpus_per_trial:g}: below Ray's smallest GPU share (0.0001)")


def final_fit_slots(cpus: float, budget: TuneBudget, workers_per_trial: int) -> int | None:
    """How many final fits may run while later folds are still being searched (None: no limit).

    A final fit holds its CPU for the whole fit (the quick preset: ~250 s against ~40 s per
    trial); started as soon as its fold's search ends, the fits of two folds took both CPUs of a
    2-core machine and the next fold's trials waited for one of them to finish, so the last fold's
    fit started late and ran alone at the end while the other CPU idled. Fits therefore get the
    CPUs the search leaves free (at least one), and all the rest once the last search is done.
    Applies to in-process trials with a fixed concurrency; otherwise (Ray Train trials, or as many
    trials as resources allow) fits start at once, as before."""
    if workers_per_trial or not budget.max_concurrent:
        return None
    return max(1, int(cpus - budget.max_concurrent))
