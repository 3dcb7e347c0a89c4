"""SG-VS models (arXiv 2601.14773): semantic-guided transformer generator and a discriminator.

The paper describes the parts, not the formulas; this is our design (training and losses in
``vidsum.training.sgvs``).

Semantic alignment (:class:`SemanticAlignment`). Each video has one text vector t (d_text,)
(``vidsum.text``). Each step's similarity to it is

    projected  s_j = cos(P_v norm(x_j), P_t t)      learned joint space of width d_joint
               (GoogLeNet features and a sentence encoder live in unrelated spaces)
    direct     s_j = cos(x_j, t)                     no parameters; for features and text that
               come from one joint space (e.g. CLIP image features + CLIP text vectors)
    fitted     s_j = cos(norm(x_j), (t - t0) R)      no gradient-trained parameters: R (d_text, d_feat)
               and t0 are a ridge regression, fitted once on the training videos
               (:meth:`SemanticAlignment.fit`), from each video's text to the mean of its
               standardised features: what a text predicts about a video's content. No labels:
               features and texts only. The learned 'projected' space can be trained to tell the
               training videos' texts apart from anything video-specific (on the text-cue
               stand-in it does so from the recurring backgrounds, and carries nothing to a new
               video: ``benchmarks/sgvs_text_diagnosis.py``); a least-squares map from text to
               content averages what is video-specific out.

Semantic alignment attention (:class:`SGVSGenerator`). In every self-attention layer of the
scoring encoder, the logit of query i attending to key j gets ``+ a_h * s_j`` (a_h a learned
scale per head, initialised to ``ATTN_SCALE_INIT``): frames that match the text are looked at
more by every frame, so the scores are computed in a text-aware context. The encoder is the
TR-SUM :class:`~vidsum.models.encoder.TransformerEncoder` (same projection, positions and
layers); only the additive attention mask is new. ``semantic=False`` drops the alignment
module and the bias: the generator is then a plain transformer (ablation).

Score from the similarity (``score_sim=True``). The bias above is the same for every query, so
it tells no frame how well it matches the text itself: a scorer that should rank frames by
their text match has to rebuild s_j from the context. With ``score_sim`` the frame's own
similarity enters its logit, ``head(h_j) + c * z_j``, z_j = s_j standardised over the row's
valid steps (:func:`standardised_similarity`; the raw cosines of one video have a sd of
0.03-0.07 with the fitted similarity on the SumMe stand-in, too little to move a logit), c
learned from ``SCORE_SIM_INIT``.

Generator = scorer + reconstructor. The scorer gives p_j = sigmoid(head(h_j)) per step. A
summary keep_j = [u_j < p_j] is drawn from uniform noise u; its gradient reaches p either
straight through a relaxed Bernoulli (Gumbel-sigmoid, sigmoid((logit p_j + logit u_j) / T)) or
not at all (the training loop then uses a score-function estimator). Unkept steps are
replaced by a learned [MASK] vector and a second transformer (``rec_layers``) reconstructs the
whole segment from the summary, in the standardised feature space (``FeatureNorm``). Scoring
with a hard keep mask matters: weighting features by a constant p would be exactly invertible
and would reward no choice at all.

Discriminator (:class:`SGVSDiscriminator`): transformer + masked mean pooling + linear, one
logit per segment, "original" (standardised features) vs "rebuilt from the summary".
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from vidsum.models.encoder import TransformerEncoder
from vidsum.models.common import FeatureNorm

SIMILARITIES = ("projected", "direct", "fitted")
TEXT_RIDGE = 1.0  # ridge of the fitted text map (unit text vectors; test tau on the stand-in flat over 0.1-10)
ATTN_SCALE_INIT = 2.0
GENERATOR_KEYS = ("d_feat", "d_text", "d_model", "n_heads", "n_layers", "rec_layers", "d_ff", "d_joint", "dropout",
                  "max_len", "semantic", "similarity", "segment_len", "score_sim")
GENERATOR_DEFAULTS = {"score_sim": False}  # keys added later: configs saved before them still load
SCORE_SIM_INIT = 1.0  # initial weight of the standardised similarity in the score logit (score_sim)
DISCRIMINATOR_KEYS = ("d_feat", "d_model", "n_heads", "n_layers", "d_ff", "dropout", "max_len")


def _check_keys(config: dict, keys: tuple[str, ...], what: str, defaults: dict | None = None) -> dict:
    if not isinstance(config, dict):
        raise ValueError(f"{what} config must be a dict, got {type(config).__name__}")
    config = {**(defaults or {}), **config}
    missing = [k for k in keys if k not in config]
    unknown = [k for k in config if k not in keys]
    if missing or unknown:
        raise ValueError(f"bad {what} config: missing keys {missing}, unknown keys {unknown}")
    return dict(config)


def _masked_mean(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """x (B, L, D), valid (B, L) bool -> (B, D) mean over valid steps."""
    w = valid.to(x.dtype).unsqueeze(-1)
    return (x * w).sum(1) / w.sum(1).clamp(min=1.0)


class SemanticAlignment(nn.Module):
    """Frame-text similarity in a joint space.

    forward(x_norm (B, L, d_feat) standardised, x_raw (B, L, d_feat), text (B, d_text)) ->
    (sim (B, L) in [-1, 1], frames (B, L, d_joint), text (B, d_joint)), the last two in the joint
    space (unnormalised) so callers can pool frames before comparing. The joint space is d_feat
    wide for 'direct' and 'fitted' (text mapped into feature space), d_joint for 'projected'.
    """

    def __init__(self, d_feat: int, d_text: int, d_joint: int, similarity: str = "projected"):
        super().__init__()
        if similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")
        if similarity == "direct" and d_feat != d_text:
            raise ValueError(f"similarity='direct' needs features and text of one width, got d_feat={d_feat}, d_text={d_text}")
        if d_text < 1 or d_joint < 1:
            raise ValueError(f"d_text and d_joint must be >= 1, got {d_text}, {d_joint}")
        self.similarity = similarity
        if similarity == "projected":
            self.frame_proj = nn.Linear(d_feat, d_joint)
            self.text_proj = nn.Linear(d_text, d_joint)
        if similarity == "fitted":  # buffers: fitted, not trained; they travel in the state dict
            self.register_buffer("text_mean", torch.zeros(d_text))
            self.register_buffer("text_map", torch.zeros(d_text, d_feat))  # unfitted: every s_j = 0

    @torch.no_grad()
    def fit(self, texts: torch.Tensor, video_means: torch.Tensor, ridge: float = TEXT_RIDGE) -> "SemanticAlignment":
        """Fit the 'fitted' text map: texts (n_videos, d_text), video_means (n_videos, d_feat) the
        mean standardised feature of each training video. Ridge regression on centred texts (the
        means' own mean is left out: FeatureNorm already centres the features over the videos).
        One video, or videos that all share one text, teach nothing: the map stays 0 (every s_j 0)."""
        if self.similarity != "fitted":
            raise ValueError(f"fit is for similarity='fitted', this one is {self.similarity!r}")
        if texts.dim() != 2 or video_means.dim() != 2 or texts.shape[0] != video_means.shape[0] or texts.shape[0] < 1:
            raise ValueError(f"fit needs texts (n >= 1, d_text) and video_means (n, d_feat), got "
                             f"{tuple(texts.shape)}, {tuple(video_means.shape)}")
        if not ridge > 0:
            raise ValueError(f"ridge must be > 0, got {ridge}")
        t, y = texts.double(), video_means.double()
        t0 = t.mean(0)
        tc, yc = t - t0, y - y.mean(0)
        gram = tc.T @ tc + ridge * torch.eye(t.shape[1], dtype=t.dtype)
        self.text_mean.copy_(t0)
        self.text_map.copy_(torch.linalg.solve(gram, tc.T @ yc))
        return self

    def forward(self, x_norm: torch.Tensor, x_raw: torch.Tensor, text: torch.Tensor):
        if text.dim() != 2 or text.shape[0] != x_norm.shape[0]:
            raise ValueError(f"text must be (B={x_norm.shape[0]}, d_text), got {tuple(text.shape)}")
        if self.similarity == "projected":
            frames, t = self.frame_proj(x_norm), self.text_proj(text)
        elif self.similarity == "fitted":
            frames, t = x_norm, (text - self.text_mean.to(text.dtype)) @ self.text_map.to(text.dtype)
        else:
            frames, t = x_raw, text
        sim = F.cosine_similarity(frames, t.unsqueeze(1).to(frames.dtype), dim=-1, eps=1e-8)
        return sim, frames, t


class SGVSOutput(NamedTuple):
    """One generator pass over a batch of segments (B rows of L steps).

    probs:  (B, L) keep-probabilities, 0 at pads
    keep:   (B, L) sampled summary, 0/1 forward, straight-through gradient; 0 at pads
    recon:  (B, L, d_feat) reconstruction from the summary (standardised space)
    target: (B, L, d_feat) standardised input (what ``recon`` should be)
    sim:    (B, L) frame-text similarity, or None without semantics
    frames: (B, L, d_joint) frames in the joint space, or None
    text:   (B, d_joint) text in the joint space, or None
    """

    probs: torch.Tensor
    keep: torch.Tensor
    recon: torch.Tensor
    target: torch.Tensor
    sim: torch.Tensor | None
    frames: torch.Tensor | None
    text: torch.Tensor | None


class SGVSGenerator(nn.Module):
    """Semantic-guided scorer + summary reconstructor (see module docstring).

    ``config`` holds the constructor arguments: ``SGVSGenerator(**config)`` rebuilds it;
    ``segment_len`` there is the row length it is trained on and scores videos with.
    ``texts`` ({video key: (d_text,) tensor}) is not part of the state dict: training fills it
    and checkpoints carry it in their metadata, so :func:`vidsum.training.sgvs.score_video`
    needs only the model and the video.
    """

    def __init__(self, d_feat: int = 1024, d_text: int = 256, d_model: int = 512, n_heads: int = 8, n_layers: int = 3,
                 rec_layers: int = 2, d_ff: int = 2048, d_joint: int = 256, dropout: float = 0.1, max_len: int = 1024,
                 semantic: bool = True, similarity: str = "projected", segment_len: int = 128, score_sim: bool = False):
        super().__init__()
        if not 1 <= int(segment_len) <= int(max_len):
            raise ValueError(f"segment_len must be in [1, max_len={max_len}], got {segment_len}")
        self.config = {"d_feat": int(d_feat), "d_text": int(d_text), "d_model": int(d_model), "n_heads": int(n_heads),
                       "n_layers": int(n_layers), "rec_layers": int(rec_layers), "d_ff": int(d_ff), "d_joint": int(d_joint),
                       "dropout": float(dropout), "max_len": int(max_len), "semantic": bool(semantic),
                       "similarity": str(similarity), "segment_len": int(segment_len),
                       "score_sim": bool(score_sim) and bool(semantic)}
        self.norm = FeatureNorm(d_feat)
        self.align = SemanticAlignment(d_feat, d_text, d_joint, similarity) if semantic else None
        self.attn_scale = nn.Parameter(torch.full((n_heads,), ATTN_SCALE_INIT)) if semantic else None
        self.sim_scale = nn.Parameter(torch.tensor(SCORE_SIM_INIT)) if self.config["score_sim"] else None
        self.encoder = TransformerEncoder(d_feat, d_model, n_heads, n_layers, d_ff, dropout, max_len)
        self.score_head = nn.Linear(d_model, 1)
        self.mask_token = nn.Parameter(torch.randn(d_feat) * 0.02)
        self.reconstructor = TransformerEncoder(d_feat, d_model, n_heads, rec_layers, d_ff, dropout, max_len)
        self.rec_head = nn.Linear(d_model, d_feat)
        self.texts: dict[str, torch.Tensor] = {}

    @classmethod
    def from_config(cls, config: dict) -> "SGVSGenerator":
        return cls(**_check_keys(config, GENERATOR_KEYS, "SG-VS generator", GENERATOR_DEFAULTS))

    @property
    def semantic(self) -> bool:
        return self.align is not None

    def _aligned_encode(self, x_norm: torch.Tensor, sim: torch.Tensor, pad: torch.Tensor | None) -> torch.Tensor:
        """The scoring encoder with the semantic bias a_h * s_j on every attention logit -> (B, L, d_model)."""
        enc = self.encoder
        b, l, _ = x_norm.shape
        if l > enc.max_len:
            raise ValueError(f"sequence length {l} exceeds max_len={enc.max_len}")
        n_heads = self.attn_scale.shape[0]
        bias = self.attn_scale.view(1, n_heads, 1, 1) * sim.view(b, 1, 1, l)  # (B, H, 1, L): same for every query
        return enc(x_norm, pad, attn_bias=bias)

    def score(self, x: torch.Tensor, text: torch.Tensor | None = None, key_padding_mask: torch.Tensor | None = None):
        """x (B, L, d_feat) raw features, text (B, d_text) or None -> (probs (B, L), sim, frames, text_joint)."""
        if x.dim() != 3 or x.shape[-1] != self.config["d_feat"]:
            raise ValueError(f"x must be (B, L, {self.config['d_feat']}), got {tuple(x.shape)}")
        x_norm = self.norm(x)
        sim = frames = text_joint = None
        if self.semantic:
            if text is None:
                raise ValueError("this SG-VS generator is semantic: a text vector per row is needed")
            sim, frames, text_joint = self.align(x_norm, x, text)
            h = self._aligned_encode(x_norm, sim.float(), key_padding_mask)
        else:
            h = self.encoder(x_norm, key_padding_mask)
        logits = self.score_head(h).squeeze(-1)
        if self.sim_scale is not None:
            logits = logits + self.sim_scale * standardised_similarity(sim.float(), key_padding_mask)
        probs = torch.sigmoid(logits)
        if key_padding_mask is not None:
            probs = probs.masked_fill(key_padding_mask, 0.0)
        return probs, sim, frames, text_joint

    def reconstruct(self, x_norm: torch.Tensor, keep: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Rebuild (B, L, d_feat) from the kept steps of standardised ``x_norm``; keep (B, L) in [0, 1]."""
        k = keep.unsqueeze(-1).to(x_norm.dtype)
        x_in = k * x_norm + (1 - k) * self.mask_token.to(x_norm.dtype)
        return self.rec_head(self.reconstructor(x_in, key_padding_mask))

    def forward(self, x: torch.Tensor, text: torch.Tensor | None, key_padding_mask: torch.Tensor | None,
                noise: torch.Tensor, temperature: float = 0.5, straight_through: bool = True) -> SGVSOutput:
        """Score, sample a summary with uniform ``noise`` (B, L) in (0, 1), rebuild from it.

        ``straight_through=False`` returns a plain 0/1 ``keep`` with no gradient (for a
        score-function estimator computed by the caller from ``probs`` and ``keep``)."""
        if noise.shape != x.shape[:2]:
            raise ValueError(f"noise must be {tuple(x.shape[:2])}, got {tuple(noise.shape)}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        probs, sim, frames, text_joint = self.score(x, text, key_padding_mask)
        p = probs.float().clamp(1e-6, 1 - 1e-6)
        u = noise.float().clamp(1e-6, 1 - 1e-6)
        soft = torch.sigmoid((torch.log(p) - torch.log1p(-p) + torch.log(u) - torch.log1p(-u)) / temperature)
        hard = (u < p).float()  # same event as soft > 0.5
        keep = hard + (soft - soft.detach()) if straight_through else hard  # exactly 0/1 forward
        if key_padding_mask is not None:
            keep = keep.masked_fill(key_padding_mask, 0.0)
        x_norm = self.norm(x)
        recon = self.reconstruct(x_norm, keep, key_padding_mask)
        return SGVSOutput(probs, keep, recon, x_norm, sim, frames, text_joint)


class SGVSDiscriminator(nn.Module):
    """forward(x (B, L, d_feat) standardised features, key_padding_mask (B, L) or None) -> logits (B,)."""

    def __init__(self, d_feat: int = 1024, d_model: int = 256, n_heads: int = 4, n_layers: int = 2, d_ff: int = 1024,
                 dropout: float = 0.1, max_len: int = 1024):
        super().__init__()
        self.config = {"d_feat": int(d_feat), "d_model": int(d_model), "n_heads": int(n_heads), "n_layers": int(n_layers),
                       "d_ff": int(d_ff), "dropout": float(dropout), "max_len": int(max_len)}
        self.encoder = TransformerEncoder(d_feat, d_model, n_heads, n_layers, d_ff, dropout, max_len)
        self.head = nn.Linear(d_model, 1)

    @classmethod
    def from_config(cls, config: dict) -> "SGVSDiscriminator":
        return cls(**_check_keys(config, DISCRIMINATOR_KEYS, "SG-VS discriminator"))

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.encoder(x, key_padding_mask)
        valid = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device) if key_padding_mask is None else ~key_padding_mask
        return self.head(_masked_mean(h, valid)).squeeze(-1)


# --------------------------------------------------------------------------- losses


def standardised_similarity(sim: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B, L) s_j standardised per row over its valid steps (mean 0, sd 1; 0 at pads and in a row
    whose steps all match equally): how much better a step matches the text than its segment."""
    valid = torch.ones_like(sim, dtype=torch.bool) if key_padding_mask is None else ~key_padding_mask
    w = valid.to(sim.dtype)
    n = w.sum(1, keepdim=True).clamp(min=1)
    mean = (sim * w).sum(1, keepdim=True) / n
    sd = (((sim - mean) * w) ** 2).sum(1, keepdim=True).div(n).sqrt()
    return torch.where(valid, (sim - mean) / sd.clamp(min=1e-6), torch.zeros_like(sim))


def text_selection_loss(probs: torch.Tensor, sim: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Scalar: -mean over valid steps of p_j * z_j (z_j: :func:`standardised_similarity`, detached).

    The summary should hold the steps that match the video's text better than the rest of their
    segment. z sums to 0 over a row, so the term moves keep-probability between steps and leaves
    the summary's length to L_len. z is a fixed target (detached): a learned joint space must not
    be moved to agree with p. probs, sim: (B, L); valid: (B, L) bool."""
    if not (probs.shape == sim.shape == valid.shape):
        raise ValueError("probs, sim and valid must all be (B, L)")
    z = standardised_similarity(sim.detach().float(), ~valid)
    return -(probs * z * valid).sum() / valid.sum().clamp(min=1)


def length_loss(probs: torch.Tensor, valid: torch.Tensor, rate: float) -> torch.Tensor:
    """Scalar: mean over rows of (mean valid p - rate)^2 (the summary-length / sparsity term)."""
    if probs.shape != valid.shape:
        raise ValueError(f"probs {tuple(probs.shape)} and valid {tuple(valid.shape)} must match")
    if not 0 < rate < 1:
        raise ValueError(f"rate must be in (0, 1), got {rate}")
    mean_p = (probs * valid).sum(1) / valid.sum(1).clamp(min=1)
    return ((mean_p - rate) ** 2).mean()


def alignment_loss(frames: torch.Tensor, text: torch.Tensor, weights: torch.Tensor, valid: torch.Tensor,
                   text_ids: torch.Tensor, temperature: float = 0.1, reduction: str = "mean") -> torch.Tensor:
    """Summary-text contrastive loss (InfoNCE over the distinct texts of the batch).

    Each row's summary embedding is the ``weights``-weighted mean of its frames (B, L, d_joint);
    it should be closer (cosine / temperature) to its own text (B, d_joint) than to the other
    distinct texts in the batch. Rows sharing a text id (B,) share one class (e.g. a TVSum
    category). With fewer than 2 distinct texts there is nothing to contrast: returns 0.
    ``reduction='none'`` returns each row's cross-entropy (B,) instead of their mean (diagnostics).
    """
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    if frames.dim() != 3 or text.shape != (frames.shape[0], frames.shape[2]):
        raise ValueError(f"frames (B, L, d) and text (B, d) do not match: {tuple(frames.shape)}, {tuple(text.shape)}")
    if weights.shape != frames.shape[:2] or valid.shape != frames.shape[:2] or text_ids.shape != (frames.shape[0],):
        raise ValueError("weights, valid must be (B, L) and text_ids (B,)")
    classes, target = torch.unique(text_ids, return_inverse=True)
    if classes.numel() < 2:
        zero = frames.sum() * 0.0
        return zero if reduction == "mean" else zero.expand(frames.shape[0])
    w = (weights * valid).unsqueeze(-1).to(frames.dtype)
    summary = (frames * w).sum(1) / w.sum(1).clamp(min=1e-6)  # (B, d)
    # one text vector per class: the first row that carries it
    first = torch.zeros(classes.numel(), dtype=torch.long, device=text.device)
    first.scatter_reduce_(0, target, torch.arange(len(target), device=text.device), reduce="amin", include_self=False)
    logits = F.normalize(summary.float(), dim=-1) @ F.normalize(text[first].float(), dim=-1).T / temperature
    return F.cross_entropy(logits, target, reduction=reduction)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """BCE: original segments are 1, reconstructions 0."""
    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def selection_policy_loss(probs: torch.Tensor, keep: torch.Tensor, step_error: torch.Tensor,
                          valid: torch.Tensor) -> torch.Tensor:
    """Score-function (REINFORCE) loss that teaches the scorer which steps are worth keeping.

    Each step's reward is minus its own reconstruction error under the sampled summary (about 0
    when kept, its error when hidden), centred by the batch mean over valid steps:
    A_j = mean(e) - e_j. Minimising -mean_j A_j log pi(keep_j) raises p_j where hiding step j
    was costly and lowers it where the step was rebuilt well without it.
    probs, keep, step_error: (B, L) (keep 0/1, error detached); valid: (B, L) bool.
    """
    if not (probs.shape == keep.shape == step_error.shape == valid.shape):
        raise ValueError("probs, keep, step_error and valid must all be (B, L)")
    n = valid.sum().clamp(min=1)
    error = step_error.detach() * valid
    advantage = error.sum() / n - error
    p = probs.clamp(1e-6, 1 - 1e-6)
    log_pi = keep * p.log() + (1 - keep) * (1 - p).log()
    return -(advantage * log_pi * valid).sum() / n


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: reconstructions should be called original."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
