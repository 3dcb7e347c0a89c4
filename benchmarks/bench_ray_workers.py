#!/usr/bin/env python
"""Measured, not asserted: Ray Train data-parallel speed-up for stage 1, and Tune trial throughput.

    python benchmarks/bench_ray_workers.py                     # SumMe, quick preset, 1 vs 2 workers
    python benchmarks/bench_ray_workers.py --workers 1,2,4 --gpu

1. One stage-1 epoch of the quick preset on the training videos of SumMe standard fold 0, with
   1 and with 2 (or --workers) Ray Train workers (same global batches: each rank takes its
   slice). Reported: the time of the LAST epoch inside the workers (the first one pays for
   warm-up) and the whole fit's wall time (worker start-up included), plus the ratio to 1 worker.
   The same epoch in this process (no Ray) is the reference.
2. Tune throughput: one fold's search with the quick budget (``plan.TUNE_DEFAULTS['quick']``,
   ``--trials`` trials), trials per hour and seconds per trial.

Prints the load average too: on a shared machine other processes skew every number.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")

import ray  # noqa: E402
import torch  # noqa: E402

from vidsum.data.splits import get_split, validation_holdout  # noqa: E402
from vidsum.distributed import search  # noqa: E402
from vidsum.distributed.train import data_spec, fit_stage_full, load_videos, prepare_data  # noqa: E402
from vidsum.training import trsum  # noqa: E402
from vidsum.training.loop import Runtime  # noqa: E402
from vidsum.training.methods import get_method  # noqa: E402
from vidsum.tuning import plan  # noqa: E402
from vidsum.tuning.rows import fmt_epochs  # noqa: E402
from vidsum.tuning.space import default_space, load_space  # noqa: E402


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


def bench_workers(spec, cfg: trsum.TRSumConfig, keys: list[str], workers: list[int], use_gpu: bool, storage: Path) -> None:
    print(f"\n== stage 1, {cfg.gen_epochs} epoch(s) of the quick preset on {len(keys)} videos "
          f"(d_model {cfg.d_model}, batch {cfg.batch_segments}); {_load()}")
    videos = load_videos(spec, keys)
    device = torch.device("cuda" if use_gpu else "cpu")
    t0 = time.perf_counter()
    _, hist = trsum.pretrain_generator(cfg, [videos[k] for k in keys], Runtime(device=device))
    print(f"in process (no Ray): last epoch {hist[-1]['epoch_s']:.2f} s, total {time.perf_counter() - t0:.1f} s, "
          f"loss {hist[-1]['loss']:.4f}")
    base = None
    for n in workers:
        t0 = time.perf_counter()
        fit = fit_stage_full("generator", cfg, spec, keys, num_workers=n, use_gpu=use_gpu,
                             cpus_per_worker=None if use_gpu else min(1.0, (os.cpu_count() or 2) / n) * 0.9,
                             storage_path=storage, name=f"bench-{n}w")
        wall = time.perf_counter() - t0
        epoch = fit.history[-1]["epoch_s"]
        base = base or epoch
        print(f"{n} worker(s): last epoch {epoch:.2f} s (x{base / epoch:.2f} vs 1 worker), fit wall {wall:.1f} s, "
              f"loss {fit.history[-1]['loss']:.4f}", flush=True)


def bench_tune(spec, dataset, n_trials: int, results: Path, use_gpu: bool) -> None:
    budget, method = plan.TUNE_DEFAULTS["quick"], get_method("trsum")
    base = trsum.preset("quick").to_dict()
    split = get_split(dataset.name, "standard", 0)
    train_keys, val_keys = validation_holdout(list(split.train_keys), base["val_fraction"], base["seed"])
    space = load_space(default_space("trsum"), method.config_cls)
    epochs = budget.trial_epochs(method, trsum.TRSumConfig.from_dict(base))
    print(f"\n== tune: {n_trials} trials of the quick budget ({fmt_epochs(method, epochs)}, "
          f"{budget.max_concurrent} at once, ASHA grace {budget.grace_period}); {_load()}")
    t0 = time.perf_counter()
    found = search.tune_fold(fold=0, method=method, data=spec, train_keys=tuple(train_keys), val_keys=tuple(val_keys),
                             base=base, space=space, budget=budget, n_trials=n_trials, run_id="bench", results_dir=results,
                             base_row={"run_id": "bench", "method": "trsum", "dataset": dataset.name,
                                       "features": dataset.features_kind, "split_set": "standard"},
                             gpus=1.0 if use_gpu else 0.0)
    wall = time.perf_counter() - t0
    print(f"{found.n_finished} trials in {wall:.0f} s: {3600 * found.n_finished / wall:.0f} trials/hour, "
          f"{wall / found.n_finished:.0f} s per trial (wall, {budget.max_concurrent} concurrent)", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="summe", choices=["summe", "tvsum"])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    p.add_argument("--epochs", type=int, default=2, help="stage-1 epochs per fit; the last one is timed (default 2)")
    p.add_argument("--trials", type=int, default=3, help="trials for the tune throughput (0: skip)")
    p.add_argument("--gpu", action="store_true", help="one GPU per worker (and per trial)")
    args = p.parse_args(argv)
    workers = [int(w) for w in args.workers.split(",")]
    use_gpu = args.gpu and torch.cuda.is_available()
    if args.gpu and not use_gpu:
        print("--gpu: no CUDA device here; running on CPU", file=sys.stderr)
    torch.set_num_threads(1)
    spec = data_spec(args.dataset, args.data_dir)
    dataset = prepare_data(spec)
    split = get_split(args.dataset, "standard", 0)
    cfg = trsum.preset("quick", gen_epochs=args.epochs)
    print(f"device: {'cuda ' + torch.cuda.get_device_name(0) if use_gpu else 'cpu'}; features {dataset.features_kind}")
    ray.init(log_to_driver=False, include_dashboard=False, object_store_memory=256 * 2**20)
    try:
        with tempfile.TemporaryDirectory(prefix="vidsum-bench-") as tmp:
            bench_workers(spec, cfg, list(split.train_keys), workers, use_gpu, Path(tmp) / "train")
            if args.trials:
                bench_tune(spec, dataset, args.trials, Path(tmp) / "tune", use_gpu)
    finally:
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
