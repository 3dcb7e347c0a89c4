import numpy as np
import pytest
from scipy import stats

from vidsum.data.eccv16 import Video
from vidsum.evaluation import metrics
from vidsum.evaluation.metrics import (
    CORR_CONVENTION,
    F_REDUCE,
    evaluate,
    evaluate_video,
    f_score,
    rank_correlation,
)


def scored_video(key="video_1", n_frames=600, n_users=4, seed=0, with_scores=True) -> Video:
    """A tiny video whose users share a smooth importance curve (features are zeros)."""
    rng = np.random.default_rng(seed)
    picks = np.arange(0, n_frames, 15)
    cps = np.stack([np.arange(0, n_frames, 60), np.arange(59, n_frames, 60)], 1)
    curve = np.sin(np.arange(n_frames) / 40.0)
    noisy = curve + 0.5 * rng.standard_normal((n_users, n_frames))
    user_scores = np.digitize(noisy, [-0.6, -0.2, 0.2, 0.6]).astype(np.float32) + 1  # 1..5
    user_summary = (noisy > np.quantile(noisy, 0.85, axis=1, keepdims=True)).astype(np.uint8)
    return Video(
        key=key,
        features=np.zeros((len(picks), 4), np.float32),
        gtscore=curve[picks].astype(np.float32),
        user_summary=user_summary,
        change_points=cps,
        n_frame_per_seg=cps[:, 1] - cps[:, 0] + 1,
        n_frames=n_frames,
        picks=picks,
        user_scores=user_scores if with_scores else None,
    )


def test_f_score_max_and_avg():
    machine = np.array([1, 1, 0, 0])
    users = np.array([[1, 0, 0, 0], [1, 1, 0, 0]])
    assert f_score(machine, users, "max") == pytest.approx((1.0, 1.0, 1.0))
    f1, p, r = f_score(machine, users, "avg")
    assert (f1, p, r) == pytest.approx(((2 / 3 + 1) / 2, 0.75, 1.0))
    # max reports the P/R of the best user, not the best P and best R separately
    f1, p, r = f_score(np.array([1, 1, 1, 0]), np.array([[1, 0, 0, 0], [0, 1, 1, 1]]), "max")
    assert (f1, p, r) == pytest.approx((2 * (2 / 3) * (2 / 3) / (4 / 3), 2 / 3, 2 / 3))
    assert f_score(np.zeros(4), users, "avg") == (0.0, 0.0, 0.0)
    assert f_score(machine, np.zeros((2, 4)), "max") == (0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    "machine,users,reduce,match",
    [
        (np.ones(4), np.ones((2, 4)), "mean", "reduce"),
        (np.ones(3), np.ones((2, 4)), "max", "machine summary"),
        (np.ones(4), np.ones(4), "max", "user_summary"),
        (np.ones(4), np.ones((0, 4)), "max", "user_summary"),
    ],
)
def test_f_score_errors(machine, users, reduce, match):
    with pytest.raises(ValueError, match=match):
        f_score(machine, users, reduce)


def _scipy_mean(x, ann):
    taus = [stats.kendalltau(x, a).statistic for a in ann]
    rhos = [stats.spearmanr(x, a).statistic for a in ann]
    return float(np.mean(np.nan_to_num(taus))), float(np.mean(np.nan_to_num(rhos)))


@pytest.mark.filterwarnings("ignore::scipy.stats.ConstantInputWarning")
def test_rank_correlation_equals_scipy_with_ties_and_constants(monkeypatch):
    rng = np.random.default_rng(0)
    for case in range(150):
        n = int(rng.integers(2, 80))
        x = rng.random(n) if case % 3 == 0 else rng.integers(0, rng.integers(1, 6), n).astype(float)
        ann = rng.integers(0, rng.integers(1, 6), (3, n))
        want = _scipy_mean(x, ann)
        assert rank_correlation(x, ann) == pytest.approx(want, abs=1e-12)
    # wide integer ranges (sorted codes), negative ints, integral floats and bool annotations
    for x, ann in [
        (rng.integers(-3000, 3000, 60).astype(float), rng.integers(0, 5000, (2, 60))),
        (rng.integers(-5, 5, 60), rng.random((2, 60)) > 0.5),
        (rng.random(60), rng.integers(-2, 3, (2, 60)).astype(np.float32)),
    ]:
        assert rank_correlation(x, ann) == pytest.approx(_scipy_mean(x, ann), abs=1e-12)
    # the scipy fallback for large tables gives the same numbers
    monkeypatch.setattr(metrics, "_MAX_TABLE_CELLS", 0)
    x, ann = rng.random(200), rng.integers(1, 6, (3, 200))
    assert rank_correlation(x, ann) == pytest.approx(_scipy_mean(x, ann), abs=1e-12)


def test_rank_correlation_known_values():
    ann = np.array([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]])
    x = np.arange(5.0)
    assert rank_correlation(x, ann[:1]) == pytest.approx((1.0, 1.0))
    assert rank_correlation(x, ann) == pytest.approx((0.0, 0.0))
    # a constant prediction is undefined for scipy (nan): counted as 0
    assert rank_correlation(np.ones(5), ann[:1]) == (0.0, 0.0)


@pytest.mark.parametrize(
    "x,ann,match",
    [
        (np.arange(4.0), np.ones((2, 5)), "frame_scores"),
        (np.arange(5.0), np.ones(5), "annotations"),
        (np.array([0, 1, np.nan, 2, 3]), np.ones((2, 5)), "NaN"),
        (np.zeros(1), np.ones((2, 1)), "at least 2"),
        (np.arange(3.0), np.array([[1.0, np.inf, 2.0]]), "annotations: 1 NaN"),
    ],
)
def test_rank_correlation_errors(x, ann, match):
    with pytest.raises(ValueError, match=match):
        rank_correlation(x, ann)


def test_constants():
    assert F_REDUCE == {"summe": "max", "tvsum": "avg"}
    assert CORR_CONVENTION.startswith("otani2019") and "tau-b" in CORR_CONVENTION


def test_evaluate_video_good_scores_beat_noise():
    v = scored_video()
    good = evaluate_video(v.gtscore, v, "tvsum")
    noise = evaluate_video(np.random.default_rng(1).random(v.n_steps), v, "tvsum")
    assert set(good) == {"f1", "precision", "recall", "kendall_tau", "spearman_rho"}
    for k in ("f1", "precision", "recall"):
        assert 0.0 <= good[k] <= 1.0
    assert good["kendall_tau"] > 0.3 and good["spearman_rho"] > 0.4
    assert abs(noise["kendall_tau"]) < 0.15
    assert good["f1"] > noise["f1"]


def test_evaluate_video_annotation_choice_and_reduce():
    with_scores, without = scored_video(), scored_video(with_scores=False)
    s = with_scores.gtscore
    frames = metrics.step_to_frame_scores(s, with_scores.picks, with_scores.n_frames)
    tau_scores, _ = rank_correlation(frames, with_scores.user_scores)
    tau_summary, _ = rank_correlation(frames, with_scores.user_summary)
    assert tau_scores != pytest.approx(tau_summary)
    assert evaluate_video(s, with_scores, "tvsum")["kendall_tau"] == pytest.approx(tau_scores)
    assert evaluate_video(s, without, "tvsum")["kendall_tau"] == pytest.approx(tau_summary)
    summe, forced = evaluate_video(s, without, "summe"), evaluate_video(s, without, "tvsum", reduce="max")
    assert summe["f1"] == forced["f1"] >= evaluate_video(s, without, "tvsum")["f1"]
    with pytest.raises(ValueError, match="unknown dataset"):
        evaluate_video(s, without, "ovp")


def test_evaluate_rows_and_mean():
    videos = {k: scored_video(k, seed=i) for i, k in enumerate(["video_10", "video_2", "video_1"])}
    scores = {k: v.gtscore.reshape(-1, 1) for k, v in videos.items()}  # (n_steps, 1) is accepted
    rows, mean = evaluate(scores, videos, "summe")
    assert [r["video"] for r in rows] == ["video_1", "video_2", "video_10"]
    assert mean["video"] == "mean"
    for k in ("f1", "kendall_tau", "spearman_rho"):
        assert mean[k] == pytest.approx(np.mean([r[k] for r in rows]))
    one, _ = evaluate({"video_2": videos["video_2"].gtscore}, videos, "summe")
    assert one[0] == rows[1]


def test_evaluate_errors():
    videos = {"video_1": scored_video()}
    with pytest.raises(KeyError, match="video_7"):
        evaluate({"video_7": np.zeros(40)}, videos, "tvsum")
    with pytest.raises(ValueError, match="video_1: expected 40 step scores"):
        evaluate({"video_1": np.zeros(39)}, videos, "tvsum")
    with pytest.raises(ValueError, match="video_1: 1 NaN"):
        evaluate({"video_1": np.r_[np.zeros(39), np.nan]}, videos, "tvsum")
    with pytest.raises(ValueError, match="no scores"):
        evaluate({}, videos, "tvsum")
    with pytest.raises(ValueError, match="unknown dataset"):
        evaluate({"video_1": np.zeros(40)}, videos, "youtube")
