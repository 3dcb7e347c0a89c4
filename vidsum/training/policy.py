"""Keep-policies for the REINFORCE stages: which steps an episode keeps, and the log-probability
of that choice.

``bernoulli_episodes`` is the papers' policy: every step kept independently with its probability
p. The number of kept steps is then part of what is learned, and with a reconstruction reward
every kept step raises the reward, so the keep rate drifts above delta unless a length term
holds it (README, "Where the methods stand").

``fixed_budget_episodes`` keeps exactly k = round(delta * n_valid) steps of every row, drawn
without replacement with probabilities proportional to exp(z), z = logit(p) (Plackett-Luce,
sampled as the top k of z + Gumbel noise). The keep rate is delta by construction, the policy is
unchanged by a shift of a row's logits, so the only thing the gradient can say is *which* steps.
The log-probability is that of the ordered draw,

    log P = sum_{j < k} [ z_(j) - logsumexp(z over the valid steps not drawn before j) ],

a valid score function for REINFORCE because the reward depends on the kept set alone.
"""

from __future__ import annotations

import math

import torch


PAD_LOGIT = -1e4  # the logit a pad step gets in the Plackett-Luce sums: exp(-1e4) == 0 in float32


def bernoulli_episodes(probs: torch.Tensor, valid: torch.Tensor, n_episodes: int,
                       generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Episodes kept step by step with probability p.

    probs: (B, L) in (0, 1); valid: (B, L) bool. Returns actions (N, B, L) in {0, 1} (drawn on CPU
    from ``generator``, so a seed gives the same episodes on CPU and GPU) and log pi (N, B): the
    mean over each row's valid steps of log p(a_t)."""
    n, (b, l) = n_episodes, probs.shape
    actions = torch.bernoulli(probs.detach().cpu().expand(n, b, l), generator=generator).to(probs.device)
    log_pi = actions * probs.log() + (1 - actions) * (1 - probs).log()  # (N, B, L)
    return actions, (log_pi * valid).sum(-1) / valid.sum(1).clamp(min=1)


def budget_counts(valid: torch.Tensor, delta: float) -> torch.Tensor:
    """(B,) long: steps each row keeps, round(delta * valid steps), at least 1 and at most all."""
    n_valid = valid.sum(1)
    return torch.minimum(torch.clamp(torch.round(n_valid.double() * delta).long(), min=1), n_valid)


def fixed_budget_episodes(probs: torch.Tensor, valid: torch.Tensor, delta: float, n_episodes: int,
                          generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Episodes that each keep exactly ``budget_counts(valid, delta)`` steps of every row.

    probs: (B, L) in (0, 1); valid: (B, L) bool. Returns actions (N, B, L) in {0, 1} (pads never
    kept) and log pi (N, B): the Plackett-Luce log-probability of the ordered draw divided by the
    row's valid steps (the same per-step scale as ``bernoulli_episodes``)."""
    n, (b, l) = n_episodes, probs.shape
    z = torch.logit(probs.float())  # (B, L)
    u = torch.rand((n, b, l), generator=generator, dtype=torch.float64).clamp(1e-12, 1 - 1e-12).to(probs.device)
    gumbel = -torch.log(-torch.log(u)).float()
    keys = (z.detach().unsqueeze(0) + gumbel).masked_fill(~valid.unsqueeze(0), -math.inf)  # (N, B, L)
    order = keys.argsort(dim=-1, descending=True)  # (N, B, L): the draw order, pads last
    k = budget_counts(valid, delta).to(probs.device)  # (B,)
    drawn = torch.arange(l, device=probs.device).view(1, 1, l) < k.view(1, b, 1)  # (N, B, L) by draw position
    actions = torch.zeros((n, b, l), device=probs.device).scatter(-1, order, drawn.float().expand(n, b, l))
    valid_sorted = valid.unsqueeze(0).expand(n, b, l).gather(-1, order)
    # pads get a finite logit far below any real one (|z| <= logit(1 - 1e-6) ~ 14): exp() of it is
    # 0 in float32, so it adds nothing to a logsumexp, and no -inf enters the graph. With -inf,
    # logcumsumexp's backward computes -inf - (-inf) = NaN at the pads, and on CUDA that NaN
    # reached every weight of the summarizer (measured on an H200: NaN scores in stage 2).
    z_sorted = z.unsqueeze(0).expand(n, b, l).gather(-1, order).masked_fill(~valid_sorted, PAD_LOGIT)
    # logsumexp over the steps not drawn yet = over sorted positions j..L-1
    rest = torch.logcumsumexp(z_sorted.flip(-1), dim=-1).flip(-1)
    terms = torch.where(drawn, z_sorted - rest, torch.zeros((), device=probs.device))
    return actions, terms.sum(-1) / valid.sum(1).clamp(min=1)
