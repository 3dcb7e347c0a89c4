"""Where does TR-SUM's bf16 autocast on CUDA produce NaN? Anomaly mode names the op.

    VIDSUM_CUDA_BF16=1 python benchmarks/cuda_nan_probe.py 0      # SumMe split 0, quick preset

On an H200 (2026-12-04) the quick fold under bf16 turned the summarizer to NaN in stage 2;
this probe (anomaly mode, so slow: it did not reach stage 2 in 130 s there) is for the next
session with a GPU. vidsum.training.precision keeps bf16 on CUDA opt-in until then.
"""
import math
import sys
import time

import torch
from vidsum.data.datasets import load_dataset
from vidsum.data.splits import get_split
from vidsum.training import trsum
from vidsum.training.fold import fold_videos

split_no = int(sys.argv[1]) if len(sys.argv) > 1 else 0
ds = load_dataset("summe", None, quiet=True)
cfg = trsum.preset("quick", seed=0)
train, val, test = fold_videos(ds, get_split("summe", "standard", split_no), cfg.val_fraction, cfg.seed)
fin = lambda m: all(torch.isfinite(p).all().item() for p in m.state_dict().values() if p.is_floating_point())
torch.autograd.set_detect_anomaly(True)
t0 = time.time()
gen, h = trsum.pretrain_generator(cfg, train)
bad = [r["epoch"] for r in h if not all(math.isfinite(v) for v in r.values() if isinstance(v, float))]
print(f"split {split_no}: stage 1 {time.time() - t0:.0f} s, params finite {fin(gen)}, non-finite epochs {bad[:5]}", flush=True)
summ, hist, _ = trsum.train_summarizer(cfg, train, gen, val_videos=val)
print(f"split {split_no}: stage 2 done {time.time() - t0:.0f} s, params finite {fin(summ)}", flush=True)
