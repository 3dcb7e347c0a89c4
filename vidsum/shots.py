"""Kernel Temporal Segmentation (KTS): shot boundaries from step features.

Potapov, Douze, Harchaoui, Schmid, "Category-specific video summarization", ECCV 2014. This is
the shot detector behind the ``change_points`` / ``n_frame_per_seg`` of the eccv16 h5 files.

Objective. Split the n steps into m+1 contiguous segments [t_0, t_1), ..., [t_m, t_{m+1}) with
t_0 = 0 and t_{m+1} = n. In the feature space of the kernel k, a segment's scatter is

    scatter(i, j) = sum_{t in [i, j)} k(x_t, x_t) - 1/(j - i) * sum_{s, t in [i, j)} k(x_s, x_t)

i.e. the sum of squared distances to the segment mean. KTS minimises over m AND the boundaries

    J(m) = L_m / n + vmax * m / (2 n) * (log(n / m) + 1)     (penalty 0 when m = 0)

where L_m is the smallest total scatter reachable with m change points. This is exactly the
``cpd_auto(K, ncp, vmax, desc_rate=1)`` penalty of the authors' reference code (the paper's
C * m * (log(n/m) + 1) with C = vmax / (2n) after dividing the scatter by n). Ties pick the
smallest m.

Algorithm. 2-D prefix sums of the Gram matrix give all segment scatters as one (n+1, n+1) matrix.
The dynamic programme then loops over m; each step is a vectorised min over (previous boundary i)
x (end j), done in blocks of 128 ends so that a block only spans the needed i < j and stays
cache-sized (no python loop over frames). Since every J(m') >= penalty(m') and the penalty grows
with m, the loop stops as soon as the penalty alone exceeds the best J found. Time O(m_stop * n^2),
memory O(n^2) floats plus the (m_stop, n+1) back-pointers.

Caveat (a property of the objective, same in the reference code): J(n-1) = penalty(n-1) ~ vmax/2
for the cosine kernel, so when the mean within-shot scatter per step exceeds about vmax/2 (very
noisy, nearly orthogonal features) the optimum is one shot per step. Lower ``max_change_points``
or raise ``vmax`` for such features.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

KERNELS = ("cosine", "linear")
_END_CHUNK = 128  # DP ends handled per vectorised block (see kts)


def _check_features(features: np.ndarray) -> np.ndarray:
    """(n, D) finite float64 copy of ``features`` or ValueError."""
    x = np.asarray(features)
    if x.ndim != 2:
        raise ValueError(f"features: expected a 2-d (n_steps, D) array, got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError("features: no steps (n_steps == 0)")
    if x.shape[1] == 0:
        raise ValueError("features: feature dimension D is 0")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise ValueError(f"features: expected a real numeric array, got dtype {x.dtype}")
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise ValueError(f"features: {bad} NaN/inf values")
    return x


def gram_matrix(features: np.ndarray, kernel: str = "cosine") -> np.ndarray:
    """Kernel between every pair of steps.

    features: (n, D). kernel: 'cosine' (dot product of L2-normalised rows; an all-zero row stays
    zero) or 'linear' (plain dot product). Returns (n, n) float64.
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel: expected one of {KERNELS}, got {kernel!r}")
    x = _check_features(features)
    if kernel == "cosine":
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        x = x / np.where(norms > 0, norms, 1.0)
    return x @ x.T


def segment_scatter(gram: np.ndarray) -> np.ndarray:
    """Scatter of every segment [i, j) of steps, from 2-D prefix sums of the Gram matrix.

    gram: (n, n) symmetric. Returns (n+1, n+1) float64 S with S[i, j] = scatter of steps i..j-1
    for i < j (clamped at 0 against round-off) and +inf where j <= i (not a segment).
    """
    g = np.asarray(gram, dtype=np.float64)
    n = g.shape[0]
    # block[i, j] = sum of g[:i, :j]; the (n+1) padding makes empty prefixes 0.
    block = np.zeros((n + 1, n + 1))
    block[1:, 1:] = g.cumsum(axis=0).cumsum(axis=1)
    diag = np.concatenate(([0.0], np.cumsum(np.diag(g))))
    # Sum of g over the square [i, j) x [i, j), for all (i, j) at once.
    bi = np.diag(block)
    square = bi[None, :] - block - block.T + bi[:, None]
    length = np.arange(n + 1)[None, :] - np.arange(n + 1)[:, None]  # j - i
    with np.errstate(divide="ignore", invalid="ignore"):
        scatter = (diag[None, :] - diag[:, None]) - square / length
    scatter = np.maximum(scatter, 0.0)
    scatter[length <= 0] = np.inf
    return scatter


def kts_penalty(n_change_points: np.ndarray | int, n_steps: int, vmax: float = 1.0) -> np.ndarray:
    """KTS penalty vmax * m / (2 n) * (log(n / m) + 1), 0 for m = 0. Shape follows m."""
    m = np.asarray(n_change_points, dtype=np.float64)
    safe_m = np.where(m > 0, m, 1.0)
    pen = vmax * m / (2.0 * n_steps) * (np.log(n_steps / safe_m) + 1.0)
    return np.where(m > 0, pen, 0.0)


def _check_kts_args(n: int, max_change_points: int | None, vmax: float) -> int:
    """Largest m to try (clipped to n - 1) or ValueError."""
    if isinstance(vmax, bool) or not isinstance(vmax, (int, float, np.integer, np.floating)):
        raise ValueError(f"vmax: expected a number, got {type(vmax).__name__}")
    if not math.isfinite(float(vmax)) or vmax < 0:
        raise ValueError(f"vmax: must be finite and >= 0, got {vmax}")
    if max_change_points is None:
        return n - 1
    if isinstance(max_change_points, bool) or not isinstance(max_change_points, (int, np.integer)):
        raise ValueError(
            f"max_change_points: expected an int or None, got {type(max_change_points).__name__}"
        )
    if max_change_points < 0:
        raise ValueError(f"max_change_points: must be >= 0, got {max_change_points}")
    return min(int(max_change_points), n - 1)


def kts(
    features: np.ndarray,
    max_change_points: int | None = None,
    vmax: float = 1.0,
    kernel: str = "cosine",
    on_round: Callable[[int, int], object] | None = None,
) -> np.ndarray:
    """KTS change points of a feature sequence, their number chosen by the penalised objective.

    features:          (n, D) step features, finite.
    max_change_points: largest number of change points considered (None: n - 1; larger values
                       are clipped to n - 1).
    vmax:              penalty weight (module docstring); 0 means no penalty.
    kernel:            'cosine' or 'linear' (see :func:`gram_matrix`).
    on_round:          progress: called after each round m of the dynamic programme (one per
                       number of change points, all about the same cost) with (m, the most
                       rounds the search can still take); that bound shrinks as better
                       objectives are found.
    Returns (m,) int64 sorted step indices in [1, n-1] where a new segment starts.
    """
    gram = gram_matrix(features, kernel)  # validates features and kernel
    n = gram.shape[0]
    m_max = _check_kts_args(n, max_change_points, vmax)
    scatter = segment_scatter(gram)
    # penalty(m) grows with m, so the rounds left end at the first m whose penalty alone exceeds
    # the best objective so far (the loop's stopping rule below).
    penalties = kts_penalty(np.arange(1, m_max + 1), n, vmax) if on_round is not None else None

    # cost[j]: least scatter of steps [0, j) cut into m+1 segments (inf where impossible).
    cost = scatter[0].copy()
    best_m, best_objective = 0, cost[n] / n
    # Rows = end j, columns = previous boundary i: the min over i runs along contiguous memory
    # (argmin along axis 0 of the (i, j) layout is several times slower in numpy).
    scatter_by_end = np.ascontiguousarray(scatter.T)
    work = np.empty(_END_CHUNK * (n + 1))  # reused buffer for one chunk of ends
    back: list[np.ndarray] = []  # back[m-1][j]: start of the last segment of the best [0, j)
    for m in range(1, m_max + 1):
        if kts_penalty(m, n, vmax) > best_objective:
            break  # J(m') >= penalty(m') >= penalty(m) > best for every m' >= m
        # m change points need an end j >= m+1 and the previous boundary i in [m, j-1].
        # Ends go in chunks so that each block only spans the i < j it needs (the (i, j)
        # triangle instead of the full square) and stays cache-sized.
        new_cost = np.full(n + 1, np.inf)
        start = np.zeros(n + 1, dtype=np.int64)
        for j0 in range(m + 1, n + 1, _END_CHUNK):
            j1 = min(j0 + _END_CHUNK, n + 1)  # ends j0..j1-1 use boundaries i in [m, j1-1)
            shape = (j1 - j0, j1 - 1 - m)
            block = np.add(
                scatter_by_end[j0:j1, m : j1 - 1],
                cost[None, m : j1 - 1],
                out=work[: shape[0] * shape[1]].reshape(shape),
            )
            arg = block.argmin(axis=1)
            new_cost[j0:j1] = block[np.arange(shape[0]), arg]
            start[j0:j1] = arg + m
        back.append(start)
        cost = new_cost
        objective = cost[n] / n + float(kts_penalty(m, n, vmax))
        if objective < best_objective:
            best_m, best_objective = m, objective
        if on_round is not None:
            on_round(m, max(m, int(np.searchsorted(penalties, best_objective, side="right"))))

    # Walk the back-pointers from the end of the sequence.
    cps = np.empty(best_m, dtype=np.int64)
    j = n
    for m in range(best_m, 0, -1):
        j = int(back[m - 1][j])
        cps[m - 1] = j
    return cps


def _check_int_vector(name: str, a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a 1-d array, got shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name}: expected integers, got dtype {a.dtype}")
    return a.astype(np.int64)


def change_points_to_segments(
    change_points: np.ndarray, n_steps: int, picks: np.ndarray, n_frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """Step-level change points -> inclusive frame ranges (eccv16 convention).

    A new shot starts at frame picks[c] for every change point c (the DSNet/eccv16 scripts use
    c * sample_rate, which is the same thing for picks = arange(n_steps) * sample_rate). The first
    shot starts at frame 0 and the last ends at n_frames - 1.

    change_points: (m,) strictly increasing ints in [1, n_steps-1].
    picks:         (n_steps,) strictly increasing frame indices in [0, n_frames).
    Returns (shots (m+1, 2) int64 [first, last] frames, n_frame_per_seg (m+1,) int64).
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ValueError(f"n_steps: expected a positive int, got {n_steps!r}")
    if isinstance(n_frames, bool) or not isinstance(n_frames, (int, np.integer)) or n_frames < 1:
        raise ValueError(f"n_frames: expected a positive int, got {n_frames!r}")
    cps = _check_int_vector("change_points", change_points)
    picks = _check_int_vector("picks", picks)
    if picks.shape[0] != n_steps:
        raise ValueError(f"picks: expected ({n_steps},), got shape {picks.shape}")
    if picks.min() < 0 or picks.max() >= n_frames:
        raise ValueError(
            f"picks: out of range [0, {n_frames}): min {int(picks.min())}, max {int(picks.max())}"
        )
    if np.any(np.diff(picks) <= 0):
        raise ValueError("picks: not strictly increasing")
    if cps.size:
        if cps.min() < 1 or cps.max() > n_steps - 1:
            raise ValueError(
                f"change_points: out of range [1, {n_steps - 1}]: "
                f"min {int(cps.min())}, max {int(cps.max())}"
            )
        if np.any(np.diff(cps) <= 0):
            raise ValueError("change_points: not strictly increasing")
    # picks strictly increasing and cps >= 1 make every shot non-empty.
    starts = np.concatenate(([0], picks[cps])).astype(np.int64)
    ends = np.concatenate((starts[1:], [n_frames])).astype(np.int64)  # exclusive
    shots = np.stack([starts, ends - 1], axis=1)
    return shots, ends - starts


def shots_from_features(
    features: np.ndarray, picks: np.ndarray, n_frames: int, **kts_kwargs
) -> tuple[np.ndarray, np.ndarray]:
    """KTS on step features, mapped to frames: (change_points (n_shots, 2), n_frame_per_seg).

    features: (n_steps, D); picks: (n_steps,) frame of each step; kts_kwargs go to :func:`kts`.
    """
    n_steps = _check_features(features).shape[0]
    # Check picks / n_frames before the (expensive) segmentation.
    change_points_to_segments(np.zeros(0, dtype=np.int64), n_steps, picks, n_frames)
    cps = kts(features, **kts_kwargs)
    return change_points_to_segments(cps, n_steps, picks, n_frames)
