"""tune.py on a real multi-node Ray cluster on this machine, with an S3 bucket (issue 15 item 3).

The module's fixture starts moto's S3 server on 127.0.0.1 and a cluster of ``ray start``
processes (tests/local_cluster.py): a head with no CPUs and two worker nodes of 1 CPU each
(custom resource ``worker_node``), so every trial and final fit runs on a worker node, as on a
real cluster whose head has no GPU. The nodes share this machine's disk, but nothing here
relies on it: storage is the bucket. The head runs the dashboard (Ray Train needs its State API
to free the placement groups of the trials Tune stops). Every test is marked ``ray`` and ``slow``.
They run in this order (the last one kills a node):

A (~40 s): one fold, 2 trials, ``--storage s3://...``: complete rows locally, and in the bucket
  the mirrored leaderboards and Optuna journal, every trial's checkpoints and the final models;
  every trial epoch ran on a worker node.
B (~2 min): one trial with ``--workers-per-trial 1``: the trials' and the final fit's Ray Train
  runs keep their checkpoints in the bucket (the summarizer stage reads the generator from it).
C (~1.5 min) -- the issue's "Test B": a worker node's raylet is killed (SIGKILL, by pid) while a
  trial runs there: the trial resumes on the other node from its last checkpoint; no trials row
  lost or doubled.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("ray")
pytest.importorskip("moto")

from local_cluster import FAST_HEALTH_CHECKS, TRIAL_RUNNING, LocalCluster, MotoS3  # noqa: E402
from test_distributed import FEATURE_DIM, TINY_KEYS  # noqa: E402
from test_tuning import TUNE_TINY, space_file  # noqa: E402, F401 -- space_file: a fixture
from vidsum.results import leaderboard  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cluster():
    s3 = MotoS3(bucket="cluster").start()
    # a dead raylet is noticed in ~3 s instead of ~30 s (GCS health checks; Test B kills one)
    nodes = LocalCluster(extra_env={**s3.env, **FAST_HEALTH_CHECKS})
    try:
        nodes.start(workers=2, cpus_per_worker=1, dashboard=True)  # Test C's Train trials need the State API
        nodes.s3 = s3
        nodes.worker_ids = _worker_node_ids(nodes)
        assert len(nodes.worker_ids) == 2, nodes.worker_ids
        yield nodes
    finally:
        nodes.stop()
        s3.stop()


def _worker_node_ids(c: LocalCluster) -> set[str]:
    code = ("import json, ray; ray.init(address=%r, log_to_driver=False); "
            "print(json.dumps([n['NodeID'] for n in ray.nodes() if n['Alive'] and n['Resources'].get('worker_node')]))"
            % c.address)
    out = subprocess.run([sys.executable, "-c", code], env=c.env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from vidsum.data.download import real_h5_path
    from vidsum.data.standin import build_standin

    folder = tmp_path_factory.mktemp("data")
    build_standin("summe", real_h5_path("summe", folder), feature_dim=FEATURE_DIM, keys=TINY_KEYS)
    return folder


def _tune(c: LocalCluster, data: Path, results: Path, space_file: Path, prefix: str, *extra: str, **sets) -> list[str]:
    sets = [f"--set={k}={v}" for k, v in {**TUNE_TINY, **sets}.items()]
    return [sys.executable, str(REPO / "tune.py"), "--dataset", "summe", "--splits", "kfold", "--folds", "0",
            "--data-dir", str(data), "--results", str(results), "--space", str(space_file), *sets,
            "--address", c.address, "--storage", f"s3://{c.s3.bucket}/{prefix}", *extra]


def test_a_search_on_a_cluster_stores_everything_in_the_bucket(cluster, data, space_file, tmp_path):
    results = tmp_path / "results"
    t0 = time.time()
    out = subprocess.run(_tune(cluster, data, results, space_file, "runPlain", "--trials", "2"), env=cluster.env(),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    print(f"tune.py on the cluster: {time.time() - t0:.0f} s")
    assert "LOCAL storage path" not in out.stderr
    trials = leaderboard.read_table(results, "trials")
    folds = leaderboard.read_table(results, "folds")
    assert len(trials) == 2 and trials["objective"].notna().all() and len(folds) == 6
    run_id = trials["run_id"].iloc[0]
    keys = set(cluster.s3.keys("runPlain/"))
    for name in ("trials.parquet", "folds.parquet", "videos.parquet", f"optuna/{run_id}.journal"):
        assert f"runPlain/{name}" in keys, sorted(keys)
    assert {f"runPlain/checkpoints/{run_id}/fold0/generator.pt", f"runPlain/checkpoints/{run_id}/fold0/summarizer.pt"} <= keys
    rows = cluster.s3.tune_results("runPlain")
    assert set(rows) == set(trials["trial_id"])
    for tid, seq in rows.items():  # each trial: a checkpoint per scored epoch, in the bucket, from a worker node
        assert any("/checkpoint_" in k and k.endswith("/state.pt") and f"run_trial_{tid}" in k for k in keys), tid
        assert {r["node_id"] for r in seq} <= cluster.worker_ids
    assert not (results / "checkpoints").exists() and not (results / "ray_tune").exists()
    mirrored = tmp_path / "mirrored.parquet"
    cluster.s3.client().download_file(cluster.s3.bucket, "runPlain/trials.parquet", str(mirrored))
    assert len(pd.read_parquet(mirrored)) == 2

    # A new head (empty results folder) resumes the run from the bucket alone and finds the fold
    # done; its driver reaches the bucket through --storage-endpoint, not the environment.
    env = cluster.env()
    env.pop("AWS_ENDPOINT_URL", None)
    again = subprocess.run(_tune(cluster, data, tmp_path / "new_head", space_file, "runPlain", "--trials", "2",
                                 "--resume", "--storage-endpoint", cluster.s3.endpoint),
                           env=env, capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "fetched" in again.stdout and f"resuming run {run_id}" in again.stdout and "skipped" in again.stdout


@pytest.mark.skipif(os.environ.get("VIDSUM_CLUSTER_TRAIN_TEST") != "1",
                    reason="~2.5 min and seen flaky with 2 trials on 2 cores: VIDSUM_CLUSTER_TRAIN_TEST=1 runs it")
def test_b_ray_train_trials_and_final_fit_keep_their_runs_in_the_bucket(cluster, data, space_file, tmp_path):
    """--workers-per-trial 1: each trial's and the final fit's TorchTrainer runs use the bucket as
    Ray Train storage (checkpoints there; the summarizer stage reads the generator's from there)."""
    results = tmp_path / "results"
    t0 = time.time()
    # one trial: each TorchTrainer run costs ~15-20 s of start-up here (2 stages x (trial + final fit))
    out = subprocess.run(_tune(cluster, data, results, space_file, "runTrain", "--trials", "1", "--workers-per-trial", "1"),
                         env={**cluster.env(), "RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S": "60"},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    print(f"tune.py --workers-per-trial 1 on the cluster: {time.time() - t0:.0f} s")
    trials = leaderboard.read_table(results, "trials")
    assert len(trials) == 1 and trials["objective"].notna().all() and len(leaderboard.read_table(results, "folds")) == 6
    run_id = trials["run_id"].iloc[0]
    keys = set(cluster.s3.keys("runTrain/"))
    for tid in trials["trial_id"]:
        mine = [k for k in keys if k.startswith("runTrain/ray_train/") and f"/trial-{tid}/" in k and k.endswith("/state.pt")]
        assert {"generator", "summarizer"} <= {k.split(f"/trial-{tid}/", 1)[1].split("/")[0] for k in mine}, sorted(keys)
    assert any(k.startswith(f"runTrain/ray_train/{run_id}/fold0/") and k.endswith("/state.pt") for k in keys)
    assert {f"runTrain/checkpoints/{run_id}/fold0/generator.pt", f"runTrain/checkpoints/{run_id}/fold0/summarizer.pt"} <= keys
    assert not (results / "checkpoints").exists() and not (results / "ray_train").exists()


def test_c_a_node_killed_mid_trial_resumes_it_on_the_other_node(cluster, data, space_file, tmp_path):
    results = tmp_path / "results"
    # 30 scored epochs per trial (quick budget: 0.2 x rl_epochs), one trial at a time: on an idle
    # machine 10 epochs could end between the first checkpoint and the kill (seen once)
    args = _tune(cluster, data, results, space_file, "runKill", "--trials", "2", "--max-concurrent", "1", rl_epochs=150)
    proc = subprocess.Popen(args, env=cluster.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    killed, t0 = None, time.time()
    try:
        while time.time() - t0 < 150 and killed is None:
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            ckpts = [k for k in cluster.s3.keys("runKill/ray_tune/") if "/checkpoint_" in k and k.endswith("/state.pt")]
            if ckpts:
                running = cluster.worker_running(TRIAL_RUNNING)
                if running is not None:
                    raylet = running[1]
                    os.kill(raylet, signal.SIGKILL)
                    killed = raylet
                    break
            time.sleep(0.3)
        assert killed is not None, "no trial checkpoint / trial process seen in time"
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, out[-4000:]
    print(f"tune.py with a node killed: {time.time() - t0:.0f} s")
    trials = leaderboard.read_table(results, "trials")
    assert len(trials) == 2 and trials["trial_id"].is_unique and set(trials["status"]) <= {"TERMINATED", "EARLY_STOPPED"}
    assert len(leaderboard.read_table(results, "folds")) == 6
    rows = cluster.s3.tune_results("runKill")
    resumed = {t: r for t, r in rows.items() if any(x["resumed_from"] >= 0 for x in r)}
    assert len(resumed) == 1, {t: [(x["scored_epoch"], x["resumed_from"], x["node_id"][:6]) for x in r]
                               for t, r in rows.items()}
    (tid, seq), = resumed.items()
    before = [x for x in seq if x["resumed_from"] < 0]
    after = [x for x in seq if x["resumed_from"] >= 0]
    start = after[0]["resumed_from"]
    assert after[0]["scored_epoch"] == start + 2  # the epoch after the checkpoint (scored_epoch = epoch + 1)
    assert {x["node_id"] for x in before} != {x["node_id"] for x in after}  # it moved to the other node
    print(f"trial {tid}: {len(before)} epoch(s) before the kill, resumed from epoch {start} on the other node")
