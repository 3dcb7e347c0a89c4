"""Mixed precision for every method's loops: bf16 autocast where the device runs it faster.

On CUDA bf16 autocast is always faster than fp32 for our matmul-heavy steps. On a CPU it depends
on the chip: with AMX or AVX512-BF16 a bf16 matmul runs ~2-3x the fp32 rate; without them (e.g.
an AVX2-only EPYC) PyTorch emulates it and a bf16 matmul is ~50x *slower* (measured: 1.3 vs 68
GFLOP/s at 256^3, one thread). So on CPU the decision is a measurement, taken once per process
on a matmul of the shape that dominates a TR-SUM step (1024 rows of 1024-d features through a
1024 x 128 projection): bf16 is used when it is at least ``CPU_BF16_MIN_SPEEDUP`` x faster.
``VIDSUM_CPU_BF16=1`` / ``=0`` overrides the measurement (the tests pin 0 so their numbers do
not depend on the CI machine's chip). Master weights and optimiser state stay fp32 either way:
autocast only runs the matmuls in bf16; a config's ``amp: false`` turns it off everywhere.
"""

from __future__ import annotations

import functools
import os
import time

import torch

CPU_BF16_MIN_SPEEDUP = 1.2
ENV = "VIDSUM_CPU_BF16"


def _matmul_seconds(dtype: torch.dtype, repeats: int = 3) -> float:
    """Best-of-``repeats`` time of (1024 x 1024) @ (1024 x 128) in ``dtype`` on the CPU."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(1024, 1024, generator=gen).to(dtype)
    b = torch.randn(1024, 128, generator=gen).to(dtype)
    a @ b  # warm-up (kernel selection, first-touch)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return best


@functools.cache
def cpu_bf16_speedup() -> float:
    """fp32 time / bf16 time of the probe matmul on this CPU (> 1: bf16 is faster). ~0.1 s once."""
    return _matmul_seconds(torch.float32) / _matmul_seconds(torch.bfloat16)


def cpu_bf16_is_faster() -> bool:
    """Whether bf16 autocast pays on this CPU: ``$VIDSUM_CPU_BF16`` (1/0) if set, else the probe."""
    forced = os.environ.get(ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if forced:
        raise ValueError(f"${ENV} must be 0 or 1 (or unset: measure), got {forced!r}")
    return cpu_bf16_speedup() >= CPU_BF16_MIN_SPEEDUP


def use_bf16(amp: bool, device: torch.device) -> bool:
    """Whether a loop with config ``amp`` runs its matmuls in bf16 on ``device``."""
    if not amp:
        return False
    if device.type == "cuda":
        return True
    return device.type == "cpu" and cpu_bf16_is_faster()


def autocast(amp: bool, device: torch.device):
    """The autocast context of a loop's forward passes: bf16 where :func:`use_bf16` says so."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16(amp, device))
