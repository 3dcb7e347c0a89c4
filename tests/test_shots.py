import itertools
import math
import time

import numpy as np
import pytest

from vidsum.shots import (
    change_points_to_segments,
    gram_matrix,
    kts,
    kts_penalty,
    segment_scatter,
    shots_from_features,
)


# ---------------------------------------------------------------- helpers written independently


def planted(rng, seg_lengths, dim, noise=0.0):
    """Piecewise-constant (n, dim) sequence + the true change points (starts of segments 2..)."""
    means = rng.normal(size=(len(seg_lengths), dim))
    x = np.repeat(means, seg_lengths, axis=0)
    x = x + noise * rng.normal(size=x.shape)
    return x, np.cumsum(seg_lengths)[:-1]


def random_lengths(rng, n_segments, low, high):
    return rng.integers(low, high + 1, size=n_segments)


def naive_scatter(k, i, j):
    """Scatter of steps i..j-1 from its definition (sum of squared distances to the mean)."""
    sub = k[i:j, i:j]
    return float(np.trace(sub) - sub.sum() / (j - i))


def naive_objective(k, cps, vmax):
    n = k.shape[0]
    bounds = [0, *cps, n]
    loss = sum(naive_scatter(k, a, b) for a, b in zip(bounds[:-1], bounds[1:]))
    m = len(cps)
    pen = 0.0 if m == 0 else vmax * m / (2 * n) * (math.log(n / m) + 1)
    return loss / n + pen


def brute_force_kts(k, vmax, max_cp=None):
    """Best change points by trying every subset of {1..n-1} (tiny n only)."""
    n = k.shape[0]
    max_cp = n - 1 if max_cp is None else max_cp
    best, best_cps = math.inf, ()
    for m in range(0, max_cp + 1):
        for cps in itertools.combinations(range(1, n), m):
            obj = naive_objective(k, cps, vmax)
            if obj < best - 1e-12:
                best, best_cps = obj, cps
    return np.array(best_cps, dtype=np.int64), best


def naive_dp_kts(k, vmax):
    """Textbook KTS DP with python loops over m, j and i (small n only)."""
    n = k.shape[0]
    inf = math.inf
    cost = [[inf] * (n + 1) for _ in range(n)]  # cost[m][j], m change points over [0, j)
    back = [[0] * (n + 1) for _ in range(n)]
    for j in range(1, n + 1):
        cost[0][j] = naive_scatter(k, 0, j)
    for m in range(1, n):
        for j in range(m + 1, n + 1):
            for i in range(m, j):
                c = cost[m - 1][i] + naive_scatter(k, i, j)
                if c < cost[m][j]:
                    cost[m][j], back[m][j] = c, i
    objs = [
        cost[m][n] / n + (0 if m == 0 else vmax * m / (2 * n) * (math.log(n / m) + 1))
        for m in range(n)
    ]
    m_best = int(np.argmin(objs))
    cps, j = [], n
    for m in range(m_best, 0, -1):
        j = back[m][j]
        cps.append(j)
    return np.array(cps[::-1], dtype=np.int64)


def cosine_gram(x):
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    return u @ u.T


# ---------------------------------------------------------------- gram / scatter / penalty


def test_gram_matrix_cosine_and_linear():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 5))
    np.testing.assert_allclose(gram_matrix(x, "linear"), x @ x.T, rtol=1e-12)
    g = gram_matrix(x, "cosine")
    np.testing.assert_allclose(g, cosine_gram(x), rtol=1e-12)
    np.testing.assert_allclose(np.diag(g), 1.0)
    x[3] = 0.0  # an all-zero step stays zero instead of producing NaN
    g = gram_matrix(x, "cosine")
    assert np.all(np.isfinite(g)) and np.all(g[3] == 0)


def test_segment_scatter_matches_definition():
    rng = np.random.default_rng(1)
    k = cosine_gram(rng.normal(size=(9, 4)))
    s = segment_scatter(k)
    assert s.shape == (10, 10)
    for i in range(10):
        for j in range(10):
            if j <= i:
                assert s[i, j] == np.inf
            else:
                assert s[i, j] == pytest.approx(naive_scatter(k, i, j), abs=1e-10)
    # a single step has no scatter
    np.testing.assert_allclose(s[np.arange(9), np.arange(1, 10)], 0, atol=1e-12)


def test_kts_penalty_values():
    assert kts_penalty(0, 10) == 0.0
    assert kts_penalty(2, 10, vmax=1.0) == pytest.approx(2 / 20 * (math.log(5) + 1))
    assert kts_penalty(3, 50, vmax=0.5) == pytest.approx(0.5 * 3 / 100 * (math.log(50 / 3) + 1))
    pens = kts_penalty(np.arange(0, 100), 100)
    # grows with m: the early stop in kts relies on it
    assert pens.shape == (100,) and np.all(np.diff(pens) > 0)


# ---------------------------------------------------------------- kts optimum


@pytest.mark.parametrize("seed", range(4))
def test_kts_matches_brute_force_tiny(seed):
    rng = np.random.default_rng(seed)
    n = 9
    x, _ = planted(rng, [3, 2, 4], dim=3, noise=0.4)
    k = cosine_gram(x)
    for vmax in (0.05, 0.3, 1.0, 3.0):
        expected, best = brute_force_kts(k, vmax)
        got = kts(x, vmax=vmax)
        assert naive_objective(k, got, vmax) == pytest.approx(best, abs=1e-10)
        np.testing.assert_array_equal(got, expected)
        # A cap on the number of change points gives the best segmentation under that cap.
        expected1, _ = brute_force_kts(k, vmax, max_cp=1)
        np.testing.assert_array_equal(kts(x, max_change_points=1, vmax=vmax), expected1)
    assert n == x.shape[0]


@pytest.mark.parametrize("seed", range(3))
def test_kts_matches_naive_dp(seed):
    rng = np.random.default_rng(100 + seed)
    x, _ = planted(rng, random_lengths(rng, 5, 2, 7), dim=6, noise=0.6)
    k = cosine_gram(x)
    for vmax in (0.2, 1.0):
        np.testing.assert_array_equal(kts(x, vmax=vmax), naive_dp_kts(k, vmax))
    # linear kernel goes through the same DP on x @ x.T
    linear = kts(x, vmax=5.0, kernel="linear")
    np.testing.assert_array_equal(linear, naive_dp_kts(x @ x.T, 5.0))


@pytest.mark.parametrize("seed,dim", [(0, 16), (1, 24), (2, 32), (3, 48), (4, 64)])
def test_kts_exact_recovery_clean(seed, dim):
    rng = np.random.default_rng(seed)
    n_segments = int(rng.integers(2, 15))
    lengths = random_lengths(rng, n_segments, 3, 60)
    x, truth = planted(rng, lengths, dim)
    np.testing.assert_array_equal(kts(x), truth)


@pytest.mark.parametrize("seed", range(4))
def test_kts_noisy_recovery_within_one_step(seed):
    rng = np.random.default_rng(10 + seed)
    dim = int(rng.choice([16, 32, 64]))
    lengths = random_lengths(rng, int(rng.integers(3, 10)), 8, 40)
    # mean norm ~ sqrt(dim); noise norm ~ 0.35 sqrt(dim): clearly separated, not clean.
    x, truth = planted(rng, lengths, dim, noise=0.35)
    got = kts(x)
    assert got.shape == truth.shape
    assert np.max(np.abs(got - truth)) <= 1


def test_kts_single_segment_has_no_change_point():
    rng = np.random.default_rng(5)
    mean = rng.normal(size=32)
    assert kts(np.tile(mean, (80, 1))).size == 0
    noisy = mean + 0.2 * rng.normal(size=(80, 32))
    assert kts(noisy).size == 0
    assert kts(noisy[:1]).size == 0  # one step: nothing to split


def test_kts_max_change_points_respected():
    rng = np.random.default_rng(6)
    x, truth = planted(rng, [10, 12, 9, 15, 11, 8], dim=16)
    assert truth.size == 5
    for cap in (0, 1, 2, 4):
        got = kts(x, max_change_points=cap)
        assert got.size <= cap
        assert set(got.tolist()) <= set(truth.tolist())  # the best few cuts are true ones
    np.testing.assert_array_equal(kts(x, max_change_points=10_000), truth)  # clipped to n - 1


def test_kts_vmax_trades_off_segments():
    rng = np.random.default_rng(7)
    x, truth = planted(rng, [20, 20, 20, 20], dim=16, noise=0.5)
    counts = [kts(x, vmax=v).size for v in (0.0, 1.0, 1e4)]
    assert counts[0] > truth.size  # no penalty: over-segments the noise
    assert counts[1] == truth.size
    assert counts[2] == 0  # huge penalty: one shot


def test_kts_reports_rounds_against_a_shrinking_bound_without_changing_the_result():
    rng = np.random.default_rng(10)
    x, truth = planted(rng, [15, 12, 18, 10, 14], dim=16, noise=0.2)
    rounds = []
    got = kts(x, on_round=lambda m, bound: rounds.append((m, bound)))
    np.testing.assert_array_equal(got, kts(x))
    np.testing.assert_array_equal(got, truth)
    done = [m for m, _ in rounds]
    bounds = [b for _, b in rounds]
    assert done == list(range(1, len(rounds) + 1)) and len(rounds) >= truth.size
    assert all(m <= b <= x.shape[0] - 1 for m, b in rounds)
    assert bounds == sorted(bounds, reverse=True)  # better objectives only ever shrink it
    assert bounds[-1] == done[-1]  # the last round knows it is the last


def test_kts_linear_kernel_sees_scale_cosine_does_not():
    rng = np.random.default_rng(8)
    direction = rng.normal(size=16)
    x = np.concatenate([np.tile(direction, (30, 1)), np.tile(4 * direction, (30, 1))])
    assert kts(x, kernel="cosine").size == 0
    np.testing.assert_array_equal(kts(x, kernel="linear"), [30])


def test_kts_is_vectorized_for_long_sequences():
    rng = np.random.default_rng(9)
    x, truth = planted(rng, random_lengths(rng, 40, 20, 55), dim=64, noise=0.1)
    start = time.perf_counter()
    got = kts(x.astype(np.float32))
    elapsed = time.perf_counter() - start
    np.testing.assert_array_equal(got, truth)
    assert elapsed < 10.0, f"kts on n={x.shape[0]} took {elapsed:.1f}s"
    assert got.dtype == np.int64


@pytest.mark.parametrize(
    "features,kwargs,match",
    [
        (np.zeros(10), {}, "2-d"),
        (np.zeros((0, 4)), {}, "no steps"),
        (np.zeros((5, 0)), {}, "dimension D is 0"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), {}, "1 NaN/inf"),
        (np.array([["a", "b"]]), {}, "real numeric"),
        (np.ones((5, 2)), {"kernel": "rbf"}, "kernel"),
        (np.ones((5, 2)), {"vmax": -1.0}, "vmax"),
        (np.ones((5, 2)), {"vmax": float("nan")}, "vmax"),
        (np.ones((5, 2)), {"vmax": "1"}, "vmax"),
        (np.ones((5, 2)), {"max_change_points": -1}, "max_change_points"),
        (np.ones((5, 2)), {"max_change_points": 2.5}, "max_change_points"),
    ],
)
def test_kts_bad_inputs(features, kwargs, match):
    with pytest.raises(ValueError, match=match):
        kts(features, **kwargs)


# ---------------------------------------------------------------- frames


def test_change_points_to_segments_cover_all_frames(video_factory):
    picks = np.arange(0, 100, 15)  # 7 steps, frames 0..99
    shots, nfps = change_points_to_segments(np.array([2, 5]), 7, picks, 100)
    np.testing.assert_array_equal(shots, [[0, 29], [30, 74], [75, 99]])
    np.testing.assert_array_equal(nfps, [30, 45, 25])
    assert shots.dtype == np.int64 and nfps.dtype == np.int64
    shots, nfps = change_points_to_segments(np.array([], dtype=float), 7, picks, 100)
    np.testing.assert_array_equal(shots, [[0, 99]])
    np.testing.assert_array_equal(nfps, [100])
    # picks that do not start at frame 0 still give shots that start at 0; the result passes the
    # eccv16 schema check.
    rng = np.random.default_rng(11)
    video = video_factory(n_frames=310, step=15)
    picks = video.picks + 3
    for _ in range(5):
        cps = np.sort(rng.choice(np.arange(1, video.n_steps), 4, replace=False))
        shots, nfps = change_points_to_segments(cps, video.n_steps, picks, 310)
        assert shots[0, 0] == 0 and shots[-1, 1] == 309 and nfps.sum() == 310
        np.testing.assert_array_equal(shots[1:, 0], picks[cps])
        video.change_points, video.n_frame_per_seg = shots, nfps
        assert video.problems() == []


@pytest.mark.parametrize(
    "cps,n_steps,picks,n_frames,match",
    [
        ([1, 2], 0, [0], 10, "n_steps"),
        ([1, 2], 3, [0, 3, 6], 0, "n_frames"),
        ([[1]], 3, [0, 3, 6], 10, "change_points: expected a 1-d"),
        ([1.0], 3, [0, 3, 6], 10, "change_points: expected integers"),
        ([0, 2], 3, [0, 3, 6], 10, "change_points: out of range"),
        ([3], 3, [0, 3, 6], 10, "change_points: out of range"),
        ([2, 1], 3, [0, 3, 6], 10, "change_points: not strictly increasing"),
        ([1], 3, [0, 3], 10, r"picks: expected \(3,\)"),
        ([1], 3, [0, 3, 10], 10, "picks: out of range"),
        ([1], 3, [0, 3, 3], 10, "picks: not strictly increasing"),
    ],
)
def test_change_points_to_segments_bad_inputs(cps, n_steps, picks, n_frames, match):
    with pytest.raises(ValueError, match=match):
        change_points_to_segments(np.array(cps), n_steps, np.array(picks), n_frames)


def test_shots_from_features_end_to_end():
    rng = np.random.default_rng(12)
    x, truth = planted(rng, [12, 7, 20, 9], dim=32, noise=0.05)
    picks = np.arange(x.shape[0]) * 15
    n_frames = int(picks[-1]) + 10
    shots, nfps = shots_from_features(x, picks, n_frames, vmax=1.0)
    np.testing.assert_array_equal(shots[1:, 0], truth * 15)
    assert shots[-1, 1] == n_frames - 1 and nfps.sum() == n_frames
    with pytest.raises(ValueError, match="max_change_points"):
        shots_from_features(x, picks, n_frames, max_change_points=-2)
    with pytest.raises(ValueError, match="picks"):
        shots_from_features(x, picks[:-1], n_frames)
    with pytest.raises(ValueError, match="features"):
        shots_from_features(x[:, 0], picks, n_frames)
