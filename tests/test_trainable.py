"""Every method trains what it should: each parameter its optimiser holds gets a gradient and moves,
and what is meant to stay frozen (TR-SUM's generator in stage 2) does not.

Stage 2 of TR-SUM once trained the summarizer's linear head alone: the summarizer was deep-copied
from an already frozen generator, so its encoder inherited ``requires_grad=False``, and nothing
noticed. These tests watch the models through ``Runtime.wrap_model`` (every loop hands each model
it trains to it once, before the first step), so they see exactly what the optimiser steps.
"""

import copy

import pytest
import torch

from vidsum.training import drdsn, sgvs, trsum
from vidsum.training.loop import Runtime

from conftest import make_video


@pytest.fixture(scope="module")
def videos():
    return [make_video(key=f"video_{i + 1}", n_frames=450, dim=12, seed=i) for i in range(4)]


class Watch:
    """A Runtime whose wrap_model records each model and a copy of its parameters at the start."""

    def __init__(self):
        self.models: list[torch.nn.Module] = []
        self.start: list[dict[str, torch.Tensor]] = []
        self.rt = Runtime(device=torch.device("cpu"), wrap_model=self._wrap)

    def _wrap(self, model):
        self.models.append(model)
        self.start.append({n: p.detach().clone() for n, p in model.named_parameters()})
        return model

    def frozen_or_still(self, i: int) -> list[str]:
        """Names of model i's parameters that are not trainable or did not move."""
        return [n for n, p in self.models[i].named_parameters()
                if not p.requires_grad or torch.equal(p.detach(), self.start[i][n])]


def test_trsum_stage2_trains_the_whole_summarizer_and_not_the_generator(videos):
    cfg = trsum.TRSumConfig.from_dict(dict(d_model=16, n_heads=2, n_layers=1, d_ff=32, segment_len=16, batch_segments=8,
                                           gen_epochs=1, rl_epochs=1, rl_lr=1e-3, dropout=0.0))
    gen, _ = trsum.pretrain_generator(cfg, videos)
    gen_before = copy.deepcopy(gen.state_dict())
    watch = Watch()
    summ, _, _ = trsum.train_summarizer(cfg, videos, gen, watch.rt)
    assert watch.models == [summ]
    assert watch.frozen_or_still(0) == []  # encoder layers, positions' params and head all moved
    encoder_names = [n for n, _ in summ.named_parameters() if n.startswith("encoder.")]
    assert len(encoder_names) > 2
    # the frozen generator (the reward) did not change and holds no trainable parameter
    assert all(torch.equal(v, gen_before[k]) for k, v in gen.state_dict().items())
    assert not any(p.requires_grad for p in gen.parameters())


def test_trsum_stage1_trains_every_generator_parameter(videos):
    cfg = trsum.TRSumConfig.from_dict(dict(d_model=16, n_heads=2, n_layers=1, d_ff=32, segment_len=16, batch_segments=8,
                                           gen_epochs=1, gen_lr=1e-3))
    watch = Watch()
    trsum.pretrain_generator(cfg, videos, watch.rt)
    assert watch.frozen_or_still(0) == []


def test_sgvs_trains_every_generator_and_discriminator_parameter(videos, tmp_path, monkeypatch):
    monkeypatch.setenv("VIDSUM_CACHE_DIR", str(tmp_path / "cache"))
    cfg = sgvs.SGVSConfig.from_dict(dict(d_model=16, n_heads=2, n_layers=1, rec_layers=1, d_ff=32, d_joint=8, dropout=0.0,
                                         disc_d_model=16, disc_heads=2, disc_layers=1, disc_d_ff=32, segment_len=16,
                                         batch_segments=8, epochs=2, warmup_epochs=1, ramp_epochs=1, g_lr=1e-3, d_lr=1e-3,
                                         text_encoder="hashed"))
    watch = Watch()
    sgvs.train_sgvs(cfg, videos, watch.rt)
    assert len(watch.models) == 2  # generator, discriminator
    assert watch.frozen_or_still(0) == []
    assert watch.frozen_or_still(1) == []


def test_drdsn_trains_every_parameter(videos):
    cfg = drdsn.DRDSNConfig.from_dict(dict(hidden=8, epochs=1, lr=1e-2, lr_step=0))
    watch = Watch()
    drdsn.train_drdsn(cfg, videos, watch.rt)
    assert watch.frozen_or_still(0) == []
