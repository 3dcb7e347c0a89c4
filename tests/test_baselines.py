import itertools
import json

import numpy as np
import pytest
from scipy import stats

from vidsum.data import annotations
from vidsum.data.eccv16 import Video
from vidsum.evaluation.baselines import (
    baseline_rows,
    human_correlation_from_annotations,
    human_f_score,
    human_pairwise_correlation,
    run_baselines_cli,
)
from vidsum.evaluation.metrics import CORR_CONVENTION

SUMMARY_KEYS = {"human_f1", "human_tau", "human_rho", "random_f1", "random_tau", "random_rho"}
STD_KEYS = {"random_f1_std", "random_tau_std", "random_rho_std"}


def video_from_annotation(a: annotations.VideoAnnotation, dataset: str) -> Video:
    """A Video with the real annotation, zero features, steps every 15 frames and 2-s shots."""
    picks = np.arange(0, a.n_frames, 15)
    shot = max(int(round(2 * a.fps)), 1)
    starts = np.arange(0, a.n_frames, shot)
    cps = np.stack([starts, np.minimum(starts + shot - 1, a.n_frames - 1)], 1)
    if dataset == "tvsum":  # a 15% summary per user: their highest-scored frames
        s = a.user_scores.astype(float)
        summary = (s >= np.quantile(s, 0.85, axis=1, keepdims=True)).astype(np.uint8)
    else:
        summary = a.user_summary
    return Video(
        key=a.key,
        features=np.zeros((len(picks), 2), np.float32),
        gtscore=np.zeros(len(picks), np.float32),
        user_summary=summary,
        change_points=cps,
        n_frame_per_seg=cps[:, 1] - cps[:, 0] + 1,
        n_frames=a.n_frames,
        picks=picks,
        user_scores=a.user_scores.astype(np.float32) if dataset == "tvsum" else None,
    )


def real_videos(dataset: str, n: int) -> dict[str, Video]:
    return {a.key: video_from_annotation(a, dataset) for a in annotations.load(dataset)[:n]}


def test_tvsum_human_correlation_reproduces_otani2019():
    res = human_correlation_from_annotations("tvsum")
    assert len(res["videos"]) == 50
    assert res["human_tau"] == pytest.approx(0.177, abs=0.003)
    assert res["human_rho"] == pytest.approx(0.204, abs=0.003)


def test_summe_human_correlation_from_annotations():
    res = human_correlation_from_annotations("summe")
    assert len(res["videos"]) == 25
    assert 0.0 < res["human_tau"] < 0.5 and 0.0 < res["human_rho"] < 0.5
    with pytest.raises(ValueError, match="unknown dataset"):
        human_correlation_from_annotations("ovp")


def test_human_pairwise_is_mean_over_ordered_pairs():
    rng = np.random.default_rng(0)
    ann = rng.integers(1, 6, (4, 50))
    pairs = list(itertools.permutations(range(4), 2))
    want_tau = np.mean([stats.kendalltau(ann[i], ann[j]).statistic for i, j in pairs])
    want_rho = np.mean([stats.spearmanr(ann[i], ann[j]).statistic for i, j in pairs])
    assert human_pairwise_correlation(ann) == pytest.approx((want_tau, want_rho), abs=1e-12)
    # a constant annotator agrees with nobody: its pairs count as 0
    const = np.vstack([ann[:2], np.full((1, 50), 3)])
    t01, r01 = stats.kendalltau(ann[0], ann[1]).statistic, stats.spearmanr(ann[0], ann[1]).statistic
    assert human_pairwise_correlation(const) == pytest.approx((t01 / 3, r01 / 3), abs=1e-12)
    with pytest.raises(ValueError, match="video_4: 2 NaN"):
        human_pairwise_correlation(np.where(np.arange(50) == 7, np.nan, ann[:2].astype(float)), "video_4")
    with pytest.raises(ValueError, match="video_3: need"):
        human_pairwise_correlation(ann[:1], "video_3")


def test_human_f_score_leave_one_out():
    users = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1]])
    # users 0 and 1 find each other (max: 1.0); user 2 matches nobody (0.0)
    assert human_f_score(users, "max") == pytest.approx(2 / 3)
    # avg: users 0/1 get (1 + 0) / 2 each, user 2 gets 0
    assert human_f_score(users, "avg") == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="video_9: leave-one-out"):
        human_f_score(users[:1], "max", "video_9")


def test_baseline_rows_tvsum_uses_user_scores():
    videos = real_videos("tvsum", 2)
    res = baseline_rows(videos, "tvsum", n_seeds=3, seed=0)
    assert SUMMARY_KEYS | STD_KEYS <= set(res)
    per_video = {r["video"]: r for r in human_correlation_from_annotations("tvsum")["videos"]}
    for row in res["videos"]:
        assert row["human_tau"] == pytest.approx(per_video[row["video"]]["human_tau"])
        assert abs(row["random_tau"]) < 0.1 and abs(row["random_rho"]) < 0.1
        assert 0.0 < row["random_f1"] < 1.0 and 0.0 < row["human_f1"] < 1.0
    assert res["human_tau"] == pytest.approx(np.mean([r["human_tau"] for r in res["videos"]]))
    assert res["random_f1_std"] > 0.0


def test_baseline_rows_deterministic_and_seeded():
    videos = real_videos("summe", 2)
    a = baseline_rows(videos, "summe", n_seeds=2, seed=0)
    assert a == baseline_rows(videos, "summe", n_seeds=2, seed=0)
    b = baseline_rows(videos, "summe", n_seeds=2, seed=1)
    assert a["random_f1"] != b["random_f1"] and a["human_f1"] == b["human_f1"]
    assert [r["video"] for r in a["videos"]] == ["video_1", "video_2"]


def test_baseline_rows_identical_annotators_agree_fully():
    v = real_videos("summe", 1)["video_1"]
    v.user_summary = np.repeat(v.user_summary[:1], 3, axis=0)
    res = baseline_rows({"video_1": v}, "summe", n_seeds=2)
    assert res["human_f1"] == 1.0 and res["human_tau"] == pytest.approx(1.0)


def test_baseline_rows_errors():
    videos = real_videos("summe", 1)
    with pytest.raises(ValueError, match="n_seeds"):
        baseline_rows(videos, "summe", n_seeds=1)
    with pytest.raises(ValueError, match="unknown dataset"):
        baseline_rows(videos, "ovp")
    with pytest.raises(ValueError, match="no videos"):
        baseline_rows({}, "summe")


def test_run_baselines_cli_json_and_table():
    videos = real_videos("summe", 2)
    obj = json.loads(run_baselines_cli(videos, "summe", as_json=True))
    assert set(obj) == SUMMARY_KEYS | STD_KEYS | {"corr_convention"}
    assert obj["corr_convention"] == CORR_CONVENTION
    text = run_baselines_cli(videos, "summe", as_json=False)
    assert "human" in text and "random" in text and f"{obj['human_tau']:.3f}" in text
