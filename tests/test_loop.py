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


def test_clip_finite_clips_and_stops_a_nan_gradient_before_the_step():
    from types import SimpleNamespace

    from vidsum.training.loop import clip_finite

    cfg = SimpleNamespace(amp=True, d_model=1024)
    w = torch.nn.Parameter(torch.ones(3))
    (w * torch.tensor([30.0, 40.0, 0.0])).sum().backward()
    assert clip_finite([w], 1.0, "x", cfg, torch.device("cpu")) == pytest.approx(50.0)
    assert float(w.grad.norm()) == pytest.approx(1.0, rel=1e-4)  # clipped in place
    w.grad = torch.tensor([1.0, float("nan"), 0.0])
    with pytest.raises(FloatingPointError, match=r"TR-SUM summarizer epoch 3: non-finite gradient norm .* fp32 on cpu"):
        clip_finite([w], 1.0, "TR-SUM summarizer epoch 3", cfg, torch.device("cpu"))


def test_a_nan_in_training_names_the_stage_instead_of_failing_at_scoring(monkeypatch):
    """A NaN gradient stops TR-SUM's stage 1 at its first step with the stage in the message."""
    from vidsum.models.common import FeatureNorm
    from vidsum.training import trsum

    monkeypatch.setattr(FeatureNorm, "forward", lambda self, x: x * float("nan"))
    vids = [make_video(key=f"video_{i + 1}", n_frames=600, dim=12, seed=i) for i in range(2)]
    cfg = trsum.TRSumConfig.from_dict(dict(d_model=16, n_heads=2, n_layers=1, d_ff=32, segment_len=16,
                                           batch_segments=8, gen_epochs=2, rl_epochs=1))
    with pytest.raises(FloatingPointError, match="TR-SUM generator epoch 0"):
        trsum.pretrain_generator(cfg, vids)
