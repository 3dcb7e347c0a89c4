"""Does a method learn? Train it on every (split, seed) of a dataset and compare with random.

    python benchmarks/learns_on_standin.py --method trsum --dataset summe --seeds 0,1,2 --jobs 2
    python benchmarks/learns_on_standin.py --method trsum --dataset summe --set mask_mode=dynamic --tag dynamic

Each (split, seed) is one ``vidsum train``-style fold run (the method's fold runner, test videos
scored under every selection rule); the human and random rows of the same test videos are
computed once per split. Rows are appended to ``<results>/folds.parquet`` / ``videos.parquet``
(one run id; ``--tag`` goes into the config column), so ``vidsum report`` shows them too.
Printed: per selection rule, mean ± std over (split, seed) of F1 / tau / rho, the same for the
random rows, and the margin (method - random) with the share of runs above random. Selection
rules other than 'oracle' never look at the test videos; 'oracle' is shown labelled.

A run per job in its own process with 1 torch thread (``--jobs`` processes at once). Progress
on stderr (``vidsum.progress``): run k of n and the ETA of the whole grid as runs finish (runs
go in parallel, so no per-epoch display); ``--quiet`` or ``VIDSUM_PROGRESS=0`` silences it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

from vidsum import progress


def _one(job: dict):
    import torch

    torch.set_num_threads(1)
    from vidsum.data.datasets import load_dataset
    from vidsum.data.splits import get_split
    from vidsum.training.methods import get_method

    method = get_method(job["method"])
    ds = load_dataset(job["dataset"], job["data_dir"], quiet=True, cue=job["cue"], strength=job["strength"])
    split = get_split(job["dataset"], job["split_set"], job["split"])
    cfg = method.preset(job["preset"], seed=job["seed"], **job["overrides"])
    t0 = time.perf_counter()
    res = method.run_fold(cfg, ds, split, fold=job["split"], split_set=job["split_set"])
    keep = keep_rate(res.history, getattr(cfg, "delta", None))
    line = (f"  {job['method']} split {job['split']} seed {job['seed']}: {time.perf_counter() - t0:.0f} s  "
            + "  ".join(f"{r['selection']} F {r['f1']:.3f} tau {r['kendall_tau']:+.3f}" for r in res.fold_rows)
            + (f"  | keep {keep['first']:.2f} -> {keep['last']:.2f} (max |p - delta| {keep['max_dev']:.2f})"
               if keep else ""))
    return res, keep, line


def _numbered(item: tuple[int, dict]):
    """(job number, _one(job)): results arrive in the order runs finish."""
    number, job = item
    return number, _one(job)


def run_grid(jobs: list[dict], n_procs: int, desc: str, one=_numbered) -> list:
    """``one((k, job))[1]`` for every job, in job order, ``n_procs`` spawned processes at once.

    Each run's result line goes to stdout as it finishes; run k of n and the grid's ETA (from
    the runs finished so far) to stderr. ``one`` is the worker function (a module-level one:
    spawn pickles it by name)."""
    outputs: list = [None] * len(jobs)
    with mp.get_context("spawn").Pool(n_procs) as pool, progress.Progress(desc, len(jobs), unit="run") as shown:
        for number, out in pool.imap_unordered(one, list(enumerate(jobs)), chunksize=1):
            outputs[number] = out
            shown.write(out[-1])
            shown.update()
    return outputs


def keep_rate(history: list[dict], delta: float | None) -> dict[str, float] | None:
    """The scored stage's keep rate per epoch: the fraction of steps its episodes kept
    ('keep_rate', else the mean keep probability 'mean_p'): first, last epoch and the largest
    distance from the target ``delta`` over training; None if there is nothing to say."""
    rows = [r for r in history if r.get("stage") != "generator"]
    ps = [r.get("keep_rate", r.get("mean_p")) for r in rows]
    ps = [p for p in ps if p is not None]
    if not ps or delta is None:
        return None
    return {"first": ps[0], "last": ps[-1], "max_dev": max(abs(p - delta) for p in ps)}


def _fmt(values: list[float]) -> str:
    return f"{np.mean(values):+.3f} ± {np.std(values):.3f}" if values else "n/a"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--method", default="trsum", choices=["trsum", "sgvs", "drdsn"])
    p.add_argument("--dataset", default="summe", choices=["summe", "tvsum"])
    p.add_argument("--split-set", default="standard")
    p.add_argument("--splits", default="0,1,2,3,4")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--preset", default="quick")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (as vidsum train --set)")
    p.add_argument("--tag", default="", help="label stored in the config column (e.g. an ablation arm)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--cue", default=None, choices=["events", "text", "mixed"], help="stand-in cue (default events)")
    p.add_argument("--strength", type=float, default=None, help="stand-in strength in [0, 1] (default 0.8)")
    p.add_argument("--results", default="results/learning")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr (also: VIDSUM_PROGRESS=0)")
    a = p.parse_args(argv)
    with progress.quiet(a.quiet):
        return _run(a)


def _run(a: argparse.Namespace) -> int:
    """The benchmark for parsed arguments ``a``: train the grid, write the rows, print the table."""
    from vidsum.training.config import parse_overrides
    from vidsum.data.datasets import load_dataset
    from vidsum.data.splits import get_split
    from vidsum.tuning.rows import write_fold
    from vidsum.results import leaderboard

    overrides = parse_overrides(a.set)
    splits = [int(s) for s in a.splits.split(",")]
    seeds = [int(s) for s in a.seeds.split(",")]
    ds = load_dataset(a.dataset, a.data_dir, cue=a.cue, strength=a.strength)  # builds the stand-in once, before the workers start
    jobs = [dict(method=a.method, dataset=a.dataset, data_dir=a.data_dir, split_set=a.split_set, split=k, seed=s,
                 preset=a.preset, overrides=overrides, cue=a.cue, strength=a.strength) for k in splits for s in seeds]
    t0 = time.perf_counter()
    print(f"{len(jobs)} runs of {a.method} ({a.preset}{', ' + a.tag if a.tag else ''}) on {a.dataset} "
          f"(features={ds.features_kind}), {a.jobs} at a time", flush=True)
    outputs = run_grid(jobs, a.jobs, f"{a.method} on {a.dataset}{' (' + a.tag + ')' if a.tag else ''}")
    wall = time.perf_counter() - t0
    results = [res for res, _, _ in outputs]
    keeps = [keep for _, keep, _ in outputs if keep]

    # tune.py's writer: the method's rows plus the human / random rows of the same test videos
    # (re-written per seed under the same keys, so each split keeps one of each).
    run_row = {"run_id": leaderboard.new_run_id(), "method": a.method, "dataset": a.dataset,
               "features": ds.features_kind, "split_set": a.split_set, "commit": leaderboard.git_commit(),
               "started_at": leaderboard.utc_now()}
    run_id = run_row["run_id"]
    fold_rows, random_rows = [], {}
    for job, res in zip(jobs, results):
        if a.tag:
            for r in res.fold_rows:
                r["config"] = json.dumps({**json.loads(r["config"]), "tag": a.tag}, sort_keys=True)
        test_keys = tuple(get_split(a.dataset, a.split_set, job["split"]).test_keys)
        written = write_fold(Path(a.results), ds, res, test_keys, run_row, job["split"])
        fold_rows += [r for r in written if r["method"] == a.method]
        random_rows[job["split"]] = next(r for r in written if r["method"] == "random")

    print(f"\n{a.method} on {a.dataset} ({ds.features_kind}), splits {splits} x seeds {seeds}, wall {wall:.0f} s "
          f"(run {run_id} in {a.results})")
    rnd = {m: [random_rows[k][m] for k in splits] for m in ("f1", "kendall_tau", "spearman_rho")}
    print(f"{'random':<22} F1 {_fmt(rnd['f1'])}  tau {_fmt(rnd['kendall_tau'])}  rho {_fmt(rnd['spearman_rho'])}")
    for rule in ("label_free", "validation", "none", "oracle"):
        mine = [r for r in fold_rows if r["method"] == a.method and r["selection"] == rule]
        if not mine:
            continue
        name = rule + (" (TEST-selected)" if rule == "oracle" else "")
        vals = {m: [r[m] for r in mine] for m in ("f1", "kendall_tau", "spearman_rho")}
        margin = {m: [r[m] - random_rows[r["fold"]][m] for r in mine] for m in ("f1", "kendall_tau")}
        above = {m: sum(x > 0 for x in margin[m]) for m in margin}
        print(f"{name:<22} F1 {_fmt(vals['f1'])}  tau {_fmt(vals['kendall_tau'])}  rho {_fmt(vals['spearman_rho'])}"
              f"  | margin vs random: F1 {_fmt(margin['f1'])} ({above['f1']}/{len(mine)} above), "
              f"tau {_fmt(margin['kendall_tau'])} ({above['kendall_tau']}/{len(mine)} above)")
    if keeps:
        print(f"keep rate (scored stage, fraction of steps its episodes kept): last epoch {_fmt([k['last'] for k in keeps])}, "
              f"max |p - delta| over training {_fmt([k['max_dev'] for k in keeps])}, "
              f"runs within 0.05 throughout: {sum(k['max_dev'] <= 0.05 for k in keeps)}/{len(keeps)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
