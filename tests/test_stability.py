import math

import numpy as np
import pytest

from vidsum.evaluation.stability import (
    history_stability,
    monotonicity_score,
    relative_auc,
    stability,
    total_variation_normalized,
)


def test_tvn_is_one_for_monotone_and_grows_with_oscillation():
    assert total_variation_normalized([5.0, 4.0, 3.5, 1.0]) == pytest.approx(1.0)
    assert total_variation_normalized([1.0, 2.0, 3.0]) == pytest.approx(1.0)
    # 3 -> 1 -> 2 -> 0: path 2 + 1 + 2 = 5 over range 3
    assert total_variation_normalized([3.0, 1.0, 2.0, 0.0]) == pytest.approx(5 / 3)
    assert total_variation_normalized([2.0, 2.0, 2.0]) == 1.0


def test_monotonicity_score_counts_decreasing_steps():
    assert monotonicity_score([3, 2, 1, 0]) == 1.0
    assert monotonicity_score([0, 1, 2]) == 0.0
    assert monotonicity_score([3, 1, 2, 0, 0]) == pytest.approx(2 / 4)  # equal step is not a decrease


def test_relative_auc_extremes_and_linear():
    assert relative_auc([1.0, 0.0, 0.0, 0.0, 0.0]) == pytest.approx(0.125)  # drops at once
    assert relative_auc(np.linspace(1, 0, 11)) == pytest.approx(0.5)
    assert relative_auc([0.0, 1.0]) == pytest.approx(0.5)
    assert relative_auc([1.0, 1.0, 1.0, 0.0]) == pytest.approx((1 + 1 + 0.5) / 3)
    assert relative_auc([4.0, 4.0]) == 0.0


def test_stability_is_scale_and_shift_invariant():
    curve = np.array([3.0, 2.5, 2.7, 1.0, 1.2, 0.9])
    a, b = stability(curve), stability(10 * curve + 7)
    assert a == pytest.approx(b)
    assert set(a) == {"tvn", "ms", "rauc"}


@pytest.mark.parametrize("bad, match", [
    ([1.0], "at least 2 epochs"),
    ([[1.0, 2.0]], "1-d"),
    ([1.0, float("nan"), 2.0], "non-finite value.*epoch 1"),
])
def test_curve_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        stability(bad)


def test_history_stability():
    rows = [{"epoch": i, "loss": v} for i, v in enumerate([3.0, 1.0, 2.0, 0.0])]
    assert history_stability(rows)["tvn"] == pytest.approx(5 / 3)
    assert history_stability(rows, key="loss")["ms"] == pytest.approx(2 / 3)
    short = history_stability(rows[:1])
    assert all(math.isnan(v) for v in short.values())
    with pytest.raises(KeyError, match="no 'reward' value"):
        history_stability(rows, key="reward")
