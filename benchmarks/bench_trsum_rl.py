"""Stage-2 (RL) step: one batched step (all segments x all N episodes in one generator call)
against the naive batch-1 / per-episode loop computing the same loss, same data, same run.

    python benchmarks/bench_trsum_rl.py [--d-model 128 --d-ff 256 --segments 16 --L 64 --paper]

Prints seconds per step for both and their ratio; with --paper also the paper-size (1024/4096/3)
stage-1 and stage-2 step times. Uses CUDA (bf16 autocast) when available, else CPU fp32.
"""

from __future__ import annotations

import argparse
import time

import torch

from vidsum.models.trsum import Generator, Summarizer, summary_reconstruction_loss
from vidsum.training import trsum
from vidsum.training.loop import autocast


def naive_rl_loss(summ, gen, cfg, x, pad, baseline, sample_gen):
    """The same objective as trsum.rl_batch_loss, one segment and one episode at a time."""
    total = 0.0
    for i in range(x.shape[0]):
        xi, pi = x[i : i + 1], pad[i : i + 1]
        valid = ~pi
        probs = summ(xi, key_padding_mask=pi).float().clamp(1e-6, 1 - 1e-6)
        n_valid = valid.sum()
        for _ in range(cfg.n_episodes):
            a = torch.bernoulli(probs.detach().cpu(), generator=sample_gen).to(x.device)
            hidden = (a == 0) & valid
            with torch.no_grad():
                recon = gen(xi, mask=hidden, key_padding_mask=pi)
                reward = torch.sigmoid(-summary_reconstruction_loss(recon.float(), gen.target(xi), hidden, valid))
            log_pi = ((a * probs.log() + (1 - a) * (1 - probs).log()) * valid).sum() / n_valid
            total = total - (reward - baseline[i]) * log_pi / (cfg.n_episodes * x.shape[0])
        mean_p = (probs * valid).sum() / n_valid
        total = total + cfg.beta * (mean_p - cfg.delta) ** 2 / x.shape[0]
    return total


def time_it(fn, repeats: int) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / repeats


def bench(d_model, d_ff, n_layers, segments, L, d_feat, repeats, device):
    cfg = trsum.TRSumConfig(d_model=d_model, d_ff=d_ff, n_layers=n_layers, segment_len=L, batch_segments=segments)
    gen = Generator(d_feat=d_feat, d_model=d_model, d_ff=d_ff, n_layers=n_layers).to(device).eval()
    summ = Summarizer.from_generator(gen).to(device)
    opt = torch.optim.Adam(summ.parameters(), lr=1e-5)
    x = torch.rand(segments, L, d_feat, device=device)
    pad = torch.zeros(segments, L, dtype=torch.bool, device=device)
    pad[-1, L // 2 :] = True
    baseline = torch.full((segments,), 0.5, device=device)
    g = torch.Generator().manual_seed(0)

    def step(loss_fn):
        def run():
            with autocast(cfg, device):
                loss = loss_fn(summ, gen, cfg, x, pad, baseline, g)
            loss = loss[0] if isinstance(loss, tuple) else loss
            opt.zero_grad()
            loss.backward()
            opt.step()
        return run

    batched = time_it(step(trsum.rl_batch_loss), repeats)
    naive = time_it(step(naive_rl_loss), max(1, repeats // 2))
    return batched, naive


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--d-ff", type=int, default=256)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--segments", type=int, default=16)
    ap.add_argument("--L", type=int, default=64)
    ap.add_argument("--d-feat", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--paper", action="store_true", help="also time the paper-size model")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"device {device}, torch threads {torch.get_num_threads()}, N=5 episodes")
    b, n = bench(args.d_model, args.d_ff, args.layers, args.segments, args.L, args.d_feat, args.repeats, device)
    print(f"stage-2 step, {args.segments} x {args.L} steps, d_model {args.d_model}: batched {b:.3f} s, "
          f"batch-1/per-episode loop {n:.3f} s, ratio {n / b:.1f}x")
    if args.paper:
        cfg = trsum.preset("paper")
        gen = Generator(d_feat=1024).to(device)
        opt = torch.optim.AdamW(gen.parameters(), lr=1e-4)
        bank_x = torch.rand(32, cfg.segment_len, 1024, device=device)
        pad = torch.zeros(32, cfg.segment_len, dtype=torch.bool, device=device)
        shots = (torch.arange(cfg.segment_len) // 8).expand(32, -1).clone()
        g = torch.Generator().manual_seed(0)

        def s1():
            with autocast(cfg, device):
                loss = trsum.generator_batch_loss(gen, cfg, bank_x, pad, shots, g)
            opt.zero_grad()
            loss.backward()
            opt.step()

        print(f"paper-size stage-1 step (32 x 128, {'bf16' if device.type == 'cuda' else 'fp32'}): {time_it(s1, 1):.2f} s")


if __name__ == "__main__":
    main()
