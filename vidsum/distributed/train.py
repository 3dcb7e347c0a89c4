"""Ray Train around the plain training loops: the same functions, run by DDP workers.

``train_loop_per_worker`` builds a :class:`vidsum.training.loop.Runtime` from the Ray Train
context and calls, unchanged, the loop of a stage from the method registry
(``vidsum.training.methods``: TR-SUM's 'generator' and 'summarizer', 'sgvs', 'drdsn'; the
models of earlier stages are read from their checkpoints). Sharding is the loops' own: every
rank draws the same global batches from one seed and takes ``batch[rank::world]``, so N workers
see exactly the batches one worker would, and DDP averages the gradients.

After every epoch each rank reports; the per-rank losses are averaged over ranks first, so the
reported loss is the loss of the global batch. Rank 0 attaches a checkpoint directory holding
``state.pt`` (``checkpoint.save_checkpoint``: model, optimizer, scheduler, RNG states, history)
and ``history.json`` (the reported rows). A worker group restarted by ``FailureConfig`` finds it
with ``ray.train.get_checkpoint()`` and the loop resumes from the epoch after it. (A checkpoint
is registered when the Train controller next polls the workers, every 2 s by default: a crash
within that window resumes from the checkpoint before. With several workers the resumed run is
close to, not bit-identical with, an uninterrupted one: the checkpoint holds rank 0's RNG state.)

Workers load their videos themselves, by key, from the file the driver resolved
(:class:`DataSpec`): only the keys a stage is given are read, so a tuning trial never holds a
test video. On a multi-node cluster ``data_dir`` and ``storage_path`` must be the same path on
every node (a shared mount; cluster.yaml mounts the data folder), or ``storage_path`` a
:class:`vidsum.distributed.storage.Storage` every node reaches (s3://...; a stage's checkpoint,
the next stage's input, is then named by a Storage and downloaded where it is read).

Ray 2.60 API relied on (Train V2, the default in 2.60; pinned in pyproject):
  - ray.train.torch.TorchTrainer(train_loop_per_worker, train_loop_config=..., scaling_config=...,
    run_config=...); ``trainer.fit()`` -> ray.train.Result with ``.checkpoint``, ``.error`` and
    ``.return_value`` (what rank 0's loop returned).
  - ray.train.ScalingConfig(num_workers, use_gpu, resources_per_worker) (``trainer_resources`` is
    rejected in V2); ray.train.RunConfig(name, storage_path, storage_filesystem, failure_config,
    checkpoint_config,
    callbacks) -- a different class from ray.tune.RunConfig; ray.train.FailureConfig(max_failures)
    (``fail_fast`` is gone); ray.train.CheckpointConfig(num_to_keep).
  - ray.train.get_context().get_world_rank() / .get_world_size().
  - ray.train.report(metrics, checkpoint=None | ray.train.Checkpoint.from_directory(d)): a barrier
    that EVERY rank must call the same number of times; rank 0 alone passes the checkpoint.
    The checkpoint is persisted before report returns (default sync upload), so the temporary
    directory may be deleted afterwards.
  - ray.train.get_checkpoint() -> Checkpoint | None, ``checkpoint.as_directory()``.
  - ray.train.torch.get_device(), ray.train.torch.prepare_model(model) (DDP; the process group is
    gloo on CPU and nccl on GPU, TorchConfig's default).
  - ray.tune.integration.ray_train.TuneReportCallback(): forwards rank 0's reported metrics to
    the enclosing Tune trial (Tune over Train: ``trainer.fit()`` called inside a Tune function).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import ray.train
import ray.train.torch
import torch
import torch.distributed as dist
import torch.nn as nn

from vidsum.data.datasets import Dataset, attach_user_scores, load_dataset, standin_path
from vidsum.data.download import real_h5_path
from vidsum.data.eccv16 import Video, read_file
from vidsum.distributed.storage import Storage
from vidsum.progress import EpochProgress
from vidsum.training.checkpoint import load_checkpoint, save_checkpoint
from vidsum.training.loop import Runtime
from vidsum.training.methods import Method, Stage, StageResult, find_stage

STATE_FILE = "state.pt"
HISTORY_FILE = "history.json"
# Per-rank values that are averaged over ranks before they are reported; the selection values
# (sel_*) are computed on all validation videos by every rank and agree already.
RANK_MEAN_KEYS = ("loss", "reward", "mean_p", "epoch_s")
# Train workers ask for a little under one CPU so that a 0.01-CPU Tune trial driver plus its
# workers still fit on a 2-CPU machine (a full CPU each deadlocks worker-group start-up there).
DEFAULT_CPUS_PER_WORKER = 0.9
# A worker group that cannot get its resources within RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S (60 s
# by default) is a "controller failure", which Ray Train retries without limit by default: a
# stage whose workers never fit (resources leaked or taken) then waits forever. This many
# retries, then the stage fails with Ray's timeout message.
WORKER_GROUP_START_RETRIES = 2


# --------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class DataSpec:
    """Where workers find the videos: the arguments of ``load_dataset`` (stand-in options too).

    data_dir must be absolute: Ray workers do not run in the driver's working directory.
    """

    dataset: str
    data_dir: str
    feature_dim: int = 1024
    strength: float | None = None
    seed: int = 0
    cue: str | None = None  # stand-in cue (None: 'events')

    def __post_init__(self) -> None:
        if not Path(self.data_dir).is_absolute():
            raise ValueError(f"DataSpec.data_dir must be an absolute path (workers run elsewhere), got {self.data_dir!r}")
        if self.cue is not None:
            from vidsum.data.standin import check_cue

            check_cue(self.cue)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSpec:
        return cls(**d)


def data_spec(dataset: str, data_dir: str | os.PathLike | None, *, feature_dim: int = 1024,
              strength: float | None = None, seed: int = 0, cue: str | None = None) -> DataSpec:
    """A DataSpec with the data folder resolved like ``load_dataset`` does (--data-dir, $VIDSUM_DATA, ./data)."""
    from vidsum.data.download import resolve_data_dir

    folder = resolve_data_dir(None if data_dir is None else str(data_dir)).resolve()
    return DataSpec(dataset, str(folder), int(feature_dim), strength, int(seed), cue)


def prepare_data(spec: DataSpec, quiet: bool = False) -> Dataset:
    """Load the dataset once in the driver; builds the stand-in file if needed (so workers never
    race to build it) and prints the stand-in banner unless ``quiet``."""
    return load_dataset(spec.dataset, spec.data_dir, strength=spec.strength, seed=spec.seed,
                        feature_dim=spec.feature_dim, quiet=quiet, cue=spec.cue)


def load_videos(spec: DataSpec, keys: list[str] | tuple[str, ...]) -> dict[str, Video]:
    """Read only ``keys`` from the file ``load_dataset`` would use (real h5 first, else the stand-in).

    Builds the stand-in when this node lacks it (atomic write: concurrent builders only repeat
    work). KeyError names keys the file does not hold.
    """
    keys = list(keys)
    if not keys:
        raise ValueError("load_videos: no keys given")
    path = real_h5_path(spec.dataset, Path(spec.data_dir))
    if not path.exists():
        from vidsum.data.standin import DEFAULT_STRENGTH

        strength = DEFAULT_STRENGTH if spec.strength is None else float(spec.strength)
        path = standin_path(spec.dataset, Path(spec.data_dir), strength, spec.seed, spec.feature_dim,
                            spec.cue or "events")
        if not path.exists():
            prepare_data(spec, quiet=True)
    videos = read_file(path, keys=keys)
    attach_user_scores(spec.dataset, videos)
    return videos


# ------------------------------------------------------------------------------- worker side


def running_objective(row: dict[str, Any], rule: str, history: list[dict[str, Any]]) -> dict[str, Any]:
    """``row`` plus ``objective`` = the best ``sel_<rule>`` so far (this row and ``history``, rows
    returned by earlier calls) and ``scored_epoch`` = epochs done. Best-so-far is what selection by
    ``rule`` would pick, so a trial is judged by its best epoch, not its last."""
    value = float(row.get(f"sel_{rule}", math.nan))
    seen = [h["objective"] for h in history if not math.isnan(h.get("objective", math.nan))]
    return {**row, "objective": max(seen + ([] if math.isnan(value) else [value]), default=value),
            "scored_epoch": int(row["epoch"]) + 1}


@dataclass
class _Reporter:
    """``Runtime.report`` under Ray Train: rank-mean the metrics, checkpoint on rank 0, report on all.

    Every row gets ``resumed_from``: the checkpoint epoch this attempt started from (-1: fresh).
    objective: a selection rule ('validation' | 'label_free'); when set, each row also gets
    ``objective`` = the best ``sel_<rule>`` so far (what Tune optimises: the best epoch's
    validation value) and ``scored_epoch`` = epochs done.
    crash_once: {'after_epoch', 'marker', 'rank', 'delay_s'} -- fault injection for tests: that
    rank exits hard ``delay_s`` after reporting that epoch, once (the marker file remembers).
    show: also called with each reported row (rank 0: ``vidsum.progress.EpochProgress``, a plain
    line per epoch in the worker's log), or None.
    """

    rank: int
    world_size: int
    device: torch.device
    n_epochs: int
    checkpoint_every: int = 1
    objective: str | None = None
    crash_once: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    resumed_from: int = -1
    show: Callable[[dict[str, Any]], None] | None = None

    def __call__(self, row: dict[str, Any], state: dict[str, Any] | None) -> None:
        metrics = {**self._rank_mean(row), "resumed_from": self.resumed_from}
        if self.objective is not None:
            metrics = running_objective(metrics, self.objective, self.history)
        self.history.append(metrics)
        if self.show is not None:
            self.show(metrics)
        epoch = int(row["epoch"])
        due = (epoch + 1) % self.checkpoint_every == 0 or epoch == self.n_epochs - 1
        if self.rank == 0 and due and state is not None:
            with tempfile.TemporaryDirectory(prefix="vidsum-ckpt-") as tmp:
                write_state_dir(Path(tmp), state, self.history)
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp))
        else:
            ray.train.report(metrics, checkpoint=None)
        if self.crash_once and self.rank == int(self.crash_once.get("rank", 0)):
            crash_once_after(self.crash_once, epoch)

    def _rank_mean(self, row: dict[str, Any]) -> dict[str, Any]:
        out = dict(row)
        keys = [k for k in RANK_MEAN_KEYS if k in row]
        if self.world_size > 1 and dist.is_available() and dist.is_initialized() and keys:
            # nccl needs the tensor on the GPU; gloo takes CPU tensors.
            values = torch.tensor([float(row[k]) for k in keys], dtype=torch.float64, device=self.device)
            dist.all_reduce(values)
            out.update({k: float(v) / self.world_size for k, v in zip(keys, values.tolist())})
        return out


def write_state_dir(folder: Path, state: dict[str, Any], history: list[dict[str, Any]]) -> None:
    """A reported checkpoint's folder: the loop's state (``STATE_FILE``) and the rows reported so far."""
    save_checkpoint(folder / STATE_FILE, state)
    (folder / HISTORY_FILE).write_text(json.dumps(history, default=float))


def read_state_dir(folder: Path, kind: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(loop state, reported rows) of a folder written by :func:`write_state_dir`."""
    state = load_checkpoint(folder / STATE_FILE, expect_kind=kind)
    history_path = folder / HISTORY_FILE
    return state, json.loads(history_path.read_text()) if history_path.exists() else []


def crash_once_after(crash_once: dict[str, Any] | None, epoch: int, stage: str | None = None) -> None:
    """Fault injection for tests: exit this process hard ``delay_s`` after epoch
    ``crash_once['after_epoch']``, once (whoever creates ``crash_once['marker']`` first crashes).
    With ``crash_once['stage']``, only after that epoch of that stage (a run of several stages)."""
    if not crash_once or epoch != int(crash_once["after_epoch"]):
        return
    if crash_once.get("stage") not in (None, stage):
        return
    try:  # exclusive create: of processes reaching this at once, one crashes
        fd = os.open(crash_once["marker"], os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.write(fd, f"crashed after epoch {epoch}\n".encode())
    os.close(fd)
    # Let the reported checkpoint register first: Ray Train's controller takes it at its next
    # poll of the workers (RAY_TRAIN_HEALTH_CHECK_INTERVAL_S, 2 s by default), Tune's driver when
    # it takes the result; die sooner and it may be lost.
    time.sleep(float(crash_once.get("delay_s", 1.0)))
    os._exit(1)


def _latest_state(stage: Stage) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(checkpoint state, reported history) of the last checkpoint of this run, or (None, [])."""
    ckpt = ray.train.get_checkpoint()
    if ckpt is None:
        return None, []
    with ckpt.as_directory() as d:
        return read_state_dir(Path(d), stage.kind)


def load_stage_model(name: str, path: str | os.PathLike | Storage) -> nn.Module:
    """The model of stage ``name`` in a checkpoint file (CPU, eval mode): a local path, or a
    :class:`Storage` naming the file in remote storage (downloaded to a temporary folder)."""
    _, stage = find_stage(name)
    if isinstance(path, Storage):
        with tempfile.TemporaryDirectory(prefix="vidsum-input-") as tmp:
            if not path.download(Path(tmp) / STATE_FILE):
                raise FileNotFoundError(f"{name} checkpoint not found: {path.uri}")
            return stage.load(load_checkpoint(Path(tmp) / STATE_FILE, expect_kind=stage.kind))
    return stage.load(load_checkpoint(path, expect_kind=stage.kind))


def train_loop_per_worker(config: dict[str, Any]) -> dict[str, Any] | None:
    """One Ray Train worker of stage ``config['stage']`` (a stage name of the registry).

    config: stage, cfg (the method's config as a dict), data (DataSpec dict), train_keys,
    val_keys, test_keys (lists; val/test only matter for the selection rules of the scored
    stage), inputs ({earlier stage name: its checkpoint file}), threads, checkpoint_every,
    objective, crash_once (see :class:`_Reporter`).
    Returns {'history': reported rows} on rank 0 (Result.return_value), None elsewhere.
    """
    method, stage = find_stage(config["stage"])
    torch.set_num_threads(int(config.get("threads", 1)))
    cfg = method.config_cls.from_dict(config["cfg"])
    epochs = getattr(cfg, stage.epochs)
    spec = DataSpec.from_dict(config["data"])
    train_keys, val_keys, test_keys = (list(config.get(k) or ()) for k in ("train_keys", "val_keys", "test_keys"))
    videos = load_videos(spec, train_keys + val_keys + test_keys)
    pick = lambda keys: [videos[k] for k in keys]  # noqa: E731

    context = ray.train.get_context()
    rank, world_size = context.get_world_rank(), context.get_world_size()
    device = ray.train.torch.get_device()
    resume, history = _latest_state(stage)
    reporter = _Reporter(rank, world_size, device, epochs, int(config.get("checkpoint_every", 1)),
                         config.get("objective"), config.get("crash_once"), history,
                         -1 if resume is None else int(resume["epoch"]))
    if rank == 0:  # Ray workers' stderr is a log file: EpochProgress writes plain lines there, no bar
        reporter.show = EpochProgress(f"ray train {stage.name}", {stage.name: epochs})
    rt = Runtime(device=device, rank=rank, world_size=world_size, wrap_model=ray.train.torch.prepare_model,
                 report=reporter, resume=resume)
    inputs = {name: load_stage_model(name, path).to(device) for name, path in (config.get("inputs") or {}).items()}
    stage.train(cfg, pick(train_keys), rt, inputs=inputs, val_videos=pick(val_keys) or None,
                test_videos=pick(test_keys) or None, dataset=spec.dataset)
    return {"history": reporter.history} if rank == 0 else None


# ------------------------------------------------------------------------------- driver side


@dataclass
class StageFit:
    """What one stage's TorchTrainer run produced.

    model:      the stage's trained model (CPU, eval mode, last epoch; ``Stage.load``)
    history:    reported rows, one per epoch (losses averaged over ranks)
    checkpoint: the last checkpoint's ``state.pt`` (later stages read their inputs from it): a
                local path, or a :class:`Storage` naming the file when the storage is remote
    best:       the scored stage: the loop's per-rule {'epoch', 'value', 'state'}; {} otherwise
    """

    model: nn.Module
    history: list[dict[str, Any]]
    checkpoint: Path | Storage
    best: dict[str, dict[str, Any]]


def scaling(num_workers: int, use_gpu: bool, cpus_per_worker: float | None = None,
            gpus_per_worker: float | None = None) -> ray.train.ScalingConfig:
    """ScalingConfig for ``num_workers`` DDP workers (CPU share: DEFAULT_CPUS_PER_WORKER)."""
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
        raise ValueError(f"num_workers must be an integer >= 1, got {num_workers!r}")
    resources = {"CPU": DEFAULT_CPUS_PER_WORKER if cpus_per_worker is None else float(cpus_per_worker)}
    if use_gpu:
        resources["GPU"] = 1.0 if gpus_per_worker is None else float(gpus_per_worker)
    return ray.train.ScalingConfig(num_workers=num_workers, use_gpu=use_gpu, resources_per_worker=resources)


def fit_stage_full(
    stage: str,
    cfg: Any,
    data: DataSpec,
    train_keys: list[str] | tuple[str, ...],
    *,
    val_keys: list[str] | tuple[str, ...] = (),
    test_keys: list[str] | tuple[str, ...] = (),
    inputs: dict[str, str | os.PathLike | Storage] | None = None,
    num_workers: int = 2,
    use_gpu: bool = False,
    cpus_per_worker: float | None = None,
    gpus_per_worker: float | None = None,
    storage_path: str | os.PathLike | Storage,
    name: str | None = None,
    max_failures: int = 2,
    checkpoint_every: int = 1,
    keep_checkpoints: int = 2,
    objective: str | None = None,
    callbacks: list[Any] | None = None,
    crash_once: dict[str, Any] | None = None,
) -> StageFit:
    """Run stage ``stage`` (a stage name of the registry) under TorchTrainer and load what it
    produced (see :class:`StageFit`). ``inputs``: {earlier stage of the method: its checkpoint
    file} (a StageFit's ``checkpoint``), one for every stage before this one. ``storage_path``: Ray
    Train's storage, a local (on a cluster: shared) path or a :class:`Storage` (e.g. s3://...)."""
    method, stage_info = find_stage(stage)
    inputs = {k: v if isinstance(v, Storage) else Path(v) for k, v in (inputs or {}).items()}
    needed = method.stage_names[: method.stage_names.index(stage)]
    missing = [n for n in needed if n not in inputs]
    if missing or set(inputs) - set(needed):
        raise ValueError(f"the {stage} stage needs the checkpoints of the stages before it ({', '.join(needed) or 'none'}) "
                         f"as inputs, got {', '.join(inputs) or 'none'}")
    for n, path in inputs.items():
        if not (path.exists() if isinstance(path, Path) else path.exists()):
            raise FileNotFoundError(f"{n} checkpoint not found: {path if isinstance(path, Path) else path.uri}")
    if not train_keys:
        raise ValueError("fit_stage: no training keys")
    if max_failures < -1 or checkpoint_every < 1:
        raise ValueError(f"max_failures must be >= -1 and checkpoint_every >= 1, got {max_failures}, {checkpoint_every}")
    loop_config = {
        "stage": stage, "cfg": cfg.to_dict(), "data": data.to_dict(), "train_keys": list(train_keys),
        "val_keys": list(val_keys), "test_keys": list(test_keys), "inputs": {k: v if isinstance(v, Storage) else str(v) for k, v in inputs.items()},
        "threads": max(1, int(cpus_per_worker or 1)), "checkpoint_every": checkpoint_every,
        "objective": objective, "crash_once": crash_once,
    }
    storage = storage_path if isinstance(storage_path, Storage) else Storage.parse(storage_path)
    if storage.is_local:
        storage.local_path.mkdir(parents=True, exist_ok=True)
    trainer = ray.train.torch.TorchTrainer(
        train_loop_per_worker,
        train_loop_config=loop_config,
        scaling_config=scaling(num_workers, use_gpu, cpus_per_worker, gpus_per_worker),
        run_config=ray.train.RunConfig(
            name=name or f"{method.name}-{stage}",
            **storage.ray_storage(),
            failure_config=ray.train.FailureConfig(max_failures=max_failures,
                                                   controller_failure_limit=WORKER_GROUP_START_RETRIES),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=keep_checkpoints),
            callbacks=callbacks or None,
        ),
    )
    try:
        result = trainer.fit()
    except Exception as e:  # V2 raises TrainingFailedError once max_failures is used up
        wanted = scaling(num_workers, use_gpu, cpus_per_worker, gpus_per_worker).resources_per_worker
        raise RuntimeError(f"Ray Train {stage} stage failed (max_failures={max_failures}; {num_workers} worker(s) "
                           f"of {wanted} each, start-up tried {WORKER_GROUP_START_RETRIES + 1} times): {e}") from e
    if result.error is not None:
        raise RuntimeError(f"Ray Train {stage} stage failed (max_failures={max_failures}): {result.error}")
    if result.checkpoint is None:
        raise RuntimeError(f"Ray Train {stage} stage reported no checkpoint (0 epochs?)")
    with result.checkpoint.as_directory() as d:
        state = load_checkpoint(Path(d) / STATE_FILE, expect_kind=stage_info.kind)
    if storage.is_local:
        checkpoint: Path | Storage = Path(result.checkpoint.path) / STATE_FILE
    else:  # result.checkpoint.path is a path on the storage's filesystem: bucket/prefix/...
        checkpoint = Storage(f"{storage.uri.split('://', 1)[0]}://{result.checkpoint.path.strip('/')}/{STATE_FILE}",
                             storage.endpoint)
    history = (result.return_value or {}).get("history") or list(state["history"])
    best = state["extra"]["best"] if stage_info is method.scored else {}
    return StageFit(stage_info.load(state), history, checkpoint, best)


def fit_stage(
    stage: str,
    cfg: Any,
    dataset_name: str,
    data_dir: str | os.PathLike | None,
    train_keys: list[str] | tuple[str, ...],
    *,
    num_workers: int = 2,
    use_gpu: bool = False,
    storage_path: str | os.PathLike,
    max_failures: int = 2,
    feature_dim: int = 1024,
    strength: float | None = None,
    data_seed: int = 0,
    cue: str | None = None,
    **kwargs: Any,
) -> tuple[nn.Module, list[dict[str, Any]]]:
    """(model, history) of one stage trained by ``num_workers`` Ray Train workers.

    The driver loads the dataset first (building the stand-in if needed, with its banner;
    feature_dim / strength / data_seed / cue are the stand-in's options); kwargs go to
    :func:`fit_stage_full` (val_keys, test_keys, inputs, name, ...).
    """
    spec = data_spec(dataset_name, data_dir, feature_dim=feature_dim, strength=strength, seed=data_seed, cue=cue)
    prepare_data(spec)
    fit = fit_stage_full(stage, cfg, spec, train_keys, num_workers=num_workers, use_gpu=use_gpu,
                         storage_path=storage_path, max_failures=max_failures, **kwargs)
    return fit.model, fit.history


def train_stages_on_ray(method: Method, data: DataSpec, *, num_workers: int, use_gpu: bool,
                        storage_path: str | os.PathLike | Storage, max_failures: int = 2, gpus_per_worker: float | None = None,
                        cpus_per_worker: float | None = None, name: str = "fold"):
    """A ``fold.TrainStages`` that runs every stage of ``method`` under TorchTrainer, in order
    (``fold.run_fold(..., train=...)``); each stage reads the checkpoints of the ones before it."""

    def train(cfg, train_videos, val_videos, test_videos, dataset_name) -> list[StageResult]:
        if dataset_name != data.dataset:
            raise ValueError(f"train_stages_on_ray is for {data.dataset!r}, got videos of {dataset_name!r}")
        keys = lambda videos: [v.key for v in videos or ()]  # noqa: E731
        common = dict(num_workers=num_workers, use_gpu=use_gpu, storage_path=storage_path, max_failures=max_failures,
                      gpus_per_worker=gpus_per_worker, cpus_per_worker=cpus_per_worker)
        results, inputs = [], {}
        for stage in method.stages:
            scored = dict(val_keys=keys(val_videos), test_keys=keys(test_videos)) if stage is method.scored else {}
            fit = fit_stage_full(stage.name, cfg, data, keys(train_videos), inputs=dict(inputs), name=f"{name}-{stage.name}",
                                 **scored, **common)
            results.append((fit.model, fit.history, fit.best))
            inputs[stage.name] = fit.checkpoint
        return results

    return train
