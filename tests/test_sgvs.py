import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from vidsum.data.datasets import Dataset
from vidsum.data.splits import Split
from vidsum.tuning.space import OBJECTIVES
from vidsum.models import sgvs as models
from vidsum.training import sgvs
from vidsum.training.checkpoint import load_checkpoint
from vidsum.training.loop import Runtime
from vidsum.training.fold import run_fold
from vidsum.training.methods import get_method

from conftest import make_video

TINY = dict(d_model=16, n_heads=2, n_layers=1, rec_layers=1, d_ff=32, d_joint=8, dropout=0.0, disc_d_model=16,
            disc_heads=2, disc_layers=1, disc_d_ff=32, segment_len=16, batch_segments=8, epochs=2, warmup_epochs=1,
            ramp_epochs=1, g_lr=1e-3, d_lr=1e-3, text_encoder="hashed")
TUNE_SPACES = Path(__file__).resolve().parent.parent / "tune_spaces"


@pytest.fixture(autouse=True)
def _text_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDSUM_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def videos():
    return [make_video(key=f"video_{i + 1}", n_frames=450, dim=12, seed=i) for i in range(5)]


def _cfg(**kw):
    return sgvs.SGVSConfig.from_dict({**TINY, **kw})


def _gen(semantic=True, **kw):
    torch.manual_seed(0)
    args = dict(d_feat=12, d_text=6, d_model=16, n_heads=2, n_layers=1, rec_layers=1, d_ff=32, d_joint=8, dropout=0.0,
                semantic=semantic, segment_len=16)
    return models.SGVSGenerator(**{**args, **kw})


def _batch(b=3, l=16, d=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, l, d, generator=g)
    pad = torch.zeros(b, l, dtype=torch.bool)
    pad[-1, l - 5:] = True
    x[pad] = 0
    return x, pad, torch.randn(b, 6, generator=g), torch.rand(b, l, generator=g)


def test_config_errors_and_presets():
    for kw, match in [(dict(similarity="dot"), "similarity must be"), (dict(summary_rate=1.0), "summary_rate must be in"),
                      (dict(similarity="direct"), "needs text vectors"), (dict(text_encoder="bert"), "text_encoder must be"),
                      (dict(semantic="yes"), "semantic must be true or false"), (dict(d_model=15), "not divisible"),
                      (dict(warmup_epochs=-1), "warmup_epochs must be >= 0"),
                      (dict(selection_grad="gumbel"), "selection_grad must be one of")]:
        with pytest.raises(ValueError, match=match):
            _cfg(**kw)
    with pytest.raises(ValueError, match="unknown SG-VS config key"):
        sgvs.SGVSConfig.from_dict({"lr": 1})
    with pytest.raises(ValueError, match="unknown preset"):
        sgvs.preset("huge")
    quick = sgvs.preset("quick", seed=3)
    assert quick.seed == 3 and quick.d_model < sgvs.preset("paper").d_model
    assert sgvs.SGVSConfig.from_dict(quick.to_dict()) == quick
    assert _cfg(similarity="direct", text_encoder="clip_text.npz").similarity == "direct"


def test_adversarial_weight_schedule():
    inc = _cfg(adv_weight=0.8, warmup_epochs=2, ramp_epochs=4)
    assert [sgvs.adversarial_weight(inc, e) for e in range(7)] == pytest.approx([0, 0, 0.2, 0.4, 0.6, 0.8, 0.8])
    flat = _cfg(adv_weight=0.8, incremental=False, warmup_epochs=2)
    assert sgvs.adversarial_weight(flat, 0) == 0.8


def test_generator_shapes_pads_and_straight_through():
    gen, (x, pad, text, noise) = _gen(), _batch()
    out = gen(x, text, pad, noise)
    assert out.probs.shape == (3, 16) and out.recon.shape == (3, 16, 12) and out.sim.shape == (3, 16)
    assert out.frames.shape == (3, 16, 8) and out.text.shape == (3, 8)
    assert bool((out.probs[pad] == 0).all()) and bool((out.keep[pad] == 0).all())
    assert set(out.keep.detach().unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(out.keep.detach()[~pad], (noise < out.probs.detach().clamp(1e-6, 1 - 1e-6)).float()[~pad])
    # the reconstruction loss reaches the scorer only through the sampled summary
    ((out.recon - out.target) ** 2).mean().backward()
    assert float(gen.score_head.weight.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match="noise must be"):
        gen(x, text, pad, noise[:, :3])
    with pytest.raises(ValueError, match="x must be"):
        gen.score(x[..., :5], text, pad)


def test_selection_policy_loss_raises_p_where_hiding_cost_most():
    probs = torch.full((1, 4), 0.5, requires_grad=True)
    keep = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    error = torch.tensor([[0.0, 3.0, 0.5, 0.0]])  # step 1 was hidden and rebuilt badly, step 2 well
    models.selection_policy_loss(probs, keep, error, torch.ones(1, 4, dtype=torch.bool)).backward()
    # mean error 0.875: advantages 0.875, -2.125, 0.375, 0.875; d log pi / dp = +-2 at p = 0.5
    torch.testing.assert_close(probs.grad, torch.tensor([[-0.4375, -1.0625, 0.1875, -0.4375]]))
    with pytest.raises(ValueError, match="must all be"):
        models.selection_policy_loss(probs, keep[:, :2], error, torch.ones(1, 4, dtype=torch.bool))
    gen, (x, pad, text, noise) = _gen(), _batch()
    assert not gen(x, text, pad, noise, straight_through=False).keep.requires_grad


def test_semantic_switch_really_switches():
    gen, (x, pad, text, _) = _gen(), _batch()
    p1 = gen.score(x, text, pad)[0]
    p2 = gen.score(x, -text, pad)[0]
    assert not torch.allclose(p1, p2)  # the text steers the scores
    gen.attn_scale.data.zero_()  # without the attention bias the text no longer matters
    assert torch.allclose(gen.score(x, text, pad)[0], gen.score(x, -text, pad)[0])
    with pytest.raises(ValueError, match="text vector per row"):
        gen.score(x, None, pad)
    plain = _gen(semantic=False)
    assert plain.align is None and plain.attn_scale is None
    assert not any("align" in n for n, _ in plain.named_parameters())
    assert torch.equal(plain.score(x, text, pad)[0], plain.score(x, None, pad)[0])


def test_eval_equals_train_without_dropout():
    # PyTorch's fused inference path would read the float attention bias as a boolean mask
    gen, (x, pad, text, _) = _gen(), _batch()
    train = gen.train().score(x, text, pad)[0]
    with torch.no_grad():
        evald = gen.eval().score(x, text, pad)[0]
    assert torch.isfinite(evald).all()
    torch.testing.assert_close(train.detach(), evald)


def test_direct_similarity_is_raw_cosine():
    with pytest.raises(ValueError, match="one width"):
        models.SemanticAlignment(12, 6, 8, "direct")
    with pytest.raises(ValueError, match="similarity must be one of"):
        models.SemanticAlignment(12, 12, 8, "dot")
    align = models.SemanticAlignment(12, 12, 8, "direct")
    assert not list(align.parameters())
    x, text = torch.rand(2, 5, 12), torch.rand(2, 12)
    sim, frames, t = align(torch.randn(2, 5, 12), x, text)
    torch.testing.assert_close(sim, torch.nn.functional.cosine_similarity(x, text[:, None], dim=-1))


def test_alignment_loss():
    frames = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]])  # (2, 2, 2)
    text = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    valid = torch.ones(2, 2, dtype=torch.bool)
    ids = torch.tensor([0, 1])
    good = models.alignment_loss(frames, text, torch.tensor([[1.0, 0.0], [1.0, 0.0]]), valid, ids)
    bad = models.alignment_loss(frames, text, torch.tensor([[0.0, 1.0], [0.0, 1.0]]), valid, ids)
    assert good < 0.01 < 5 < bad  # the summary that matches its own text wins
    assert float(models.alignment_loss(frames, text, torch.ones(2, 2), valid, torch.tensor([4, 4]))) == 0.0
    with pytest.raises(ValueError, match="text_ids"):
        models.alignment_loss(frames, text, torch.ones(2, 2), valid, torch.tensor([0]))


def test_length_loss_and_adversarial_losses():
    probs = torch.tensor([[0.5, 0.1, 0.0], [0.2, 0.2, 0.2]])
    valid = torch.tensor([[True, True, False], [True, True, True]])
    assert float(models.length_loss(probs, valid, 0.2)) == pytest.approx(((0.3 - 0.2) ** 2 + 0) / 2)
    with pytest.raises(ValueError, match="rate must be in"):
        models.length_loss(probs, valid, 0.0)
    disc = models.SGVSDiscriminator(d_feat=12, d_model=16, n_heads=2, n_layers=1, d_ff=32)
    x, pad, _, _ = _batch()
    assert disc(x, pad).shape == (3,)
    confident = models.discriminator_loss(torch.tensor([9.0]), torch.tensor([-9.0]))
    fooled = models.discriminator_loss(torch.tensor([-9.0]), torch.tensor([9.0]))
    assert float(confident) < 0.01 < 10 < float(fooled)
    assert float(models.generator_adversarial_loss(torch.tensor([9.0]))) < 0.01


def _players():
    gen, disc = _gen(), models.SGVSDiscriminator(d_feat=12, d_model=16, n_heads=2, n_layers=1, d_ff=32, dropout=0.0)
    return gen, disc, torch.optim.AdamW(gen.parameters(), lr=1e-2), torch.optim.AdamW(disc.parameters(), lr=1e-2)


def test_gan_step_changes_both_players():
    gen, disc, g_opt, d_opt = _players()
    before_g, before_d = copy.deepcopy(gen.state_dict()), copy.deepcopy(disc.state_dict())
    x, pad, text, noise = _batch()
    stats = sgvs.gan_step(gen, disc, g_opt, d_opt, _cfg(), x, pad, text, torch.tensor([0, 1, 2]), noise, 0.5)
    assert {"loss", "rec_loss", "adv_loss", "len_loss", "align_loss", "d_loss", "d_real", "d_fake", "mean_p"} <= set(stats)
    assert all(math.isfinite(v) for v in stats.values())
    for before, after in ((before_g, gen.state_dict()), (before_d, disc.state_dict())):
        assert any(not torch.equal(before[k], after[k]) for k in before if before[k].is_floating_point())


@pytest.mark.parametrize("w_adv, same", [(0.0, True), (0.5, False)])
def test_adversary_reaches_generator_only_with_weight(w_adv, same):
    # two discriminators with different weights: the generator update depends on D iff w_adv > 0
    results = []
    for d_seed in (1, 2):
        gen, disc, g_opt, d_opt = _players()
        torch.manual_seed(d_seed)
        for p in disc.parameters():
            p.data.normal_()
        x, pad, text, noise = _batch()
        sgvs.gan_step(gen, disc, g_opt, d_opt, _cfg(), x, pad, text, torch.tensor([0, 1, 2]), noise, w_adv)
        results.append(gen.score_head.weight.detach().clone())
    assert torch.equal(results[0], results[1]) is same


def test_train_sgvs_history_best_texts_and_determinism(videos):
    run = lambda: sgvs.train_sgvs(_cfg(), videos[:3], val_videos=videos[3:4], test_videos=videos[4:], dataset="summe")  # noqa: E731
    gen, hist, best = run()
    assert [r["epoch"] for r in hist] == [0, 1] and all(math.isfinite(r["loss"]) for r in hist)
    assert [r["adv_weight"] for r in hist] == [0.0, 0.5]  # incremental: warm-up then the ramp
    assert set(best) == {"label_free", "validation", "oracle"}
    assert 0 < best["label_free"]["value"] < 1 and best["oracle"]["epoch"] in (0, 1)
    assert set(gen.texts) == {v.key for v in videos} and gen.texts["video_1"].shape == (256,)
    _, hist2, _ = run()
    assert [r["loss"] for r in hist] == [r["loss"] for r in hist2]


@pytest.mark.parametrize("overrides", [dict(semantic=False), dict(incremental=False), dict(align_weight=0.0),
                                       dict(selection_grad="straight_through")])
def test_ablation_configs_run(videos, overrides):
    gen, hist, _ = sgvs.train_sgvs(_cfg(epochs=1, **overrides), videos[:2], dataset="summe")
    assert len(hist) == 1 and math.isfinite(hist[0]["loss"])
    assert gen.semantic is overrides.get("semantic", True)
    if overrides.get("incremental") is False:
        assert hist[0]["adv_weight"] == 0.5
    if not gen.semantic or overrides.get("align_weight") == 0.0:
        assert hist[0]["align_loss"] == 0.0
    assert (hist[0]["select_loss"] == 0.0) is (overrides.get("selection_grad") == "straight_through")
    assert sgvs.score_video(gen, videos[0]).shape == (videos[0].n_steps,)


@pytest.mark.parametrize("name", ["sgvs.yaml", "sgvs_ablation.yaml"])
def test_tune_spaces_give_valid_configs(name):
    doc = yaml.safe_load((TUNE_SPACES / name).read_text())
    assert doc["objective"] in OBJECTIVES and doc["params"]
    for pname, spec in doc["params"].items():
        values = spec["choices"] if spec["type"] == "categorical" else [spec["low"], spec["high"]]
        for value in values:
            sgvs.preset("quick", **{pname: value})
    if name == "sgvs_ablation.yaml":
        assert {p: s["choices"] for p, s in doc["params"].items()} == {"semantic": [True, False], "incremental": [True, False]}


def test_score_video_and_label_free(videos):
    gen, _, _ = sgvs.train_sgvs(_cfg(epochs=1), videos[:2], test_videos=videos[4:], dataset="summe")
    s = sgvs.score_video(gen, videos[4])
    assert s.shape == (videos[4].n_steps,) and np.all((s > 0) & (s < 1))
    with pytest.raises(KeyError, match="video_3: the generator has no text vector"):
        sgvs.score_video(gen, videos[2])
    other = sgvs.score_video(gen, videos[2], text=-gen.texts["video_1"])
    assert other.shape == (videos[2].n_steps,)
    with pytest.raises(ValueError, match="text vector must be"):
        sgvs.score_video(gen, videos[2], text=np.ones(3))
    assert 0 < sgvs.label_free_value(gen, videos[4]) < 1
    gen.eval()
    sgvs.score_video(gen, videos[4])
    assert not gen.training  # scoring leaves the mode as it found it
    gen.train()
    sgvs.label_free_value(gen, videos[4])
    assert gen.training


def test_resume_matches_uninterrupted(videos):
    full_gen, full_hist, _ = sgvs.train_sgvs(_cfg(), videos[:2], dataset="summe")
    states = []
    sgvs.train_sgvs(_cfg(epochs=1), videos[:2], Runtime(report=lambda row, state: states.append(state)), dataset="summe")
    resumed_gen, resumed_hist, _ = sgvs.train_sgvs(_cfg(), videos[:2], Runtime(resume=states[-1]), dataset="summe")
    assert [r["loss"] for r in resumed_hist] == [r["loss"] for r in full_hist]
    for k, v in full_gen.state_dict().items():
        torch.testing.assert_close(resumed_gen.state_dict()[k], v)


def test_run_sgvs_fold_rows_and_checkpoint(videos, tmp_path):
    ds = Dataset("summe", {v.key: v for v in videos}, "generated", tmp_path / "x.h5")
    split = Split(train_keys=tuple(v.key for v in videos[:4]), test_keys=(videos[4].key,))
    res = run_fold(get_method("sgvs"), _cfg(val_fraction=0.25), ds, split, fold=0, split_set="standard", checkpoint_dir=tmp_path)
    assert [r["selection"] for r in res.fold_rows] == ["label_free", "validation", "oracle", "none"]
    row = res.fold_rows[0]
    assert row["method"] == "sgvs" and row["features"] == "generated" and row["n_videos"] == 1
    assert row["tvn"] >= 1 and 0 <= row["ms"] <= 1 and 0 <= row["rauc"] <= 1 and row["wall_s"] > 0
    assert len(res.video_rows) == 4 and res.video_rows[0]["video"] == "video_5"
    assert res.selected_epochs["none"] == 1
    ck = load_checkpoint(tmp_path / "generator.pt", expect_kind="sgvs-generator")
    gen = models.SGVSGenerator.from_config(ck["model_config"])
    gen.load_state_dict(ck["model"])
    gen.texts = ck["extra"]["texts"]
    assert sgvs.score_video(gen, videos[4]).shape == (videos[4].n_steps,)
    with pytest.raises(ValueError, match="bad SG-VS generator config"):
        models.SGVSGenerator.from_config({"d_feat": 12})
