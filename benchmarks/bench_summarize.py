"""``vidsum summarize`` on CPU: seconds per minute of input, feature extraction excluded.

    python benchmarks/bench_summarize.py [--minutes 1 5 10] [--threads N] [--with-features]

For each length, a features file of that many minutes (2 steps/s, 1024-d, non-negative,
shots of 2-8 s like KTS finds on real footage) is summarized end to end exactly as the CLI does
(`summarize(...)`: checkpoint load, KTS, scoring, knapsack, summary.json, summary.png), with a
quick-preset and a paper-size summarizer (random weights: the cost does not depend on them).
Each is measured once after a warm-up call (imports, first plot). With --with-features it also
times GoogLeNet pool5 extraction of a generated video with random weights (not in the budget:
it depends on the video's resolution and the CPU).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vidsum import summarize as sm
from vidsum.models.trsum import Generator, Summarizer
from vidsum.training.checkpoint import save_checkpoint
from vidsum.training.trsum import preset

STEPS_PER_MINUTE = 120  # 2 steps/s


def synthetic_features(minutes: float, dim: int = 1024, seed: int = 0) -> np.ndarray:
    """(minutes * 120, dim) float32: recurring scene prototypes per shot of 4-16 steps + noise."""
    rng = np.random.default_rng(seed)
    n = int(round(minutes * STEPS_PER_MINUTE))
    protos = rng.gamma(1.0, 0.5, size=(12, dim))
    rows, shot = [], 0
    while sum(len(r) for r in rows) < n:
        length = int(rng.integers(4, 17))
        base = protos[rng.integers(len(protos))] + rng.gamma(1.0, 0.3, size=dim)  # a new shot of a scene
        rows.append(base + rng.gamma(1.0, 0.05, size=(length, dim)))
        shot += 1
    return np.concatenate(rows)[:n].astype(np.float32)


def write_checkpoint(path: Path, preset_name: str, dim: int = 1024) -> Path:
    cfg = preset(preset_name)
    torch.manual_seed(0)
    gen = Generator(d_feat=dim, d_model=cfg.d_model, n_heads=cfg.n_heads, n_layers=cfg.n_layers, d_ff=cfg.d_ff,
                    dropout=cfg.dropout)
    summ = Summarizer.from_generator(gen)
    meta = {"feature_dim": dim, "dataset": "bench", "features": "generated", "config": cfg.to_dict()}
    return save_checkpoint(path, {"kind": "trsum-summarizer", "epoch": 0, "model": summ.state_dict(),
                                  "model_config": summ.config, "meta": meta})


def bench_summarize(minutes: list[float], presets: list[str], tmp: Path) -> None:
    warm = tmp / "warm.npy"
    np.save(warm, synthetic_features(0.5))
    print(f"{'preset':<7}{'minutes':>8}{'steps':>7}{'shots':>7}{'KTS s':>8}{'score s':>9}{'total s':>9}{'s / min':>9}")
    for name in presets:
        ckpt = write_checkpoint(tmp / f"{name}.pt", name)
        sm.summarize(warm, ckpt, tmp / "warm_out", fps=30.0)  # imports, first figure
        for m in minutes:
            feats = tmp / f"f{m}.npy"
            if not feats.exists():
                np.save(feats, synthetic_features(m))
            doc = sm.summarize(feats, ckpt, tmp / f"out_{name}_{m}", fps=30.0)
            t = doc["timing_s"]
            total = t["total_s"] - t["features_s"]  # the .npy load stands in for features: excluded
            print(f"{name:<7}{m:>8g}{doc['input']['n_steps']:>7}{doc['summary']['n_shots']:>7}{t['shots_s']:>8.2f}"
                  f"{t['scoring_s']:>9.2f}{total:>9.2f}{total / m:>9.2f}")


def bench_features(seconds: float, tmp: Path) -> None:
    from vidsum.features import extract_features, load_googlenet, write_test_video

    video = tmp / "bench.mp4"
    write_test_video(video, colors=[(200, 60, 60), (60, 200, 60)], shot_seconds=seconds / 2, fps=30.0,
                     size=(640, 360))
    model = load_googlenet(random_init=True)
    t0 = time.perf_counter()
    out = extract_features(video, model)
    dt = time.perf_counter() - t0
    print(f"\nfeatures (not in the budget): {seconds:g} s of 640x360 @ 30 fps -> {out.features.shape[0]} steps in "
          f"{dt:.1f} s = {dt / (seconds / 60):.1f} s per minute of video")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 5, 10])
    ap.add_argument("--presets", nargs="+", default=["quick", "paper"], choices=["quick", "paper"])
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--with-features", action="store_true", help="also time GoogLeNet extraction (needs PyAV)")
    ap.add_argument("--feature-seconds", type=float, default=20.0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"CPU, torch {torch.__version__}, {torch.get_num_threads()} thread(s); features excluded "
          f"(read from .npy); summary.json + summary.png included")
    with tempfile.TemporaryDirectory() as tmp:
        bench_summarize(args.minutes, args.presets, Path(tmp))
        if args.with_features:
            bench_features(args.feature_seconds, Path(tmp))


if __name__ == "__main__":
    main()
