"""Distance to the limit: the machine's matmul peak and each stage's achieved FLOP/s (MFU).

    python benchmarks/mfu.py                      # CPU, quick size, 1 thread and all threads
    python benchmarks/mfu.py --size paper         # the paper presets (TR-SUM 1024 / 4096 / 3 layers, L 128, 32 segments)
    python benchmarks/mfu.py --device cuda --precision bf16   # on a GPU: bf16 autocast, fused AdamW
    python benchmarks/mfu.py --widths             # TR-SUM stage 1, fp32 vs bf16, d_model 128..1024 (the CPU rule)

Sizes are each method's preset (quick or paper). Peak: the best rate of square matmuls (n = 512..2048; fp32 and bf16) per thread and on all
threads (on CUDA: the device). Stages, each one optimisation step (or one scored video) on
batches of the shapes the quick / paper presets train on, timed over a few repeats after a
warm-up:

    trsum-stage1   generator: masked reconstruction, forward + backward + AdamW
    trsum-stage2   summarizer: N episodes through the frozen generator + REINFORCE backward + Adam
    sgvs-step      SG-VS generator and discriminator updates (gan_step)
    drdsn-step     DR-DSN: a batch of videos, forward + backward + Adam
    inference      TR-SUM score_video of one 300-step video (both segment views)

FLOPs are counted by ``torch.utils.flop_counter`` (matmuls, plus the CPU flash-attention
kernels and the LSTM, which it does not know, by formula); achieved = FLOPs / seconds; the
ratio is to the peak of the dtype the step ran in (bf16 where ``vidsum.training.precision``'s
rule enables it, or as ``--precision`` forces, else fp32) at the same thread count. Elementwise work is not counted: a low ratio
means time spent outside matmuls (small shapes, Python, memory-bound ops) as much as slow ones.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode, register_flop_formula, sdpa_backward_flop_count, sdpa_flop_count

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from vidsum.training import precision  # noqa: E402
from vidsum.training.loop import adam  # noqa: E402

SIZES = ("quick", "paper")  # each method's preset of that name gives the model and batch sizes
D_FEAT = 1024


# flop_counter has no formula for the CPU flash-attention kernels: the same counts as its CUDA ones
@register_flop_formula(torch.ops.aten._scaled_dot_product_flash_attention_for_cpu)
def _sdpa_cpu(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


@register_flop_formula(torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward)
def _sdpa_cpu_backward(grad_out_shape, query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


def lstm_flops(lstm: torch.nn.LSTM, steps: int, batch: int, backward: bool) -> int:
    """Matmul FLOPs of an LSTM over ``steps`` x ``batch`` (fused kernel: flop_counter cannot see it).
    Per step, layer and direction: 2 * 4h * (d_in + h); backward counted as twice the forward."""
    h, dirs = lstm.hidden_size, 2 if lstm.bidirectional else 1
    fwd = 0
    for layer in range(lstm.num_layers):
        d_in = lstm.input_size if layer == 0 else h * dirs
        fwd += dirs * 2 * 4 * h * (d_in + h) * steps * batch
    return fwd * (3 if backward else 1)


def matmul_peak(dtype: torch.dtype, device: torch.device, threads: int | None) -> float:
    """Best FLOP/s over square matmuls n = 512, 1024, 2048 (on CUDA also 4096, 8192)."""
    if threads:
        torch.set_num_threads(threads)
    best = 0.0
    for n in (512, 1024, 2048) + ((4096, 8192) if device.type == "cuda" else ()):
        a = torch.randn(n, n, device=device).to(dtype)
        b = torch.randn(n, n, device=device).to(dtype)
        reps = max(1, int(2e9 // (2 * n**3))) if device.type == "cpu" else 50
        if device.type == "cpu" and dtype == torch.bfloat16 and not precision.cpu_bf16_units():
            reps = 1  # emulated bf16: one product says enough
        best = max(best, 2 * n**3 * reps / _time(lambda: a @ b, reps, device))
    return best


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    fn()  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    _sync(device)
    return time.perf_counter() - t0


def trsum_batch(cfg, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A TR-SUM batch of ``cfg``'s shape: x (B, L, D_FEAT) random features, pad (B, L) with the
    last segment half padding (a video's short last segment)."""
    b, length = cfg.batch_segments, cfg.segment_len
    x = torch.rand(b, length, D_FEAT, generator=torch.Generator().manual_seed(0)).to(device)
    pad = torch.zeros(b, length, dtype=torch.bool, device=device)
    pad[-1, length // 2:] = True
    return x, pad


def stage1_step(cfg, device: torch.device, x: torch.Tensor, pad: torch.Tensor) -> Callable[[], None]:
    """One TR-SUM stage-1 optimisation step (masked reconstruction + AdamW) of a fresh generator of
    ``cfg``'s size on (x, pad), 8-step shots, under ``cfg``'s autocast as the loop runs it."""
    from vidsum.models.trsum import Generator
    from vidsum.training import trsum
    from vidsum.training.loop import autocast

    b, length = pad.shape
    shots = (torch.arange(length).expand(b, length) // 8).contiguous()
    generator = Generator(d_feat=D_FEAT, d_model=cfg.d_model, n_heads=cfg.n_heads, n_layers=cfg.n_layers,
                          d_ff=cfg.d_ff, dropout=0.0).to(device)
    opt = adam(torch.optim.AdamW, generator.parameters(), device, lr=1e-4)
    mask_gen = torch.Generator().manual_seed(1)

    def step():
        with autocast(cfg, device):
            loss = trsum.generator_batch_loss(generator, cfg, x, pad, shots, mask_gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def stage_steps(size: str, device: torch.device) -> dict[str, tuple[Callable[[], object], Callable[[], int], bool]]:
    """{stage: (one step, extra FLOPs flop_counter cannot see, whether it runs in bf16)} at the given size."""
    from vidsum.models.drdsn import DSN, unit_features
    from vidsum.models.sgvs import SGVSDiscriminator, SGVSGenerator
    from vidsum.models.trsum import Generator, Summarizer
    from vidsum.training import drdsn, sgvs, trsum
    from vidsum.training.loop import autocast, uses_bf16

    cfg = trsum.preset(size, dropout=0.0)
    gen_g = torch.Generator().manual_seed(0)
    b, length = cfg.batch_segments, cfg.segment_len
    x, pad = trsum_batch(cfg, device)
    stage1 = stage1_step(cfg, device, x, pad)
    model_kw = dict(d_feat=D_FEAT, d_model=cfg.d_model, n_heads=cfg.n_heads, n_layers=cfg.n_layers, d_ff=cfg.d_ff,
                    dropout=0.0)
    amp = lambda: autocast(cfg, device)  # noqa: E731

    frozen = Generator(**model_kw).to(device).eval()
    summ = Summarizer.from_generator(frozen).to(device).requires_grad_(True)
    frozen.requires_grad_(False)
    s_opt = adam(torch.optim.Adam, summ.parameters(), device, lr=1e-5)
    sample_gen = torch.Generator().manual_seed(2)
    baseline = torch.zeros(b, device=device)

    def stage2():
        with amp():
            loss, _ = trsum.rl_batch_loss(summ, frozen, cfg, x, pad, baseline, sample_gen)
        s_opt.zero_grad(set_to_none=True)
        loss.backward()
        s_opt.step()

    scfg = sgvs.preset(size, dropout=0.0, semantic=False)  # the text branch needs text vectors; its matmuls are small
    sb, slen = scfg.batch_segments, scfg.segment_len
    sx = torch.rand(sb, slen, D_FEAT, generator=gen_g).to(device)
    spad = torch.zeros(sb, slen, dtype=torch.bool, device=device)
    sgen = SGVSGenerator(d_feat=D_FEAT, d_text=1, d_model=scfg.d_model, n_heads=scfg.n_heads, n_layers=scfg.n_layers,
                         rec_layers=scfg.rec_layers, d_ff=scfg.d_ff, d_joint=scfg.d_joint, dropout=0.0,
                         max_len=max(1024, slen), semantic=False, similarity=scfg.similarity, segment_len=slen).to(device)
    sdisc = SGVSDiscriminator(d_feat=D_FEAT, d_model=scfg.disc_d_model, n_heads=scfg.disc_heads, n_layers=scfg.disc_layers,
                              d_ff=scfg.disc_d_ff, dropout=0.0, max_len=max(1024, slen)).to(device)
    sg_opt = adam(torch.optim.AdamW, sgen.parameters(), device, lr=1e-4)
    sd_opt = adam(torch.optim.AdamW, sdisc.parameters(), device, lr=1e-4)
    noise = torch.rand(sb, slen, generator=gen_g).to(device)

    def sgvs_step():
        sgvs.gan_step(sgen, sdisc, sg_opt, sd_opt, scfg, sx, spad, None, None, noise, 0.1)

    dcfg = drdsn.preset(size)
    dsn = DSN(d_feat=D_FEAT, hidden=dcfg.hidden, n_layers=dcfg.n_layers).to(device)
    d_opt = adam(torch.optim.Adam, dsn.parameters(), device, lr=1e-5)
    videos = [torch.rand(300, D_FEAT, generator=gen_g).to(device) for _ in range(dcfg.batch_videos)]
    units = [unit_features(v) for v in videos]
    d_sample = torch.Generator().manual_seed(3)

    def drdsn_step():
        with autocast(dcfg, device):
            losses = [drdsn.video_loss(dsn, dcfg, v, u, 0.0, d_sample)[0] for v, u in zip(videos, units)]
        loss = torch.stack(losses).mean()
        d_opt.zero_grad(set_to_none=True)
        loss.backward()
        d_opt.step()

    video = _video(300, D_FEAT)
    summ_eval = Summarizer.from_generator(frozen).to(device)

    def inference():
        trsum.score_video(summ_eval, video, length, device)

    lstm = dsn.lstm
    bf16 = lambda c: uses_bf16(c, device)  # noqa: E731
    return {
        "trsum-stage1": (stage1, lambda: 0, bf16(cfg)),
        "trsum-stage2": (stage2, lambda: 0, bf16(cfg)),
        "sgvs-step": (sgvs_step, lambda: 0, bf16(scfg)),
        "drdsn-step": (drdsn_step, lambda: sum(lstm_flops(lstm, v.shape[0], 1, True) for v in videos), bf16(dcfg)),
        "inference": (inference, lambda: 0, False),  # scoring runs in fp32
    }


def _video(n_steps: int, d_feat: int):
    """A Video of ``n_steps`` random feature steps (picks every 15 frames, 2-s shots): what scoring reads."""
    import numpy as np

    from vidsum.data.eccv16 import Video

    rng = np.random.default_rng(0)
    n_frames = 15 * n_steps
    starts = np.arange(0, n_frames, 60)
    ends = np.minimum(starts + 59, n_frames - 1)
    return Video(key="video_1", features=rng.random((n_steps, d_feat), dtype=np.float32),
                 gtscore=np.zeros(n_steps, np.float32), user_summary=np.zeros((1, n_frames), np.uint8),
                 change_points=np.stack([starts, ends], 1), n_frame_per_seg=ends - starts + 1, n_frames=n_frames,
                 picks=np.arange(0, n_frames, 15), video_name="benchmark")


def count_flops(step: Callable[[], object], extra: Callable[[], int]) -> int:
    with FlopCounterMode(display=False) as counter:
        step()
    return int(counter.get_total_flops()) + extra()


def width_sweep(device: torch.device, widths=((128, 256), (256, 512), (512, 1024), (1024, 4096)), repeats: int = 4) -> None:
    """TR-SUM stage-1 step time in fp32 and in bf16 (forced) at each (d_model, d_ff), quick
    batch shapes otherwise: where bf16 starts to pay (``precision.CPU_BF16_MIN_WIDTH``)."""
    from vidsum.training import trsum

    env = precision.CUDA_ENV if device.type == "cuda" else precision.ENV
    print(f"  {'d_model':>7} {'d_ff':>5} {'fp32 ms':>8} {'bf16 ms':>8} {'bf16 speedup':>13}")
    for d_model, d_ff in widths:
        cfg = trsum.preset("quick", dropout=0.0, d_model=d_model, d_ff=d_ff)
        x, pad = trsum_batch(cfg, device)
        ms = {}
        for forced in ("0", "1", "0"):  # fp32 twice, around bf16: the better fp32 time counts
            os.environ[env] = forced
            step = stage1_step(cfg, device, x, pad)
            step()
            best = min(_time(step, 1, device) for _ in range(repeats))
            ms[forced] = min(ms.get(forced, float("inf")), best * 1e3)
        os.environ.pop(env)
        print(f"  {d_model:>7} {d_ff:>5} {ms['0']:>8.1f} {ms['1']:>8.1f} {ms['0'] / ms['1']:>12.2f}x", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="quick", choices=SIZES)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", default=None, help="comma-separated thread counts (CPU; default: 1 and all)")
    p.add_argument("--precision", default="rule", choices=["rule", "bf16", "fp32"],
                   help="the stages' matmul precision: vidsum.training.precision's rule (default), or forced")
    p.add_argument("--widths", action="store_true", help="only the fp32 / bf16 width sweep of a TR-SUM stage-1 step")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("mfu.py: --device cuda but no CUDA device here", file=sys.stderr)
        return 2
    if args.precision != "rule":
        os.environ[precision.CUDA_ENV if device.type == "cuda" else precision.ENV] = "1" if args.precision == "bf16" else "0"
    all_threads = os.cpu_count() or 1
    threads = [int(t) for t in args.threads.split(",")] if args.threads else sorted({1, all_threads})
    if device.type == "cuda":
        threads = [0]
        print(f"device: {torch.cuda.get_device_name()}; torch {torch.__version__}")
    else:
        print(f"device: CPU, {all_threads} threads, capability {torch.backends.cpu.get_cpu_capability()}, "
              f"bf16 units {'yes' if precision.cpu_bf16_units() else 'no'}; torch {torch.__version__}; "
              f"bf16/fp32 matmul probe {precision.cpu_bf16_speedup():.2f}x")
    if args.widths:
        torch.set_num_threads(threads[0] or torch.get_num_threads())
        print(f"\n[{'device' if device.type == 'cuda' else f'{threads[0]} thread(s)'}] TR-SUM stage-1 step, fp32 vs bf16")
        width_sweep(device)
        return 0
    for n_threads in threads:
        label = "device" if device.type == "cuda" else f"{n_threads} thread(s)"
        peak32 = matmul_peak(torch.float32, device, n_threads or None)
        peak16 = matmul_peak(torch.bfloat16, device, n_threads or None)
        print(f"\n[{label}] matmul peak: fp32 {peak32 / 1e9:.1f} GFLOP/s, bf16 {peak16 / 1e9:.1f} GFLOP/s ({args.size} size)")
        print(f"  {'stage':<14} {'dtype':>5} {'GFLOP/step':>11} {'ms/step':>9} {'GFLOP/s':>9} {'of peak':>8}")
        torch.manual_seed(0)
        for name, (step, extra, bf16) in stage_steps(args.size, device).items():
            flops = count_flops(step, extra)
            seconds = _time(step, args.repeats, device) / args.repeats
            achieved = flops / seconds
            peak = peak16 if bf16 else peak32
            print(f"  {name:<14} {'bf16' if bf16 else 'fp32':>5} {flops / 1e9:>11.2f} {seconds * 1e3:>9.1f} "
                  f"{achieved / 1e9:>9.1f} {achieved / peak:>8.1%}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
