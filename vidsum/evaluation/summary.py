"""From per-step importance scores to a keyshot summary (the eccv16 / DSNet protocol).

    step scores (n_steps,) --upsample--> frame scores (n_frames,)
      --mean per shot--> shot scores (n_shots,)
      --0/1 knapsack, weights = shot lengths, capacity = int(proportion * n_frames)-->
    selected frames (n_frames,) uint8

Every method is scored through these functions, so they validate their inputs strictly.
"""

from __future__ import annotations

import numpy as np

from vidsum.data.eccv16 import Video


def _finite_1d(name: str, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"{name}: expected a 1-d array, got shape {x.shape}")
    if x.size and not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: {int(np.count_nonzero(~np.isfinite(x)))} NaN/inf values")
    return x


def step_to_frame_scores(step_scores: np.ndarray, picks: np.ndarray, n_frames: int) -> np.ndarray:
    """Upsample step scores to frames.

    step_scores: (n_steps,) float; picks: (n_steps,) int, strictly increasing frame indices in
    [0, n_frames). Frame f takes the score of step i where picks[i] <= f < picks[i+1]; the last
    step runs to the end of the video and frames before picks[0] take step 0.
    Returns (n_frames,) float64.
    """
    scores = _finite_1d("step_scores", step_scores)
    picks = np.asarray(picks)
    n_frames = int(n_frames)
    if n_frames <= 0:
        raise ValueError(f"n_frames must be positive, got {n_frames}")
    if picks.ndim != 1 or picks.shape[0] != scores.shape[0]:
        raise ValueError(f"picks: expected shape ({scores.shape[0]},) to match step_scores, got {picks.shape}")
    if picks.shape[0] == 0:
        raise ValueError("step_scores: no steps")
    if picks.min() < 0 or picks.max() >= n_frames:
        raise ValueError(f"picks: out of range [0, {n_frames}): min {int(picks.min())}, max {int(picks.max())}")
    if np.any(np.diff(picks) <= 0):
        raise ValueError("picks: not strictly increasing")
    step_of_frame = np.searchsorted(picks, np.arange(n_frames), side="right") - 1
    return scores[np.maximum(step_of_frame, 0)]


def _check_change_points(change_points: np.ndarray, n_frames: int) -> np.ndarray:
    cps = np.asarray(change_points)
    if cps.ndim != 2 or cps.shape[1] != 2 or cps.shape[0] == 0:
        raise ValueError(f"change_points: expected (n_shots, 2), got shape {cps.shape}")
    cps = cps.astype(np.int64)
    covers = (
        cps[0, 0] == 0
        and cps[-1, 1] == n_frames - 1
        and np.all(cps[:, 1] >= cps[:, 0])
        and np.all(cps[1:, 0] == cps[:-1, 1] + 1)
    )
    if not covers:
        raise ValueError(
            f"change_points: shots do not cover frames 0..{n_frames - 1} contiguously "
            f"(first {cps[0].tolist()}, last {cps[-1].tolist()})"
        )
    return cps


def shot_scores(frame_scores: np.ndarray, change_points: np.ndarray) -> np.ndarray:
    """Mean frame score of each shot.

    frame_scores: (n_frames,); change_points: (n_shots, 2) inclusive [first, last] frames that
    cover the video contiguously. Returns (n_shots,) float64.
    """
    frames = _finite_1d("frame_scores", frame_scores)
    if frames.shape[0] == 0:
        raise ValueError("frame_scores: empty")
    cps = _check_change_points(change_points, frames.shape[0])
    lengths = cps[:, 1] - cps[:, 0] + 1
    return np.add.reduceat(frames, cps[:, 0]) / lengths


def knapsack(values: np.ndarray, weights: np.ndarray, capacity: int) -> np.ndarray:
    """Exact 0/1 knapsack: the subset of items with the largest total value, total weight <= capacity.

    values: (n,) float; weights: (n,) positive ints; capacity: int >= 0. Returns (n,) bool.

    Dynamic programme over items; each item updates the whole capacity row at once (numpy).
    Tie-breaking (several subsets reach the best value): an item is left out whenever leaving it
    out still allows the best value. Backtracking runs from the last item to the first, so among
    all optimal subsets the one returned has the lexicographically smallest indicator vector read
    from the LAST item backwards (later items are dropped first; items of value <= 0 are never
    taken). The choice only depends on the inputs, never on the platform.
    """
    values = _finite_1d("values", values)
    weights_arr = np.asarray(weights)
    if weights_arr.ndim != 1 or weights_arr.shape[0] != values.shape[0]:
        raise ValueError(f"weights: expected shape ({values.shape[0]},) to match values, got {weights_arr.shape}")
    if weights_arr.size and not np.all(weights_arr == np.round(weights_arr)):
        raise ValueError("weights: must be integers")
    weights_int = weights_arr.astype(np.int64)
    if weights_int.size and weights_int.min() <= 0:
        raise ValueError(f"weights: must be positive, got min {int(weights_int.min())}")
    if int(capacity) != capacity or capacity < 0:
        raise ValueError(f"capacity: must be a non-negative integer, got {capacity}")
    capacity = int(capacity)

    n = values.shape[0]
    # best[c]: best value using the items seen so far with total weight <= c.
    best = np.zeros(capacity + 1, dtype=np.float64)
    took = np.zeros((n, capacity + 1), dtype=bool)  # took[i, c]: item i is in the best set at c
    for i in range(n):
        w, v = int(weights_int[i]), values[i]
        if w > capacity:
            continue
        with_item = best[: capacity + 1 - w] + v
        better = with_item > best[w:]  # strict: ties keep the item out
        took[i, w:] = better
        best[w:] = np.where(better, with_item, best[w:])

    chosen = np.zeros(n, dtype=bool)
    c = capacity
    for i in range(n - 1, -1, -1):
        if took[i, c]:
            chosen[i] = True
            c -= int(weights_int[i])
    return chosen


def keyshot_summary(
    step_scores: np.ndarray,
    picks: np.ndarray,
    change_points: np.ndarray,
    n_frames: int,
    proportion: float = 0.15,
) -> np.ndarray:
    """Keyshot summary of one video: (n_frames,) uint8, 1 for frames of the selected shots.

    Shots are scored by their mean frame score and chosen by :func:`knapsack` with the shot
    lengths as weights and ``int(proportion * n_frames)`` frames as capacity.
    """
    if not 0.0 <= proportion <= 1.0:
        raise ValueError(f"proportion must be in [0, 1], got {proportion}")
    frames = step_to_frame_scores(step_scores, picks, n_frames)
    cps = _check_change_points(change_points, int(n_frames))
    lengths = cps[:, 1] - cps[:, 0] + 1
    chosen = knapsack(shot_scores(frames, cps), lengths, int(proportion * n_frames))
    summary = np.zeros(int(n_frames), dtype=np.uint8)
    for first, last in cps[chosen]:
        summary[first : last + 1] = 1
    return summary


def summarize_video(step_scores: np.ndarray, video: Video, proportion: float = 0.15) -> np.ndarray:
    """:func:`keyshot_summary` with the picks, shots and length of ``video``."""
    return keyshot_summary(step_scores, video.picks, video.change_points, video.n_frames, proportion)
