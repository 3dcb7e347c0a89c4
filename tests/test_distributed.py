"""Ray Train wrappers (vidsum.distributed.train): DDP epochs, checkpoints, restart after a crash.

Ray is started once per test session (``start_ray_once``; test_tune.py shares it): 2 CPUs, a
small object store, usage stats off, HOME / RAY_TMPDIR in a temp dir (Ray writes an auth token
to ~/.ray), and a short worker-group start timeout so a resource deadlock fails fast.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
import torch

ray = pytest.importorskip("ray")

from vidsum.data.datasets import standin_path  # noqa: E402
from vidsum.data.standin import DEFAULT_STRENGTH, build_standin  # noqa: E402
from vidsum.training import trsum  # noqa: E402
from vidsum.training.loop import Runtime  # noqa: E402
from conftest import SGVS_TINY_MODEL  # noqa: E402

# The 6 shortest SumMe videos (63..171 steps): a stand-in with 16-dim features builds in ~1 s.
TINY_KEYS = ["video_12", "video_8", "video_11", "video_19", "video_18", "video_24"]
FEATURE_DIM = 16
TINY = dict(d_model=32, n_heads=4, n_layers=1, d_ff=64, segment_len=16, batch_segments=8,
            gen_epochs=3, rl_epochs=2, gen_lr=1e-3, rl_lr=1e-3)

_RAY_ROOT: list[Path] = []


def start_ray_once() -> Path:
    """Start the session's Ray (idempotent). Returns the temp root holding HOME and Ray's files."""
    if ray.is_initialized():
        return _RAY_ROOT[0]
    root = Path(tempfile.mkdtemp(prefix="vr", dir="/tmp"))  # short: Ray's unix socket paths are length-limited
    (root / "home").mkdir()
    os.environ.update({
        "RAY_USAGE_STATS_ENABLED": "0",
        "HOME": str(root / "home"),
        "RAY_TMPDIR": str(root),
        "RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S": "45",
        # The Train controller polls workers (and so registers reported checkpoints) this often.
        "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.5",
    })
    ray.init(num_cpus=2, object_store_memory=200 * 2**20, log_to_driver=False, include_dashboard=False,
             _temp_dir=str(root))
    _RAY_ROOT.append(root)
    atexit.register(_stop_ray, root)  # runs before Ray's own exit hook (LIFO)
    return root


def _stop_ray(root: Path) -> None:
    ray.shutdown()
    shutil.rmtree(root, ignore_errors=True)


def tiny_data_dir(root: Path) -> Path:
    """A data folder whose stand-in holds TINY_KEYS only (16-dim features), built once."""
    data = root / "data"
    path = standin_path("summe", data, DEFAULT_STRENGTH, 0, FEATURE_DIM)
    if not path.exists():
        build_standin("summe", path, feature_dim=FEATURE_DIM, keys=TINY_KEYS)
    return data


@pytest.fixture(scope="module")
def ray_root():
    return start_ray_once()


@pytest.fixture(scope="module")
def spec(ray_root):
    from vidsum.distributed.train import DataSpec

    return DataSpec("summe", str(tiny_data_dir(ray_root)), FEATURE_DIM)


def _cfg(**kw) -> trsum.TRSumConfig:
    return trsum.TRSumConfig.from_dict({**TINY, **kw})


@pytest.fixture(scope="module")
def in_process_generator(spec):
    """(model, history) of stage 1 in this process: what one Ray worker must reproduce."""
    from vidsum.distributed.train import load_videos

    videos = load_videos(spec, TINY_KEYS[:4])
    # Ray Train workers run torch with 1 thread (train_loop_per_worker); a different thread count
    # changes float summation order, so the reference uses 1 thread too.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return trsum.pretrain_generator(_cfg(), [videos[k] for k in TINY_KEYS[:4]], Runtime(device=torch.device("cpu")))
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def two_worker_generator(spec, ray_root):
    """A 2-worker stage-1 run, uninterrupted (the reference for the crash test)."""
    from vidsum.distributed.train import fit_stage_full

    t0 = time.perf_counter()
    fit = fit_stage_full("generator", _cfg(), spec, TINY_KEYS[:4], num_workers=2,
                         storage_path=ray_root / "runs", name="ref-generator")
    fit.wall_s = time.perf_counter() - t0
    return fit


# ----------------------------------------------------------------------------- no Ray needed


def test_data_spec_needs_absolute_dir():
    from vidsum.distributed.train import DataSpec, data_spec

    with pytest.raises(ValueError, match="absolute"):
        DataSpec("summe", "relative/data")
    s = data_spec("summe", "some/dir", feature_dim=16)
    assert Path(s.data_dir).is_absolute() and DataSpec.from_dict(s.to_dict()) == s


def test_load_videos_reads_only_the_given_keys(spec):
    from vidsum.distributed.train import load_videos

    videos = load_videos(spec, ["video_8", "video_12"])
    assert sorted(videos) == ["video_12", "video_8"] and videos["video_8"].feature_dim == FEATURE_DIM
    with pytest.raises(KeyError, match="video_1\\b"):
        load_videos(spec, ["video_1"])  # not in the tiny file
    with pytest.raises(ValueError, match="no keys"):
        load_videos(spec, [])


def test_load_videos_builds_a_missing_standin(tmp_path):
    from vidsum.distributed.train import DataSpec, load_videos

    videos = load_videos(DataSpec("summe", str(tmp_path), 8), ["video_12"])
    assert videos["video_12"].feature_dim == 8 and list((tmp_path / "standin").glob("*.h5"))


def test_running_objective_keeps_the_best_epoch():
    from vidsum.distributed.train import running_objective

    hist = []
    for epoch, value in enumerate([0.3, 0.5, 0.4]):
        hist.append(running_objective({"epoch": epoch, "sel_validation": value}, "validation", hist))
    assert [h["objective"] for h in hist] == [0.3, 0.5, 0.5] and hist[-1]["scored_epoch"] == 3
    nan_row = running_objective({"epoch": 0}, "label_free", [])
    assert nan_row["objective"] != nan_row["objective"]  # NaN when the rule was not computed


def test_scaling_and_fit_stage_errors(spec, tmp_path):
    from vidsum.distributed.train import fit_stage_full, scaling

    sc = scaling(2, False)
    assert sc.num_workers == 2 and sc.resources_per_worker == {"CPU": 0.9}
    assert scaling(1, True, gpus_per_worker=0.5).resources_per_worker["GPU"] == 0.5
    with pytest.raises(ValueError, match="num_workers"):
        scaling(0, False)
    with pytest.raises(ValueError, match="unknown stage"):
        fit_stage_full("decoder", _cfg(), spec, TINY_KEYS, storage_path=tmp_path)
    with pytest.raises(ValueError, match="needs the checkpoints of the stages before it \\(generator\\)"):
        fit_stage_full("summarizer", _cfg(), spec, TINY_KEYS, storage_path=tmp_path)
    with pytest.raises(ValueError, match="needs the checkpoints"):
        fit_stage_full("generator", _cfg(), spec, TINY_KEYS, storage_path=tmp_path, inputs={"generator": tmp_path})
    with pytest.raises(FileNotFoundError, match="generator checkpoint"):
        fit_stage_full("summarizer", _cfg(), spec, TINY_KEYS, storage_path=tmp_path,
                       inputs={"generator": tmp_path / "none.pt"})
    with pytest.raises(ValueError, match="no training keys"):
        fit_stage_full("generator", _cfg(), spec, [], storage_path=tmp_path)


def test_loop_rejects_unknown_stage():
    from vidsum.distributed.train import train_loop_per_worker

    with pytest.raises(ValueError, match="unknown stage"):
        train_loop_per_worker({"stage": "nope"})


# ------------------------------------------------------------------------------- Ray Train


def test_two_workers_match_the_in_process_loop(in_process_generator, two_worker_generator):
    """Same global batches, DDP-averaged gradients: the epoch losses agree with one process."""
    from vidsum.models.trsum import Generator

    _, local = in_process_generator
    fit = two_worker_generator
    assert isinstance(fit.model, Generator) and fit.checkpoint.name == "state.pt" and fit.checkpoint.exists()
    assert [r["epoch"] for r in fit.history] == [0, 1, 2]
    # Each rank draws its shard's masks from the shared stream, so values are close, not equal.
    for ray_row, local_row in zip(fit.history, local, strict=True):
        assert ray_row["loss"] == pytest.approx(local_row["loss"], rel=0.1)
    assert fit.history[-1]["loss"] < fit.history[0]["loss"]


def test_summarizer_stage_reads_the_generator_checkpoint(spec, two_worker_generator, ray_root):
    from vidsum.distributed.train import fit_stage_full
    from vidsum.models.trsum import Summarizer

    fit = fit_stage_full("summarizer", _cfg(), spec, TINY_KEYS[:4], val_keys=TINY_KEYS[4:5],
                         inputs={"generator": two_worker_generator.checkpoint}, num_workers=1,
                         storage_path=ray_root / "runs", name="summarizer", objective="validation")
    assert isinstance(fit.model, Summarizer)
    assert [r["scored_epoch"] for r in fit.history] == [1, 2]
    assert all(0 <= r["objective"] <= 1 for r in fit.history)
    assert set(fit.best) == {"label_free", "validation"} and "state" in fit.best["validation"]


def test_crashed_worker_resumes_from_its_checkpoint(spec, in_process_generator, ray_root):
    """The worker exits hard 2 s after epoch 0's report (the controller registers a checkpoint at
    its next poll, so a crash right after report() may lose it), once; the restarted worker
    resumes at epoch 1 and ends bit-for-bit where the uninterrupted in-process loop ends.
    (With several workers the resumed run is close, not identical: the checkpoint holds rank 0's
    RNG state, which the other ranks then share.)"""
    from vidsum.distributed.train import fit_stage_full

    marker = ray_root / "crash-marker"
    fit = fit_stage_full("generator", _cfg(), spec, TINY_KEYS[:4], num_workers=1, max_failures=1,
                         storage_path=ray_root / "runs", name="crash-generator",
                         crash_once={"after_epoch": 0, "marker": str(marker), "rank": 0, "delay_s": 2.0})
    assert marker.exists(), "the injected crash never happened"
    assert [r["epoch"] for r in fit.history] == [0, 1, 2]
    # epoch 0 comes from the first attempt; the second attempt started from its checkpoint
    assert [r["resumed_from"] for r in fit.history] == [-1, 0, 0]
    model, history = in_process_generator
    assert [r["loss"] for r in fit.history] == pytest.approx([r["loss"] for r in history], rel=1e-6)
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(fit.model.state_dict()[name], tensor, rtol=1e-6, atol=1e-7)


def test_fit_stage_fails_clearly_without_restarts(spec, ray_root, tmp_path):
    from vidsum.distributed.train import fit_stage

    with pytest.raises(RuntimeError, match="generator stage failed"):
        fit_stage("generator", _cfg(gen_epochs=2), "summe", spec.data_dir, TINY_KEYS[:4], num_workers=1,
                  max_failures=0, storage_path=ray_root / "runs", feature_dim=FEATURE_DIM, name="no-retry",
                  crash_once={"after_epoch": 0, "marker": str(tmp_path / "m"), "rank": 0, "delay_s": 0.5})


# ------------------------------------------------------------- the single-stage methods on Ray

SINGLE_STAGE_TINY = {
    "sgvs": dict(SGVS_TINY_MODEL, dropout=0.0, segment_len=16, batch_segments=8, epochs=3, warmup_epochs=1,
                 ramp_epochs=1, g_lr=1e-3, d_lr=1e-3),
    "drdsn": dict(hidden=8, epochs=3, lr=1e-2, lr_step=0, batch_videos=2),
}


@pytest.mark.parametrize("stage", ["sgvs", "drdsn"])
def test_single_stage_methods_run_under_ray_train_like_in_process(spec, ray_root, tmp_path, monkeypatch, stage):
    """SG-VS and DR-DSN go through the same train_loop_per_worker: 2 DDP workers give a model of
    the right type, per-rule selections and losses close to the in-process loop's."""
    from vidsum.distributed.train import fit_stage_full, load_videos, train_stages_on_ray
    from vidsum.models.drdsn import DSN
    from vidsum.models.sgvs import SGVSGenerator
    from vidsum.training import drdsn, sgvs
    from vidsum.training.methods import get_method

    monkeypatch.setenv("VIDSUM_CACHE_DIR", str(tmp_path / "cache"))  # workers inherit it: SG-VS text cache
    method = get_method(stage)
    cfg = method.config_cls.from_dict(SINGLE_STAGE_TINY[stage])
    keys, val_keys = TINY_KEYS[:4], TINY_KEYS[4:5]
    videos = load_videos(spec, keys + val_keys)
    loop = sgvs.train_sgvs if stage == "sgvs" else drdsn.train_drdsn
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _, local, local_best = loop(cfg, [videos[k] for k in keys], Runtime(device=torch.device("cpu")),
                                    val_videos=[videos[k] for k in val_keys], dataset="summe")
    finally:
        torch.set_num_threads(threads)
    fit = fit_stage_full(stage, cfg, spec, keys, val_keys=val_keys, num_workers=2, storage_path=ray_root / "runs",
                         name=f"two-worker-{stage}")
    assert isinstance(fit.model, SGVSGenerator if stage == "sgvs" else DSN)
    assert [r["epoch"] for r in fit.history] == [0, 1, 2]
    assert set(fit.best) == set(local_best) == {"label_free", "validation"}
    # Each rank draws its own shard's noise / episodes, so the values are close, not equal.
    for ray_row, local_row in zip(fit.history, local, strict=True):
        assert ray_row["loss"] == pytest.approx(local_row["loss"], rel=0.25, abs=0.05)
    if stage == "sgvs":
        assert set(fit.model.texts) >= set(keys)  # the texts travel with the checkpoint
        return  # the drop-in below is method-generic: one method shows it (each Ray Train fit is ~20 s)
    # train_stages_on_ray is a drop-in for the in-process stages (what the fold runner and
    # tune.py's final fit use)
    [(model, history, best)] = train_stages_on_ray(method, spec, num_workers=2, use_gpu=False,
                                                   storage_path=ray_root / "runs", name=f"dropin-{stage}")(
        cfg, [videos[k] for k in keys], [videos[k] for k in val_keys], None, "summe")
    assert len(history) == cfg.epochs and set(best) == {"label_free", "validation"}
