import os
import re
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# fp32 on every CPU, so the tests' numbers do not depend on whether the machine runs bf16 fast
# (vidsum.training.precision; tests/test_precision.py runs the bf16 path explicitly)
os.environ.setdefault("VIDSUM_CPU_BF16", "0")

from vidsum.data.eccv16 import Video  # noqa: E402


# The smallest SG-VS model the tests train (generator, discriminator, hashed text encoder: no
# weights to load); each test adds its own epochs / batch settings.
SGVS_TINY_MODEL = dict(d_model=16, n_heads=2, n_layers=1, rec_layers=1, d_ff=32, d_joint=8, disc_d_model=16,
                       disc_heads=2, disc_layers=1, disc_d_ff=32, text_encoder="hashed")


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


# ------------------------------------------------------------------ markers: slow, ray
# Applied here, not per test, so the lists live in one place. `pytest` (CI) runs everything;
# `pytest -m "not slow and not ray"` is the quick subset (README, "Quick start").

# Fixtures that start Ray (test_distributed.py's / test_tune.py's ray_root -> start_ray_once);
# a test that uses one directly or through another fixture (spec, data_dir, ...) gets `ray`.
RAY_FIXTURES = frozenset({"ray_root"})
# Test files whose every test starts Ray (by path from the repo root). None at present:
# test_distributed.py and test_tune.py also hold tests that need no Ray.
RAY_MODULES: frozenset[str] = frozenset()
# Node ids of tests that took > 2 s (call + setup); see the file's header for how to refresh it.
SLOW_TESTS = Path(__file__).with_name("slow_tests.txt")


def read_node_ids(path: Path) -> frozenset[str]:
    """Node ids in `path`, one per line; `#` starts a comment at a line's start or after a space;
    blank lines are skipped; no file: none."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return frozenset()
    return frozenset(re.sub(r"(^|\s)#.*", "", line).strip() for line in text.splitlines()) - {""}


def mark_tests(items, slow_ids, ray_fixtures=RAY_FIXTURES, ray_modules=RAY_MODULES) -> None:
    """Add `ray` (and `slow`) to the tests that start Ray, `slow` to those whose node id is listed.

    Ids listed but not collected (renamed, deleted, or not selected this run) are ignored.
    """
    for item in items:
        starts_ray = (not ray_fixtures.isdisjoint(getattr(item, "fixturenames", ()))
                      or item.nodeid.split("::", 1)[0] in ray_modules)
        if starts_ray:
            item.add_marker(pytest.mark.ray)
        if starts_ray or item.nodeid in slow_ids:
            item.add_marker(pytest.mark.slow)


def pytest_collection_modifyitems(config, items):
    mark_tests(items, read_node_ids(SLOW_TESTS))
