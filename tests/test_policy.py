"""Keep-policies of the REINFORCE stages (vidsum.training.policy)."""

from __future__ import annotations

import math
from collections import Counter
from itertools import permutations

import pytest
import torch

from vidsum.training.policy import bernoulli_episodes, budget_counts, fixed_budget_episodes


def _rows() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    probs = torch.sigmoid(torch.randn(3, 6) * 1.5)
    valid = torch.ones(3, 6, dtype=torch.bool)
    valid[1, 4:] = False  # a short last segment
    valid[2, 1:] = False  # one valid step
    return probs, valid


def test_budget_counts_round_and_stay_within_the_row():
    valid = torch.tensor([[1] * 10, [1] * 3 + [0] * 7, [1] + [0] * 9], dtype=torch.bool)
    assert budget_counts(valid, 0.5).tolist() == [5, 2, 1]  # round(1.5) = 2; at least one step
    assert budget_counts(valid, 0.99).tolist() == [10, 3, 1]


def test_fixed_budget_keeps_exactly_the_budget_and_never_a_pad():
    probs, valid = _rows()
    actions, log_pi = fixed_budget_episodes(probs, valid, 0.5, 50, torch.Generator().manual_seed(1))
    assert actions.shape == (50, 3, 6) and log_pi.shape == (50, 3)
    assert (actions.sum(-1) == budget_counts(valid, 0.5).float()).all()
    assert not (actions.bool() & ~valid).any()
    assert torch.isfinite(log_pi).all() and (log_pi <= 0).all()
    assert (log_pi[:, 2] == 0).all()  # one valid step, kept for sure


def test_fixed_budget_draws_sets_with_their_plackett_luce_probability():
    probs = torch.sigmoid(torch.tensor([[1.5, -0.5, 0.0, 2.0, -1.0]]))
    valid = torch.ones(1, 5, dtype=torch.bool)
    n = 20000
    actions, _ = fixed_budget_episodes(probs, valid, 0.4, n, torch.Generator().manual_seed(0))  # 2 of 5
    w = torch.exp(torch.logit(probs[0]).double())
    freq = Counter(tuple(a.nonzero().flatten().tolist()) for a in actions[:, 0])
    for (i, j) in [(0, 3), (0, 1), (1, 3), (3, 4)]:
        exact = sum(float(w[a] / w.sum() * w[b] / (w.sum() - w[a])) for a, b in permutations((i, j)))
        assert freq[(i, j)] / n == pytest.approx(exact, abs=4 * math.sqrt(exact * (1 - exact) / n) + 1e-3)


def test_fixed_budget_log_prob_is_the_ordered_draw_and_ignores_a_shift_of_the_logits():
    z = torch.tensor([[0.3, -1.2, 2.0, 0.5]], requires_grad=True)
    valid = torch.ones(1, 4, dtype=torch.bool)
    actions, log_pi = fixed_budget_episodes(torch.sigmoid(z), valid, 0.5, 1, torch.Generator().manual_seed(3))
    kept = actions[0, 0].nonzero().flatten().tolist()
    # one of the two orders of the kept pair was drawn: its log-probability / 4 steps is log_pi
    zd = z.detach()[0].double()
    orders = [sum(float(zd[a] - torch.logsumexp(zd[[t for t in range(4) if t not in o[:m]]], 0))
                  for m, a in enumerate(o)) / 4 for o in permutations(kept)]
    assert min(abs(float(log_pi.detach()[0, 0]) - v) for v in orders) < 1e-5
    # no gradient along a shift of all of the row's logits: the budget is not something to learn
    log_pi.sum().backward()
    assert abs(float(z.grad.sum())) < 1e-5
    assert float(z.grad.abs().max()) > 1e-3


def test_fixed_budget_is_deterministic_for_a_seed():
    probs, valid = _rows()
    a1, l1 = fixed_budget_episodes(probs, valid, 0.5, 8, torch.Generator().manual_seed(5))
    a2, l2 = fixed_budget_episodes(probs, valid, 0.5, 8, torch.Generator().manual_seed(5))
    assert torch.equal(a1, a2) and torch.equal(l1, l2)


def test_bernoulli_episodes_keep_each_step_with_its_probability():
    probs, valid = _rows()
    actions, log_pi = bernoulli_episodes(probs, valid, 4000, torch.Generator().manual_seed(0))
    assert torch.allclose(actions.mean(0)[valid], probs[valid], atol=0.04)
    manual = actions * probs.log() + (1 - actions) * (1 - probs).log()
    assert torch.allclose(log_pi, (manual * valid).sum(-1) / valid.sum(1))


def test_fixed_budget_backward_has_no_nan_anywhere_with_padded_rows():
    """No backward function of the draw's log-probability returns NaN, pads included. With -inf
    pad logits logcumsumexp's backward returned NaN at the pads (hidden on CPU by masked_fill's
    zero gradient; on CUDA it reached every summarizer weight: NaN scores on an H200)."""
    probs, valid = _rows()
    probs = probs.clone().requires_grad_(True)
    actions, log_pi = fixed_budget_episodes(probs, valid, 0.5, 6, torch.Generator().manual_seed(2))
    with torch.autograd.detect_anomaly(check_nan=True):
        (log_pi * torch.randn(log_pi.shape)).sum().backward()
    assert torch.isfinite(probs.grad).all() and (probs.grad[valid[:, :]].abs() > 0).any()
