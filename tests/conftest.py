import os

import numpy as np
import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# fp32 on every CPU, so the tests' numbers do not depend on whether the machine runs bf16 fast
# (vidsum.training.precision; tests/test_precision.py runs the bf16 path explicitly)
os.environ.setdefault("VIDSUM_CPU_BF16", "0")

from vidsum.data.eccv16 import Video  # noqa: E402


def make_video(key="video_1", n_frames=300, n_users=3, dim=8, step=15, shot_len=50, seed=0) -> Video:
    """A small valid Video with random features and selections (for schema/IO tests)."""
    rng = np.random.default_rng(seed)
    picks = np.arange(0, n_frames, step, dtype=np.int64)
    starts = np.arange(0, n_frames, shot_len)
    ends = np.minimum(starts + shot_len - 1, n_frames - 1)
    cps = np.stack([starts, ends], 1).astype(np.int64)
    return Video(
        key=key,
        features=rng.random((len(picks), dim), dtype=np.float32),
        gtscore=rng.random(len(picks), dtype=np.float32),
        user_summary=(rng.random((n_users, n_frames)) < 0.15).astype(np.uint8),
        change_points=cps,
        n_frame_per_seg=ends - starts + 1,
        n_frames=n_frames,
        picks=picks,
        video_name=f"name of {key}",
    )


@pytest.fixture
def video_factory():
    return make_video
