"""TR-SUM models (arXiv 2407.04258): masked-feature generator, summarizer, reconstruction loss.

The generator is trained to reconstruct masked frame features (BERT-style); its encoder then
initialises the summarizer, which scores each frame with a keep-probability. The generator's
reconstruction loss on the frames the summarizer drops is the reward signal for RL.

Parameter counts at paper size (d_feat = d_model = 1024, 8 heads, 3 layers, d_ff = 4096):

    encoder                      37,788,672   (post-norm layers, no input projection, no pos. params)
    generator head Linear(1024, 1024)  1,049,600
    [MASK] token                      1,024
    Generator total              38,839,296
    Summarizer head Linear(1024, 1)    1,025
    Summarizer total             37,789,697
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from vidsum.models.common import (FeatureNorm, n_parameters, reconstruction_error, reconstruction_error_rows,  # noqa: F401
                                  reconstruction_loss, reconstruction_loss_per_sample, summary_reconstruction_loss)
from vidsum.models.encoder import PAD_BIAS, TransformerEncoder

CONFIG_KEYS = ("d_feat", "d_model", "n_heads", "n_layers", "d_ff", "dropout", "max_len", "readout")
READOUTS = ("direct", "copy", "attend", "joint")
ATTEND_DIM = 32  # query/key width of the 'attend' read-out
# keys a checkpoint written before they existed may lack, with the value those checkpoints meant
_CONFIG_DEFAULTS = {"readout": "direct"}


def _make_config(d_feat, d_model, n_heads, n_layers, d_ff, dropout, max_len, readout="direct") -> dict:
    if readout not in READOUTS:
        raise ValueError(f"readout must be one of {'|'.join(READOUTS)}, got {readout!r}")
    return {"d_feat": int(d_feat), "d_model": int(d_model), "n_heads": int(n_heads), "n_layers": int(n_layers),
            "d_ff": int(d_ff), "dropout": float(dropout), "max_len": int(max_len), "readout": str(readout)}


def _check_config(config: dict) -> dict:
    if not isinstance(config, dict):
        raise ValueError(f"config must be a dict, got {type(config).__name__}")
    config = {**_CONFIG_DEFAULTS, **config}
    missing = [k for k in CONFIG_KEYS if k not in config]
    unknown = [k for k in config if k not in CONFIG_KEYS]
    if missing or unknown:
        raise ValueError(f"bad model config: missing keys {missing}, unknown keys {unknown}")
    return _make_config(**config)


def nearest_visible(hidden: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, L) long: for each position, the index of the nearest visible step of its row
    (visible = valid and not hidden; a visible step is its own nearest; ties go to the earlier
    step), or -1 where the row has no visible step. hidden, valid: (B, L) bool."""
    visible = valid & ~hidden
    length = visible.shape[1]
    pos = torch.arange(length, device=visible.device).expand_as(visible)
    far = 2 * length + 1  # farther than any real distance
    # nearest visible at or before t (cumulative max of visible positions), and at or after t
    left = torch.where(visible, pos, torch.full_like(pos, -far)).cummax(1).values
    right = torch.where(visible, pos, torch.full_like(pos, far)).flip(1).cummin(1).values.flip(1)
    nearest = torch.where(pos - left <= right - pos, left, right)
    return torch.where(visible.any(1, keepdim=True), nearest, torch.full_like(nearest, -1))


def copy_nearest_visible(x: torch.Tensor, hidden: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, L, D): every position gets the features of its nearest visible step (visible steps
    keep their own); zeros in rows with no visible step (the mean, in standardised space).
    The no-learning rebuilder a generator has to beat. x: (B, L, D); hidden, valid: (B, L) bool."""
    index = nearest_visible(hidden, valid)
    copied = x.gather(1, index.clamp(min=0).unsqueeze(-1).expand_as(x))
    return torch.where((index >= 0).unsqueeze(-1), copied, torch.zeros_like(x))


def copy_most_similar_visible(x: torch.Tensor, hidden: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, L, D): each hidden step gets the visible step of its row with the highest cosine
    similarity to *its own* (hidden) features: an oracle rebuilder (it looks at what it rebuilds),
    an upper reference for any rule that copies a kept step. Visible steps keep their own; rows
    with no visible step get zeros. x: (B, L, D); hidden, valid: (B, L) bool."""
    visible = valid & ~hidden
    unit = F.normalize(x.float(), dim=-1)
    sim = (unit @ unit.transpose(1, 2)).masked_fill(~visible.unsqueeze(1), float("-inf"))  # (B, L query, L key)
    index = torch.where(visible, torch.arange(x.shape[1], device=x.device).expand_as(visible), sim.argmax(-1))
    copied = x.gather(1, index.unsqueeze(-1).expand_as(x))
    return torch.where(visible.any(1, keepdim=True).unsqueeze(-1), copied, torch.zeros_like(x))


class Generator(nn.Module):
    """Masked-feature reconstructor.

    forward(x (B, L, d_feat), mask (B, L) bool True = replace by [MASK] (or None),
    key_padding_mask (B, L) bool True = pad (or None), hidden (B, L) bool or None)
    -> recon (B, L, d_feat), in the standardised space of :meth:`target`.

    readout 'direct' (the paper): recon = head(encoder(x)).
    readout 'copy': recon = copy of the nearest visible step + head(encoder(x)), the head
    initialised to zero, so an untrained generator rebuilds exactly as
    :func:`copy_nearest_visible` does and training learns a correction. Why: with 16 training
    videos the direct generator rebuilt *unseen* videos worse than copying the nearest frame
    (README, "TR-SUM").
    readout 'attend': recon of a hidden step = a softmax-weighted mean of the visible steps'
    standardised features, logits q_i.k_j / sqrt(32) - m |i - j| (q, k from the encoder's output, m
    a learned slope, 1 at the start): no 128-d bottleneck on the way out, and few parameters to
    overfit with. Untrained it is a local average of the nearest visible steps, which already
    rebuilds better than copying the nearest one (mean of the 2-3 nearest: reward 0.393-0.396 vs
    0.382 on the SumMe stand-in); training learns which visible steps to read. Visible steps
    return their own features.
    readout 'joint': both the attend and the direct read-out on one encoder, trained together
    (``forward(..., both=True)`` returns both); rebuilding (the reward) reads the attend one. Why:
    the attend reward is the better one, but an encoder trained for it alone is a poor start for
    the summarizer, which copies the encoder (README, "TR-SUM"); the direct loss keeps the
    encoder describing what each step contains.
    Visible steps are those not in ``hidden`` (default: ``mask``; none).
    ``config`` holds the constructor arguments (plain values): ``Generator(**config)`` rebuilds it.
    """

    def __init__(self, d_feat: int = 1024, d_model: int = 1024, n_heads: int = 8, n_layers: int = 3,
                 d_ff: int = 4096, dropout: float = 0.1, max_len: int = 1024, readout: str = "direct"):
        super().__init__()
        self.config = _make_config(d_feat, d_model, n_heads, n_layers, d_ff, dropout, max_len, readout)
        self.encoder = TransformerEncoder(d_feat, d_model, n_heads, n_layers, d_ff, dropout, max_len)
        # small init like BERT embeddings: a [MASK] far from every real feature is easy to spot
        # anyway; what matters is that it is learned.
        self.mask_token = nn.Parameter(torch.randn(d_feat) * 0.02)
        self.head = nn.Linear(d_model, d_feat)
        if readout in ("attend", "joint"):
            self.attend_q = nn.Linear(d_model, ATTEND_DIM, bias=False)
            self.attend_k = nn.Linear(d_model, ATTEND_DIM, bias=False)
            for lin in (self.attend_q, self.attend_k):
                nn.init.normal_(lin.weight, std=0.02)  # content terms start near 0: a local average
            self.attend_log_slope = nn.Parameter(torch.zeros(()))
        if readout == "attend":
            self.head.requires_grad_(False)  # not read by this read-out (kept so checkpoints share keys)
        if readout == "copy":
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        self.norm = FeatureNorm(d_feat)

    @classmethod
    def from_config(cls, config: dict) -> "Generator":
        return cls(**_check_config(config))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                key_padding_mask: torch.Tensor | None = None, hidden: torch.Tensor | None = None,
                at: torch.Tensor | None = None, both: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """x (B, L, d_feat) -> (B, L, d_feat); with ``at`` (B, L) bool only the rows there,
        (K, d_feat) in ``x[at]`` order. A loss on some positions needs no more, and at d_feat 1024
        the read-out and the error are a large part of the step: ``at`` computes them there only.
        ``both`` (readout 'joint' only): (attend read-out, direct read-out), each shaped as above."""
        if both and self.config["readout"] != "joint":
            raise ValueError(f"both=True needs readout 'joint', this generator's is {self.config['readout']!r}")
        for name, m in (("mask", mask), ("hidden", hidden), ("at", at)):
            if m is not None and (m.shape != x.shape[:2] or m.dtype != torch.bool):
                raise ValueError(f"{name} must be bool {tuple(x.shape[:2])}, got {m.dtype} {tuple(m.shape)}")
        # [MASK] rows are substituted after the input projection (projecting the token once):
        # the projection is row-wise, so this is the projection of the masked input.
        z = self.norm(x)
        e = self.encoder.input_proj(z)
        if mask is not None:
            e = torch.where(mask[..., None], self._projected_token().to(e.dtype), e)
        h = self.encoder.encode(e, key_padding_mask)
        direct = self.head(h if at is None else h[at]) if both else None
        if self.config["readout"] in ("copy", "attend", "joint"):
            if mask is not None:  # the copy reads the inputs the encoder saw
                z = torch.where(mask[..., None], self.norm(self.mask_token).to(z.dtype), z)
            hidden = mask if hidden is None else hidden
        valid = None if key_padding_mask is None else ~key_padding_mask
        out = self._readout(h, z, hidden, valid, at)
        return (out, direct) if both else out

    def episode_losses(self, x: torch.Tensor, hidden: torch.Tensor, key_padding_mask: torch.Tensor) -> torch.Tensor:
        """(N, B) loss of rebuilding each segment from each episode's visible steps.

        x: (B, L, d_feat) raw features shared by the N episodes; hidden: (N, B, L) bool, the steps
        replaced by [MASK] and rebuilt in each episode; key_padding_mask: (B, L) bool.
        The same numbers (up to float rounding) as :func:`summary_reconstruction_loss` of
        ``forward`` on x repeated N times with ``mask=hidden``, at a fraction of the cost: the
        features are standardised and projected once per segment, not once per episode, and the
        read-out and the error run on the hidden steps only (N episodes of a 64 x 1024 segment
        are 20 MB of activations that each elementwise op would otherwise sweep).
        """
        n, b, length = hidden.shape
        if x.dim() != 3 or x.shape[:2] != (b, length) or key_padding_mask.shape != (b, length):
            raise ValueError(f"x (B, L, D) and key_padding_mask (B, L) must match hidden (N, B, L)={tuple(hidden.shape)}, "
                             f"got {tuple(x.shape)} and {tuple(key_padding_mask.shape)}")
        valid = ~key_padding_mask
        z = self.norm(x)  # (B, L, D)
        e = self.encoder.input_proj(z)  # (B, L, d_model)
        e = torch.where(hidden[..., None], self._projected_token().to(e.dtype), e.unsqueeze(0))  # (N, B, L, d)
        h = self.encoder.encode(e.reshape(n * b, length, -1), key_padding_mask.repeat(n, 1))
        at = (hidden & valid).reshape(n * b, length)
        seg = torch.arange(b, device=x.device).repeat(n)  # (N*B,) the segment of each episode row
        recon = self._readout(h, z, at, valid.repeat(n, 1), at=at, row_source=seg)
        rows, pos = at.nonzero(as_tuple=True)
        errors = reconstruction_error_rows(recon.float(), z[seg[rows], pos].float())  # (K,)
        total = torch.zeros(n * b, dtype=errors.dtype, device=x.device).index_add_(0, rows, errors)
        return total.reshape(n, b) / valid.sum(1).clamp(min=1)

    def _projected_token(self) -> torch.Tensor:
        """(d_model,) the [MASK] token as the encoder's first layer sees it."""
        return self.encoder.input_proj(self.norm(self.mask_token))

    def _readout(self, h: torch.Tensor, source: torch.Tensor, hidden: torch.Tensor | None, valid: torch.Tensor | None,
                 at: torch.Tensor | None = None, row_source: torch.Tensor | None = None) -> torch.Tensor:
        """head(h), plus for readout 'copy' the standardised features of each position's nearest
        visible step; for 'attend' / 'joint' :meth:`_attend` instead.

        h: (R, L, d_model) encoder output; source: (S, L, d_feat) standardised inputs to copy
        from; hidden, valid: (R, L) bool or None (nothing hidden / all valid); at: (R, L) bool or
        None. Returns (R, L, d_feat) (then S = R), or (K, d_feat) rows at ``at`` in ``h[at]``
        order, where row r of h copies from ``source[row_source[r]]`` (row_source (R,) long, the
        episodes of a segment sharing its one copy; None: ``source[r]``).
        """
        readout = self.config["readout"]
        if readout == "direct":
            return self.head(h if at is None else h[at])
        hidden = torch.zeros(h.shape[:2], dtype=torch.bool, device=h.device) if hidden is None else hidden
        valid = torch.ones_like(hidden) if valid is None else valid
        if readout in ("attend", "joint"):
            return self._attend(h, source, hidden, valid, at, row_source)
        out = self.head(h if at is None else h[at])
        if at is None:
            return out + copy_nearest_visible(source, hidden, valid).to(out.dtype)
        rows, pos = at.nonzero(as_tuple=True)
        src = nearest_visible(hidden, valid)[rows, pos]
        copied = source[rows if row_source is None else row_source[rows], src.clamp(min=0)]
        copied = torch.where((src >= 0).unsqueeze(-1), copied, torch.zeros_like(copied))
        return out + copied.to(out.dtype)

    def _attend(self, h: torch.Tensor, source: torch.Tensor, hidden: torch.Tensor, valid: torch.Tensor,
                at: torch.Tensor | None, row_source: torch.Tensor | None) -> torch.Tensor:
        """The 'attend' read-out (shapes as :meth:`_readout`; hidden, valid given): each step's
        softmax-weighted mean of its row's visible steps in ``source``; visible steps return their
        own; zeros in a row with no visible step."""
        length = h.shape[1]
        visible = valid & ~hidden  # (R, L)
        src = source if row_source is None else source[row_source]  # (R, L, D)
        q, k = self.attend_q(h), self.attend_k(h)  # (R, L, 32)
        pos = torch.arange(length, device=h.device, dtype=torch.float32)
        distance = (pos[:, None] - pos[None, :]).abs()  # (L, L)
        logits = (q @ k.transpose(1, 2)).float() / ATTEND_DIM ** 0.5 - self.attend_log_slope.exp() * distance
        weights = torch.softmax(logits.masked_fill(~visible.unsqueeze(1), PAD_BIAS), dim=-1)  # (R, L query, L key)
        mixed = (weights.to(src.dtype) @ src)  # (R, L, D)
        out = torch.where(visible.unsqueeze(-1), src, mixed)
        out = torch.where(visible.any(1)[:, None, None], out, torch.zeros_like(out))
        return out if at is None else out[at]

    def target(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction target for raw features ``x``: ``x`` in the standardised space."""
        return self.norm(x)


class Summarizer(nn.Module):
    """Per-frame keep-probability: encoder + Linear(d_model, 1) + sigmoid.

    ``Summarizer(config_dict)`` builds a fresh one; ``Summarizer(generator)`` (same as
    :meth:`from_generator`) copies the generator's encoder weights (an independent copy).
    forward(x (B, L, d_feat), key_padding_mask (B, L) bool or None) -> probs (B, L), 0 at pads.
    """

    def __init__(self, generator_or_config: Generator | dict):
        super().__init__()
        if isinstance(generator_or_config, Generator):
            self.config = dict(generator_or_config.config)
            self.encoder = copy.deepcopy(generator_or_config.encoder)
            self.norm = copy.deepcopy(generator_or_config.norm)
        elif isinstance(generator_or_config, dict):
            self.config = _check_config(generator_or_config)
            c = self.config
            self.encoder = TransformerEncoder(c["d_feat"], c["d_model"], c["n_heads"], c["n_layers"],
                                              c["d_ff"], c["dropout"], c["max_len"])
            self.norm = FeatureNorm(c["d_feat"])
        else:
            raise ValueError(f"Summarizer needs a Generator or a config dict, got {type(generator_or_config).__name__}")
        self.head = nn.Linear(self.config["d_model"], 1)

    @classmethod
    def from_generator(cls, generator: Generator) -> "Summarizer":
        if not isinstance(generator, Generator):
            raise ValueError(f"from_generator needs a Generator, got {type(generator).__name__}")
        return cls(generator)

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        probs = torch.sigmoid(self.head(self.encoder(self.norm(x), key_padding_mask)).squeeze(-1))
        if key_padding_mask is not None:
            probs = probs.masked_fill(key_padding_mask, 0.0)
        return probs
