import numpy as np
import pytest
import torch

from vidsum.segments import (
    SegmentBatch,
    batch_segments,
    dilated_segments,
    gather_segments,
    make_segments,
    scatter_mean,
    sequential_segments,
    step_shot_ids,
)


def _covers_each_step_once(index, n_steps):
    steps = index[index >= 0]
    return torch.equal(torch.sort(steps).values, torch.arange(n_steps))


@pytest.mark.parametrize("n_steps,L", [(1, 4), (7, 3), (12, 4), (13, 4), (200, 64), (64, 64), (3, 100)])
def test_sequential_and_dilated_cover_every_step_once(n_steps, L):
    seq, dil = sequential_segments(n_steps, L), dilated_segments(n_steps, L)
    n_seg = -(-n_steps // L)
    assert seq.shape == (n_seg, L) and dil.shape == (n_seg, L)
    assert seq.dtype == torch.long and dil.dtype == torch.long
    assert _covers_each_step_once(seq, n_steps) and _covers_each_step_once(dil, n_steps)
    for index in (seq, dil):
        for row in index:  # pads only at the end of a row, steps increasing
            valid = row[row >= 0]
            assert torch.all(row[len(valid):] == -1) and torch.all(valid.diff() > 0)


def test_segment_contents():
    assert sequential_segments(7, 3).tolist() == [[0, 1, 2], [3, 4, 5], [6, -1, -1]]
    # S = ceil(7/3) = 3 rows with stride 3, each spanning the video
    assert dilated_segments(7, 3).tolist() == [[0, 3, 6], [1, 4, -1], [2, 5, -1]]
    assert torch.equal(make_segments(7, 3, "dilated"), dilated_segments(7, 3))


@pytest.mark.parametrize("args", [(0, 4), (5, 0), (-1, 3), (2.5, 3)])
def test_segments_bad_sizes(args):
    with pytest.raises(ValueError, match="positive integer"):
        sequential_segments(*args)
    with pytest.raises(ValueError, match="positive integer"):
        dilated_segments(*args)


def test_make_segments_bad_mode():
    with pytest.raises(ValueError, match="unknown segment mode"):
        make_segments(5, 2, "random")


def test_gather_segments_pads_zero_and_flagged():
    feats = torch.arange(1, 15, dtype=torch.float32).view(7, 2)
    x, kpm = gather_segments(feats, dilated_segments(7, 3))
    assert x.shape == (3, 3, 2) and kpm.dtype == torch.bool
    assert kpm.tolist() == [[False] * 3, [False, False, True], [False, False, True]]
    assert torch.equal(x[0, 1], feats[3]) and torch.equal(x[2, 1], feats[5])
    assert torch.all(x[kpm] == 0)


def test_gather_segments_errors():
    with pytest.raises(ValueError, match="features must be a 2-d"):
        gather_segments(torch.zeros(5), sequential_segments(5, 2))
    with pytest.raises(ValueError, match="index must be a 2-d long"):
        gather_segments(torch.zeros(5, 2), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="index values"):
        gather_segments(torch.zeros(5, 2), torch.tensor([[0, 5]]))


def test_scatter_mean_round_trip_and_average():
    values = torch.randn(11, generator=torch.Generator().manual_seed(0))
    for index in (sequential_segments(11, 4), dilated_segments(11, 4)):
        seg = torch.where(index >= 0, values[index.clamp(min=0)], 123.0)  # pad values must be ignored
        assert torch.allclose(scatter_mean(seg, index, 11), values)
    # overlapping rows: step 1 seen twice -> mean
    index = torch.tensor([[0, 1], [1, 2]])
    out = scatter_mean(torch.tensor([[1.0, 2.0], [4.0, 5.0]]), index, 3)
    assert out.tolist() == [1.0, 3.0, 5.0]


def test_scatter_mean_errors():
    with pytest.raises(ValueError, match="not covered"):
        scatter_mean(torch.zeros(1, 2), torch.tensor([[0, -1]]), 2)
    with pytest.raises(ValueError, match="seg_values shape"):
        scatter_mean(torch.zeros(1, 3), torch.tensor([[0, 1]]), 2)
    with pytest.raises(ValueError, match="positive integer"):
        scatter_mean(torch.zeros(1, 1), torch.tensor([[0]]), 0)


def test_step_shot_ids():
    cps = np.array([[0, 9], [10, 29], [30, 44]])
    picks = np.array([0, 5, 9, 10, 29, 30, 44])
    assert step_shot_ids(picks, cps).tolist() == [0, 0, 0, 1, 1, 2, 2]
    out = step_shot_ids(torch.tensor(picks), torch.tensor(cps))
    assert isinstance(out, np.ndarray) and out.dtype == np.int64


@pytest.mark.parametrize(
    "picks,cps,match",
    [
        (np.array([0, 50]), np.array([[0, 9], [10, 29]]), "outside every shot"),
        (np.array([[0]]), np.array([[0, 9]]), "picks must be"),
        (np.array([0]), np.array([0, 9]), "change_points must have shape"),
        (np.array([0]), np.array([[0, 9], [5, 20]]), "sorted, non-overlapping"),
    ],
)
def test_step_shot_ids_errors(picks, cps, match):
    with pytest.raises(ValueError, match=match):
        step_shot_ids(picks, cps)


def test_batch_segments_from_videos(video_factory):
    v1 = video_factory(n_frames=300, dim=4, shot_len=50)  # 20 steps, shots of 50 frames
    v2 = video_factory(key="video_2", n_frames=150, dim=4, seed=1)  # 10 steps
    for mode in ("sequential", "dilated"):
        b = batch_segments([v1, v2], 8, mode)
        assert isinstance(b, SegmentBatch)
        x, kpm, owner, index, shot_ids = b
        assert x.shape == (3 + 2, 8, 4) and owner.tolist() == [0, 0, 0, 1, 1]
        for row in range(5):
            video = (v1, v2)[int(owner[row])]
            real = index[row] >= 0
            assert torch.equal(kpm[row], ~real)
            assert torch.equal(x[row][real], torch.from_numpy(video.features)[index[row][real]])
            expect = torch.from_numpy(step_shot_ids(video.picks, video.change_points))[index[row][real]]
            assert torch.equal(shot_ids[row][real], expect) and torch.all(shot_ids[row][~real] == -1)
    # (features, shot_ids) pairs work too
    pair = (np.ones((5, 4), np.float32), np.array([0, 0, 1, 1, 1]))
    b = batch_segments([pair], 4, "sequential")
    assert b.shot_ids.tolist() == [[0, 0, 1, 1], [1, -1, -1, -1]]


def test_batch_segments_errors(video_factory):
    v = video_factory(dim=4)
    with pytest.raises(ValueError, match="no videos"):
        batch_segments([], 4, "sequential")
    with pytest.raises(ValueError, match="unknown segment mode"):
        batch_segments([v], 4, "zigzag")
    with pytest.raises(ValueError, match="feature dim"):
        batch_segments([v, video_factory(dim=6)], 4, "sequential")
    with pytest.raises(ValueError, match=r"videos\[0\] must be"):
        batch_segments([np.zeros((3, 4))], 4, "sequential")
    with pytest.raises(ValueError, match="shot_ids shape"):
        batch_segments([(np.zeros((3, 4)), np.zeros(2, np.int64))], 4, "sequential")
    with pytest.raises(ValueError, match="shot_ids must be >= 0"):
        batch_segments([(np.zeros((2, 4)), np.array([0, -1]))], 4, "sequential")
    with pytest.raises(ValueError, match="n_steps >= 1"):
        batch_segments([(np.zeros((0, 4)), np.zeros(0, np.int64))], 4, "sequential")
