import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vidsum.models import (
    Generator,
    Summarizer,
    TransformerEncoder,
    n_parameters,
    reconstruction_loss,
    reconstruction_loss_per_sample,
    sinusoidal_positions,
)
from vidsum.models.encoder import post_norm_layer

SMALL = dict(d_feat=12, d_model=16, n_heads=2, n_layers=2, d_ff=32, dropout=0.0, max_len=32)


def _small_generator(seed=0, **over):
    torch.manual_seed(seed)
    return Generator(**{**SMALL, **over})


def _batch(B=3, L=10, D=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, L, D, generator=g)
    kpm = torch.zeros(B, L, dtype=torch.bool)
    kpm[1, 7:] = True
    kpm[2, 3:] = True
    return x, kpm


def test_paper_size_parameter_counts():
    gen = Generator()  # d_feat = d_model = 1024, 8 heads, 3 layers, d_ff 4096
    assert n_parameters(gen.encoder) == 37_788_672  # design doc's measurement
    assert isinstance(gen.encoder.input_proj, torch.nn.Identity)
    assert n_parameters(gen.head) == 1024 * 1024 + 1024 and gen.mask_token.numel() == 1024
    assert n_parameters(gen) == 38_839_296
    assert n_parameters(Summarizer.from_generator(gen)) == 37_789_697
    # closed form from the encoder docstring
    d, ff, n = 1024, 4096, 3
    assert n * (4 * d * d + 4 * d + 2 * d * ff + ff + d + 4 * d) == 37_788_672


def test_sinusoidal_positions():
    table = sinusoidal_positions(50, 8)
    assert table.shape == (50, 8)
    assert torch.allclose(table[0], torch.tensor([0.0, 1.0] * 4))
    assert math.isclose(table[3, 2].item(), math.sin(3 / 10000 ** (2 / 8)), rel_tol=1e-5)
    assert math.isclose(table[3, 3].item(), math.cos(3 / 10000 ** (2 / 8)), rel_tol=1e-5)


def test_encoder_shapes_projection_and_state_dict():
    enc = TransformerEncoder(12, 16, 2, 1, 32, 0.0, 20)
    assert isinstance(enc.input_proj, torch.nn.Linear)
    x, kpm = _batch()
    assert enc(x, kpm).shape == (3, 10, 16)
    assert enc(x).shape == (3, 10, 16)
    assert not any("positions" in k for k in enc.state_dict())  # fixed table, not saved
    # positions matter: permuting the input does not just permute the output
    out = enc(x)
    assert not torch.allclose(enc(x.flip(1)).flip(1), out, atol=1e-4)


def test_encoder_ignores_pad_values_with_and_without_grad():
    enc = TransformerEncoder(12, 16, 2, 2, 32, 0.0, 20).eval()
    x, kpm = _batch()
    noisy = x.masked_fill(kpm[..., None], 1e3)
    out = enc(x, kpm)  # grad-enabled path
    with torch.no_grad():
        other = enc(noisy, kpm)
    real = ~kpm
    assert torch.allclose(out[real], other[real], atol=1e-4)


@pytest.mark.parametrize("train", [True, False])
def test_post_norm_layer_is_the_torch_layer(train):
    """The encoder runs its layers with post_norm_layer: its outputs are nn.TransformerEncoderLayer's
    own (fed the same mask flattened to (B*H, L, L)) to the bit, and every gradient to float
    rounding (the weight gradients sum the same products in another order)."""
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.0, activation="gelu", batch_first=True)
    layer.train(train)
    x = torch.randn(3, 10, 16, requires_grad=True)
    bias = torch.randn(3, 4, 10, 10)  # a different bias per row and head, as padding makes it
    grad = torch.randn(3, 10, 16)
    theirs = layer(x, src_mask=bias.reshape(12, 10, 10))
    their_grads = torch.autograd.grad(theirs, [x, *layer.parameters()], grad)
    ours = post_norm_layer(layer, x, bias)
    our_grads = torch.autograd.grad(ours, [x, *layer.parameters()], grad)
    assert torch.equal(ours, theirs)
    for a, b in zip(our_grads, their_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "args,match",
    [
        ((12, 15, 2, 1, 32, 0.0, 20), "divisible by n_heads"),
        ((12, 6, 3, 1, 12, 0.0, 20), None),  # valid: odd head dim is fine
        ((12, 9, 3, 1, 12, 0.0, 20), "even"),
        ((12, 16, 2, 0, 32, 0.0, 20), "n_layers"),
        ((12, 16, 2, 1, 32, 1.0, 20), "dropout"),
        ((0, 16, 2, 1, 32, 0.0, 20), "d_in"),
    ],
)
def test_encoder_bad_config(args, match):
    if match is None:
        TransformerEncoder(*args)
        return
    with pytest.raises(ValueError, match=match):
        TransformerEncoder(*args)


def test_encoder_bad_inputs():
    enc = TransformerEncoder(12, 16, 2, 1, 32, 0.0, 8)
    x, kpm = _batch()
    with pytest.raises(ValueError, match="x must be"):
        enc(x[..., :5])
    with pytest.raises(ValueError, match="exceeds max_len"):
        enc(x)
    x, kpm = x[:, :8], kpm[:, :8]
    with pytest.raises(ValueError, match="key_padding_mask must be bool"):
        enc(x, kpm.float())
    with pytest.raises(ValueError, match="key_padding_mask must be bool"):
        enc(x, kpm[:, :5])
    kpm[0] = True
    with pytest.raises(ValueError, match="entirely padding"):
        enc(x, kpm)


def test_generator_mask_token_and_gradients():
    gen = _small_generator()
    x, kpm = _batch()
    mask = torch.zeros(3, 10, dtype=torch.bool)
    mask[0, 2:5] = True
    recon = gen(x, mask, kpm)
    assert recon.shape == x.shape
    by_hand = x.clone()
    by_hand[0, 2:5] = gen.mask_token.detach()
    assert torch.allclose(recon, gen(by_hand, None, kpm), atol=1e-5)
    assert not torch.allclose(recon, gen(x, None, kpm), atol=1e-4)
    reconstruction_loss(recon, x, mask).backward()
    assert gen.mask_token.grad is not None and gen.mask_token.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="mask must be bool"):
        gen(x, mask.long(), kpm)


def test_generator_config_round_trip():
    gen = _small_generator()
    assert gen.config == {**SMALL, "readout": "direct"}
    assert all(type(v) in (int, float, str) for v in gen.config.values())
    clone = Generator.from_config(dict(gen.config))
    clone.load_state_dict(gen.state_dict())
    x, kpm = _batch()
    gen.eval(), clone.eval()
    assert torch.equal(gen(x, None, kpm), clone(x, None, kpm))
    with pytest.raises(ValueError, match=r"missing keys \['max_len'\]"):
        Generator.from_config({k: v for k, v in SMALL.items() if k != "max_len"})
    with pytest.raises(ValueError, match=r"unknown keys \['depth'\]"):
        Generator.from_config({**SMALL, "depth": 3})
    with pytest.raises(ValueError, match="config must be a dict"):
        Generator.from_config([1, 2])


def test_summarizer_from_generator_copies_encoder():
    gen = _small_generator(dropout=0.1)
    summ = Summarizer.from_generator(gen)
    assert summ.config == gen.config
    for (name, p), (_, q) in zip(gen.encoder.state_dict().items(), summ.encoder.state_dict().items()):
        assert torch.equal(p, q), name
    with torch.no_grad():  # an independent copy
        next(gen.encoder.parameters()).add_(1.0)
    assert not torch.equal(next(gen.encoder.parameters()), next(summ.encoder.parameters()))
    x, kpm = _batch()
    summ.eval()
    probs = summ(x, kpm)
    assert probs.shape == (3, 10)
    assert torch.all(probs[kpm] == 0) and torch.all((probs[~kpm] > 0) & (probs[~kpm] < 1))
    assert torch.equal(Summarizer(gen).encoder.state_dict()["layers.layers.0.linear1.weight"],
                       gen.encoder.state_dict()["layers.layers.0.linear1.weight"])


def test_summarizer_from_config_and_errors():
    summ = Summarizer(dict(SMALL))
    summ2 = Summarizer(summ.config)
    summ2.load_state_dict(summ.state_dict())
    x, _ = _batch()
    assert summ(x).shape == (3, 10)
    with pytest.raises(ValueError, match="Generator or a config dict"):
        Summarizer(42)
    with pytest.raises(ValueError, match="needs a Generator"):
        Summarizer.from_generator(summ)


def test_reconstruction_loss_value():
    recon = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [5.0, 5.0]]])
    target = torch.tensor([[[1.0, 0.0], [2.0, 0.0], [9.0, 9.0]]])
    weight = torch.tensor([[True, True, False]])
    # pos 0: l1 0, cos 1 -> 0; pos 1: l1 2, cos 0 -> 3; mean -> 1.5
    assert math.isclose(reconstruction_loss(recon, target, weight).item(), 1.5, rel_tol=1e-6)
    assert reconstruction_loss_per_sample(recon, target, weight).tolist() == [1.5]


def test_reconstruction_loss_ignores_pads_and_per_sample():
    x, kpm = _batch()
    recon = (x + 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).requires_grad_()
    weight = ~kpm
    with torch.no_grad():
        poisoned = recon.detach().masked_fill(kpm[..., None], float("nan"))
    loss = reconstruction_loss(recon, x, weight)
    assert torch.isfinite(reconstruction_loss(poisoned, x.masked_fill(kpm[..., None], float("inf")), weight))
    assert math.isclose(reconstruction_loss(poisoned, x, weight).item(), loss.item(), rel_tol=1e-6)
    loss.backward()
    assert torch.all(recon.grad[kpm] == 0) and recon.grad[~kpm].abs().sum() > 0
    per = reconstruction_loss_per_sample(recon.detach(), x, weight)
    for b in range(3):
        r, t = recon.detach()[b][weight[b]], x[b][weight[b]]
        expect = ((r - t).abs().mean(-1) + 1 - F.cosine_similarity(r, t, dim=-1)).mean()
        assert math.isclose(per[b].item(), expect.item(), rel_tol=1e-5)
    # the scalar loss weights positions, not samples
    counts = weight.sum(1).float()
    assert math.isclose(loss.item(), (per * counts).sum().item() / counts.sum().item(), rel_tol=1e-5)


def test_reconstruction_loss_errors():
    x, kpm = _batch()
    with pytest.raises(ValueError, match="must both be"):
        reconstruction_loss(x, x[:, :5], ~kpm)
    with pytest.raises(ValueError, match="weight_mask must be bool"):
        reconstruction_loss(x, x, (~kpm).float())
    with pytest.raises(ValueError, match="selects no position"):
        reconstruction_loss(x, x, torch.zeros_like(kpm))
    weight = ~kpm
    weight[2] = False
    with pytest.raises(ValueError, match=r"row\(s\) \[2\]"):
        reconstruction_loss_per_sample(x, x, weight)


# ---------------------------------------------------------------- copy rules and the copy read-out


def test_nearest_visible_indices_ties_pads_and_empty_rows():
    from vidsum.models.trsum import nearest_visible

    hidden = torch.tensor([[0, 1, 1, 0, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1, 1, 1]]).bool()
    valid = torch.ones_like(hidden)
    valid[0, 7] = False  # a pad is never a source
    got = nearest_visible(hidden, valid)
    assert got[0].tolist() == [0, 0, 3, 3, 3, 3, 3, 3]
    assert got[1].tolist() == [-1] * 8  # nothing visible
    tie = nearest_visible(torch.tensor([[0, 1, 0]]).bool(), torch.ones(1, 3, dtype=torch.bool))
    assert tie.tolist() == [[0, 0, 2]]  # equal distance: the earlier step


def test_copy_rules_fill_hidden_steps_only():
    from vidsum.models.trsum import copy_most_similar_visible, copy_nearest_visible

    torch.manual_seed(0)
    x = torch.randn(1, 6, 5)
    x[0, 4] = 3 * x[0, 1]  # step 4's most similar step is step 1 (cosine 1), though 5 is nearer
    hidden = torch.tensor([[0, 0, 1, 0, 1, 0]]).bool()
    valid = torch.ones_like(hidden)
    near = copy_nearest_visible(x, hidden, valid)
    assert torch.equal(near[0, [0, 1, 3, 5]], x[0, [0, 1, 3, 5]])  # visible steps keep their own
    assert torch.equal(near[0, 2], x[0, 1]) and torch.equal(near[0, 4], x[0, 3])
    similar = copy_most_similar_visible(x, hidden, valid)
    assert torch.equal(similar[0, 4], x[0, 1])
    assert torch.equal(copy_nearest_visible(x, torch.ones_like(hidden), valid), torch.zeros_like(x))


def test_copy_readout_starts_as_the_nearest_copy_and_learns_a_correction():
    from vidsum.models.trsum import copy_nearest_visible

    gen = Generator(d_feat=6, d_model=8, n_heads=2, n_layers=1, d_ff=16, dropout=0.0, readout="copy")
    x = torch.rand(2, 10, 6)
    hidden = torch.zeros(2, 10, dtype=torch.bool)
    hidden[:, 3:6] = True
    pad = torch.zeros(2, 10, dtype=torch.bool)
    pad[1, 8:] = True
    out = gen(x, mask=hidden, key_padding_mask=pad)
    assert torch.allclose(out, copy_nearest_visible(gen.target(x), hidden, ~pad))
    out.sum().backward()
    assert gen.head.weight.grad is not None and gen.head.weight.grad.abs().sum() > 0  # the correction trains
    direct = Generator(d_feat=6, d_model=8, n_heads=2, n_layers=1, d_ff=16, dropout=0.0)
    assert direct.config["readout"] == "direct"
    with pytest.raises(ValueError, match="readout must be one of"):
        Generator(d_feat=6, d_model=8, n_heads=2, n_layers=1, d_ff=16, readout="nearest")


def test_attend_readout_averages_visible_steps_by_distance_and_learns_what_to_read():
    gen = Generator(d_feat=6, d_model=8, n_heads=2, n_layers=1, d_ff=16, dropout=0.0, readout="attend")
    x = torch.rand(2, 10, 6)
    hidden = torch.zeros(2, 10, dtype=torch.bool)
    hidden[:, 3:6] = True  # step 4 sits between visible 2 and 6, two steps from each
    hidden[1] = True  # a row with nothing visible rebuilds as zeros
    pad = torch.zeros(2, 10, dtype=torch.bool)
    z = gen.target(x)
    with torch.no_grad():
        gen.attend_q.weight.zero_()
        gen.attend_log_slope.fill_(6.0)  # a steep slope: only the nearest visible steps count
    out = gen(x, mask=hidden, key_padding_mask=pad)
    assert torch.allclose(out[0, 4], (z[0, 2] + z[0, 6]) / 2, atol=1e-5)
    assert torch.allclose(out[0, 3], z[0, 2], atol=1e-5)  # nearer to 2 than to 6
    assert torch.equal(out[0, ~hidden[0]], z[0, ~hidden[0]])  # visible steps keep their own
    assert torch.equal(out[1], torch.zeros_like(out[1]))
    with torch.no_grad():
        gen.attend_log_slope.zero_()
        nn.init.normal_(gen.attend_q.weight, std=0.02)
    gen(x, mask=hidden, key_padding_mask=pad)[0, 3:6].sum().backward()
    trained = {n for n, p in gen.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert {"attend_q.weight", "attend_k.weight", "attend_log_slope"} <= trained
    assert not gen.head.weight.requires_grad  # unread by this read-out


def test_joint_readout_rebuilds_with_attend_and_trains_the_direct_head_too():
    from vidsum.training import trsum

    torch.manual_seed(0)
    joint = Generator(d_feat=6, d_model=8, n_heads=2, n_layers=1, d_ff=16, dropout=0.0, readout="joint")
    attend = Generator(d_feat=6, d_model=8, n_heads=2, n_layers=1, d_ff=16, dropout=0.0, readout="attend")
    attend.load_state_dict(joint.state_dict())
    x = torch.rand(2, 12, 6)
    hidden = torch.zeros(2, 12, dtype=torch.bool)
    hidden[:, 4:8] = True
    pad = torch.zeros(2, 12, dtype=torch.bool)
    rebuilt = joint(x, mask=hidden, key_padding_mask=pad)
    assert torch.equal(rebuilt, attend(x, mask=hidden, key_padding_mask=pad))  # the reward reads the attend one
    at_attend, at_direct = joint(x, mask=hidden, key_padding_mask=pad, at=hidden, both=True)
    assert torch.equal(at_attend, rebuilt[hidden]) and at_direct.shape == at_attend.shape
    with pytest.raises(ValueError, match="both=True needs readout 'joint'"):
        attend(x, mask=hidden, key_padding_mask=pad, both=True)
    # stage 1 trains both: the direct head and the attend projections get gradients
    cfg = trsum.TRSumConfig(readout="joint", mask_mode="random")
    trsum.generator_batch_loss(joint, cfg, x, pad, (torch.arange(12) // 4).expand(2, 12), torch.Generator().manual_seed(0)).backward()
    assert joint.head.weight.grad.abs().sum() > 0 and joint.attend_k.weight.grad.abs().sum() > 0


def test_config_without_readout_loads_as_direct():
    config = dict(Generator(d_feat=6, d_model=8, n_heads=2, n_layers=1, d_ff=16).config)
    del config["readout"]  # a checkpoint written before the key existed
    assert Generator.from_config(config).config["readout"] == "direct"


@pytest.mark.parametrize("readout", ["direct", "copy", "attend", "joint"])
def test_episode_losses_equal_the_loss_of_episodes_run_one_by_one(readout):
    """The RL reward's fast path (shared projection, error on hidden steps only) computes the
    summary reconstruction loss of each episode as the plain forward would."""
    from vidsum.models.trsum import summary_reconstruction_loss

    torch.manual_seed(0)
    gen = Generator(d_feat=12, d_model=8, n_heads=2, n_layers=2, d_ff=16, dropout=0.0, readout=readout).eval()
    if readout == "copy":
        nn.init.normal_(gen.head.weight, std=0.1)  # a trained correction, not the zero start
    if readout in ("attend", "joint"):
        nn.init.normal_(gen.attend_k.weight, std=1.0)  # content terms that matter
    gen.norm.fit(torch.rand(50, 12) * 3)
    x = torch.rand(3, 10, 12) * 3
    pad = torch.zeros(3, 10, dtype=torch.bool)
    pad[2, 7:] = True
    hidden = (torch.rand(4, 3, 10) < 0.5) & ~pad
    hidden[0, 1] = True  # an episode that keeps nothing
    got = gen.episode_losses(x, hidden, pad)
    assert got.shape == (4, 3)
    for n in range(4):
        recon = gen(x, mask=hidden[n], key_padding_mask=pad)
        want = summary_reconstruction_loss(recon, gen.target(x), hidden[n], ~pad)
        assert torch.allclose(got[n], want, atol=1e-5), (n, got[n], want)


@pytest.mark.parametrize("readout", ["direct", "copy"])
def test_forward_at_returns_the_rows_of_the_full_output(readout):
    torch.manual_seed(1)
    gen = Generator(d_feat=12, d_model=8, n_heads=2, n_layers=1, d_ff=16, dropout=0.0, readout=readout)
    nn.init.normal_(gen.head.weight, std=0.1)
    x = torch.rand(2, 9, 12)
    hidden = torch.rand(2, 9) < 0.4
    at = hidden | (torch.rand(2, 9) < 0.2)
    full = gen(x, mask=hidden, at=None)
    rows = gen(x, mask=hidden, at=at)
    assert rows.shape == (int(at.sum()), 12)
    assert torch.allclose(rows, full[at], atol=1e-6)
