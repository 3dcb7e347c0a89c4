"""Does TR-SUM's stage-2 reward prefer summaries of the important steps? (a diagnostic, not a test)

    python benchmarks/reward_signal.py --dataset summe --splits 0,1,2
    python benchmarks/reward_signal.py --dataset summe --splits 0 --set gen_epochs=480
    python benchmarks/reward_signal.py --dataset summe --reward drdsn     # DR-DSN's reward, no training

REINFORCE can only move the summarizer toward what its reward prefers. This trains the quick
generator of each split on its training videos (as stage 1 does), then, without any summarizer,
scores fixed Bernoulli keep-policies with the stage-2 reward (sigmoid(-L_rec) of each sequential
segment rebuilt from its kept steps, exactly ``trsum.rl_batch_loss``'s reward):

    flat      p_t = delta                                   (no preference)
    aligned   p_t = delta + a  if gtscore_t > the video's median, else delta - a
    anti      p_t = delta - a  if gtscore_t > the video's median, else delta + a

(all keep about delta of the steps), ``--episodes`` episodes per segment each, on the training
videos (what stage 2 learns from) and the test videos. Beside the trained generator, two rules
that learn nothing rebuild the hidden steps the same way (same standardised space, same L_rec):

    nearest   copy the nearest visible step (``copy_nearest_visible``): a generator that rebuilds
              test videos worse than this has not learned anything that transfers
    similar   copy the visible step most similar to the hidden one (``copy_most_similar_visible``;
              an oracle: it looks at what it rebuilds), the best any copying rule can do

Printed per split and pooled: mean reward per policy; aligned - flat and aligned - anti with the
share of videos where it is positive; and the signal-to-noise of one episode, (aligned - flat) / sd(reward of one flat episode of a
segment), which says how many episodes REINFORCE needs to see the preference at all
(about (1 / snr)^2); and how much of a training segment's episode-to-episode reward variance the
number of kept steps explains (``count_share``: with Bernoulli episodes that share of every
advantage says "how many", not "which"). gtscore is used only to define the policies: this measures the reward, it
selects nothing.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch


REBUILDERS = ("generator", "nearest", "similar")


def rebuilder(name: str, gen):
    """(x (B, L, D) raw, pad (B, L), hidden (B, L)) -> (B,) L_rec, by the trained generator or by
    a no-learning copy rule scored in the generator's standardised space."""
    from vidsum.models.trsum import copy_most_similar_visible, copy_nearest_visible, summary_reconstruction_loss
    from vidsum.training.trsum import rebuild_loss

    if name == "generator":
        return lambda x, pad, hidden: rebuild_loss(gen, x, pad, hidden)
    copy = {"nearest": copy_nearest_visible, "similar": copy_most_similar_visible}[name]

    def rule(x, pad, hidden):
        target = gen.target(x)
        return summary_reconstruction_loss(copy(target, hidden, ~pad), target, hidden, ~pad)

    return rule


@torch.no_grad()
def segment_episodes(rebuild, features: torch.Tensor, keep_prob: np.ndarray, segment_len: int, episodes: int,
                     rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bernoulli(keep_prob (n_steps,)) episodes on each sequential segment of one video, scored with
    the stage-2 reward. features (n_steps, D); ``rebuild`` from :func:`rebuilder`. Returns reward
    (episodes, S), kept valid steps (episodes, S) and the segments' pads (S, L)."""
    from vidsum.segments import gather_segments, segment_index

    index = segment_index(features.shape[0], segment_len, "sequential")
    x, pad = gather_segments(features, index)  # (S, L, D), (S, L)
    p = torch.from_numpy(keep_prob).float()[index.clamp(min=0)]  # (S, L)
    s, l, d = x.shape
    kept = torch.bernoulli(p.expand(episodes, s, l).contiguous(), generator=rng).bool() & ~pad
    hidden = (~kept & ~pad).reshape(episodes * s, l)
    x_rep = x.unsqueeze(0).expand(episodes, s, l, d).reshape(episodes * s, l, d)
    reward = torch.sigmoid(-rebuild(x_rep, pad.repeat(episodes, 1), hidden)).reshape(episodes, s)
    return reward, kept.sum(-1), pad


def segment_rewards(rebuild, features: torch.Tensor, keep_prob: np.ndarray, segment_len: int, episodes: int,
                    rng: torch.Generator) -> torch.Tensor:
    """(episodes, S) stage-2 reward of each sequential segment of one video (:func:`segment_episodes`)."""
    return segment_episodes(rebuild, features, keep_prob, segment_len, episodes, rng)[0]


def count_share(rebuild, features: torch.Tensor, delta: float, segment_len: int, episodes: int,
                rng: torch.Generator, min_steps: int = 16) -> np.ndarray:
    """(S',) per full-enough sequential segment of one video (>= ``min_steps`` valid steps): the
    share of its episode-to-episode reward variance that the NUMBER of kept steps explains (squared
    correlation of reward and kept count over ``episodes`` Bernoulli(delta) episodes). With
    Bernoulli episodes this part of every advantage says "how many", not "which"; a fixed budget
    (``rl_budget='exact'``) removes it."""
    flat = np.full(features.shape[0], delta)
    reward, count, pad = segment_episodes(rebuild, features, flat, segment_len, episodes, rng)
    reward, count = reward.double(), count.double()
    out = []
    for j in range(reward.shape[1]):
        if int((~pad[j]).sum()) < min_steps or reward[:, j].std() == 0 or count[:, j].std() == 0:
            continue
        out.append(float(torch.corrcoef(torch.stack([count[:, j], reward[:, j]]))[0, 1]) ** 2)
    return np.array(out)


def policies(gtscore: np.ndarray, delta: float, tilt: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Keep-probabilities (n_steps,) of the flat / aligned / anti policies of one video."""
    jitter = 1e-9 * rng.standard_normal(gtscore.shape)  # split median ties (gtscore is shot-constant)
    high = (gtscore + jitter) > np.median(gtscore + jitter)
    return {"flat": np.full(gtscore.shape, delta),
            "aligned": np.where(high, delta + tilt, delta - tilt),
            "anti": np.where(high, delta - tilt, delta + tilt)}


@torch.no_grad()
def drdsn_rewards(video, keep_prob: np.ndarray, episodes: int, rng: torch.Generator, cfg) -> torch.Tensor:
    """(episodes, 1) DR-DSN diversity-representativeness reward of each episode over the whole video
    (no model: the reward is a fixed function of the features), kept steps ~ Bernoulli(keep_prob)."""
    from vidsum.models.drdsn import summary_reward, unit_features

    p = torch.from_numpy(keep_prob).float()
    actions = torch.bernoulli(p.expand(episodes, -1).contiguous(), generator=rng)
    unit = unit_features(torch.from_numpy(video.features))
    return summary_reward(unit, actions, cfg.temporal_window, cfg.reward).unsqueeze(1)


def measure(videos, delta: float, tilt: float, seed: int, episode_rewards) -> dict[str, np.ndarray]:
    """Per video: mean reward of each policy, and the sd of one flat episode (mean over segments).
    ``episode_rewards(video, keep_prob (n_steps,), rng)`` -> (episodes, S) rewards; the same seed
    draws the same policies and episodes whatever the rule."""
    np_rng, t_rng = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    out: dict[str, list[float]] = {"flat": [], "aligned": [], "anti": [], "flat_sd": []}
    for v in videos:
        for name, prob in policies(v.gtscore, delta, tilt, np_rng).items():
            r = episode_rewards(v, prob, t_rng)
            out[name].append(float(r.mean()))
            if name == "flat":
                out["flat_sd"].append(float(r.std(0).mean()))
    return {k: np.array(v) for k, v in out.items()}


def trsum_rewards(gen, cfg, episodes: int, rebuild: str = "generator"):
    """The ``episode_rewards`` of :func:`measure` for TR-SUM's stage-2 reward, hidden steps rebuilt
    by ``rebuild`` (one of REBUILDERS)."""
    rebuild_fn = rebuilder(rebuild, gen)
    return lambda v, prob, rng: segment_rewards(rebuild_fn, torch.from_numpy(v.features), prob, cfg.segment_len,
                                                episodes, rng)


def report(label: str, m: dict[str, np.ndarray]) -> str:
    gain, vs_anti = m["aligned"] - m["flat"], m["aligned"] - m["anti"]
    snr = gain.mean() / m["flat_sd"].mean()
    return (f"{label:<26} flat {m['flat'].mean():.4f}  aligned {m['aligned'].mean():.4f}  anti {m['anti'].mean():.4f}  "
            f"| aligned-flat {gain.mean():+.4f} ({np.mean(gain > 0):.0%} of videos)  "
            f"aligned-anti {vs_anti.mean():+.4f} ({np.mean(vs_anti > 0):.0%})  "
            f"| one-episode sd {m['flat_sd'].mean():.4f}, snr {snr:+.2f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="summe", choices=["summe", "tvsum"])
    p.add_argument("--reward", default="trsum", choices=["trsum", "drdsn"],
                   help="whose reward: TR-SUM's (trains a generator per split) or DR-DSN's (no training; all videos)")
    p.add_argument("--splits", default="0,1,2")
    p.add_argument("--preset", default="quick")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (as vidsum train --set)")
    p.add_argument("--tilt", type=float, default=0.2, help="a: how far the aligned/anti policies move p from delta")
    p.add_argument("--deltas", default=None,
                   help="comma list of keep rates to probe around (default: the config's delta); one generator per split serves all")
    p.add_argument("--episodes", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--cue", default=None, choices=["events", "text", "mixed"], help="stand-in cue (default events)")
    p.add_argument("--strength", type=float, default=None, help="stand-in strength (default 0.8)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)

    from vidsum.training.config import parse_overrides
    from vidsum.data.datasets import load_dataset
    from vidsum.data.splits import get_split
    from vidsum.training import trsum
    from vidsum.training.fold import fold_videos
    from vidsum.training.loop import Runtime

    ds = load_dataset(a.dataset, a.data_dir, quiet=True, cue=a.cue, strength=a.strength)
    print(f"{a.dataset}: features={ds.features_kind}" + (f", cue {ds.row_tags().get('cue')}, strength "
          f"{ds.row_tags().get('strength')}" if ds.features_kind == "generated" else ""), flush=True)
    if a.reward == "drdsn":
        from vidsum.training import drdsn

        dcfg = drdsn.preset(a.preset, seed=a.seed, **parse_overrides(a.set))
        print(f"DR-DSN reward ({dcfg.reward}, window {dcfg.temporal_window}) on all {len(ds.videos)} {a.dataset} videos "
              f"(features={ds.features_kind}), delta {dcfg.delta}, tilt {a.tilt}, {a.episodes} episodes per video")
        rewards = lambda v, prob, rng: drdsn_rewards(v, prob, a.episodes, rng, dcfg)  # noqa: E731
        print(report("all videos", measure(list(ds.videos.values()), dcfg.delta, a.tilt, a.seed, rewards)))
        return 0
    cfg = trsum.preset(a.preset, seed=a.seed, **parse_overrides(a.set))
    deltas = [float(d) for d in a.deltas.split(",")] if a.deltas else [cfg.delta]
    print(f"TR-SUM stage-2 reward on {a.dataset} (features={ds.features_kind}), {a.preset} generator "
          f"({cfg.gen_epochs} epochs, {cfg.mask_mode} masking), delta {deltas}, tilt {a.tilt}, "
          f"{a.episodes} episodes per segment", flush=True)
    pooled: dict[tuple[float, str, str], dict[str, list]] = {}
    count_shares: dict[tuple[float, str], list[float]] = {}
    for k in [int(s) for s in a.splits.split(",")]:
        train, _val, test = fold_videos(ds, get_split(a.dataset, "standard", k), cfg.val_fraction, a.seed)
        t0 = time.perf_counter()
        gen, hist = trsum.pretrain_generator(cfg, train, Runtime(device=torch.device("cpu")))
        gen.eval()
        print(f"split {k}: generator {time.perf_counter() - t0:.0f} s, final masked loss {hist[-1]['loss']:.3f}")
        for delta in deltas:
            for part, videos in (("train", train), ("test", test)):
                for rule in REBUILDERS:
                    m = measure(videos, delta, a.tilt, a.seed + k, trsum_rewards(gen, cfg, a.episodes, rule))
                    print("  " + report(f"d={delta:g} {part} ({len(videos)}) {rule}", m), flush=True)
                    for key, vals in m.items():
                        pooled.setdefault((delta, part, rule), {}).setdefault(key, []).extend(vals)
                if part == "train":
                    for rule in ("generator", "nearest"):
                        rng = torch.Generator().manual_seed(a.seed + k)
                        shares = np.concatenate([count_share(rebuilder(rule, gen), torch.from_numpy(v.features), delta,
                                                             cfg.segment_len, a.episodes, rng) for v in videos])
                        count_shares.setdefault((delta, rule), []).extend(shares)
                        print(f"  d={delta:g} train {rule}: kept count explains {shares.mean():.0%} of a segment's "
                              f"episode-to-episode reward variance (median {np.median(shares):.0%}, {len(shares)} segments)")
    for (delta, part, rule), m in pooled.items():
        print(report(f"pooled d={delta:g} {part} {rule}", {k: np.array(v) for k, v in m.items()}))
    for (delta, rule), shares in count_shares.items():
        print(f"delta {delta:g}, {rule}: the kept count explains {np.mean(shares):.0%} of the episode-to-episode "
              f"reward variance of a training segment (Bernoulli episodes, {len(shares)} segments)")
    for delta in deltas:
        for part in ("train", "test"):
            d = np.array(pooled[(delta, part, "generator")]["flat"]) - np.array(pooled[(delta, part, "nearest")]["flat"])
            print(f"delta {delta:g}: generator - nearest copy, flat reward on {part} videos: {d.mean():+.4f} "
                  f"(generator better on {np.mean(d > 0):.0%} of {len(d)} videos)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
