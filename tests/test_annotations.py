from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from vidsum.data import annotations

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_summe_shipped_matches_published_facts():
    summe = annotations.load("summe")
    assert [a.key for a in summe] == [f"video_{i}" for i in range(1, 26)]
    users = Counter(a.user_scores.shape[0] for a in summe)
    assert users == {15: 17, 16: 2, 17: 5, 18: 1}
    frames = {a.name: a.n_frames for a in summe}
    assert min(frames.values()) == frames["Jumps"] == 950
    assert max(frames.values()) == frames["Excavators river crossing"] == 9721
    assert summe[0].name == "Air_Force_One" and summe[0].n_frames == 4494 and summe[0].fps == 25


def test_tvsum_shipped_matches_published_facts():
    tvsum = annotations.load("tvsum")
    assert len(tvsum) == 50 and tvsum[0].name == "AwmHb44_ouw" and tvsum[0].category == "VT"
    assert all(a.user_scores.shape[0] == 20 for a in tvsum)
    assert sum(a.n_frames for a in tvsum) == 352_353
    assert Counter(a.category for a in tvsum) == {c: 5 for c in annotations.TVSUM_CATEGORIES}
    assert all(a.user_scores.min() >= 1 and a.user_scores.max() <= 5 for a in tvsum)
    assert {a.fps for a in tvsum} <= {24.0, 25.0, 30.0}


def test_estimate_fps_from_runs():
    # 2-second shots at 25 fps = runs of 50 frames, with some neighbouring shots equal.
    shot_scores = np.array([[1, 3, 3, 5, 2, 4], [2, 2, 4, 1, 5, 3]])
    assert annotations.estimate_fps_from_runs(np.repeat(shot_scores, 50, axis=1)) == 25.0


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'ovp'"):
        annotations.shipped_path("ovp")


@pytest.mark.skipif(not SHARED.exists(), reason="needs ../shared/data (the official sources)")
def test_derive_reproduces_shipped(tmp_path):
    record = annotations.derive(SHARED, tmp_path)
    assert len(record["summe"]["sources"]) == 25
    for ds in annotations.DATASETS:
        with np.load(tmp_path / f"{ds}.npz") as new, np.load(annotations.shipped_path(ds)) as old:
            assert sorted(new.files) == sorted(old.files)
            for k in new.files:
                np.testing.assert_array_equal(new[k], old[k])
