"""Reliability of tune.py on a real multi-node Ray cluster with worker nodes killed mid-search.

    python benchmarks/cluster_reliability.py                       # 5 SumMe folds, 3 faults, + a clean run
    python benchmarks/cluster_reliability.py --folds 0 --faults 1  # a smoke run (~2 min)
    python benchmarks/cluster_reliability.py --from out.json       # reprint a saved run

The cluster is tests/local_cluster.py's (as in tests/test_cluster.py): ``ray start --head
--num-cpus 0`` plus two 1-CPU worker nodes offering the custom resource ``worker_node`` (so every
trial and final fit runs on a worker, as on a cluster whose head has no GPU), moto's S3 server on
127.0.0.1 as the bucket (``--storage s3://...``), token auth, fast GCS health checks.

The same ``tune.py`` command (``--workers-per-trial 0``, tiny TR-SUM, the shipped space) runs
twice against the same cluster: once untouched (the clean run) and once with ``--faults`` worker
nodes killed at evenly spaced times of the clean run's wall time. A fault is what a lost machine
looks like: the raylet of a worker node that is running a trial or a final fit is killed
(SIGKILL, by pid), then every other process of that node, and a replacement worker node is
started, as an autoscaler would (its start-up counts in the wall time). Then it counts, from the
bucket and the leaderboards:

- trials resumed (a Tune result row with ``resumed_from`` >= 0) and at which epoch, trials
  restarted from scratch (killed before their first checkpoint);
- final fits restarted (tune.py's "the final fit was restarted and continued after ..." line);
- epochs redone: reported scored epochs that ran twice (rows minus distinct (trial, epoch));
- rows lost or doubled against the clean run (trials, folds, videos tables), and whether each
  fold's test rows equal the clean run's;
- wall time of each run and the ratio.

Numbers are for this machine (2 cores shared by 2 worker nodes); see README "Cluster".
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the cluster and S3 helpers the tests use

import pandas as pd  # noqa: E402

from local_cluster import FAST_HEALTH_CHECKS, FINAL_FIT_RUNNING, TRIAL_RUNNING, LocalCluster, MotoS3  # noqa: E402

# A small TR-SUM: trials of ~10 scored epochs (quick budget: 0.2 x rl_epochs), so a kill lands mid-trial.
TINY = dict(d_model=32, n_heads=4, n_layers=1, d_ff=64, batch_segments=8, gen_epochs=4, rl_epochs=50,
            gen_lr=1e-3, rl_lr=1e-3)
FEATURE_DIM = 16


def tune_command(c: LocalCluster, data: Path, results: Path, prefix: str, folds: str, trials: int) -> list[str]:
    sets = [f"--set={k}={v}" for k, v in TINY.items()]
    return [sys.executable, str(REPO / "tune.py"), "--dataset", "summe", "--folds", folds, "--trials", str(trials),
            "--data-dir", str(data), "--results", str(results), *sets, "--address", c.address,
            "--storage", f"s3://{c.s3.bucket}/{prefix}", "--quiet"]


def busy_worker(c: LocalCluster) -> tuple[str, object, int] | None:
    """(what runs, node, its raylet pid) for a live worker node running a trial (looked for first)
    or a final fit now, else None."""
    for kind, title in (("trial", TRIAL_RUNNING), ("final fit", FINAL_FIT_RUNNING)):
        running = c.worker_running(title)
        if running is not None:
            return (kind, *running)
    return None


def inject_faults(c: LocalCluster, proc: subprocess.Popen, at_s: list[float], log: list[dict]) -> None:
    """At each time in ``at_s`` (seconds since the run started), kill a busy worker node and start
    a replacement; waits for something to run on a worker if nothing does at that moment."""
    t0 = time.time()
    for when in at_s:
        while time.time() - t0 < when and proc.poll() is None:
            time.sleep(0.5)
        hit = None
        while proc.poll() is None and hit is None:
            hit = busy_worker(c)
            if hit is None:
                time.sleep(0.3)
        if hit is None:
            return
        kind, node, raylet = hit
        os.kill(raylet, signal.SIGKILL)  # the fault: the node's raylet dies ...
        killed_at = time.time() - t0
        time.sleep(1.0)
        c.kill_node(node)  # ... and the rest of the machine with it
        t1 = time.time()
        new = c.add_worker(1)  # the autoscaler's replacement
        log.append({"at_s": round(killed_at, 1), "node": node.name, "running": kind,
                    "replacement": new.name, "replacement_start_s": round(time.time() - t1, 1)})
        print(f"  fault at {killed_at:.0f} s: killed {node.name} (running a {kind}); {new.name} up "
              f"in {time.time() - t1:.0f} s", flush=True)


def trial_counts(rows: dict[str, list[dict]]) -> dict:
    """Trials resumed from a checkpoint (with the epochs they resumed at), trials restarted from
    scratch, and scored epochs reported twice. rows: {trial id: Tune result rows}."""
    resumed, scratch, redone = {}, [], 0
    for tid, seq in rows.items():
        starts = sorted({int(r["resumed_from"]) for r in seq if int(r["resumed_from"]) >= 0})
        if starts:
            resumed[tid] = starts
        epochs = [int(r["scored_epoch"]) for r in seq]
        redone += len(epochs) - len(set(epochs))
        fresh = [int(r["scored_epoch"]) for r in seq if int(r["resumed_from"]) < 0]
        if len(fresh) != len(set(fresh)):
            scratch.append(tid)
    return {"trials_reported": len(rows), "trials_resumed": len(resumed), "resumed_at_epochs": resumed,
            "trials_restarted_from_scratch": len(scratch), "scored_epochs_redone": redone}


def run_once(c: LocalCluster, data: Path, work: Path, prefix: str, folds: str, trials: int,
             fault_times: list[float]) -> dict:
    results = work / prefix
    proc = subprocess.Popen(tune_command(c, data, results, prefix, folds, trials), env=c.env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    log: list[dict] = []
    t0 = time.time()
    injector = threading.Thread(target=inject_faults, args=(c, proc, fault_times, log), daemon=True)
    injector.start()
    try:
        out, _ = proc.communicate(timeout=3600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    wall = time.time() - t0
    injector.join(timeout=120)
    (work / f"{prefix}.log").write_text(out)
    if proc.returncode != 0:
        raise RuntimeError(f"tune.py ({prefix}) failed, rc {proc.returncode}:\n{out[-4000:]}")
    tables = {name: pd.read_parquet(results / f"{name}.parquet") for name in ("trials", "folds", "videos")}
    return {"prefix": prefix, "wall_s": round(wall, 1), "faults": log,
            "final_fits_resumed": [f"fold {f}: after {stage} epoch {e}" for f, stage, e in re.findall(
                r"\[fold (\d+)\] the final fit was restarted and continued after (\w+) epoch (\d+)", out)],
            "rows": {name: len(t) for name, t in tables.items()},
            "trial_ids_unique": bool(tables["trials"]["trial_id"].is_unique),
            **trial_counts(c.s3.tune_results(prefix)), "tables": tables}


def same_fold_rows(a: pd.DataFrame, b: pd.DataFrame) -> list[int]:
    """Folds whose test rows (method, selection, F1, tau, rho) are equal in both folds tables."""
    cols = ["fold", "method", "selection", "f1", "kendall_tau", "spearman_rho"]
    same = []
    for fold in sorted(set(a["fold"])):
        x = a[a["fold"] == fold][cols].sort_values(cols[:3]).reset_index(drop=True)
        y = b[b["fold"] == fold][cols].sort_values(cols[:3]).reset_index(drop=True)
        if len(x) == len(y) and x.round(6).equals(y.round(6)):
            same.append(int(fold))
    return same


def report(res: dict) -> str:
    clean, faulty = res["clean"], res["faulty"]
    lines = [f"cluster: head (0 CPUs) + 2 worker nodes x 1 CPU, moto S3 bucket; {res['folds_n']} SumMe folds x "
             f"{res['trials']} trials, tiny TR-SUM (--workers-per-trial 0)",
             f"faults injected: {len(faulty['faults'])} (" + ", ".join(
                 f"{f['node']} running a {f['running']} at {f['at_s']:.0f} s" for f in faulty["faults"]) + ")",
             f"nodes started: {2 + len(faulty['faults'])} workers over the faulty run (replacements up in "
             + ", ".join(f"{f['replacement_start_s']:.0f}" for f in faulty["faults"]) + " s)",
             f"trials resumed from a checkpoint: {faulty['trials_resumed']} (at epochs {faulty['resumed_at_epochs']}); "
             f"restarted from scratch: {faulty['trials_restarted_from_scratch']}; final fits resumed: "
             f"{len(faulty['final_fits_resumed'])} ({'; '.join(faulty['final_fits_resumed']) or '-'})",
             f"scored epochs redone: {faulty['scored_epochs_redone']} (clean run: {clean['scored_epochs_redone']})",
             "rows (trials / folds / videos): clean " + " / ".join(str(clean["rows"][k]) for k in ("trials", "folds", "videos"))
             + ", faulty " + " / ".join(str(faulty["rows"][k]) for k in ("trials", "folds", "videos"))
             + f"; lost {res['rows_lost']}, doubled {res['rows_doubled']}",
             f"folds whose test rows equal the clean run's: {res['same_folds']} of {res['folds_n']}",
             f"wall: clean {clean['wall_s']:.0f} s, with faults {faulty['wall_s']:.0f} s "
             f"({faulty['wall_s'] / clean['wall_s']:.2f}x)"]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--folds", default="0,1,2,3,4")
    p.add_argument("--trials", type=int, default=2)
    p.add_argument("--faults", type=int, default=3)
    p.add_argument("--out", help="write the figures as JSON here")
    p.add_argument("--from", dest="from_json", help="reprint a saved --out file")
    a = p.parse_args()
    if a.from_json:
        print(report(json.loads(Path(a.from_json).read_text())))
        return

    from vidsum.data.download import real_h5_path
    from vidsum.data.standin import build_standin

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server: no line per request
    work = Path(tempfile.mkdtemp(prefix="reliab", dir="/tmp"))
    data = work / "data"
    build_standin("summe", real_h5_path("summe", data), feature_dim=FEATURE_DIM)
    s3 = MotoS3(bucket="reliability").start()
    cluster = LocalCluster(extra_env={**s3.env, **FAST_HEALTH_CHECKS})
    try:
        cluster.start(workers=2, cpus_per_worker=1, dashboard=True)
        cluster.s3 = s3
        print("clean run ...", flush=True)
        clean = run_once(cluster, data, work, "clean", a.folds, a.trials, [])
        print(f"  {clean['wall_s']:.0f} s", flush=True)
        step = clean["wall_s"] / (a.faults + 1)
        print(f"run with {a.faults} faults (at ~{step:.0f} s intervals) ...", flush=True)
        faulty = run_once(cluster, data, work, "faulty", a.folds, a.trials, [step * (k + 1) for k in range(a.faults)])
    finally:
        cluster.stop()
        s3.stop()
    ct, ft = clean.pop("tables"), faulty.pop("tables")
    lost = {k: max(0, len(ct[k]) - len(ft[k])) for k in ct}
    doubled = {k: max(0, len(ft[k]) - len(ct[k])) for k in ct}
    res = {"folds_n": len(a.folds.split(",")), "trials": a.trials, "clean": clean, "faulty": faulty,
           "rows_lost": lost, "rows_doubled": doubled, "same_folds": same_fold_rows(ct["folds"], ft["folds"])}
    print(report(res))
    if a.out:
        tmp = Path(a.out).with_suffix(".tmp")
        tmp.write_text(json.dumps(res, indent=1, default=str))
        tmp.replace(a.out)
    print(f"logs: {work}/clean.log, {work}/faulty.log")


if __name__ == "__main__":
    main()
