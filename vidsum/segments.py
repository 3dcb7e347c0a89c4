"""Cut a video's steps into fixed-length segments for the transformer, and put outputs back.

A video has ``n_steps`` feature steps; the transformer sees rows of at most ``L`` steps. Two
ways to cut, both covering every step exactly once:

* sequential: segment k holds steps ``[k*L, (k+1)*L)`` (the last one is shorter);
* dilated:    with ``S = ceil(n_steps / L)`` segments, segment k holds steps ``k, k+S, k+2S, ...``,
  so every segment spans the whole video at a coarser frame rate.

Index arrays are ``(n_seg, L)`` long tensors of step indices, ``-1`` where a row is padding.
Padding sits at the end of a row. Pads are zero in the gathered features and flagged in the
key-padding mask (True = pad), so they never reach attention keys or a loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np
import torch

SEGMENT_MODES = ("sequential", "dilated")


def _check_sizes(n_steps: int, L: int) -> None:
    if int(n_steps) != n_steps or n_steps < 1:
        raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}")
    if int(L) != L or L < 1:
        raise ValueError(f"segment length L must be a positive integer, got {L!r}")


def sequential_segments(n_steps: int, L: int) -> torch.Tensor:
    """Consecutive chunks of ``L`` steps.

    Returns (n_seg, L) long, ``n_seg = ceil(n_steps / L)``, -1 pads at the end of the last row.
    """
    _check_sizes(n_steps, L)
    n_seg = math.ceil(n_steps / L)
    index = torch.arange(n_seg * L, dtype=torch.long)
    index[index >= n_steps] = -1
    return index.view(n_seg, L)


def dilated_segments(n_steps: int, L: int) -> torch.Tensor:
    """Strided rows: row k holds steps ``k, k+S, k+2S, ...`` with ``S = ceil(n_steps / L)``.

    Each row has at most ``ceil(n_steps / S) <= L`` steps, so ``S`` rows of length ``L`` suffice.
    Returns (S, L) long with -1 pads at the end of rows.
    """
    _check_sizes(n_steps, L)
    n_seg = math.ceil(n_steps / L)
    # step = k + j*S for row k, column j
    index = torch.arange(n_seg, dtype=torch.long)[:, None] + n_seg * torch.arange(L, dtype=torch.long)[None, :]
    index[index >= n_steps] = -1
    return index


def make_segments(n_steps: int, L: int, mode: str) -> torch.Tensor:
    """Dispatch on ``mode`` in :data:`SEGMENT_MODES`; returns (n_seg, L) long."""
    if mode == "sequential":
        return sequential_segments(n_steps, L)
    if mode == "dilated":
        return dilated_segments(n_steps, L)
    raise ValueError(f"unknown segment mode {mode!r}; expected one of {SEGMENT_MODES}")


def _check_index(index: torch.Tensor, n_steps: int) -> None:
    if not isinstance(index, torch.Tensor) or index.dim() != 2 or index.dtype != torch.long:
        got = tuple(index.shape) if isinstance(index, torch.Tensor) else type(index).__name__
        raise ValueError(f"index must be a 2-d long tensor (n_seg, L), got {got}")
    if index.numel() and (index.min() < -1 or index.max() >= n_steps):
        raise ValueError(f"index values must be -1 (pad) or in [0, {n_steps}), got range "
                         f"[{int(index.min())}, {int(index.max())}]")


def gather_segments(features: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gather step features into segment rows.

    features: (n_steps, D); index: (n_seg, L) long with -1 pads.
    Returns x (n_seg, L, D) with zeros at pads, key_padding_mask (n_seg, L) bool, True = pad.
    """
    if not isinstance(features, torch.Tensor) or features.dim() != 2:
        got = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
        raise ValueError(f"features must be a 2-d tensor (n_steps, D), got {got}")
    _check_index(index, features.shape[0])
    index = index.to(features.device)
    key_padding_mask = index < 0
    x = features[index.clamp(min=0)]
    x = x.masked_fill(key_padding_mask[..., None], 0.0)
    return x, key_padding_mask


def scatter_mean(seg_values: torch.Tensor, index: torch.Tensor, n_steps: int) -> torch.Tensor:
    """Put per-segment values back on the video's steps, averaging steps seen more than once.

    seg_values: (n_seg, L); index: (n_seg, L) long with -1 pads (pad values are ignored).
    Returns (n_steps,) in the dtype of ``seg_values``. Every step must be covered at least once.
    """
    _check_sizes(n_steps, 1)
    _check_index(index, n_steps)
    if seg_values.shape != index.shape:
        raise ValueError(f"seg_values shape {tuple(seg_values.shape)} != index shape {tuple(index.shape)}")
    index = index.to(seg_values.device)
    valid = index >= 0
    steps = index[valid]
    total = torch.zeros(n_steps, dtype=seg_values.dtype, device=seg_values.device)
    count = torch.zeros(n_steps, dtype=seg_values.dtype, device=seg_values.device)
    total.index_add_(0, steps, seg_values[valid])
    count.index_add_(0, steps, torch.ones_like(steps, dtype=seg_values.dtype))
    if bool((count == 0).any()):
        missing = torch.nonzero(count == 0).flatten()[:5].tolist()
        raise ValueError(f"scatter_mean: {int((count == 0).sum())} step(s) not covered by index, e.g. {missing}")
    return total / count


def step_shot_ids(picks: np.ndarray | torch.Tensor, change_points: np.ndarray | torch.Tensor) -> np.ndarray:
    """Shot index of every step.

    picks: (n_steps,) frame index of each step; change_points: (n_shots, 2) inclusive
    [first, last] frame of each shot, sorted. Returns (n_steps,) int64 numpy array in
    [0, n_shots) (numpy like the ``Video`` fields; ``torch.from_numpy`` it for a long tensor).
    """
    picks = np.asarray(picks.cpu() if isinstance(picks, torch.Tensor) else picks)
    cps = np.asarray(change_points.cpu() if isinstance(change_points, torch.Tensor) else change_points)
    if picks.ndim != 1 or picks.size == 0:
        raise ValueError(f"picks must be a non-empty 1-d array, got shape {picks.shape}")
    if cps.ndim != 2 or cps.shape[1] != 2 or cps.shape[0] == 0:
        raise ValueError(f"change_points must have shape (n_shots, 2) with n_shots >= 1, got {cps.shape}")
    starts, ends = cps[:, 0], cps[:, 1]
    if np.any(ends < starts) or np.any(starts[1:] <= ends[:-1]):
        raise ValueError("change_points must be sorted, non-overlapping inclusive [first, last] ranges")
    shot = np.searchsorted(starts, picks, side="right") - 1
    outside = (shot < 0) | (picks > ends[np.clip(shot, 0, None)])
    if np.any(outside):
        bad = picks[outside][:5].tolist()
        raise ValueError(f"{int(outside.sum())} pick(s) fall outside every shot in change_points, e.g. frames {bad}")
    return shot.astype(np.int64)


class SegmentBatch(NamedTuple):
    """One batch of segment rows from several videos (N rows in all).

    x:                (N, L, D) float32, zeros at pads
    key_padding_mask: (N, L) bool, True = pad
    owner:            (N,) long, position of the row's video in the input list
    index:            (N, L) long, step index within the owner video, -1 at pads
    shot_ids:         (N, L) long, shot of each step in its video, -1 at pads
    """

    x: torch.Tensor
    key_padding_mask: torch.Tensor
    owner: torch.Tensor
    index: torch.Tensor
    shot_ids: torch.Tensor


def _video_arrays(item, i: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(features (n_steps, D) float32, shot ids (n_steps,) long) of one batch_segments item."""
    if hasattr(item, "features") and hasattr(item, "picks") and hasattr(item, "change_points"):
        feats, shots = item.features, torch.from_numpy(step_shot_ids(item.picks, item.change_points))
    elif isinstance(item, (tuple, list)) and len(item) == 2:
        feats, shots = item
        shots = torch.as_tensor(np.asarray(shots) if not isinstance(shots, torch.Tensor) else shots, dtype=torch.long)
    else:
        raise ValueError(f"videos[{i}] must be a Video (features, picks, change_points) or a "
                         f"(features, shot_ids) pair, got {type(item).__name__}")
    feats = torch.as_tensor(feats, dtype=torch.float32)
    if feats.dim() != 2 or feats.shape[0] == 0:
        raise ValueError(f"videos[{i}]: features must be (n_steps, D) with n_steps >= 1, got {tuple(feats.shape)}")
    if shots.shape != (feats.shape[0],):
        raise ValueError(f"videos[{i}]: shot_ids shape {tuple(shots.shape)} != ({feats.shape[0]},)")
    if bool((shots < 0).any()):
        raise ValueError(f"videos[{i}]: shot_ids must be >= 0")
    return feats, shots


def batch_segments(videos: Sequence, L: int, mode: str, device: torch.device | str | None = None) -> SegmentBatch:
    """Cut every video into segments of length ``L`` (``mode``: sequential | dilated) and stack them.

    videos: each a ``Video`` (shot ids derived from picks/change_points via :func:`step_shot_ids`)
    or a ``(features (n_steps, D), shot_ids (n_steps,))`` pair. All must share D.
    Returns a :class:`SegmentBatch` (unpacks as x, key_padding_mask, owner, index, shot_ids).
    """
    if len(videos) == 0:
        raise ValueError("batch_segments: no videos given")
    if mode not in SEGMENT_MODES:
        raise ValueError(f"unknown segment mode {mode!r}; expected one of {SEGMENT_MODES}")
    xs, kpms, owners, indices, shot_rows = [], [], [], [], []
    dim = None
    for i, item in enumerate(videos):
        feats, shots = _video_arrays(item, i)
        if dim is None:
            dim = feats.shape[1]
        elif feats.shape[1] != dim:
            raise ValueError(f"videos[{i}]: feature dim {feats.shape[1]} != {dim} of videos[0]")
        index = make_segments(feats.shape[0], L, mode)
        x, kpm = gather_segments(feats, index)
        xs.append(x)
        kpms.append(kpm)
        indices.append(index)
        shot_rows.append(torch.where(kpm, -1, shots[index.clamp(min=0)]))
        owners.append(torch.full((index.shape[0],), i, dtype=torch.long))
    out = SegmentBatch(torch.cat(xs), torch.cat(kpms), torch.cat(owners), torch.cat(indices), torch.cat(shot_rows))
    if device is not None:
        out = SegmentBatch(*(t.to(device) for t in out))
    return out


def segment_index(n_steps: int, segment_len: int, mode: str) -> torch.Tensor:
    """(n_seg, L) long step indices of ``mode`` ('sequential' | 'dilated'), -1 on pads."""
    return torch.as_tensor(make_segments(n_steps, segment_len, mode), dtype=torch.long)


@dataclass
class SegmentBank:
    """All L-step segments of a set of videos, stacked once as tensors.

    x:        (S, L, D) float32 features (pads are zeros and flagged in ``pad``)
    pad:      (S, L) bool, True where the position is padding
    shot_ids: (S, L) long shot index of each step within its video (-1 on pads)
    owner:    (S,) long index of the segment's video in ``keys``
    keys:     video keys
    """

    x: torch.Tensor
    pad: torch.Tensor
    shot_ids: torch.Tensor
    owner: torch.Tensor
    keys: list[str]

    def __len__(self) -> int:
        return int(self.x.shape[0])


def build_segment_bank(videos: Sequence, segment_len: int, modes: tuple[str, ...] = SEGMENT_MODES) -> SegmentBank:
    """Segments of every video (``features`` (n_steps, D), ``picks``, ``change_points``, ``key``)
    in each split ``mode``: training sees both views of a video."""
    xs, pads, shots, owners = [], [], [], []
    for i, v in enumerate(videos):
        feats = torch.from_numpy(v.features)
        sid = torch.from_numpy(step_shot_ids(v.picks, v.change_points))
        for mode in modes:
            index = segment_index(len(v.features), segment_len, mode)
            x, pad = gather_segments(feats, index)
            s = torch.where(index >= 0, sid[index.clamp(min=0)], torch.full_like(index, -1))
            xs.append(x), pads.append(pad), shots.append(s)
            owners.append(torch.full((index.shape[0],), i, dtype=torch.long))
    return SegmentBank(torch.cat(xs), torch.cat(pads), torch.cat(shots), torch.cat(owners), [v.key for v in videos])


@torch.no_grad()
def score_two_views(scorer: torch.nn.Module, features: np.ndarray, segment_len: int,
                    device: torch.device | None = None) -> np.ndarray:
    """Per-step scores (n_steps,) of a segment scorer: the mean of its sequential and dilated views.

    scorer(x (B, L, D), key_padding_mask=(B, L) bool) -> (B, L) scores; features: (n_steps, D).
    A data-parallel wrapper is looked through; the scorer runs in eval mode and gets its mode back.
    """
    scorer = scorer.module if hasattr(scorer, "module") else scorer
    device = device or next(scorer.parameters()).device
    was_training = scorer.training
    scorer.eval()
    n_steps = len(features)
    feats = torch.from_numpy(features).to(device)
    views = []
    for mode in SEGMENT_MODES:
        index = segment_index(n_steps, segment_len, mode).to(device)
        x, pad = gather_segments(feats, index)
        probs = scorer(x, key_padding_mask=pad).float()
        views.append(scatter_mean(probs, index, n_steps))
    scorer.train(was_training)
    return torch.stack(views).mean(0).cpu().numpy()
