"""vidsum.training.loop's selection helpers, shared by every method's loop."""

import numpy as np
import pytest
import torch

from conftest import make_video
from vidsum.evaluation.metrics import evaluate_video
from vidsum.training.loop import selection_values, update_best


def test_validation_tau_is_recorded_every_epoch_but_keeps_no_weights():
    videos = [make_video(f"video_{i}", seed=i) for i in range(3)]
    score = lambda v: v.gtscore.astype(float)  # noqa: E731 -- follows the annotations closely
    values = selection_values(score, lambda v, s: float(np.mean(s)), videos, None, "summe")
    expected = [evaluate_video(score(v), v, "summe") for v in videos]
    assert values["validation"] == pytest.approx(np.mean([m["f1"] for m in expected]))
    assert values["validation_tau"] == pytest.approx(np.mean([m["kendall_tau"] for m in expected]))
    best, row = {}, {}
    update_best(best, values, 0, torch.nn.Linear(2, 1), row)
    assert row["sel_validation_tau"] == values["validation_tau"] and "sel_validation" in row
    assert set(best) == {"label_free", "validation"}  # a selection rule's weights only
