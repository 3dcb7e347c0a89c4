"""DR-DSN (Zhou, Qiao & Xiang, AAAI 2018): a BiLSTM frame scorer and its diversity-representativeness reward.

Model (:class:`DSN`): per-dimension standardised features (``FeatureNorm``, fitted on the
training videos; identity when not fitted) -> 1-layer bidirectional LSTM -> Linear -> sigmoid,
one keep-probability per step of the *whole* video (no segments, as in the paper).

Reward of a summary S (the steps an episode keeps), on unit-length features u_t = x_t / |x_t|
of the raw video (as the authors' code does):

    R_div = 1 / (|S| (|S| - 1)) * sum_{i != j in S} d(i, j),
            d(i, j) = 1 - u_i . u_j, set to 1 when |i - j| > window (frames far apart in time
            count as dissimilar whatever they show; ``window`` = 20 in the paper; 0 disables)
    R_rep = exp(-1/n * sum_t min_{j in S} |u_t - u_j|^2)
    R     = R_div + R_rep        (0 terms for an empty summary; R_div = 0 when |S| < 2)

The published SumMe / TVSum F-scores are 41.4 / 57.6 (canonical splits).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidsum.models.common import FeatureNorm

CONFIG_KEYS = ("d_feat", "hidden", "n_layers")
REWARDS = ("dr", "d", "r")


class DSN(nn.Module):
    """forward(x (B, n, d_feat) raw features) -> probs (B, n) in (0, 1).

    ``config`` holds the constructor arguments: ``DSN(**config)`` rebuilds it.
    """

    def __init__(self, d_feat: int = 1024, hidden: int = 256, n_layers: int = 1):
        super().__init__()
        for name, v in (("d_feat", d_feat), ("hidden", hidden), ("n_layers", n_layers)):
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        self.config = {"d_feat": int(d_feat), "hidden": int(hidden), "n_layers": int(n_layers)}
        self.norm = FeatureNorm(d_feat)
        self.lstm = nn.LSTM(d_feat, hidden, num_layers=n_layers, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, 1)

    @classmethod
    def from_config(cls, config: dict) -> "DSN":
        if not isinstance(config, dict) or set(config) != set(CONFIG_KEYS):
            raise ValueError(f"DSN config must have exactly the keys {CONFIG_KEYS}, got {config!r}")
        return cls(**config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[-1] != self.config["d_feat"] or x.shape[1] == 0:
            raise ValueError(f"x must be (B, n >= 1, {self.config['d_feat']}), got {tuple(x.shape)}")
        h, _ = self.lstm(self.norm(x))
        return torch.sigmoid(self.head(h).squeeze(-1))


def unit_features(features: torch.Tensor) -> torch.Tensor:
    """(n, D) features scaled to unit length (zero rows stay zero)."""
    if features.dim() != 2:
        raise ValueError(f"features must be (n, D), got {tuple(features.shape)}")
    return F.normalize(features.float(), dim=1, eps=1e-12)


def _check_actions(unit: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    if actions.dim() != 2 or actions.shape[1] != unit.shape[0]:
        raise ValueError(f"actions must be (n_episodes, n_steps={unit.shape[0]}), got {tuple(actions.shape)}")
    return (actions > 0).to(unit.dtype)


def diversity_reward(unit: torch.Tensor, actions: torch.Tensor, window: int = 20) -> torch.Tensor:
    """R_div (n_episodes,) of each episode's summary. unit: (n, D) unit features; actions: (N, n) 0/1."""
    picks = _check_actions(unit, actions)
    n = unit.shape[0]
    dissim = 1.0 - unit @ unit.T
    if window > 0:
        steps = torch.arange(n, device=unit.device)
        dissim = torch.where((steps[:, None] - steps[None, :]).abs() > window, torch.ones_like(dissim), dissim)
    dissim.fill_diagonal_(0.0)
    total = torch.einsum("ei,ij,ej->e", picks, dissim, picks)
    k = picks.sum(1)
    return torch.where(k > 1, total / (k * (k - 1)).clamp(min=1), torch.zeros_like(total))


def representativeness_reward(unit: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """R_rep (n_episodes,): exp(-mean_t min_{j in S} |u_t - u_j|^2); 0 for an empty summary."""
    picks = _check_actions(unit, actions) > 0
    sq = (unit * unit).sum(1)
    dist = (sq[:, None] + sq[None, :] - 2 * unit @ unit.T).clamp(min=0)  # (n, n) squared distances
    masked = torch.where(picks[:, None, :], dist.unsqueeze(0), torch.full_like(dist, float("inf")).unsqueeze(0))
    nearest = masked.min(dim=2).values  # (N, n): distance of each step to its nearest summary step
    reward = torch.exp(-nearest.mean(1))
    return torch.where(picks.any(1), reward, torch.zeros_like(reward))


def summary_reward(unit: torch.Tensor, actions: torch.Tensor, window: int = 20, kind: str = "dr") -> torch.Tensor:
    """R (n_episodes,) = R_div + R_rep ('dr'), or one of them ('d' | 'r')."""
    if kind not in REWARDS:
        raise ValueError(f"reward kind must be one of {REWARDS}, got {kind!r}")
    reward = torch.zeros(actions.shape[0], device=unit.device)
    if "d" in kind:
        reward = reward + diversity_reward(unit, actions, window)
    if "r" in kind:
        reward = reward + representativeness_reward(unit, actions)
    return reward
