"""SG-VS training (arXiv 2601.14773, semantic-guided transformer GAN) as plain functions: no Ray here.

The paper names the parts and gives no formulas; this is our design (models in
``vidsum.models.sgvs``, whose docstring describes the semantic alignment attention).

Data. Videos are cut into L-step segments, sequential and dilated views, exactly as TR-SUM
(``vidsum.segments.build_segment_bank``); each segment row carries its video's text vector
(``vidsum.text``: SumMe name / TVSum category query / user title, WordLlama by default).

One optimisation step on a batch of B segments (x, pads, texts):

  generator G: p = score(x | text); keep_j = [u_j < p_j] with u uniform (a Bernoulli(p) summary);
  x_rec = reconstruct(keep * norm(x) + (1 - keep) * [MASK]). It minimises

      L_G + w_sel * L_sel,   L_G = w_rec * L_rec + w_adv(epoch) * L_adv + w_len * L_len + w_align * L_align
                                   + w_txt * L_txt

      L_rec    mean over valid steps of e_j = L1 + (1 - cos) between x_rec and norm(x) (TR-SUM's
               ``reconstruction_error``): the summary must carry the video
      L_sel    how L_rec's verdict reaches the sampled choice (``selection_grad``):
               'reinforce' (default): score-function term -mean_j (mean(e) - e_j) log pi(keep_j):
               steps whose hiding cost a large error get a higher p (``selection_policy_loss``);
               'straight_through': none; keep carries the gradient of a relaxed Bernoulli
               sample instead (w_sel unused). Its gradient only says how sensitive the loss is
               to a kept frame's input, not what hiding the frame would cost, hence the default.
               (On the SumMe stand-in at quick size neither lifted Kendall tau above ~0.)
      L_adv    -log D(x_rec), non-saturating: the rebuilt segment must look original
      L_len    (mean valid p - summary_rate)^2 per row, averaged: keeps summaries short (else
               keeping everything rebuilds perfectly)
      L_align  InfoNCE of the p-weighted mean of the frames (joint space) against the distinct
               texts of the batch: the summary must match its own video's text better than the
               others' (semantic guidance of the selection; trains the joint projection too)
      L_txt    -mean_j p_j z_j, z_j = s_j standardised over the segment (``text_selection_loss``,
               ``text_select_weight``, default 0): keep the steps that match the text better than
               their segment. L_align cannot say that on the training videos: the learned joint
               space separates their texts by video identity (L_align ~0.003 against chance 2.77
               on the text-cue stand-in, at strength 0 too), and the fitted one is fitted on
               those very videos, so both leave it saturated with no pull on p
               (``benchmarks/sgvs_text_diagnosis.py``).

  The history's ``loss`` is L_G (the surrogate L_sel has no meaningful value; it is logged as
  ``select_loss``); the stability figures use that curve.

  discriminator D: L_D = BCE(D(norm(x)), 1) + BCE(D(x_rec.detach()), 0), its own optimiser,
  every step. G's adversarial term reads D with detached parameters (``torch.func``), so G's
  step never touches D and each data-parallel model runs one forward per backward.

Incremental training (``incremental=True``): epochs [0, warmup_epochs) train G as a plain
summary autoencoder (w_adv = 0) while D already learns to tell original from rebuilt; then
w_adv grows linearly to ``adv_weight`` over ``ramp_epochs``. The adversary thus enters only
once G reconstructs sensibly and D is informed, instead of both starting from noise (the usual
cause of SUM-GAN-style collapse). ``incremental=False``: w_adv = ``adv_weight`` from epoch 0.

Switches for ablation: ``semantic=False`` (no text, no alignment attention, no L_align: a plain
transformer GAN), ``incremental=False``, ``align_weight=0`` (attention only),
``selection_grad``, ``similarity``
'projected' (learned joint space, GoogLeNet features), 'direct' (features and text vectors
from one joint space, e.g. CLIP; give the text vectors as an ``.npz`` in ``text_encoder``) or
'fitted' (a ridge map from text to the mean standardised feature of a video, fitted on the
training videos before the first epoch, next to ``FeatureNorm``; see ``vidsum.models.sgvs``),
``score_sim`` (the frame's own standardised similarity enters its score logit) and
``text_select_weight`` (L_txt).

Inference (:func:`score_video`): the scorer's p, averaged over the sequential and dilated views
(``vidsum.segments.score_two_views`` on a text-bound wrapper). Selection rules as TR-SUM: 'label_free' (mean
sigmoid(-L_rec) of the reconstruction from the keyshot summary on the validation videos; no
labels), 'validation' (mean F on them), 'oracle' (mean F on the test videos).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn as nn
from torch.func import functional_call

from vidsum import text as text_mod
from vidsum.training.config import PlainConfig, bound_problems, from_preset
from vidsum.data.eccv16 import Video
from vidsum.evaluation.summary import keyshot_summary
from vidsum.models.sgvs import (
    SIMILARITIES,
    SGVSDiscriminator,
    SGVSGenerator,
    alignment_loss,
    discriminator_loss,
    generator_adversarial_loss,
    length_loss,
    selection_policy_loss,
    text_selection_loss,
)
from vidsum.models.common import reconstruction_error, summary_reconstruction_loss
from vidsum.segments import build_segment_bank, gather_segments, score_two_views, sequential_segments
from vidsum.training.checkpoint import rng_state
from vidsum.training.loop import (Runtime, adam, autocast, batches, clip_finite, mean, restore, seeded, selection_values,
                                  unwrap, update_best)

__all__ = ["SGVSConfig", "PRESETS", "preset", "train_sgvs", "score_video", "adversarial_weight",
           "gan_step", "generator_step_losses", "label_free_value"]


SELECTION_GRADS = ("reinforce", "straight_through")


@dataclass
class SGVSConfig(PlainConfig):
    """Every knob of an SG-VS run, as plain values (JSON-able; stored in checkpoints and results)."""

    LABEL: ClassVar[str] = "SG-VS"

    # generator (the paper gives no sizes: ours)
    d_model: int = 512
    n_heads: int = 8
    n_layers: int = 3
    rec_layers: int = 2
    d_ff: int = 2048
    d_joint: int = 256
    dropout: float = 0.1
    # discriminator
    disc_d_model: int = 256
    disc_heads: int = 4
    disc_layers: int = 2
    disc_d_ff: int = 1024
    # text side
    semantic: bool = True
    similarity: str = "projected"  # projected | direct | fitted
    score_sim: bool = False  # the frame's own standardised similarity enters its score logit
    text_encoder: str = "wordllama"  # wordllama | hashed | path/to/vectors.npz
    titles_path: str | None = None  # JSON {video key: title}, overrides the default texts
    # segments
    segment_len: int = 128
    batch_segments: int = 32
    # optimisation
    epochs: int = 100
    g_lr: float = 1e-4
    d_lr: float = 1e-5
    weight_decay: float = 0.01
    # losses
    rec_weight: float = 1.0
    adv_weight: float = 0.5
    len_weight: float = 1.0
    align_weight: float = 0.1
    text_select_weight: float = 0.0  # L_txt: keep the steps that match the text better than their segment
    summary_rate: float = 0.3  # target mean keep-probability
    selection_grad: str = "reinforce"  # reinforce | straight_through: how L_rec's signal reaches p
    select_weight: float = 1.0  # weight of the score-function term (selection_grad='reinforce')
    select_temperature: float = 0.5  # relaxed-Bernoulli temperature (selection_grad='straight_through')
    align_temperature: float = 0.1
    # incremental training
    incremental: bool = True
    warmup_epochs: int = 10
    ramp_epochs: int = 20
    # selection / evaluation
    val_fraction: float = 0.2
    summary_proportion: float = 0.15
    # runtime
    seed: int = 0
    amp: bool = True  # bf16 autocast where vidsum.training.precision's rule says it pays
    grad_clip: float = 1.0

    def problems(self) -> list[str]:
        problems = []
        for name in ("semantic", "incremental", "score_sim"):
            if not isinstance(getattr(self, name), bool):
                problems.append(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.selection_grad not in SELECTION_GRADS:
            problems.append(f"selection_grad must be one of {'|'.join(SELECTION_GRADS)}, got {self.selection_grad!r}")
        if self.similarity not in SIMILARITIES:
            problems.append(f"similarity must be one of {'|'.join(SIMILARITIES)}, got {self.similarity!r}")
        if not isinstance(self.text_encoder, str) or not (self.text_encoder in text_mod.ENCODERS or self.text_encoder.endswith(".npz")):
            problems.append(f"text_encoder must be one of {'|'.join(text_mod.ENCODERS)} or a .npz path, got {self.text_encoder!r}")
        if self.similarity == "direct" and not str(self.text_encoder).endswith(".npz"):
            problems.append("similarity='direct' needs text vectors in the features' own space: give text_encoder as a .npz path")
        problems += bound_problems(
            self,
            ("open_unit", ("summary_rate", "val_fraction", "summary_proportion")),
            ("at_least_one", ("d_model", "n_heads", "n_layers", "rec_layers", "d_ff", "d_joint", "disc_d_model",
                              "disc_heads", "disc_layers", "disc_d_ff", "segment_len", "batch_segments")),
            ("non_negative", ("epochs", "warmup_epochs", "ramp_epochs")),
            ("positive", ("g_lr", "d_lr", "select_temperature", "align_temperature", "grad_clip")),
            ("non_negative", ("rec_weight", "adv_weight", "len_weight", "align_weight", "select_weight", "weight_decay",
                              "text_select_weight")),
        )
        if not 0 <= self.dropout < 1:
            problems.append(f"dropout must be in [0, 1), got {self.dropout}")
        if self.d_model % self.n_heads:
            problems.append(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.disc_d_model % self.disc_heads:
            problems.append(f"disc_d_model {self.disc_d_model} is not divisible by disc_heads {self.disc_heads}")
        return problems


# The paper gives no hyperparameters; 'paper' is our full-size setting, 'quick' fits a SumMe
# fold in a few minutes on 2 CPU cores. 'quick' reads the text through the fitted map and lets
# it steer the scores (similarity='fitted', score_sim, L_txt): with the learned projection the
# SumMe text-cue stand-in stayed at random (tau margin +0.006 +- 0.032 over 5 splits x 2 seeds),
# with these +0.070 +- 0.030 (10/10 above random), +0.001 +- 0.028 at strength 0 (README,
# "SG-VS on the text cue"). 'paper' keeps the learned projection of the method's description.
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "quick": dict(
        d_model=64, n_heads=4, n_layers=2, rec_layers=1, d_ff=128, d_joint=64, dropout=0.0,
        disc_d_model=32, disc_heads=4, disc_layers=1, disc_d_ff=64,
        segment_len=64, batch_segments=16, epochs=30, g_lr=1e-3, d_lr=2e-4,
        warmup_epochs=5, ramp_epochs=10,
        similarity="fitted", score_sim=True, text_select_weight=1.0,
    ),
}


def preset(name: str, **overrides: Any) -> SGVSConfig:
    return from_preset(SGVSConfig, PRESETS, name, **overrides)


def adversarial_weight(cfg: SGVSConfig, epoch: int) -> float:
    """w_adv of an epoch: 0 during warm-up, then a linear ramp to ``adv_weight`` (incremental)."""
    if not cfg.incremental:
        return cfg.adv_weight
    if epoch < cfg.warmup_epochs:
        return 0.0
    return cfg.adv_weight * min(1.0, (epoch - cfg.warmup_epochs + 1) / max(1, cfg.ramp_epochs))


# --------------------------------------------------------------------------- text


def load_text_vectors(cfg: SGVSConfig, dataset: str, keys: list[str]) -> dict[str, np.ndarray]:
    """{key: (d_text,) float32} for ``keys`` (empty when ``cfg.semantic`` is off)."""
    if not cfg.semantic:
        return {}
    titles = text_mod.read_titles(cfg.titles_path) if cfg.titles_path else None
    return text_mod.text_vectors(dataset, keys, cfg.text_encoder, titles=titles)


def _text_table(videos: list[Video], vectors: dict[str, np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """(n_videos, d_text) float32 text vectors in ``videos`` order and (n_videos,) long class ids
    (videos with identical vectors, i.e. identical texts, share an id)."""
    table = np.stack([vectors[v.key] for v in videos]).astype(np.float32)
    _, ids = np.unique(table, axis=0, return_inverse=True)
    return torch.from_numpy(table), torch.from_numpy(ids.reshape(-1).astype(np.int64))


@torch.no_grad()
def video_means(gen: SGVSGenerator, videos: list[Video]) -> torch.Tensor:
    """(n_videos, d_feat) mean standardised feature of each video (what the 'fitted' text map predicts)."""
    return torch.stack([gen.norm(torch.from_numpy(v.features)).mean(0) for v in videos])


# --------------------------------------------------------------------------- inference


class _TextBound(nn.Module):
    """The generator's scorer with one video's text fixed: forward(x, key_padding_mask) -> probs."""

    def __init__(self, generator: SGVSGenerator, text: torch.Tensor | None):
        super().__init__()
        self.generator = generator
        self.text = text

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        t = None if self.text is None else self.text.to(x.device, x.dtype).expand(x.shape[0], -1)
        return self.generator.score(x, t, key_padding_mask)[0]


def _video_text(gen: SGVSGenerator, video: Video, text: torch.Tensor | np.ndarray | None) -> torch.Tensor | None:
    if not gen.semantic:
        return None
    if text is None:
        if video.key not in gen.texts:
            raise KeyError(f"{video.key}: the generator has no text vector for this video; pass text= "
                           f"(vidsum summarize: --title)")
        text = gen.texts[video.key]
    text = torch.as_tensor(text, dtype=torch.float32)
    if text.shape != (gen.config["d_text"],):
        raise ValueError(f"{video.key}: text vector must be ({gen.config['d_text']},), got {tuple(text.shape)}")
    return text


@torch.no_grad()
def score_video(model: nn.Module, video: Video, text: torch.Tensor | np.ndarray | None = None,
                segment_len: int | None = None) -> np.ndarray:
    """Per-step importance (n_steps,) in [0, 1]: mean of the sequential and dilated views.

    ``text`` (d_text,) defaults to the generator's stored vector for ``video.key``;
    ``segment_len`` to the one the generator was trained with.
    """
    gen = unwrap(model)
    bound = _TextBound(gen, _video_text(gen, video, text))
    bound.training = gen.training  # score_two_views restores the wrapper's mode onto the generator
    return score_two_views(bound, video.features, segment_len or gen.config["segment_len"])


def add_title(model: nn.Module, key: str, title: str, cfg: SGVSConfig) -> None:
    """Give the generator the text vector of ``title`` (encoded as in training) for video ``key``:
    a video it has no text for (``vidsum summarize --title``). A no-op without ``cfg.semantic``."""
    gen = unwrap(model)
    if not gen.semantic:
        return
    if cfg.text_encoder.endswith(".npz"):
        raise ValueError(f"this SG-VS model reads precomputed text vectors ({cfg.text_encoder}); a title cannot be encoded")
    vector = text_mod.encode_cached({key: title}, text_mod.get_encoder(cfg.text_encoder))[key]
    gen.texts = {**gen.texts, key: torch.from_numpy(np.asarray(vector, dtype=np.float32))}


@torch.no_grad()
def label_free_value(model: nn.Module, video: Video, proportion: float = 0.15, scores: np.ndarray | None = None) -> float:
    """sigmoid(-L) of rebuilding the video (sequential segments) from its keyshot summary; no labels.
    ``scores``: the model's ``score_video`` of this video when the caller has it already."""
    gen = unwrap(model)
    device = next(gen.parameters()).device
    was_training = gen.training
    gen.eval()
    scores = score_video(gen, video) if scores is None else scores
    frames = keyshot_summary(scores, video.picks, video.change_points, video.n_frames, proportion)
    keep = torch.from_numpy(frames[video.picks].astype(bool)).to(device)
    index = sequential_segments(video.n_steps, gen.config["segment_len"]).to(device)
    x, pad = gather_segments(torch.from_numpy(video.features).to(device), index)
    keep_seg = torch.where(index >= 0, keep[index.clamp(min=0)], torch.zeros_like(pad))
    x_norm = gen.norm(x)
    recon = gen.reconstruct(x_norm, keep_seg.float(), pad)
    loss = summary_reconstruction_loss(recon.float(), x_norm, ~keep_seg & ~pad, ~pad)
    gen.train(was_training)
    return float(torch.sigmoid(-loss.mean()))


# --------------------------------------------------------------------------- training


def generator_step_losses(gen: nn.Module, disc: SGVSDiscriminator, cfg: SGVSConfig, x: torch.Tensor, pad: torch.Tensor,
                          text: torch.Tensor | None, text_ids: torch.Tensor | None, noise: torch.Tensor,
                          w_adv: float):
    """Generator losses of one batch. x (B, L, D), pad (B, L), text (B, d_text) or None,
    text_ids (B,) or None, noise (B, L) uniform. Returns (what to minimise, output, {name: detached
    value}); 'loss' there is L_G without the score-function surrogate (whose value means nothing)."""
    reinforce = cfg.selection_grad == "reinforce"
    out = gen(x, text, pad, noise, cfg.select_temperature, straight_through=not reinforce)
    valid = ~pad
    step_error = reconstruction_error(out.recon.float(), out.target.float(), valid)  # (B, L), 0 at pads
    l_rec = step_error.sum() / valid.sum()
    d_params = {name: p.detach() for name, p in disc.named_parameters()}
    fake_logits = functional_call(disc, {**d_params, **dict(disc.named_buffers())}, (out.recon, pad))
    l_adv = generator_adversarial_loss(fake_logits.float())
    l_len = length_loss(out.probs.float(), valid, cfg.summary_rate)
    zero = out.probs.sum() * 0.0
    use_align = cfg.semantic and cfg.align_weight > 0
    l_align = (alignment_loss(out.frames.float(), out.text.float(), out.probs.float(), valid, text_ids, cfg.align_temperature)
               if use_align else zero)
    l_sel = selection_policy_loss(out.probs.float(), out.keep, step_error, valid) if reinforce else zero
    l_txt = (text_selection_loss(out.probs.float(), out.sim, valid)
             if cfg.semantic and cfg.text_select_weight > 0 else zero)
    l_gen = (cfg.rec_weight * l_rec + w_adv * l_adv + cfg.len_weight * l_len + cfg.align_weight * l_align
             + cfg.text_select_weight * l_txt)
    parts = {"loss": l_gen.detach(), "rec_loss": l_rec.detach(), "adv_loss": l_adv.detach(), "len_loss": l_len.detach(),
             "align_loss": l_align.detach(), "select_loss": l_sel.detach(), "text_loss": l_txt.detach()}
    return l_gen + cfg.select_weight * l_sel, out, parts


def gan_step(g_model: nn.Module, d_model: nn.Module, g_opt: torch.optim.Optimizer, d_opt: torch.optim.Optimizer,
             cfg: SGVSConfig, x: torch.Tensor, pad: torch.Tensor, text: torch.Tensor | None, text_ids: torch.Tensor | None,
             noise: torch.Tensor, w_adv: float) -> dict[str, float]:
    """One generator update, then one discriminator update, on a batch (shapes as in
    :func:`generator_step_losses`). ``g_model`` / ``d_model`` may be data-parallel wrappers; the
    optimisers hold the unwrapped parameters. Returns the batch's losses and D's mean outputs."""
    gen, disc = unwrap(g_model), unwrap(d_model)
    with autocast(cfg, x.device):
        g_loss, out, parts = generator_step_losses(g_model, disc, cfg, x, pad, text, text_ids, noise, w_adv)
    g_opt.zero_grad(set_to_none=True)
    g_loss.backward()
    clip_finite(gen.parameters(), cfg.grad_clip, "SG-VS generator step", cfg, x.device)
    g_opt.step()
    # originals and reconstructions in one forward: one forward per backward under DDP
    with autocast(cfg, x.device):
        logits = d_model(torch.cat([out.target.detach(), out.recon.detach()]), torch.cat([pad, pad])).float()
        real, fake = logits.chunk(2)
        d_loss = discriminator_loss(real, fake)
    d_opt.zero_grad(set_to_none=True)
    d_loss.backward()
    clip_finite(disc.parameters(), cfg.grad_clip, "SG-VS discriminator step", cfg, x.device)
    d_opt.step()
    valid = ~pad
    return {**{k: float(v) for k, v in parts.items()}, "d_loss": d_loss.item(),
            "d_real": float(torch.sigmoid(real.detach()).mean()), "d_fake": float(torch.sigmoid(fake.detach()).mean()),
            "mean_p": float((out.probs.detach().float() * valid).sum() / valid.sum())}


def train_sgvs(
    cfg: SGVSConfig,
    videos: list[Video],
    rt: Runtime | None = None,
    *,
    val_videos: list[Video] | None = None,
    test_videos: list[Video] | None = None,
    dataset: str = "summe",
) -> tuple[SGVSGenerator, list[dict], dict[str, dict]]:
    """Train SG-VS. Returns the final generator (unwrapped, on ``rt.device``, texts of all given
    videos attached), per-epoch history (one row per epoch: 'epoch', 'loss' = mean L_G, the loss
    parts, 'd_loss', 'mean_p', 'adv_weight', 'sel_<rule>') and, per selection rule, the best
    epoch and its generator weights ``{'label_free': {'epoch', 'value', 'state'}, ...}``.
    """
    if not videos:
        raise ValueError("train_sgvs: no training videos")
    rt = rt or Runtime()
    torch.manual_seed(cfg.seed)
    shuffle_gen, noise_gen = seeded(cfg.seed, 11), seeded(cfg.seed, 12)
    bank = build_segment_bank(videos, cfg.segment_len)
    every = {v.key: v for v in [*videos, *(val_videos or []), *(test_videos or [])]}
    vectors = load_text_vectors(cfg, dataset, list(every))
    d_text = next(iter(vectors.values())).shape[0] if vectors else 1
    if cfg.semantic:
        text_table, text_ids = _text_table(videos, vectors)
    d_feat = bank.x.shape[-1]
    gen = SGVSGenerator(d_feat=d_feat, d_text=d_text, d_model=cfg.d_model, n_heads=cfg.n_heads, n_layers=cfg.n_layers,
                        rec_layers=cfg.rec_layers, d_ff=cfg.d_ff, d_joint=cfg.d_joint, dropout=cfg.dropout,
                        max_len=max(1024, cfg.segment_len), semantic=cfg.semantic, similarity=cfg.similarity,
                        segment_len=cfg.segment_len, score_sim=cfg.score_sim)
    gen.norm.fit(bank.x[~bank.pad])
    if cfg.semantic and cfg.similarity == "fitted":
        gen.align.fit(text_table, video_means(gen, videos))
    gen.texts = {k: torch.from_numpy(v) for k, v in vectors.items()}
    disc = SGVSDiscriminator(d_feat=d_feat, d_model=cfg.disc_d_model, n_heads=cfg.disc_heads, n_layers=cfg.disc_layers,
                             d_ff=cfg.disc_d_ff, dropout=cfg.dropout, max_len=max(1024, cfg.segment_len))
    gen, disc = gen.to(rt.device), disc.to(rt.device)
    g_model, d_model = rt.wrap_model(gen), rt.wrap_model(disc)
    g_opt = adam(torch.optim.AdamW, gen.parameters(), rt.device, lr=cfg.g_lr, weight_decay=cfg.weight_decay)
    d_opt = adam(torch.optim.AdamW, disc.parameters(), rt.device, lr=cfg.d_lr, weight_decay=cfg.weight_decay)
    history: list[dict] = []
    best: dict[str, dict] = {}
    start_epoch = 0
    if rt.resume is not None:
        history, start_epoch, extra = restore(rt.resume, model=gen, optimizer=g_opt, generators=(shuffle_gen, noise_gen))
        disc.load_state_dict(extra["discriminator"])
        d_opt.load_state_dict(extra["d_optimizer"])
        best = copy.deepcopy(extra["best"])
    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        w_adv = adversarial_weight(cfg, epoch)
        g_model.train(), d_model.train()
        sums: dict[str, list[float]] = {k: [] for k in ("loss", "rec_loss", "adv_loss", "len_loss", "align_loss",
                                                       "select_loss", "text_loss", "d_loss", "d_real", "d_fake",
                                                       "mean_p")}
        for idx in batches(len(bank), cfg.batch_segments, rt, shuffle_gen):
            x, pad = bank.x[idx].to(rt.device), bank.pad[idx].to(rt.device)
            owner = bank.owner[idx]
            text = text_table[owner].to(rt.device) if cfg.semantic else None
            ids = text_ids[owner].to(rt.device) if cfg.semantic else None
            # noise drawn on CPU from the loop's generator: the same summaries on CPU and GPU for a seed
            noise = torch.rand(x.shape[:2], generator=noise_gen).to(rt.device)
            stats = gan_step(g_model, d_model, g_opt, d_opt, cfg, x, pad, text, ids, noise, w_adv)
            for k, v in stats.items():
                sums[k].append(v)
        row = {"stage": "sgvs", "epoch": epoch, **{k: mean(v) for k, v in sums.items()}, "adv_weight": w_adv,
               "epoch_s": time.perf_counter() - t0}
        t1 = time.perf_counter()
        values = selection_values(lambda v: score_video(gen, v),
                                  lambda v, s: label_free_value(gen, v, cfg.summary_proportion, s),
                                  val_videos, test_videos, dataset)
        row["select_s"] = time.perf_counter() - t1  # scoring for model selection, outside epoch_s
        update_best(best, values, epoch, gen, row)
        history.append(row)
        if rt.report is not None:
            rt.report(row, {
                "kind": "sgvs-generator", "epoch": epoch, "model": gen.state_dict(), "model_config": gen.config,
                "optimizer": g_opt.state_dict(), "rng": rng_state(shuffle_gen, noise_gen), "history": history,
                "extra": {"discriminator": disc.state_dict(), "discriminator_config": disc.config,
                          "d_optimizer": d_opt.state_dict(), "best": best, "texts": gen.texts},
                "meta": {"config": cfg.to_dict()},
            })
    return gen, history, best
