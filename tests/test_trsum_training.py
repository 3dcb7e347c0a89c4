import copy

import numpy as np
import pytest
import torch

from vidsum.models.trsum import Generator
from vidsum.training import trsum
from vidsum.training.checkpoint import load_checkpoint, save_checkpoint
from vidsum.training.loop import Runtime

from conftest import make_video

TINY = dict(d_model=32, n_heads=4, n_layers=1, d_ff=64, segment_len=16, batch_segments=8,
            gen_epochs=3, rl_epochs=3, gen_lr=1e-3, rl_lr=1e-3)


@pytest.fixture(scope="module")
def videos():
    return [make_video(key=f"video_{i + 1}", n_frames=900, dim=12, seed=i) for i in range(5)]


def _cfg(**kw):
    return trsum.TRSumConfig.from_dict({**TINY, **kw})


def _same_state(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_config_errors():
    with pytest.raises(ValueError, match="mask_ratio must be in"):
        _cfg(mask_ratio=1.5)
    with pytest.raises(ValueError, match="unknown TR-SUM config key"):
        trsum.TRSumConfig.from_dict({"lr": 1})
    with pytest.raises(ValueError, match="unknown preset"):
        trsum.preset("huge")
    with pytest.raises(ValueError, match="not divisible"):
        _cfg(d_model=30)
    assert trsum.preset("paper").d_model == 1024 and trsum.preset("paper").gen_epochs == 250
    with pytest.raises(ValueError, match="rl_baseline must be"):
        _cfg(rl_baseline="mean")
    with pytest.raises(ValueError, match="needs n_episodes >= 2"):
        _cfg(rl_baseline="leave_one_out", n_episodes=1)
    assert trsum.preset("paper").rl_baseline == "moving_average"


def test_advantages_per_baseline():
    reward = torch.tensor([[0.2, 0.6], [0.4, 0.6], [0.9, 0.3]])  # (N=3 episodes, B=2 segments)
    loo = trsum._advantages(_cfg(rl_baseline="leave_one_out"), reward, torch.full((2,), 99.0))
    # each episode against the mean of the other two of its segment; the baseline argument is unused
    assert torch.allclose(loo[:, 0], torch.tensor([0.2 - 0.65, 0.4 - 0.55, 0.9 - 0.3]))
    assert torch.allclose(loo[:, 1], torch.tensor([0.6 - 0.45, 0.6 - 0.45, 0.3 - 0.6]))
    ma = trsum._advantages(_cfg(rl_baseline="moving_average"), reward, torch.tensor([0.5, 0.1]))
    assert torch.allclose(ma, reward - torch.tensor([[0.5, 0.1]]))


def test_segment_bank_covers_both_views(videos):
    bank = trsum.build_segment_bank(videos[:2], 16)
    n_valid = int((~bank.pad).sum())
    assert n_valid == 2 * sum(v.n_steps for v in videos[:2])  # every step once per view
    assert bank.x.shape[1:] == (16, 12) and bool((bank.shot_ids[bank.pad] == -1).all())
    assert bool((bank.shot_ids[~bank.pad] >= 0).all())


@pytest.mark.parametrize("mode", ["dynamic", "random", "fixed"])
def test_generator_loss_decreases(videos, mode):
    gen, hist = trsum.pretrain_generator(_cfg(mask_mode=mode, gen_epochs=6), videos)
    assert isinstance(gen, Generator) and len(hist) == 6
    assert hist[-1]["loss"] < hist[0]["loss"]


def test_rl_batch_loss_shapes_and_gradient(videos):
    cfg = _cfg(n_episodes=5)
    gen = Generator(d_feat=12, d_model=32, n_heads=4, n_layers=1, d_ff=64).eval()
    summ = trsum.Summarizer.from_generator(gen)
    bank = trsum.build_segment_bank(videos[:2], 16)
    x, pad = bank.x[:6], bank.pad[:6]
    loss, stats = trsum.rl_batch_loss(summ, gen, cfg, x, pad, torch.zeros(6), torch.Generator().manual_seed(0))
    assert stats["reward"].shape == (5, 6) and stats["mean_p"].shape == (6,)
    assert bool(((stats["reward"] > 0) & (stats["reward"] < 1)).all())
    loss.backward()
    grads = [p.grad for p in summ.parameters() if p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)
    assert all(p.grad is None for p in gen.parameters())  # generator stays frozen


def test_selection_reward_keeps_the_top_scored_steps(videos, monkeypatch):
    gen = Generator(d_feat=12, d_model=32, n_heads=4, n_layers=1, d_ff=64).eval()
    summ = trsum.Summarizer.from_generator(gen)
    video = videos[0]
    scores = np.linspace(0, 1, video.n_steps)  # later steps score higher
    monkeypatch.setattr(trsum, "score_video", lambda *a, **k: scores)
    k = round(0.3 * video.n_steps)
    keep = torch.zeros(video.n_steps, dtype=torch.bool)
    keep[-k:] = True
    got = trsum.selection_reward(summ, gen, video, 16, keep_fraction=0.3)
    assert got == pytest.approx(trsum._rebuild_reward(gen, video, keep, 16))
    assert got != pytest.approx(trsum._rebuild_reward(gen, video, keep.flip(0), 16))  # the scores decide
    # everything kept: nothing to rebuild, L_rec 0, reward sigmoid(0)
    assert trsum.selection_reward(summ, gen, video, 16, keep_fraction=1.0) == pytest.approx(0.5)


def test_length_term_pulls_mean_p_toward_delta(videos):
    gen, _ = trsum.pretrain_generator(_cfg(gen_epochs=1), videos)
    # With beta large the length term dominates: mean p must move toward delta=0.2.
    summ, hist, _ = trsum.train_summarizer(_cfg(rl_epochs=6, beta=50.0, delta=0.2, rl_lr=3e-3), videos, gen)
    assert hist[-1]["mean_p"] < hist[0]["mean_p"] and abs(hist[-1]["mean_p"] - 0.2) < abs(hist[0]["mean_p"] - 0.2)


def test_score_video_shape_and_range(videos):
    gen, _ = trsum.pretrain_generator(_cfg(gen_epochs=1), videos)
    summ = trsum.Summarizer.from_generator(gen)
    s = trsum.score_video(summ, videos[0], 16)
    assert s.shape == (videos[0].n_steps,) and np.all((s > 0) & (s < 1))


def test_deterministic_on_cpu(videos):
    g1, h1 = trsum.pretrain_generator(_cfg(), videos)
    g2, h2 = trsum.pretrain_generator(_cfg(), videos)
    assert _same_state(g1.state_dict(), g2.state_dict()) and h1[-1]["loss"] == h2[-1]["loss"]
    s1, r1, _ = trsum.train_summarizer(_cfg(), videos, g1)
    s2, r2, _ = trsum.train_summarizer(_cfg(), videos, g1)
    assert _same_state(s1.state_dict(), s2.state_dict()) and r1[-1]["reward"] == r2[-1]["reward"]


def test_selection_rules_report_best_epochs(videos):
    gen, _ = trsum.pretrain_generator(_cfg(gen_epochs=1), videos[:3])
    _, hist, best = trsum.train_summarizer(_cfg(), videos[:3], gen, val_videos=[videos[3]], test_videos=[videos[4]])
    assert set(best) == {"label_free", "validation", "oracle"}
    for rule, b in best.items():
        assert b["value"] == max(h[f"sel_{rule}"] for h in hist)


def test_resume_matches_uninterrupted_run(videos, tmp_path):
    """Stop after epoch 1 (checkpoint on disk), resume, and land on the same weights."""
    cfg = _cfg(gen_epochs=4, rl_epochs=4)
    full_gen, full_hist = trsum.pretrain_generator(cfg, videos)
    saved = {}

    def report(metrics, state):
        if state["epoch"] == 1:
            save_checkpoint(tmp_path / "gen.pt", copy.deepcopy(state))
            saved["ok"] = True

    trsum.pretrain_generator(cfg, videos, Runtime(report=report))
    state = load_checkpoint(tmp_path / "gen.pt", expect_kind="trsum-generator")
    resumed_gen, resumed_hist = trsum.pretrain_generator(cfg, videos, Runtime(resume=state))
    assert _same_state(full_gen.state_dict(), resumed_gen.state_dict())
    assert [h["loss"] for h in resumed_hist] == [h["loss"] for h in full_hist]

    full_summ, full_rl, _ = trsum.train_summarizer(cfg, videos, full_gen)
    states = []
    trsum.train_summarizer(cfg, videos, full_gen, Runtime(report=lambda m, s: states.append(copy.deepcopy(s))))
    save_checkpoint(tmp_path / "summ.pt", states[1])
    resumed, resumed_rl, _ = trsum.train_summarizer(
        cfg, videos, full_gen, Runtime(resume=load_checkpoint(tmp_path / "summ.pt", "trsum-summarizer")))
    assert _same_state(full_summ.state_dict(), resumed.state_dict())
    assert [h["reward"] for h in resumed_rl] == [h["reward"] for h in full_rl]


def test_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a vidsum checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    save_checkpoint(tmp_path / "g.pt", {"kind": "trsum-generator", "model": {}})
    with pytest.raises(ValueError, match="expected 'trsum-summarizer'"):
        load_checkpoint(tmp_path / "g.pt", expect_kind="trsum-summarizer")


class _BackgroundGenerator(Generator):
    """A frozen 'generator' that rebuilds every step as the background vector: a hidden event step
    costs a large error, a hidden background step almost none, so the stage-2 reward prefers
    summaries that keep the events."""

    def __init__(self, background: torch.Tensor, **kw):
        super().__init__(**kw)
        self.register_buffer("background", background)

    def forward(self, x, mask=None, key_padding_mask=None, hidden=None, at=None):
        out = self.background.expand_as(x).clone()
        return out if at is None else out[at]

    def episode_losses(self, x, hidden, key_padding_mask):  # the stage-2 reward's entry point
        from vidsum.models.trsum import summary_reconstruction_loss

        recon = self(x)
        return torch.stack([summary_reconstruction_loss(recon, self.target(x), h, ~key_padding_mask) for h in hidden])


@pytest.mark.parametrize("baseline", ["moving_average", "leave_one_out"])
def test_reinforce_learns_what_the_reward_prefers(baseline):
    rng = np.random.default_rng(0)
    dim = 12
    background, event = rng.normal(size=dim), rng.normal(size=dim)
    videos, is_event = [], []
    for i in range(8):
        v = make_video(key=f"video_{i + 1}", n_frames=1800, dim=dim, seed=i)
        ev = rng.random(v.n_steps) < 0.25
        v.features[:] = np.where(ev[:, None], event, background) + 0.05 * rng.normal(size=v.features.shape)
        videos.append(v)
        is_event.append(ev)
    torch.manual_seed(0)
    gen = _BackgroundGenerator(torch.tensor(background, dtype=torch.float32), d_feat=dim, d_model=32, n_heads=4,
                               n_layers=1, d_ff=64, dropout=0.0)
    # A strong length term holds mean p near delta = 0.3, about the share of event steps (25%),
    # so the summarizer cannot keep everything and has to choose.
    cfg = _cfg(rl_epochs=10, rl_lr=3e-3, beta=0.5, delta=0.3, n_episodes=8, rl_baseline=baseline)

    def gap(summ):  # mean score of event steps minus mean score of background steps
        scores = [trsum.score_video(summ, v, cfg.segment_len) for v in videos]
        return float(np.mean([s[e].mean() - s[~e].mean() for s, e in zip(scores, is_event)]))

    untrained = trsum.Summarizer.from_generator(gen)
    summ, _, _ = trsum.train_summarizer(cfg, videos, gen)
    # The summarizer starts with whatever preference its initial weights give; REINFORCE must
    # move it clearly toward the events (a flipped advantage sign would move it away).
    assert gap(summ) > 0.2 and gap(summ) - gap(untrained) > 0.2


def test_keep_rate_drifts_with_a_weak_length_term_and_holds_with_a_strong_one():
    """The summary reward grows with the number of kept steps (kept steps cost nothing), so
    REINFORCE raises every keep probability unless the length term outweighs that pull: with the
    quick preset's beta = 0.01 the mean keep probability leaves delta = 0.5 within a few epochs;
    with beta = 1 it stays within 0.05 of delta every epoch."""
    vids = [make_video(key=f"video_{i + 1}", n_frames=900, dim=12, seed=i) for i in range(4)]
    mean_p = {}
    for beta in (0.01, 1.0):
        cfg = _cfg(d_model=16, n_heads=2, d_ff=32, gen_epochs=3, rl_epochs=6, dropout=0.0, beta=beta,
                   rl_baseline="leave_one_out")
        gen, _ = trsum.pretrain_generator(cfg, vids)
        _, hist, _ = trsum.train_summarizer(cfg, vids, gen)
        mean_p[beta] = [r["mean_p"] for r in hist]
    assert mean_p[0.01][-1] > 0.6  # drifted (measured 0.675)
    assert max(abs(p - 0.5) for p in mean_p[1.0]) <= 0.05  # held (measured within 0.034)
    # a centred policy holds it with the weak length term: no gradient can shift a segment's keep rate
    cfg = _cfg(d_model=16, n_heads=2, d_ff=32, gen_epochs=3, rl_epochs=6, dropout=0.0, beta=0.01,
               rl_baseline="leave_one_out", rl_budget="centred")
    gen, _ = trsum.pretrain_generator(cfg, vids)
    _, hist, _ = trsum.train_summarizer(cfg, vids, gen)
    assert max(abs(r["mean_p"] - 0.5) for r in hist) <= 0.05
    # a fixed budget keeps exactly round(delta * L) steps of every segment in every episode (only
    # the rounding of short last segments moves the rate off delta: measured 0.017)
    cfg = _cfg(d_model=16, n_heads=2, d_ff=32, gen_epochs=3, rl_epochs=6, dropout=0.0, beta=0.0,
               rl_baseline="leave_one_out", rl_budget="exact")
    gen, _ = trsum.pretrain_generator(cfg, vids)
    _, hist, _ = trsum.train_summarizer(cfg, vids, gen)
    assert max(abs(r["keep_rate"] - 0.5) for r in hist) <= 0.02


def test_centred_policy_keeps_order_and_budget_and_ignores_shifts():
    probs = torch.tensor([[0.2, 0.6, 0.9, 0.5], [0.7, 0.7, 0.7, 0.1]], requires_grad=True)
    valid = torch.tensor([[True, True, True, True], [True, True, True, False]])
    out = trsum.centred_policy(probs, valid, 0.3)
    assert torch.equal(out[0].argsort(), probs[0].argsort())  # same order
    assert torch.allclose(out[1, :3], torch.full((3,), 0.3))  # equal logits: exactly delta
    # the gradient of the row's mean keep rate along a common shift of its logits is zero
    z = torch.logit(torch.tensor([[0.2, 0.6, 0.9, 0.5]])).requires_grad_(True)
    trsum.centred_policy(torch.sigmoid(z), torch.ones(1, 4, dtype=torch.bool), 0.5).mean().backward()
    assert abs(float(z.grad.sum())) < 1e-6
    with pytest.raises(ValueError, match="rl_budget must be"):
        _cfg(rl_budget="fixed")


@pytest.mark.parametrize("mask_mode,readout", [("dynamic", "direct"), ("random", "copy")])
def test_generator_batch_loss_and_its_gradient_equal_the_plain_formulation(videos, mask_mode, readout):
    """Stage 1's fast path (the [MASK] token put in after the input projection, the read-out and
    the error at the loss positions only) computes the loss, and its gradients, of the plain one:
    token in the raw input, full output, reconstruction_loss on chosen & ~pad."""
    from vidsum.masking import apply_mask
    from vidsum.models.trsum import reconstruction_loss

    cfg = _cfg(mask_mode=mask_mode, readout=readout)
    bank = trsum.build_segment_bank(videos[:2], cfg.segment_len)
    x, pad, shots = bank.x[:6], bank.pad[:6], bank.shot_ids[:6]
    torch.manual_seed(0)
    gen = Generator(d_feat=12, d_model=32, n_heads=4, n_layers=1, d_ff=64, dropout=0.0, readout=readout)
    torch.nn.init.normal_(gen.head.weight, std=0.1)
    gen.norm.fit(bank.x[~bank.pad])
    fast = trsum.generator_batch_loss(gen, cfg, x, pad, shots, torch.Generator().manual_seed(5))
    fast.backward()
    fast_grads = {n: p.grad.clone() for n, p in gen.named_parameters()}
    gen.zero_grad()
    plan = trsum._mask_plan(cfg, shots, pad, torch.Generator().manual_seed(5))
    recon = gen(apply_mask(x, plan, gen.mask_token), key_padding_mask=pad, hidden=plan.masked)
    plain = reconstruction_loss(recon, gen.target(x), plan.chosen & ~pad)
    plain.backward()
    assert fast.item() == pytest.approx(plain.item(), rel=1e-5)
    for name, p in gen.named_parameters():
        assert torch.allclose(fast_grads[name], p.grad, rtol=1e-3, atol=1e-6), name
    assert float(fast_grads["mask_token"].abs().sum()) > 0  # the token is learned on the fast path too


def test_input_noise_perturbs_the_inputs_not_the_targets_and_follows_the_seed():
    gen = Generator(d_feat=12, d_model=8, n_heads=2, n_layers=1, d_ff=16, dropout=0.0).eval()
    gen.norm.fit(torch.rand(50, 12) * 3)
    x = torch.rand(2, 16, 12) * 3
    pad = torch.zeros(2, 16, dtype=torch.bool)
    shots = (torch.arange(16) // 4).expand(2, 16).contiguous()
    loss = lambda noise, seed: float(trsum.generator_batch_loss(  # noqa: E731
        gen, trsum.TRSumConfig(mask_mode="random", input_noise=noise), x, pad, shots, torch.Generator().manual_seed(seed)))
    assert loss(0.5, 1) == loss(0.5, 1) != loss(0.0, 1)
    assert loss(0.5, 1) != loss(0.5, 2)
    with pytest.raises(ValueError, match="input_noise must be >= 0"):
        trsum.TRSumConfig(input_noise=-0.1)
