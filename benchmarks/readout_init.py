"""Why does a generator that rebuilds better make TR-SUM learn less? Reward vs initialisation.

    python benchmarks/readout_init.py --splits 0,1,2,3,4 --seed 0 --jobs 2

With ``readout=attend`` the quick generator rebuilds unseen videos better than copying the nearest
visible step (``benchmarks/reward_signal.py``), yet TR-SUM's test tau margin fell from ~+0.06 to
~+0.02. Stage 2 takes two things from the generator: the reward (the frozen generator rebuilds
what an episode hides) and the summarizer's starting encoder (a copy of the generator's). This
trains both generators of a split (direct and attend read-out, the quick preset otherwise) and
runs stage 2 four ways, reward from one x encoder copied from the other, then scores the test
videos (label-free and validation selection; never the test videos for selection).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time

import numpy as np

ARMS = (("direct", "direct"), ("attend", "attend"), ("attend", "direct"), ("direct", "attend"))  # (reward, init)


def _one(job: dict) -> list[dict]:
    import torch

    torch.set_num_threads(1)
    from vidsum.data.datasets import load_dataset
    from vidsum.data.splits import get_split
    from vidsum.models.trsum import Summarizer
    from vidsum.training import trsum
    from vidsum.training.fold import fold_videos, score_rules
    from vidsum.training.methods import get_method

    method = get_method("trsum")
    ds = load_dataset("summe", None, quiet=True)
    split = get_split("summe", "standard", job["split"])
    cfgs = {r: trsum.preset("quick", seed=job["seed"], readout=r) for r in ("direct", "attend")}
    train, val, test = fold_videos(ds, split, cfgs["direct"].val_fraction, job["seed"])
    gens = {r: trsum.pretrain_generator(cfgs[r], train)[0] for r in ("direct", "attend")}
    rows = []
    original = Summarizer.from_generator
    for reward, init in ARMS:
        t0 = time.perf_counter()
        Summarizer.from_generator = classmethod(lambda cls, g, init=init: original(gens[init]))
        try:
            summ, history, best = trsum.train_summarizer(cfgs[reward], train, gens[reward], val_videos=val, dataset="summe")
        finally:
            Summarizer.from_generator = original
        fold_rows, _, _ = score_rules(method, cfgs[reward], ds, summ, best, test, ("label_free", "validation"))
        for r in fold_rows:
            rows.append({"split": job["split"], "seed": job["seed"], "reward": reward, "init": init,
                         "selection": r["selection"], "f1": r["f1"], "tau": r["kendall_tau"],
                         "seconds": time.perf_counter() - t0})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--splits", default="0,1,2,3,4")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2)
    a = p.parse_args(argv)
    jobs = [{"split": int(s), "seed": a.seed} for s in a.splits.split(",")]
    with mp.get_context("spawn").Pool(a.jobs) as pool:
        rows = [r for out in pool.imap_unordered(_one, jobs) for r in out]
    for r in sorted(rows, key=lambda r: (r["split"], r["reward"], r["init"], r["selection"])):
        print(f"split {r['split']} reward {r['reward']:<6} init {r['init']:<6} {r['selection']:<10} F1 {r['f1']:.3f} tau {r['tau']:+.3f}")
    print(f"\nmean over splits {a.splits}, seed {a.seed} (test tau; F1):")
    for reward, init in ARMS:
        for rule in ("label_free", "validation"):
            sel = [r for r in rows if r["reward"] == reward and r["init"] == init and r["selection"] == rule]
            tau, f1 = np.array([r["tau"] for r in sel]), np.array([r["f1"] for r in sel])
            print(f"  reward {reward:<6} encoder from {init:<6} {rule:<10} tau {tau.mean():+.3f} ± {tau.std():.3f}  F1 {f1.mean():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
