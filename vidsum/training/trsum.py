"""TR-SUM training (arXiv 2407.04258) as plain functions: no Ray here.

Stage 1, ``pretrain_generator``: a transformer generator learns to reconstruct masked frame
features (dynamic-window masking on shots by default), loss L1 + (1 - cos) on the chosen
positions, AdamW with linear warm-up then cosine decay, many segments per batch.

Stage 2, ``train_summarizer``: a summarizer (encoder initialised from the generator, + linear +
sigmoid) gives each step a probability p. N episodes are drawn from Bernoulli(p) *as one batch*;
in each, the unselected steps are replaced by the [MASK] token, the frozen generator
reconstructs them, and the reward is sigmoid(-L_rec). L_rec is the error of the whole segment
rebuilt from the summary: the selected steps are known exactly (error 0), each hidden step
costs its L1 + (1 - cos) reconstruction error, averaged over all valid steps. (Scoring the
generator's output on the visible steps too would mostly measure how well it copies its input,
which drowns the signal; keeping more steps lowers L_rec, which the length term balances.)
Features are standardised per dimension with statistics of the training videos (see
``vidsum.models.common.FeatureNorm``); losses are computed in that space. REINFORCE with a per-video moving-average baseline:

    loss = -mean_{episodes, segments}[(R - b_video) * mean_t log pi(a_t)] + beta * (mean_t p_t - delta)^2

(the paper's Bernoulli episodes; ``rl_budget='exact'``, the quick preset's, instead keeps exactly
round(delta * L) steps of every segment in every episode: ``vidsum.training.policy``).

Inference, ``score_video``: the video is cut into L-step segments twice (sequential and
dilated), the summarizer scores both, and the per-step scores are averaged.

Both loops take a ``Runtime`` saying where they run (device, rank, world size, how to wrap a
model for data parallelism, where to report). The default is a single in-process worker; the
Ray Train wrapper (``vidsum.distributed``) passes its own. Batches are drawn from one shared
seed on every rank and each rank takes its slice, so N workers see exactly the batches one
worker would.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn as nn

from vidsum.training.config import PlainConfig, bound_problems, from_preset
from vidsum.data.eccv16 import Video
from vidsum.evaluation.summary import keyshot_summary
from vidsum.masking import apply_mask, dynamic_window_mask, fixed_window_mask, random_mask
from vidsum.models.trsum import READOUTS, Generator, Summarizer, reconstruction_error_rows
from vidsum.segments import build_segment_bank, gather_segments, score_two_views, segment_index
from vidsum.training.checkpoint import rng_state
from vidsum.training.policy import bernoulli_episodes, fixed_budget_episodes
from vidsum.training.loop import (Runtime, adam, autocast, batches, clip_finite, mean, others_mean, restore, seeded,
                                  selection_values, unwrap, update_best)


@dataclass
class TRSumConfig(PlainConfig):
    """Every knob of a TR-SUM run, as plain values (JSON-able; stored in checkpoints and results)."""

    LABEL: ClassVar[str] = "TR-SUM"

    # model (paper: 1024 / 8 heads / 3 layers / FFN 4096)
    d_model: int = 1024
    n_heads: int = 8
    n_layers: int = 3
    d_ff: int = 4096
    dropout: float = 0.1
    readout: str = "direct"  # direct (the paper) | copy: nearest visible step + correction | attend | joint (models/trsum.py)
    # segments
    segment_len: int = 128  # L
    batch_segments: int = 32  # segments per optimisation step
    # stage 1: masked reconstruction
    gen_epochs: int = 250
    gen_lr: float = 1e-4
    weight_decay: float = 0.01
    # std of Gaussian noise added to the generator's inputs in stage 1, in the standardised feature
    # space (the targets stay clean): an augmentation against overfitting 16 training videos
    input_noise: float = 0.0
    warmup_frac: float = 0.05
    mask_mode: str = "dynamic"  # dynamic | random | fixed
    mask_ratio: float = 0.25  # M_R
    window_ratio: float = 0.5  # D_R (dynamic windows = D_R x shot length)
    fixed_window: int = 8  # window length in steps for mask_mode='fixed'
    # stage 2: REINFORCE
    rl_epochs: int = 100
    rl_lr: float = 1e-5
    n_episodes: int = 5  # N
    delta: float = 0.5  # target mean selection probability
    beta: float = 0.001  # weight of the length term
    baseline_momentum: float = 0.9
    # length_term: the policy is the summarizer's p and beta * (mean p - delta)^2 holds the budget
    # (the paper) | centred: episodes are drawn from sigmoid(z - mean_segment(z) + logit(delta)),
    # z the summarizer's logits, so no gradient can move the segment's keep rate: only which
    # steps are kept is learned (the reward rises with every kept step, so otherwise RL also
    # learns how many; see README) | exact: every episode keeps exactly round(delta * L) steps of
    # a segment, drawn without replacement in proportion to exp(z) (vidsum.training.policy), so
    # the keep rate is delta by construction. Scoring always uses the summarizer's own p.
    rl_budget: str = "length_term"
    rl_baseline: str = "moving_average"  # moving_average (per video, the paper) | leave_one_out (other episodes)
    # selection / evaluation
    val_fraction: float = 0.2  # held-out part of the training fold used for model selection
    summary_proportion: float = 0.15
    # runtime
    seed: int = 0
    amp: bool = True  # bf16 autocast where vidsum.training.precision's rule says it pays
    grad_clip: float = 1.0

    def problems(self) -> list[str]:
        problems = []
        if self.mask_mode not in ("dynamic", "random", "fixed"):
            problems.append(f"mask_mode must be dynamic|random|fixed, got {self.mask_mode!r}")
        if self.readout not in READOUTS:
            problems.append(f"readout must be {'|'.join(READOUTS)}, got {self.readout!r}")
        if self.rl_budget not in RL_BUDGETS:
            problems.append(f"rl_budget must be {'|'.join(RL_BUDGETS)}, got {self.rl_budget!r}")
        if self.rl_baseline not in ("moving_average", "leave_one_out"):
            problems.append(f"rl_baseline must be moving_average|leave_one_out, got {self.rl_baseline!r}")
        if self.rl_baseline == "leave_one_out" and self.n_episodes < 2:
            problems.append("a leave-one-out baseline needs n_episodes >= 2")
        problems += bound_problems(
            self,
            ("open_unit", ("mask_ratio", "window_ratio", "delta", "val_fraction", "summary_proportion")),
            ("at_least_one", ("d_model", "n_heads", "n_layers", "d_ff", "segment_len", "batch_segments", "n_episodes")),
            ("non_negative", ("gen_epochs", "rl_epochs", "input_noise")),
        )
        if self.d_model % self.n_heads:
            problems.append(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        return problems


RL_BUDGETS = ("length_term", "centred", "exact")


# Paper values where the paper states them (architecture, epochs, L, D_R, M_R, N, delta, beta);
# the learning rates are not given there and are ours (documented in README).
PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    # Small enough for a SumMe fold in a few minutes on 2 CPU cores. Why each choice, with the
    # measurements behind it (random frame masking at this budget, the leave-one-out baseline, the
    # fixed keep budget; what was tried and not kept: readout='copy' / 'attend', beta=1,
    # rl_budget='centred'):
    # README, "Where the methods stand" and "Speed".
    "quick": dict(
        d_model=128, n_heads=8, n_layers=3, d_ff=256, dropout=0.0, segment_len=64, batch_segments=16,
        gen_epochs=120, gen_lr=2e-3, mask_mode="random", rl_epochs=25, rl_lr=1e-3, beta=0.01,
        rl_baseline="leave_one_out", rl_budget="exact",
    ),
}


def preset(name: str, **overrides: Any) -> TRSumConfig:
    return from_preset(TRSumConfig, PRESETS, name, **overrides)


# --------------------------------------------------------------------------- data


def _mask_plan(cfg: TRSumConfig, shot_ids: torch.Tensor, pad: torch.Tensor, gen: torch.Generator):
    if cfg.mask_mode == "dynamic":
        return dynamic_window_mask(shot_ids, cfg.mask_ratio, cfg.window_ratio, gen)
    if cfg.mask_mode == "random":
        return random_mask(~pad, cfg.mask_ratio, gen)
    return fixed_window_mask(~pad, cfg.mask_ratio, cfg.fixed_window, gen)


def _warmup_cosine(opt: torch.optim.Optimizer, total_steps: int, warmup_frac: float):
    warmup = max(1, int(round(warmup_frac * total_steps)))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


# --------------------------------------------------------------------------- stage 1


def generator_batch_loss(gen: nn.Module, cfg: TRSumConfig, x: torch.Tensor, pad: torch.Tensor, shot_ids: torch.Tensor,
                         mask_gen: torch.Generator) -> torch.Tensor:
    """Masked-reconstruction loss of one batch: L1 + (1 - cos) on the chosen positions.

    x: (B, L, D); pad, shot_ids: (B, L). The mask plan is drawn on CPU from ``mask_gen``.
    """
    # The plan is drawn on CPU from the loop's generator, so a seed gives the same masks anywhere.
    plan = _mask_plan(cfg, shot_ids.cpu(), pad.cpu(), mask_gen)
    plan = type(plan)(**{k: v.to(x.device) for k, v in vars(plan).items()})
    x_in = apply_mask(x, plan, None)  # replaced windows; the generator puts its [MASK] token in itself
    if cfg.input_noise > 0:  # drawn on CPU from the same generator: a seed gives the same noise anywhere
        std = unwrap(gen).norm.std
        noise = torch.randn(x.shape, generator=mask_gen).to(x.device)
        x_in = x_in + cfg.input_noise * std * noise
    at = plan.chosen & ~pad
    if not bool(at.any()):
        raise ValueError("generator_batch_loss: the mask plan chose no valid position")
    target = unwrap(gen).target(x[at]).float()
    if cfg.readout == "joint":  # both read-outs learn on the same positions (models/trsum.py, Generator)
        recon, direct = gen(x_in, mask=plan.masked, key_padding_mask=pad, at=at, both=True)
        return (reconstruction_error_rows(recon.float(), target).mean()
                + reconstruction_error_rows(direct.float(), target).mean())
    recon = gen(x_in, mask=plan.masked, key_padding_mask=pad, at=at)  # (K, D): the loss positions only
    return reconstruction_error_rows(recon.float(), target).mean()


def pretrain_generator(cfg: TRSumConfig, videos: list[Video], rt: Runtime | None = None) -> tuple[Generator, list[dict]]:
    """Stage 1. Returns the trained generator (unwrapped, on ``rt.device``) and the per-epoch history."""
    rt = rt or Runtime()
    torch.manual_seed(cfg.seed)
    shuffle_gen, mask_gen = seeded(cfg.seed, 1), seeded(cfg.seed, 2)
    bank = build_segment_bank(videos, cfg.segment_len)
    gen = Generator(d_feat=bank.x.shape[-1], d_model=cfg.d_model, n_heads=cfg.n_heads, n_layers=cfg.n_layers,
                    d_ff=cfg.d_ff, dropout=cfg.dropout, readout=cfg.readout)
    gen.norm.fit(bank.x[~bank.pad])
    gen = gen.to(rt.device)
    model = rt.wrap_model(gen)
    opt = adam(torch.optim.AdamW, gen.parameters(), rt.device, lr=cfg.gen_lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = len(batches(len(bank), cfg.batch_segments, rt, torch.Generator()))
    sched = _warmup_cosine(opt, max(1, steps_per_epoch * cfg.gen_epochs), cfg.warmup_frac)
    history: list[dict] = []
    start_epoch = 0
    if rt.resume is not None:
        history, start_epoch, _ = restore(rt.resume, model=gen, optimizer=opt, scheduler=sched,
                                          generators=(shuffle_gen, mask_gen))
    for epoch in range(start_epoch, cfg.gen_epochs):
        t0 = time.perf_counter()
        model.train()
        losses = []
        for idx in batches(len(bank), cfg.batch_segments, rt, shuffle_gen):
            x, pad = bank.x[idx].to(rt.device), bank.pad[idx].to(rt.device)
            with autocast(cfg, rt.device):
                loss = generator_batch_loss(model, cfg, x, pad, bank.shot_ids[idx], mask_gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            clip_finite(gen.parameters(), cfg.grad_clip, f"TR-SUM generator epoch {epoch}", cfg, rt.device)
            opt.step()
            sched.step()
            losses.append(loss.item())
        row = {"stage": "generator", "epoch": epoch, "loss": mean(losses),
               "lr": sched.get_last_lr()[0], "epoch_s": time.perf_counter() - t0}
        history.append(row)
        if rt.report is not None:
            rt.report(row, {
                "kind": "trsum-generator", "epoch": epoch, "model": gen.state_dict(), "model_config": gen.config,
                "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "rng": rng_state(shuffle_gen, mask_gen), "history": history, "extra": {}, "meta": {"config": cfg.to_dict()},
            })
    return gen, history


# --------------------------------------------------------------------------- stage 2


def rl_batch_loss(summ: nn.Module, gen: Generator, cfg: TRSumConfig, x: torch.Tensor, pad: torch.Tensor,
                  baseline: torch.Tensor, sample_gen: torch.Generator) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One REINFORCE step's loss for a batch of segments, all N episodes in one generator call.

    x: (B, L, D); pad: (B, L); baseline: (B,) the moving-average reward of each segment's video
    (used when ``cfg.rl_baseline == 'moving_average'``; 'leave_one_out' uses the other episodes).
    Returns the loss and detached stats: reward (N, B), mean_p (B,) the summarizer's mean
    probability, keep_rate (B,) the fraction of valid steps the episodes kept.
    """
    n_ep, (b, l, _) = cfg.n_episodes, x.shape
    valid = ~pad
    probs = summ(x, key_padding_mask=pad).float().clamp(1e-6, 1 - 1e-6)  # (B, L)
    if cfg.rl_budget == "centred":
        probs = centred_policy(probs, valid, cfg.delta)
    if cfg.rl_budget == "exact":
        actions, log_pi = fixed_budget_episodes(probs, valid, cfg.delta, n_ep, sample_gen)  # (N, B, L), (N, B)
    else:
        actions, log_pi = bernoulli_episodes(probs, valid, n_ep, sample_gen)
    with torch.no_grad():
        hidden = (actions == 0) & valid  # (N, B, L): unselected steps are hidden from the generator
        reward = torch.sigmoid(-gen.episode_losses(x, hidden, pad))  # (N, B)
        advantage = _advantages(cfg, reward, baseline)  # (N, B)
    mean_p = (probs * valid).sum(-1) / valid.sum(1).clamp(min=1)  # (B,)
    loss = -(advantage * log_pi).mean() + cfg.beta * ((mean_p - cfg.delta) ** 2).mean()
    keep_rate = ((actions * valid).sum(-1) / valid.sum(1).clamp(min=1)).mean(0)
    return loss, {"reward": reward, "mean_p": mean_p.detach(), "keep_rate": keep_rate.detach()}


def centred_policy(probs: torch.Tensor, valid: torch.Tensor, delta: float) -> torch.Tensor:
    """(B, L) keep-probabilities sigmoid(z - mean z + logit(delta)), z = logit(probs), the mean
    over each row's valid steps: the same order as ``probs``, a keep rate near ``delta`` (exactly
    delta when the logits are all equal), and no gradient along a shift of all of a row's logits.
    probs: (B, L) in (0, 1); valid: (B, L) bool. Pads get delta (they are never scored)."""
    z = torch.logit(probs)
    n = valid.sum(1, keepdim=True).clamp(min=1)
    mean = (z * valid).sum(1, keepdim=True) / n
    return torch.sigmoid(z - mean + math.log(delta / (1 - delta))).clamp(1e-6, 1 - 1e-6)


def _advantages(cfg: TRSumConfig, reward: torch.Tensor, baseline: torch.Tensor) -> torch.Tensor:
    """(N, B) advantage of each episode: its reward (N, B) minus a baseline, either the video's
    moving average (``baseline`` (B,), the paper) or the mean reward of the *other* episodes of the
    same segment (leave-one-out: unbiased, and it takes out how hard the segment itself is to
    rebuild, which a per-video average leaves in every advantage)."""
    if cfg.rl_baseline == "leave_one_out":
        return reward - others_mean(reward)
    return reward - baseline.unsqueeze(0)


def score_video(summ: nn.Module, video: Video, segment_len: int, device: torch.device | None = None) -> np.ndarray:
    """Per-step importance scores (n_steps,) in [0, 1]: mean of the sequential and dilated views."""
    return score_two_views(summ, video.features, segment_len, device)


@torch.no_grad()
def label_free_reward(summ: nn.Module, gen: Generator, video: Video, segment_len: int, proportion: float = 0.15) -> float:
    """How well the frozen generator rebuilds the video from the summary the summarizer would pick.

    The keyshot summary (knapsack, ``proportion`` of frames) decides the visible steps; the rest
    are masked; reward = sigmoid(-L_rec) over all steps (sequential segments). Uses no labels.
    """
    device = next(gen.parameters()).device
    scores = score_video(summ, video, segment_len, device)
    frames = keyshot_summary(scores, video.picks, video.change_points, video.n_frames, proportion)
    return _rebuild_reward(gen, video, torch.from_numpy(frames[video.picks].astype(bool)).to(device), segment_len)


@torch.no_grad()
def selection_reward(summ: nn.Module, gen: Generator, video: Video, segment_len: int, keep_fraction: float,
                     scores: np.ndarray | None = None) -> float:
    """The label-free selection score of a summarizer on one video: the stage-2 reward of its
    deterministic choice.

    The ``keep_fraction`` (delta) of steps with the highest scores stay visible, the rest are
    masked, and the reward is sigmoid(-L_rec) of the sequential segments, as in training. (Scoring
    the 15% keyshot summary instead, :func:`label_free_reward`, picked one of epochs 0-9 of 25 in 9 of 10
    SumMe stand-in folds: with 85% of the steps hidden the generator's error hardly depends on
    which shots were kept.) Uses no labels. ``scores``: the summarizer's ``score_video`` of this
    video when the caller has it already.
    """
    device = next(gen.parameters()).device
    scores = torch.from_numpy(score_video(summ, video, segment_len, device) if scores is None else scores)
    keep = torch.zeros(video.n_steps, dtype=torch.bool)
    keep[scores.argsort(descending=True)[: max(1, round(keep_fraction * video.n_steps))]] = True
    return _rebuild_reward(gen, video, keep.to(device), segment_len)


@torch.no_grad()
def _rebuild_reward(gen: Generator, video: Video, keep: torch.Tensor, segment_len: int) -> float:
    """sigmoid(-L_rec) of rebuilding ``video`` (sequential segments) from the steps in ``keep`` (n_steps,) bool."""
    device = keep.device
    index = segment_index(video.n_steps, segment_len, "sequential").to(device)
    x, pad = gather_segments(torch.from_numpy(video.features).to(device), index)
    keep_seg = torch.where(index >= 0, keep[index.clamp(min=0)], torch.zeros_like(pad))
    return float(torch.sigmoid(-rebuild_loss(gen, x, pad, ~keep_seg & ~pad).mean()))


def rebuild_loss(gen: Generator, x: torch.Tensor, pad: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
    """(B,) L_rec of rebuilding each segment from its visible steps: the ``hidden`` steps are
    replaced by [MASK], the generator fills them in, ``summary_reconstruction_loss`` scores them.
    x: (B, L, D) raw features; pad, hidden: (B, L) bool. The stage-2 reward is sigmoid(-L_rec)."""
    return gen.episode_losses(x, hidden.unsqueeze(0), pad)[0]


def train_summarizer(
    cfg: TRSumConfig,
    videos: list[Video],
    generator: Generator,
    rt: Runtime | None = None,
    *,
    val_videos: list[Video] | None = None,
    test_videos: list[Video] | None = None,
    dataset: str = "summe",
) -> tuple[Summarizer, list[dict], dict[str, dict]]:
    """Stage 2. Returns the final summarizer, per-epoch history and, per selection rule, the best
    epoch and its weights: ``{'label_free': {'epoch', 'value', 'state'}, 'validation': ..., 'oracle': ...}``.

    label_free  best mean ``selection_reward`` on ``val_videos`` (no labels used)
    validation  best mean F on ``val_videos`` (held-out *training* videos)
    oracle      best mean F on ``test_videos``; for comparison with papers that select this way
                only, always reported as selection=oracle.
    A rule whose videos are not given is skipped.
    """
    rt = rt or Runtime()
    torch.manual_seed(cfg.seed + 1)
    shuffle_gen, sample_gen = seeded(cfg.seed, 3), seeded(cfg.seed, 4)
    gen = unwrap(generator).to(rt.device).eval()
    # The summarizer is a trainable copy of the generator's encoder (the paper fine-tunes all of
    # it). It is built, and made trainable explicitly, *before* the generator is frozen: a deep copy
    # of frozen parameters is frozen too, and REINFORCE then trained the linear head alone.
    summ = Summarizer.from_generator(gen).to(rt.device).requires_grad_(True)
    gen.requires_grad_(False)
    model = rt.wrap_model(summ)
    bank = build_segment_bank(videos, cfg.segment_len)
    opt = adam(torch.optim.Adam, summ.parameters(), rt.device, lr=cfg.rl_lr)
    baseline = torch.full((len(videos),), float("nan"))
    history: list[dict] = []
    best: dict[str, dict] = {}
    start_epoch = 0
    if rt.resume is not None:
        history, start_epoch, extra = restore(rt.resume, model=summ, optimizer=opt, generators=(shuffle_gen, sample_gen))
        baseline = extra["baseline"].clone()
        best = copy.deepcopy(extra["best"])
    for epoch in range(start_epoch, cfg.rl_epochs):
        t0 = time.perf_counter()
        model.train()
        losses, rewards, mean_ps, keep_rates = [], [], [], []
        for idx in batches(len(bank), cfg.batch_segments, rt, shuffle_gen):
            x, pad = bank.x[idx].to(rt.device), bank.pad[idx].to(rt.device)
            owner = bank.owner[idx]
            b = baseline[owner]
            with autocast(cfg, rt.device):
                loss, stats = rl_batch_loss(model, gen, cfg, x, pad, torch.nan_to_num(b, nan=0.0).to(rt.device), sample_gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            clip_finite(summ.parameters(), cfg.grad_clip, f"TR-SUM summarizer epoch {epoch}", cfg, rt.device)
            opt.step()
            # Per-video moving-average baseline, updated after the step (first visit: the reward itself).
            seg_reward = stats["reward"].mean(0).cpu()
            for vid in owner.unique():
                r = seg_reward[owner == vid].mean()
                old = baseline[vid]
                baseline[vid] = r if torch.isnan(old) else cfg.baseline_momentum * old + (1 - cfg.baseline_momentum) * r
            losses.append(loss.item())
            rewards.append(float(seg_reward.mean()))
            mean_ps.append(float(stats["mean_p"].mean()))
            keep_rates.append(float(stats["keep_rate"].mean()))
        row = {"stage": "summarizer", "epoch": epoch, "loss": mean(losses), "reward": mean(rewards),
               "mean_p": mean(mean_ps), "keep_rate": mean(keep_rates), "epoch_s": time.perf_counter() - t0}
        t1 = time.perf_counter()
        values = selection_values(lambda v: score_video(summ, v, cfg.segment_len),
                                  lambda v, s: selection_reward(summ, gen, v, cfg.segment_len, cfg.delta, s),
                                  val_videos, test_videos, dataset)
        row["select_s"] = time.perf_counter() - t1  # scoring for model selection, outside epoch_s
        update_best(best, values, epoch, summ, row)
        history.append(row)
        if rt.report is not None:
            rt.report(row, {
                "kind": "trsum-summarizer", "epoch": epoch, "model": summ.state_dict(), "model_config": summ.config,
                "optimizer": opt.state_dict(), "rng": rng_state(shuffle_gen, sample_gen), "history": history,
                "extra": {"baseline": baseline.clone(), "best": best}, "meta": {"config": cfg.to_dict()},
            })
    return summ, history, best


