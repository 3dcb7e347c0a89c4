"""tune.py --address never hangs, and --gpus-per-trial 0.25 packs four trials per GPU (issue 15 items 4, 5).

Real Ray heads started with ``ray start`` on this machine (tests/local_cluster.py: own temp
dirs, token auth, stopped by process group), no dashboard, and tune.py as a subprocess:

* an address where no Ray head answers (closed port; a port held by something else): exit 2 with
  one message, within seconds, instead of ``ray.init`` retrying for minutes;
* a head with 2 CPUs and no dashboard: ``--workers-per-trial 1`` is refused (no State API: Ray
  Train would leak the placement groups of stopped trials and the final fit wait forever), and
  ``--gpus-per-trial 1`` is refused (no node has a GPU), each with one message, in bounded time;
* a head declaring 8 CPUs and 2 (fake) GPUs: ``--gpus-per-trial 0.25 --trials 8`` runs all eight
  trials at once, four on each GPU id, and each trains on CPU (torch sees no GPU here) with a note
  in its log. The trials are tune.py's own, with its resources; the driver script only wraps the
  trial function in a rendezvous (each trial records its Ray GPU ids and waits until all eight
  have started, at most ~2 min), so "at once" is observed, not inferred from timing.

Every test is marked ``ray`` and ``slow``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("ray")

from local_cluster import LocalCluster, free_port  # noqa: E402
from test_distributed import FEATURE_DIM, TINY_KEYS  # noqa: E402
from test_tuning import TUNE_TINY, space_file  # noqa: E402, F401 -- space_file: a fixture
from vidsum.results import leaderboard  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def data(tmp_path):
    """A tiny stand-in at the real-file path (tune.py then needs no stand-in options)."""
    from vidsum.data.download import real_h5_path
    from vidsum.data.standin import build_standin

    folder = tmp_path / "data"
    build_standin("summe", real_h5_path("summe", folder), feature_dim=FEATURE_DIM, keys=TINY_KEYS)
    return folder


def _env(cluster: LocalCluster | None = None) -> dict[str, str]:
    base = cluster.env() if cluster else {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    return {**base, "PYTHONPATH": os.pathsep.join([str(REPO), base.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def _tune(address: str, data: Path, results: Path, space_file: Path, *extra: str,
          script: list[str] | None = None) -> list[str]:
    sets = [f"--set={k}={v}" for k, v in TUNE_TINY.items()]
    return [sys.executable, *(script or [str(REPO / "tune.py")]), "--dataset", "summe", "--splits", "kfold", "--folds", "0",
            "--data-dir", str(data), "--results", str(results), "--space", str(space_file), *sets, "--address", address,
            *extra]


def _run(args: list[str], env: dict[str, str], timeout: float) -> tuple[subprocess.CompletedProcess, float]:
    t0 = time.monotonic()
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    return out, time.monotonic() - t0


# ------------------------------------------------------------------------------ connecting


def test_an_address_without_a_ray_head_fails_in_seconds(tmp_path, data, space_file):
    """A closed port: the TCP probe answers at once. A port held by something that is not Ray:
    ray.init would retry for minutes (measured: > 300 s); the watchdog ends it after --connect-timeout."""
    closed = f"127.0.0.1:{free_port()}"
    out, took = _run(_tune(closed, data, tmp_path / "r1", space_file), _env(), timeout=120)
    assert out.returncode == 2, out.stdout[-2000:] + out.stderr[-2000:]
    assert f"tune.py: error: cannot join the Ray cluster at {closed}: nothing listens at {closed}" in out.stderr
    print(f"closed port: exit 2 after {took:.1f} s")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        address = f"127.0.0.1:{s.getsockname()[1]}"
        out, took = _run(_tune(address, data, tmp_path / "r2", space_file, "--connect-timeout", "8"), _env(), timeout=120)
    assert out.returncode == 2, out.stdout[-2000:] + out.stderr[-2000:]
    assert f"tune.py: error: no Ray cluster answered at {address} within 8 s" in out.stderr
    assert took < 90, took  # start-up (imports) + 8 s, on a loaded machine
    print(f"port held by a non-Ray listener: exit 2 after {took:.1f} s (--connect-timeout 8)")


# ------------------------------------------------------------------------ refusing at start


def test_head_without_dashboard_refuses_train_trials_and_gpu_trials_at_once(tmp_path, data, space_file):
    cluster = LocalCluster()
    try:
        cluster.start_head(cpus=2, dashboard=False)
        results = tmp_path / "results"
        out, took = _run(_tune(cluster.address, data, results, space_file, "--workers-per-trial", "1"), _env(cluster),
                         timeout=300)
        assert out.returncode == 2, out.stdout[-3000:] + out.stderr[-3000:]
        errors = [line for line in out.stderr.splitlines() if line.startswith("tune.py: error:")]
        assert len(errors) == 1 and "--workers-per-trial 1 needs Ray's State API" in errors[0], out.stderr[-3000:]
        assert "--include-dashboard=true" in errors[0] and "--workers-per-trial 0" in errors[0]
        assert "1 node alive" in out.stdout and "2 CPU, 0 GPU" in out.stdout
        assert took < 180, took
        print(f"--workers-per-trial 1 without a State API: exit 2 after {took:.1f} s")

        out, took = _run(_tune(cluster.address, data, results, space_file, "--gpus-per-trial", "1"), _env(cluster),
                         timeout=300)
        assert out.returncode == 2, out.stdout[-3000:] + out.stderr[-3000:]
        errors = [line for line in out.stderr.splitlines() if line.startswith("tune.py: error:")]
        assert len(errors) == 1, out.stderr[-3000:]
        assert "one trial holds 1 CPU + 1 GPU, and no alive node can hold it" in errors[0]
        assert ": 2 CPU, 0 GPU" in errors[0] and "No node has a GPU: use --gpus-per-trial 0" in errors[0]
        assert took < 180, took
        assert not (results / "trials.parquet").exists()  # refused before any trial
        print(f"--gpus-per-trial 1 on a node without GPUs: exit 2 after {took:.1f} s")
    finally:
        cluster.stop()


# ----------------------------------------------------------------------------- GPU packing

# Runs tune.py's own command (vidsum.tuning.cli.main) with its trial function wrapped: each trial
# writes <dir>/<trial id>.start (its Ray GPU ids, time) and waits until `n` trials have started
# (all give up at the first start + 120 s), writes <trial id>.released, then runs tune.py's trial
# (whose end Tune's result rows record: Tune stops a trial at its last report, so code after it
# does not run).
DRIVER = r'''
import importlib, json, os, sys, time
from pathlib import Path

import vidsum.distributed.search as search
from vidsum.tuning.cli import main

REC, N = Path(sys.argv[1]), int(sys.argv[2])


def run_trial(params, ctx):
    import ray, ray.tune

    trial = importlib.import_module("vidsum.distributed.search").run_trial  # tune.py's (unpatched in this worker)
    tid = ray.tune.get_context().get_trial_id()
    gpu_ids = [str(i) for i in ray.get_runtime_context().get_accelerator_ids().get("GPU", [])]
    (REC / f"{tid}.start").write_text(json.dumps({"gpu_ids": gpu_ids, "start": time.time(),
                                                   "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}))
    first = min(p.stat().st_mtime for p in REC.glob("*.start"))
    while len(list(REC.glob("*.start"))) < N and time.time() < first + 120:
        time.sleep(0.2)
    (REC / f"{tid}.released").write_text(json.dumps({"released": time.time()}))
    trial(params, ctx)


search.run_trial = run_trial  # tune_fold reads the module's run_trial when it builds the trainable
sys.exit(main(sys.argv[3:]))
'''


def _reported(ray_tune: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for path in ray_tune.glob("*/*/result.json"):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if rows:
            out[rows[0]["trial_id"]] = rows
    return out


@pytest.mark.skipif(os.environ.get("VIDSUM_GPU_PACKING_TEST") != "1",
                    reason="~2 min on 2 cores (8 trial processes + a final fit): VIDSUM_GPU_PACKING_TEST=1 runs it")
def test_quarter_gpu_trials_run_eight_at_once_four_per_fake_gpu_on_cpu(tmp_path, data, space_file):
    cluster = LocalCluster()
    try:
        cluster.start_head(cpus=8, gpus=2, dashboard=False)
        driver, rec, results = tmp_path / "driver.py", tmp_path / "rec", tmp_path / "results"
        driver.write_text(DRIVER)
        rec.mkdir()
        args = _tune(cluster.address, data, results, space_file, "--gpus-per-trial", "0.25", "--trials", "8",
                     script=[str(driver), str(rec), "8"])
        out, took = _run(args, _env(cluster), timeout=540)
        assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
        print(f"8 trials of 0.25 GPU + the final fit: {took:.0f} s")
        assert "one trial holds 1 CPU + 0.25 GPU: 8 fit at once" in out.stdout
        assert "GPU trials: each holds 1 CPU + 0.25 GPU; 8 fit on the cluster at once; running 8 at a time" in out.stdout

        starts = {p.stem: json.loads(p.read_text()) for p in rec.glob("*.start")}
        released = {p.stem: json.loads(p.read_text())["released"] for p in rec.glob("*.released")}
        assert len(starts) == len(released) == 8, (sorted(starts), sorted(released))
        assert all(len(s["gpu_ids"]) == 1 for s in starts.values()), starts
        assert Counter(s["gpu_ids"][0] for s in starts.values()) == {"0": 4, "1": 4}
        assert {s["cuda_visible_devices"] for s in starts.values()} == {"0", "1"}  # Ray pins each to its GPU
        first_start, last_start = min(s["start"] for s in starts.values()), max(s["start"] for s in starts.values())
        # every trial was still waiting when the eighth started: all eight ran at the same moment
        assert min(released.values()) >= last_start and max(released.values()) - first_start < 120  # (no give-up)
        reported = _reported(results / "ray_tune")  # what tune.py's trials themselves report
        assert set(reported) == set(starts)
        ends = {tid: max(r["timestamp"] for r in rows) for tid, rows in reported.items()}  # Tune's clock, whole seconds
        assert min(ends.values()) >= int(last_start)
        print(f"all 8 trials started within {last_start - first_start:.1f} s, 4 per GPU id; they ended "
              f"{min(ends.values()) - last_start:.0f} to {max(ends.values()) - last_start:.0f} s after the last start")
        for tid, rows in reported.items():
            assert {r["device"] for r in rows} == {"cpu"} and {r["gpu_ids"] for r in rows} == {starts[tid]["gpu_ids"][0]}
        assert "trains on CPU: torch sees no CUDA device" in out.stderr  # the driver's warning, once
        logs = "".join(p.read_text(errors="replace") for p in (cluster.root / "head").rglob("worker-*.err"))
        assert logs.count("GPU (Ray GPU id(s) ") >= 8 and "sees no CUDA device" in logs and "training on CPU" in logs
        trials = leaderboard.read_table(results, "trials")
        assert len(trials) == 8 and trials["objective"].notna().all()
        assert len(leaderboard.read_table(results, "folds")) == 6
    finally:
        cluster.stop()
