"""Mixed precision for every method's loops: bf16 autocast where it was measured faster and clean.

The rule is fixed by the machine and the model, never by a timing taken at run time: a timing
taken while other trials load the cores flips (the old start-up probe read 4.6x on an idle
AVX512-BF16 EPYC and 0.7x on the same chip under load), and a precision that depends on the load
breaks "a seed gives the same run".

CPU: bf16 when the chip has bf16 matrix units (``amx_bf16`` or ``avx512_bf16`` in
/proc/cpuinfo; without them PyTorch emulates bf16 ~50x slower than fp32) *and* the model is at
least ``CPU_BF16_MIN_WIDTH`` wide. Width matters because autocast casts the fp32 weights to bf16
on every forward, which small matmuls do not pay back. A TR-SUM stage-1 step, one thread,
bf16 / fp32 speedup (``benchmarks/mfu.py --widths``; AMD EPYC with AVX512-BF16, 2026-12-04):
0.84x at d_model 128 (the quick preset), 1.51x at 256, 2.59x at 512, 3.31x at 1024 (paper); on
an Intel Xeon with AMX the quick TR-SUM and SG-VS steps took 1.3-1.7x their fp32 time in bf16.

CUDA: opt-in (``VIDSUM_CUDA_BF16=1``). On an H200 (torch 2.11, 2026-12-04) TR-SUM's quick fold
under bf16 autocast produced NaN summarizer scores in stage 2 while fp32 trained cleanly
(tau margin +0.05 over 5 folds, ~65 s a fold); until a GPU run shows bf16 clean it is not the
default (``benchmarks/gpu_check.sh`` measures it in one call).

``VIDSUM_CPU_BF16`` / ``VIDSUM_CUDA_BF16`` = 1 / 0 override the rule (the tests pin the CPU one
to 0). Master weights and optimiser state stay fp32 either way: autocast only runs the matmuls
in bf16; a config's ``amp: false`` turns it off everywhere.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path

import torch

CPU_BF16_MIN_WIDTH = 256  # d_model from which a bf16 step beat fp32 on a bf16-capable CPU (above)
CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")
ENV = "VIDSUM_CPU_BF16"
CUDA_ENV = "VIDSUM_CUDA_BF16"


def _forced(env: str) -> bool | None:
    """``$env`` as a switch: True for 1, False for 0, None when unset."""
    value = os.environ.get(env, "").strip()
    if value in ("0", "1"):
        return value == "1"
    if value:
        raise ValueError(f"${env} must be 0 or 1 (or unset: the rule decides), got {value!r}")
    return None


@functools.cache
def cpu_bf16_units(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU has bf16 matrix instructions (AMX-BF16 or AVX512-BF16). False where
    /proc/cpuinfo is unreadable (not Linux): bf16 on such a CPU is opt-in."""
    try:
        flags = next((line for line in Path(cpuinfo).read_text().splitlines() if line.startswith("flags")), "")
    except OSError:
        return False
    return any(flag in flags.split() for flag in CPU_BF16_FLAGS)


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
    """fp32 time / bf16 time of one matmul on this CPU, for reports (benchmarks/mfu.py); the
    rule does not read it. ~0.1 s once."""
    return _matmul_seconds(torch.float32) / _matmul_seconds(torch.bfloat16)


def use_bf16(amp: bool, device: torch.device, width: int | None = None) -> bool:
    """Whether a loop with config ``amp`` and model width ``width`` (d_model; None: not known)
    runs its matmuls in bf16 on ``device``: the module docstring's rule."""
    if not amp:
        return False
    if device.type == "cuda":
        return bool(_forced(CUDA_ENV))
    if device.type != "cpu":
        return False
    forced = _forced(ENV)
    if forced is not None:
        return forced
    return cpu_bf16_units() and width is not None and width >= CPU_BF16_MIN_WIDTH


def autocast(amp: bool, device: torch.device, width: int | None = None):
    """The autocast context of a loop's forward passes: bf16 where :func:`use_bf16` says so."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16(amp, device, width))
