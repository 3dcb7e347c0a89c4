import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from vidsum.data.datasets import Dataset
from vidsum.data.splits import Split
from vidsum.models import drdsn as models
from vidsum.training import drdsn
from vidsum.training.checkpoint import load_checkpoint
from vidsum.training.loop import Runtime
from vidsum.training.fold import run_fold
from vidsum.training.methods import get_method

from conftest import make_video

TINY = dict(hidden=8, epochs=2, lr=1e-2, lr_step=0)


@pytest.fixture(scope="module")
def videos():
    return [make_video(key=f"video_{i + 1}", n_frames=450, dim=12, seed=i) for i in range(5)]


def _cfg(**kw):
    return drdsn.DRDSNConfig.from_dict({**TINY, **kw})


def test_config_errors_and_presets():
    for kw, match in [(dict(reward="x"), "reward must be one of"), (dict(delta=0.0), "delta must be in"),
                      (dict(n_episodes=0), "n_episodes must be >= 1"), (dict(standardize=1), "standardize must be"),
                      (dict(baseline_momentum=1.0), "baseline_momentum must be in"), (dict(lr=0), "lr must be > 0")]:
        with pytest.raises(ValueError, match=match):
            _cfg(**kw)
    with pytest.raises(ValueError, match="unknown DR-DSN config key"):
        drdsn.DRDSNConfig.from_dict({"gen_lr": 1})
    with pytest.raises(ValueError, match="unknown preset"):
        drdsn.preset("huge")
    paper = drdsn.preset("paper")
    assert (paper.hidden, paper.epochs, paper.lr, paper.n_episodes, paper.temporal_window) == (256, 60, 1e-5, 5, 20)
    assert drdsn.DRDSNConfig.from_dict(paper.to_dict()) == paper


def test_dsn_shapes_and_errors():
    dsn = models.DSN(d_feat=12, hidden=8)
    p = dsn(torch.rand(2, 30, 12))
    assert p.shape == (2, 30) and bool(((p > 0) & (p < 1)).all())
    assert models.DSN.from_config(dsn.config).config == dsn.config
    with pytest.raises(ValueError, match="x must be"):
        dsn(torch.rand(30, 12))
    with pytest.raises(ValueError, match="hidden must be a positive integer"):
        models.DSN(12, hidden=0)
    with pytest.raises(ValueError, match="exactly the keys"):
        models.DSN.from_config({"d_feat": 12})


def test_diversity_reward_by_hand():
    unit = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.6, 0.8]])
    actions = torch.tensor([[1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, 0], [1, 1, 0, 1]])
    r = models.diversity_reward(unit, actions, window=0)
    # orthogonal pair: 1; identical pair: 0; one pick: 0; three picks: mean of 1, 0.4, 0.2 (both ways)
    torch.testing.assert_close(r, torch.tensor([1.0, 0.0, 0.0, (1 + 0.4 + 0.2) / 3]))
    # with a window of 1 step the identical frames 2 steps apart count as fully dissimilar
    assert float(models.diversity_reward(unit, actions[1:2], window=1)[0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="actions must be"):
        models.diversity_reward(unit, actions[:, :3])


def test_representativeness_reward_by_hand():
    unit = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    r = models.representativeness_reward(unit, torch.tensor([[1, 1, 1], [1, 0, 0], [0, 0, 0]]))
    # all picked: every frame is its own nearest -> exp(0); one pick: frame 1 is at squared distance 2
    torch.testing.assert_close(r, torch.tensor([1.0, math.exp(-2 / 3), 0.0]))


def test_summary_reward_kinds_really_switch():
    unit = models.unit_features(torch.rand(40, 6) + 0.1)
    actions = (torch.rand(3, 40, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    d, r, dr = (models.summary_reward(unit, actions, 20, k) for k in ("d", "r", "dr"))
    torch.testing.assert_close(dr, d + r)
    assert not torch.allclose(d, r)
    with pytest.raises(ValueError, match="reward kind"):
        models.summary_reward(unit, actions, 20, "x")
    np.testing.assert_allclose(models.unit_features(torch.rand(5, 3)).norm(dim=1).numpy(), 1.0, rtol=1e-6)


def test_video_loss_gradient_and_baseline(videos):
    dsn = models.DSN(d_feat=12, hidden=8)
    feats = torch.from_numpy(videos[0].features)
    unit = models.unit_features(feats)
    loss_a, stats = drdsn.video_loss(dsn, _cfg(), feats, unit, 0.0, torch.Generator().manual_seed(0))
    loss_b, _ = drdsn.video_loss(dsn, _cfg(), feats, unit, 10.0, torch.Generator().manual_seed(0))
    assert stats["reward"] > 0 and 0 < stats["mean_p"] < 1
    assert loss_b.item() != pytest.approx(loss_a.item())  # same episodes, other baseline
    loss_a.backward()
    assert float(dsn.head.weight.grad.abs().sum()) > 0
    # a fixed budget: every episode keeps exactly round(delta * n) steps, and the policy still learns
    dsn.zero_grad()
    loss_c, stats_c = drdsn.video_loss(dsn, _cfg(rl_budget="exact", beta=0.0), feats, unit, 0.0,
                                       torch.Generator().manual_seed(0))
    assert stats_c["keep_rate"] == pytest.approx(round(0.5 * len(feats)) / len(feats))
    loss_c.backward()
    assert float(dsn.head.weight.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match="rl_budget must be"):
        _cfg(rl_budget="centred")


def test_train_drdsn_history_best_and_determinism(videos):
    run = lambda: drdsn.train_drdsn(_cfg(), videos[:3], val_videos=videos[3:4], test_videos=videos[4:])  # noqa: E731
    dsn, hist, best = run()
    assert [r["epoch"] for r in hist] == [0, 1]
    assert all(math.isfinite(r["loss"]) and r["reward"] > 0 for r in hist)
    assert set(best) == {"label_free", "validation", "oracle"} and best["label_free"]["value"] > 0
    _, hist2, _ = run()
    assert [r["loss"] for r in hist] == [r["loss"] for r in hist2]
    s = drdsn.score_video(dsn, videos[4])
    assert s.shape == (videos[4].n_steps,) and np.all((s > 0) & (s < 1))


def test_lr_step_and_batches(videos):
    _, hist, _ = drdsn.train_drdsn(_cfg(epochs=3, lr_step=2, lr_gamma=0.5, batch_videos=2), videos[:3])
    assert [r["lr"] for r in hist] == pytest.approx([1e-2, 1e-2, 5e-3])


def test_resume_matches_uninterrupted(videos):
    full, full_hist, _ = drdsn.train_drdsn(_cfg(), videos[:2])
    states = []
    drdsn.train_drdsn(_cfg(epochs=1), videos[:2], Runtime(report=lambda row, state: states.append(state)))
    resumed, resumed_hist, _ = drdsn.train_drdsn(_cfg(), videos[:2], Runtime(resume=states[-1]))
    assert [r["loss"] for r in resumed_hist] == [r["loss"] for r in full_hist]
    for k, v in full.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[k], v)


def test_run_drdsn_fold_rows_and_checkpoint(videos, tmp_path):
    ds = Dataset("summe", {v.key: v for v in videos}, "generated", tmp_path / "x.h5")
    split = Split(train_keys=tuple(v.key for v in videos[:4]), test_keys=(videos[4].key,))
    res = run_fold(get_method("drdsn"), _cfg(val_fraction=0.25), ds, split, fold=1, split_set="kfold", checkpoint_dir=tmp_path)
    assert [r["selection"] for r in res.fold_rows] == ["label_free", "validation", "oracle", "none"]
    row = res.fold_rows[-1]
    assert row["method"] == "drdsn" and row["fold"] == 1 and row["selected_epoch"] == 1
    assert row["tvn"] >= 1 and 0 <= row["ms"] <= 1 and 0 <= row["rauc"] <= 1
    assert {r["video"] for r in res.video_rows} == {"video_5"}
    ck = load_checkpoint(tmp_path / "dsn.pt", expect_kind="drdsn")
    assert ck["model_config"] == {"d_feat": 12, "hidden": 8, "n_layers": 1}


def test_tune_space_gives_valid_configs():
    doc = yaml.safe_load((Path(__file__).resolve().parent.parent / "tune_spaces" / "drdsn.yaml").read_text())
    for name, spec in doc["params"].items():
        for value in spec["choices"] if spec["type"] == "categorical" else [spec["low"], spec["high"]]:
            drdsn.preset("quick", **{name: value})


def test_advantages_per_baseline():
    reward = torch.tensor([1.70, 1.72, 1.75])
    ma = drdsn.advantages(_cfg(), reward, 0.0)  # the paper's baseline starts at 0: all "good"
    assert torch.allclose(ma, reward)
    loo = drdsn.advantages(_cfg(rl_baseline="leave_one_out"), reward, 0.0)
    assert torch.allclose(loo, torch.tensor([1.70 - 1.735, 1.72 - 1.725, 1.75 - 1.71]))
    assert abs(float(loo.sum())) < 1e-6  # only which episode was better counts
    with pytest.raises(ValueError, match="rl_baseline must be"):
        _cfg(rl_baseline="mean")
    with pytest.raises(ValueError, match="needs n_episodes >= 2"):
        _cfg(rl_baseline="leave_one_out", n_episodes=1)
