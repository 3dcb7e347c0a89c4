"""Building blocks every method's models share: input standardisation and the reconstruction error.

The reconstruction error of a step is L1 (mean over D) + (1 - cosine) between the rebuilt and
the true (standardised) feature: TR-SUM's generator loss and reward, SG-VS's L_rec.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def n_parameters(module: nn.Module) -> int:
    """Number of parameters (trainable or not) in ``module``."""
    return sum(p.numel() for p in module.parameters())


class FeatureNorm(nn.Module):
    """Per-dimension standardisation of input features, fitted once on the training videos.

    Raw GoogLeNet pool5 features are non-negative and share a large common mean, so every pair
    of frames has a high cosine and an untouched transformer first learns to output that mean.
    Standardising makes frame-to-frame differences the signal; both the model input and the
    reconstruction target live in this space. The statistics are buffers, so they travel in
    every checkpoint. Identity (mean 0, std 1) until :meth:`fit` is called.
    """

    def __init__(self, d_feat: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(d_feat))
        self.register_buffer("std", torch.ones(d_feat))

    @torch.no_grad()
    def fit(self, features: torch.Tensor) -> "FeatureNorm":
        """features: (N, d_feat) valid steps of the training videos."""
        if features.dim() != 2 or features.shape[1] != self.mean.shape[0] or features.shape[0] < 2:
            raise ValueError(f"FeatureNorm.fit needs (N >= 2, {self.mean.shape[0]}), got {tuple(features.shape)}")
        self.mean.copy_(features.mean(0))
        self.std.copy_(features.std(0).clamp(min=1e-6))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)


def reconstruction_error(recon: torch.Tensor, target: torch.Tensor, weight_mask: torch.Tensor) -> torch.Tensor:
    """(B, L) loss = mean |recon - target| over D + (1 - cos(recon, target)); 0 where not weighted."""
    if recon.shape != target.shape or recon.dim() != 3:
        raise ValueError(f"recon {tuple(recon.shape)} and target {tuple(target.shape)} must both be (B, L, D)")
    if weight_mask.shape != recon.shape[:2] or weight_mask.dtype != torch.bool:
        raise ValueError(f"weight_mask must be bool {tuple(recon.shape[:2])}, "
                         f"got {weight_mask.dtype} {tuple(weight_mask.shape)}")
    # Only the weighted rows enter the arithmetic, so pads (whatever they hold) give neither
    # values nor gradients, and a sparse mask costs only its rows.
    out = torch.zeros(weight_mask.shape, dtype=torch.promote_types(recon.dtype, target.dtype), device=recon.device)
    return out.index_put(weight_mask.nonzero(as_tuple=True), reconstruction_error_rows(recon[weight_mask], target[weight_mask]))


def reconstruction_error_rows(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(K,) mean |recon - target| over D + (1 - cos(recon, target)) of each row; recon, target: (K, D)."""
    if recon.shape != target.shape or recon.dim() != 2:
        raise ValueError(f"recon {tuple(recon.shape)} and target {tuple(target.shape)} must both be (K, D)")
    return (recon - target).abs().mean(dim=-1) + (1.0 - F.cosine_similarity(recon, target, dim=-1, eps=1e-8))


def reconstruction_loss(recon: torch.Tensor, target: torch.Tensor, weight_mask: torch.Tensor) -> torch.Tensor:
    """Scalar: mean over all positions with ``weight_mask`` True of L1 (mean over D) + (1 - cosine).

    recon, target: (B, L, D); weight_mask: (B, L) bool (exclude pads!). At least one True needed.
    """
    per_pos = reconstruction_error(recon, target, weight_mask)
    count = weight_mask.sum()
    if int(count) == 0:
        raise ValueError("reconstruction_loss: weight_mask selects no position")
    return per_pos.sum() / count


def reconstruction_loss_per_sample(recon: torch.Tensor, target: torch.Tensor,
                                   weight_mask: torch.Tensor) -> torch.Tensor:
    """(B,) loss of each row, averaged over that row's weighted positions; every row needs one."""
    per_pos = reconstruction_error(recon, target, weight_mask)
    count = weight_mask.sum(dim=1)
    if bool((count == 0).any()):
        rows = torch.nonzero(count == 0).flatten()[:5].tolist()
        raise ValueError(f"reconstruction_loss_per_sample: row(s) {rows} have no weighted position")
    return per_pos.sum(dim=1) / count


def summary_reconstruction_loss(recon: torch.Tensor, target: torch.Tensor, hidden: torch.Tensor,
                                valid: torch.Tensor) -> torch.Tensor:
    """(B,) loss of rebuilding each whole row from its summary.

    The summary's own steps (valid and not ``hidden``) are known exactly, so they contribute 0;
    each hidden step contributes its reconstruction error; the sum is divided by the number of
    valid steps. Keeping more steps can only lower it, which the RL length term balances.
    recon, target: (B, L, D); hidden, valid: (B, L) bool.
    """
    per_pos = reconstruction_error(recon, target, hidden & valid)
    return per_pos.sum(dim=1) / valid.sum(dim=1).clamp(min=1)
