import itertools

import numpy as np
import pytest

from vidsum.evaluation.summary import (
    keyshot_summary,
    knapsack,
    shot_scores,
    step_to_frame_scores,
    summarize_video,
)


def test_step_to_frame_scores_spans_and_leading_frames():
    frames = step_to_frame_scores(np.array([1.0, 2.0, 3.0]), np.array([2, 5, 9]), 12)
    np.testing.assert_array_equal(frames, [1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3])


@pytest.mark.parametrize(
    "scores,picks,n_frames,match",
    [
        ([1.0, 2.0], [0, 5, 9], 12, "picks: expected shape"),
        ([1.0, 2.0], [5, 5], 12, "not strictly increasing"),
        ([1.0, 2.0], [0, 12], 12, "out of range"),
        ([1.0, np.nan], [0, 5], 12, "NaN"),
        ([1.0, 2.0], [0, 5], 0, "n_frames"),
        ([[1.0, 2.0]], [0, 5], 12, "1-d"),
        ([], [], 12, "no steps"),
    ],
)
def test_step_to_frame_scores_errors(scores, picks, n_frames, match):
    with pytest.raises(ValueError, match=match):
        step_to_frame_scores(np.array(scores), np.array(picks), n_frames)


def test_shot_scores_are_inclusive_means():
    frames = np.arange(10, dtype=float)
    cps = np.array([[0, 2], [3, 3], [4, 9]])
    np.testing.assert_allclose(shot_scores(frames, cps), [1.0, 3.0, 6.5])


@pytest.mark.parametrize(
    "cps,match",
    [
        ([[0, 2], [4, 9]], "contiguously"),
        ([[0, 2], [3, 8]], "contiguously"),
        ([[1, 9]], "contiguously"),
        ([0, 9], "n_shots, 2"),
    ],
)
def test_shot_scores_errors(cps, match):
    with pytest.raises(ValueError, match=match):
        shot_scores(np.arange(10.0), np.array(cps))


def _brute_knapsack(values, weights, capacity):
    """Best subset by enumeration; ties -> smallest indicator vector read from the last item."""
    n = len(values)
    best_value, best = None, None
    for bits in itertools.product([0, 1], repeat=n):
        x = np.array(bits, dtype=bool)
        if weights[x].sum() > capacity:
            continue
        value = values[x].sum()
        key = tuple(reversed(bits))
        if best_value is None or value > best_value or (value == best_value and key < best[0]):
            best_value, best = value, (key, x)
    return best[1]


def test_knapsack_matches_brute_force_with_ties():
    rng = np.random.default_rng(0)
    for case in range(600):
        n = int(rng.integers(0, 9))
        # small integer values make exact ties common; negatives and zeros included
        values = rng.integers(-2, 5, n).astype(float)
        weights = rng.integers(1, 7, n)
        capacity = int(rng.integers(0, 16)) if case % 5 else 0
        got = knapsack(values, weights, capacity)
        want = _brute_knapsack(values, weights, capacity)
        assert got.dtype == bool and got.shape == (n,)
        np.testing.assert_array_equal(got, want, err_msg=f"case {case}: {values} {weights} {capacity}")


def test_knapsack_float_values_optimal():
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(1, 10))
        values, weights = rng.random(n), rng.integers(1, 30, n)
        capacity = int(rng.integers(0, 60))
        got = knapsack(values, weights, capacity)
        want = _brute_knapsack(values, weights, capacity)
        assert weights[got].sum() <= capacity
        assert values[got].sum() == pytest.approx(values[want].sum(), abs=1e-12)


def test_knapsack_heavy_items_and_tie_rule():
    # item 1 is heavier than the capacity; items 0 and 2 tie: the later one is dropped first
    chosen = knapsack(np.array([1.0, 9.0, 1.0]), np.array([2, 11, 2]), 3)
    np.testing.assert_array_equal(chosen, [True, False, False])
    assert not knapsack(np.array([5.0]), np.array([4]), 0).any()
    assert knapsack(np.array([]), np.array([], dtype=int), 5).shape == (0,)


def test_knapsack_large_capacity_is_fast():
    rng = np.random.default_rng(2)
    chosen = knapsack(rng.random(200), rng.integers(1, 500, 200), 20_000)
    assert chosen.any()


@pytest.mark.parametrize(
    "values,weights,capacity,match",
    [
        ([1.0, 2.0], [1, 0], 3, "positive"),
        ([1.0, 2.0], [1, 1.5], 3, "integers"),
        ([1.0, 2.0], [1], 3, "weights: expected shape"),
        ([1.0, 2.0], [1, 1], -1, "capacity"),
        ([1.0, 2.0], [1, 1], 2.5, "capacity"),
        ([1.0, np.nan], [1, 1], 2, "NaN"),
    ],
)
def test_knapsack_errors(values, weights, capacity, match):
    with pytest.raises(ValueError, match=match):
        knapsack(np.array(values), np.array(weights), capacity)


def test_keyshot_summary_picks_best_shots_within_budget():
    n_frames = 100
    picks = np.arange(0, n_frames, 10)
    cps = np.array([[0, 9], [10, 19], [20, 49], [50, 59], [60, 99]])
    # step scores: shot 1 (frames 10-19) best, shot 3 (50-59) second, long shot 2 also high
    step = np.array([0.1, 0.9, 0.8, 0.8, 0.8, 0.7, 0.0, 0.0, 0.0, 0.0])
    summary = keyshot_summary(step, picks, cps, n_frames, proportion=0.2)
    assert summary.dtype == np.uint8 and summary.shape == (n_frames,)
    np.testing.assert_array_equal(np.flatnonzero(summary), np.r_[10:20, 50:60])
    assert summary.sum() <= int(0.2 * n_frames)
    assert keyshot_summary(step, picks, cps, n_frames, proportion=0.0).sum() == 0
    with pytest.raises(ValueError, match="proportion"):
        keyshot_summary(step, picks, cps, n_frames, proportion=1.5)


def test_summarize_video_uses_video_fields(video_factory):
    v = video_factory(n_frames=300)
    scores = np.random.default_rng(3).random(v.n_steps)
    np.testing.assert_array_equal(
        summarize_video(scores, v), keyshot_summary(scores, v.picks, v.change_points, v.n_frames, 0.15)
    )
    assert summarize_video(scores, v).sum() <= 45
