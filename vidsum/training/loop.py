"""The training toolkit every method's loop uses. No Ray here.

``Runtime`` says where a loop runs and where it reports; the rest are the small pieces every
loop needs alike: seeded shuffled batches sharded by rank, the loop's own RNGs, precision,
resume from a checkpoint state, the per-epoch selection values and the best epoch per rule.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from vidsum.data.eccv16 import Video
from vidsum.evaluation.metrics import evaluate_video
from vidsum.training import precision
from vidsum.training.checkpoint import restore_rng

# How a scored stage picks its epoch (the fold also scores 'none', the last epoch):
#   label_free  best mean label-free value on the validation videos (no labels used)
#   validation  best mean F on the validation videos (held-out *training* videos)
#   oracle      best mean F on the test videos; for comparison with papers only, always labelled
SELECTION_RULES = ("label_free", "validation", "oracle")
# Recorded each epoch as sel_<name> (a search objective, benchmarks/search_value.py) but not a
# selection rule of its own (no weights kept for it):
#   validation_tau  mean Kendall tau of the validation videos' scores against their annotations
RECORDED_ONLY = ("validation_tau",)


@dataclass
class Runtime:
    """Where a loop runs. The defaults are one in-process worker on the best local device.

    wrap_model: turns a module into its data-parallel form (DDP under Ray Train).
    report:     called after every epoch with (metrics, checkpoint_state); the in-process default
                keeps nothing; ``vidsum.distributed`` reports to Ray Train.
    resume:     a checkpoint state to continue from (same stage), or None.
    """

    device: torch.device = field(default_factory=lambda: torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    rank: int = 0
    world_size: int = 1
    wrap_model: Callable[[nn.Module], nn.Module] = lambda m: m
    report: Callable[[dict[str, Any], dict[str, Any] | None], None] | None = None
    resume: dict[str, Any] | None = None


def batches(n: int, batch: int, rt: Runtime, gen: torch.Generator) -> list[torch.Tensor]:
    """Shuffled global batches of ``range(n)`` (the same on every rank), each cut to this rank's
    slice ``batch[rank::world_size]``: N workers see exactly the batches one worker would.

    A trailing batch smaller than the world size is dropped so no rank gets an empty slice.
    """
    order = torch.randperm(n, generator=gen)
    out = []
    for start in range(0, n, batch):
        b = order[start : start + batch]
        if len(b) >= rt.world_size:
            out.append(b[rt.rank :: rt.world_size])
    return out


def seeded(seed: int, offset: int) -> torch.Generator:
    """A loop's own RNG (CPU), distinct per ``offset``: shuffling, masks, episodes, noise."""
    return torch.Generator().manual_seed(seed * 1000 + offset)


def model_width(cfg: Any) -> int | None:
    """The width ``vidsum.training.precision``'s rule reads: the config's ``d_model`` (DR-DSN: ``hidden``)."""
    return getattr(cfg, "d_model", getattr(cfg, "hidden", None))


def uses_bf16(cfg: Any, device: torch.device) -> bool:
    """Whether a loop of ``cfg`` runs its matmuls in bf16 on ``device`` (``vidsum.training.precision``)."""
    return precision.use_bf16(cfg.amp, device, model_width(cfg))


def autocast(cfg: Any, device: torch.device):
    """The autocast context of a loop's forward passes: bf16 where :func:`uses_bf16` says so."""
    return precision.autocast(cfg.amp, device, model_width(cfg))


def adam(cls: type[torch.optim.Optimizer], params, device: torch.device, **kw) -> torch.optim.Optimizer:
    """``cls`` (torch.optim.Adam or AdamW) with its fused kernel on CPU and CUDA: one kernel over
    every parameter instead of a few small ops per tensor (the quick TR-SUM generator's 0.66 M
    parameters: 1.6 ms -> 0.4 ms a step on one CPU thread, ~3% of a stage-1 step). Deterministic
    like the default; its numbers differ from it by float rounding."""
    return cls(params, fused=device.type in ("cpu", "cuda"), **kw)


def clip_finite(params, max_norm: float, what: str, cfg: Any, device: torch.device) -> float:
    """Clip the gradients of ``params`` to ``max_norm`` and return their total norm; raise
    FloatingPointError naming ``what`` and the precision instead of letting a NaN/inf gradient
    reach the weights (clipping does not stop it: every weight would turn NaN, and the run would
    fail much later, at scoring, with nothing to say why)."""
    norm = float(nn.utils.clip_grad_norm_(params, max_norm))
    if not np.isfinite(norm):
        bf16 = uses_bf16(cfg, device)
        raise FloatingPointError(
            f"{what}: non-finite gradient norm ({norm}) with matmuls in {'bf16' if bf16 else 'fp32'} on {device.type}; "
            f"stopped before the optimiser step" + (" (try amp=false: --set amp=false)" if bf16 else ""))
    return norm


def unwrap(m: nn.Module) -> nn.Module:
    """The module inside a data-parallel wrapper (itself when not wrapped)."""
    return m.module if hasattr(m, "module") else m


def mean(xs: list[float]) -> float:
    """Mean of a list of numbers; NaN for an empty list."""
    return float(np.mean(xs)) if xs else float("nan")


def others_mean(t: torch.Tensor) -> torch.Tensor:
    """Mean over the *other* entries of dim 0 (episodes), same shape as ``t``; needs N >= 2."""
    return (t.sum(0, keepdim=True) - t) / (t.shape[0] - 1)


def restore(state: dict[str, Any], *, model: nn.Module, optimizer: torch.optim.Optimizer,
            generators: tuple[torch.Generator, ...], scheduler: Any = None) -> tuple[list[dict], int, dict[str, Any]]:
    """Load a same-stage checkpoint ``state`` into a loop's parts; (history, start epoch, extra).

    ``extra`` is the loop's own state (baselines, best-epoch snapshots, a second model ...).
    """
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    restore_rng(state["rng"], *generators)
    return list(state["history"]), int(state["epoch"]) + 1, state.get("extra") or {}


def selection_values(score: Callable[[Video], np.ndarray], label_free: Callable[[Video, np.ndarray], float],
                     val_videos: list[Video] | None, test_videos: list[Video] | None, dataset: str) -> dict[str, float]:
    """{rule: value} of one epoch (see SELECTION_RULES and RECORDED_ONLY).

    score(video) -> (n_steps,) scores; label_free(video, its scores) -> float. A validation
    video is scored once for both of its rules; a rule whose videos are not given is left out.
    """
    out: dict[str, float] = {}
    if val_videos:
        scores = [score(v) for v in val_videos]
        out["label_free"] = mean([label_free(v, s) for v, s in zip(val_videos, scores)])
        metrics = [evaluate_video(s, v, dataset) for v, s in zip(val_videos, scores)]
        out["validation"] = mean([m["f1"] for m in metrics])
        out["validation_tau"] = mean([m["kendall_tau"] for m in metrics])
    if test_videos:
        out["oracle"] = mean([evaluate_video(score(v), v, dataset)["f1"] for v in test_videos])
    return out


def update_best(best: dict[str, dict], values: dict[str, float], epoch: int, model: nn.Module, row: dict) -> None:
    """Record ``sel_<rule>`` in ``row``; keep a copy of the weights of each rule's best epoch so
    far: ``best[rule] = {'epoch', 'value', 'state'}`` (the first epoch wins ties)."""
    for rule, value in values.items():
        row[f"sel_{rule}"] = value
        if rule in RECORDED_ONLY:
            continue
        if rule not in best or value > best[rule]["value"]:
            best[rule] = {"epoch": epoch, "value": value, "state": copy.deepcopy(unwrap(model).state_dict())}
