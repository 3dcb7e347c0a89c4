"""Training-stability figures of one run, from its per-epoch loss curve.

TR-SUM (arXiv 2407.04258) argues that its two isolated training stages are more stable than
adversarial training and backs it with figures computed from loss curves (TVn 1.93 for TR-SUM
against 3.03 to 7.65 for GAN methods). The paper's exact formulas could not be checked here, so
these are our definitions, chosen so that the scale matches the paper's (a perfectly monotone
curve scores TVn = 1). For a curve L_0 .. L_{E-1} (E >= 2 finite values) with range
R = max L - min L:

TVn, normalised total variation (>= 1, lower = smoother)
    TVn = sum_e |L_{e+1} - L_e| / R
    The path length the loss travels divided by the least it could travel to cover its range.
    Any monotone curve (only falling or only rising) has TVn = 1; every up-and-down swing
    adds twice its height relative to R. A flat curve (R = 0) counts as 1.

MS, monotonicity score (in [0, 1], higher = steadier descent)
    MS = #{e : L_{e+1} < L_e} / (E - 1)
    The share of epoch-to-epoch steps in which the loss went down. A loss that falls every
    epoch has MS = 1; a random walk about 0.5. (TVn says how far it wandered, MS how often.)

RAUC, relative area under the curve (in [0, 1], lower = faster convergence)
    RAUC = trapezoid area of  (L_e - min L) / R  over normalised epochs  e / (E - 1)  in [0, 1]
    The min-max normalised curve's area: near 0 when the loss drops at once and stays at its
    minimum, 0.5 for a straight descent, near 1 when the minimum is reached only at the end or
    the loss grows. A flat curve counts as 0.

Curves are read from history rows (``loss`` by default); rows of another stage can be filtered
out by the caller. Non-finite values are an error, not skipped: a NaN loss is a failed run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

STABILITY_KEYS = ("tvn", "ms", "rauc")


def _curve(losses: Sequence[float] | np.ndarray) -> np.ndarray:
    """(E,) float64 copy of ``losses``; ValueError unless 1-d, E >= 2 and all finite."""
    curve = np.asarray(losses, dtype=np.float64)
    if curve.ndim != 1:
        raise ValueError(f"loss curve must be 1-d (one value per epoch), got shape {curve.shape}")
    if curve.shape[0] < 2:
        raise ValueError(f"loss curve needs at least 2 epochs, got {curve.shape[0]}")
    bad = ~np.isfinite(curve)
    if bad.any():
        raise ValueError(f"loss curve has {int(bad.sum())} non-finite value(s), first at epoch {int(np.argmax(bad))}")
    return curve


def total_variation_normalized(losses: Sequence[float] | np.ndarray) -> float:
    """TVn of a loss curve (E,) (see module docstring): >= 1, 1 for a monotone curve."""
    curve = _curve(losses)
    span = curve.max() - curve.min()
    if span == 0:
        return 1.0
    return float(np.abs(np.diff(curve)).sum() / span)


def monotonicity_score(losses: Sequence[float] | np.ndarray) -> float:
    """MS of a loss curve (E,): share of epoch steps in which the loss decreased, in [0, 1]."""
    curve = _curve(losses)
    return float(np.mean(np.diff(curve) < 0))


def relative_auc(losses: Sequence[float] | np.ndarray) -> float:
    """RAUC of a loss curve (E,): area of the min-max normalised curve over [0, 1], in [0, 1]."""
    curve = _curve(losses)
    span = curve.max() - curve.min()
    if span == 0:
        return 0.0
    normalised = (curve - curve.min()) / span
    # trapezoid rule on an evenly spaced [0, 1] axis
    return float((normalised[:-1] + normalised[1:]).sum() / (2 * (len(curve) - 1)))


def stability(losses: Sequence[float] | np.ndarray) -> dict[str, float]:
    """{'tvn', 'ms', 'rauc'} of one loss curve (E,), E >= 2."""
    return {"tvn": total_variation_normalized(losses), "ms": monotonicity_score(losses), "rauc": relative_auc(losses)}


def history_stability(history: Sequence[dict], key: str = "loss") -> dict[str, float]:
    """Stability figures of the ``key`` column of per-epoch history rows (in epoch order).

    Fewer than 2 rows gives NaN figures (a run too short to judge), not an error, so a
    1-epoch smoke run still lands a row; a row without ``key`` is a KeyError.
    """
    missing = [i for i, row in enumerate(history) if key not in row]
    if missing:
        raise KeyError(f"history row(s) {missing[:5]} have no {key!r} value")
    if len(history) < 2:
        return {k: float("nan") for k in STABILITY_KEYS}
    return stability([row[key] for row in history])
