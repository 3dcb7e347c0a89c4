"""The one evaluator: keyshot F-score (eccv16 protocol) and rank correlations (Otani et al. 2019).

F-score: the machine keyshot summary is compared with every user summary by frame overlap;
SumMe reports the best user ('max'), TVSum the mean over users ('avg').

Rank correlation: Kendall's tau-b and Spearman's rho between the frame-level machine scores and
EACH annotator, averaged over annotators, then over videos. The values equal
``scipy.stats.kendalltau`` / ``spearmanr`` (tested); they are computed from the contingency
table of the two score vectors, which is exact and much faster when one side has few distinct
values (TVSum 1..5, SumMe 0/1, step-constant machine scores).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from vidsum.data.eccv16 import Video, natural_key
from vidsum.evaluation.summary import keyshot_summary, step_to_frame_scores

CORR_CONVENTION = (
    "otani2019: frame-level, per-annotator Kendall tau-b / Spearman rho, mean over annotators "
    "then videos; TVSum: raw 1-5 user scores, SumMe: 0/1 user selections; "
    "an undefined correlation (constant vector) counts as 0"
)
F_REDUCE = {"summe": "max", "tvsum": "avg"}
METRIC_KEYS = ("f1", "precision", "recall", "kendall_tau", "spearman_rho")

# Above this many cells the contingency table costs more than scipy's O(n log n) routines.
_MAX_TABLE_CELLS = 2_000_000


def f_score(machine: np.ndarray, user_summary: np.ndarray, reduce: str) -> tuple[float, float, float]:
    """Keyshot F-score of one video: (f1, precision, recall), each in [0, 1].

    machine: (n_frames,) 0/1 summary; user_summary: (n_users, n_frames) 0/1 (values > 0 count as
    selected). Per user: precision = overlap / |machine|, recall = overlap / |user| (0 when the
    denominator is 0), f1 = 2PR / (P + R) (0 when P + R = 0). reduce='max' returns the user with
    the highest f1 (its own P and R, first such user on ties); 'avg' returns the three means.
    """
    if reduce not in ("max", "avg"):
        raise ValueError(f"reduce must be 'max' or 'avg', got {reduce!r}")
    machine = np.asarray(machine)
    users = np.asarray(user_summary)
    if users.ndim != 2 or users.shape[0] == 0:
        raise ValueError(f"user_summary: expected (n_users, n_frames), got shape {users.shape}")
    if machine.ndim != 1 or machine.shape[0] != users.shape[1]:
        raise ValueError(f"machine summary: expected shape ({users.shape[1]},), got {machine.shape}")
    m = (machine > 0).astype(np.float64)
    u = (users > 0).astype(np.float64)
    overlap = u @ m
    m_len, u_len = m.sum(), u.sum(axis=1)
    precision = overlap / m_len if m_len > 0 else np.zeros_like(overlap)
    recall = np.divide(overlap, u_len, out=np.zeros_like(overlap), where=u_len > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(overlap), where=denom > 0)
    if reduce == "max":
        best = int(np.argmax(f1))
        return float(f1[best]), float(precision[best]), float(recall[best])
    return float(f1.mean()), float(precision.mean()), float(recall.mean())


def _codes(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense integer codes of the values of x, in value order: (codes same shape as x, n_levels).

    Small-range integer values (TVSum 1..5, 0/1 selections) are shifted instead of sorted;
    levels that do not occur are empty and change nothing in the statistics.
    """
    if x.dtype == bool:
        x = x.astype(np.uint8)
    if x.size and (np.issubdtype(x.dtype, np.integer) or np.array_equal(x, np.round(x))):
        lo, hi = x.min(), x.max()
        if hi - lo < 1024:
            return (x - lo).astype(np.int64), int(hi - lo) + 1
    levels, codes = np.unique(x, return_inverse=True)
    return codes.reshape(x.shape).astype(np.int64), int(levels.shape[0])


def _tau_rho_from_tables(tables: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kendall tau-b and Spearman rho of paired data given as contingency tables.

    tables: (batch, nx, ny) int counts; row a = a-th smallest x value, column b = b-th smallest
    y value. tau-b = (concordant - discordant) / sqrt((n0 - ties_x) (n0 - ties_y)) like scipy;
    rho is the Pearson correlation of average ranks (midranks). Returns two (batch,) float64
    arrays, nan where undefined (a constant side).
    """
    t = tables.astype(np.int64)
    batch, nx, ny = t.shape
    n = t.sum(axis=(1, 2))  # (batch,)
    # below[:, a, b] = count with x-level < a and y-level < b (exclusive 2-d prefix sum).
    below = np.zeros((batch, nx + 1, ny + 1), dtype=np.int64)
    below[:, 1:, 1:] = t.cumsum(1).cumsum(2)
    rows_before = below[:, :-1, ny]  # (batch, nx) count with x-level < a
    concordant = (t * below[:, :-1, :-1]).sum(axis=(1, 2))
    discordant = (t * (rows_before[:, :, None] - below[:, :-1, 1:])).sum(axis=(1, 2))
    row_tot, col_tot = t.sum(2), t.sum(1)  # (batch, nx), (batch, ny)
    n0 = n * (n - 1) // 2
    ties_x = (row_tot * (row_tot - 1)).sum(1) // 2
    ties_y = (col_tot * (col_tot - 1)).sum(1) // 2
    denom = (n0 - ties_x).astype(np.float64) * (n0 - ties_y).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = np.where(denom > 0, (concordant - discordant) / np.sqrt(denom), np.nan)

        rank_x = np.cumsum(row_tot, 1) - row_tot + (row_tot + 1) / 2.0  # midrank of each level
        rank_y = np.cumsum(col_tot, 1) - col_tot + (col_tot + 1) / 2.0
        dx = rank_x - ((row_tot * rank_x).sum(1) / n)[:, None]
        dy = rank_y - ((col_tot * rank_y).sum(1) / n)[:, None]
        var_x, var_y = (row_tot * dx * dx).sum(1), (col_tot * dy * dy).sum(1)
        cov = np.einsum("bi,bij,bj->b", dx, t.astype(np.float64), dy)
        rho = np.where((var_x > 0) & (var_y > 0), cov / np.sqrt(var_x * var_y), np.nan)
    return tau, rho


def _correlations(x_codes: np.ndarray, nx: int, y_codes: np.ndarray, ny: int) -> tuple[np.ndarray, np.ndarray]:
    """(tau, rho) of one coded vector x (n,) against each row of coded y (batch, n): two (batch,)."""
    batch = y_codes.shape[0]
    cells = (np.arange(batch)[:, None] * nx + x_codes[None, :]) * ny + y_codes
    tables = np.bincount(cells.ravel(), minlength=batch * nx * ny).reshape(batch, nx, ny)
    return _tau_rho_from_tables(tables)


def rank_correlation(frame_scores: np.ndarray, annotations: np.ndarray) -> tuple[float, float]:
    """(kendall_tau, spearman_rho) of frame scores with each annotator, averaged over annotators.

    frame_scores: (n_frames,); annotations: (n_users, n_frames) (TVSum 1..5 scores, SumMe 0/1).
    tau is scipy's tau-b and rho scipy's spearmanr. Either is undefined (scipy: nan) when one of
    the two vectors is constant; such a pair counts as 0, i.e. "no agreement", and still counts
    in the mean. So a constant prediction scores exactly 0.
    """
    x = np.asarray(frame_scores, dtype=np.float64)
    ann = np.asarray(annotations)
    if ann.ndim != 2 or ann.shape[0] == 0:
        raise ValueError(f"annotations: expected (n_users, n_frames), got shape {ann.shape}")
    if x.ndim != 1 or x.shape[0] != ann.shape[1]:
        raise ValueError(f"frame_scores: expected shape ({ann.shape[1]},), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"frame_scores: {int(np.count_nonzero(~np.isfinite(x)))} NaN/inf values")
    if not np.issubdtype(ann.dtype, np.integer) and ann.dtype != bool and not np.all(np.isfinite(ann)):
        raise ValueError(f"annotations: {int(np.count_nonzero(~np.isfinite(ann)))} NaN/inf values")
    if x.shape[0] < 2:
        raise ValueError("frame_scores: need at least 2 frames for a rank correlation")
    x_codes, nx = _codes(x)
    y_codes, ny = _codes(ann)
    if nx * ny * ann.shape[0] <= _MAX_TABLE_CELLS:
        taus, rhos = _correlations(x_codes, nx, y_codes, ny)
    else:
        taus = np.array([stats.kendalltau(x, y).statistic for y in ann])
        rhos = np.array([stats.spearmanr(x, y).statistic for y in ann])
    taus, rhos = np.nan_to_num(taus, nan=0.0), np.nan_to_num(rhos, nan=0.0)
    return float(np.mean(taus)), float(np.mean(rhos))


def correlation_annotations(video: Video) -> np.ndarray:
    """The annotations tau/rho use: per-user scores when the video has them (TVSum), else 0/1 summaries."""
    return video.user_scores if video.user_scores is not None else video.user_summary


def _reduce_for(dataset: str, reduce: str | None) -> str:
    if reduce is not None:
        return reduce
    if dataset not in F_REDUCE:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(F_REDUCE)}")
    return F_REDUCE[dataset]


def _check_step_scores(step_scores: np.ndarray, video: Video) -> np.ndarray:
    s = np.squeeze(np.asarray(step_scores, dtype=np.float64))
    if s.ndim != 1 or s.shape[0] != video.n_steps:
        raise ValueError(
            f"{video.key}: expected {video.n_steps} step scores, got shape {np.asarray(step_scores).shape}"
        )
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{video.key}: {int(np.count_nonzero(~np.isfinite(s)))} NaN/inf step scores")
    return s


def evaluate_video(step_scores: np.ndarray, video: Video, dataset: str, reduce: str | None = None) -> dict:
    """All metrics of one video: {f1, precision, recall, kendall_tau, spearman_rho}.

    step_scores: (n_steps,) importance per step. F uses the 15% keyshot summary against
    video.user_summary (reduce defaults to F_REDUCE[dataset]); tau/rho use the frame-level
    upsampled scores against :func:`correlation_annotations`.
    """
    reduce = _reduce_for(dataset, reduce)
    s = _check_step_scores(step_scores, video)
    summary = keyshot_summary(s, video.picks, video.change_points, video.n_frames)
    f1, precision, recall = f_score(summary, video.user_summary, reduce)
    frames = step_to_frame_scores(s, video.picks, video.n_frames)
    tau, rho = rank_correlation(frames, correlation_annotations(video))
    return {"f1": f1, "precision": precision, "recall": recall, "kendall_tau": tau, "spearman_rho": rho}


def mean_row(rows: list[dict], keys: tuple[str, ...] = METRIC_KEYS) -> dict:
    """Mean of each key over rows (every row weighs the same)."""
    if not rows:
        raise ValueError("no rows to average")
    return {k: float(np.mean([r[k] for r in rows])) for k in keys}


def evaluate(
    scores_by_key: dict[str, np.ndarray], videos: dict[str, Video], dataset: str
) -> tuple[list[dict], dict]:
    """Evaluate step scores of several videos.

    scores_by_key: {video key: (n_steps,) scores}; videos: {key: Video}. Returns the per-video rows
    ({'video': key, f1, precision, recall, kendall_tau, spearman_rho}, in natural key order) and
    the mean row over those videos ({'video': 'mean', ...}).
    """
    if not scores_by_key:
        raise ValueError("no scores to evaluate")
    unknown = [k for k in scores_by_key if k not in videos]
    if unknown:
        raise KeyError(f"unknown video key(s) {', '.join(sorted(unknown, key=natural_key))}")
    reduce = _reduce_for(dataset, None)
    rows = [
        {"video": key, **evaluate_video(scores_by_key[key], videos[key], dataset, reduce)}
        for key in sorted(scores_by_key, key=natural_key)
    ]
    return rows, {"video": "mean", **mean_row(rows)}
