"""Why does SG-VS not pick up the stand-in's text cue? (a diagnostic, not a test)

    python benchmarks/sgvs_text_diagnosis.py --dataset summe --splits 0,1,2 --strengths 0.8,0     # the quick preset
    # SG-VS as it was (learned joint space), the run the README's diagnosis table comes from:
    python benchmarks/sgvs_text_diagnosis.py --splits 0,1,2 --strengths 0.8,0 --threads 1 \
        --set similarity=projected --set score_sim=false --set text_select_weight=0
    # the fix, link by link (chosen on the validation videos' lines):
    python benchmarks/sgvs_text_diagnosis.py --splits 0 --strengths 0.8 --set similarity=fitted \
        --set score_sim=false --set text_select_weight=0
    python benchmarks/sgvs_text_diagnosis.py --splits 0,1,2 --strengths 0.8 --set text_select_weight=0

On the stand-in with ``--cue text`` each important shot's features contain the video's text
vector pushed through a fixed dataset-wide projection (``vidsum.data.standin``); a probe that
knows that projection ranks the steps at Kendall tau 0.47 against the gtscore. SG-VS quick sits
at random there. The chain it would have to follow, and what this measures of each link, per
split (quick SG-VS trained on the split's training videos, validation videos held out as in a
fold; the test videos are only measured), as per-video Kendall tau-b against the gtscore (steps):

    sim      SG-VS's OWN frame-text similarity s_j (``SemanticAlignment``), at initialisation and
             after training, on the training, validation and test videos: does the joint space learn
             the cue, and does what it learns carry to a video whose text it never saw?
    fitted   label-free reference: the 'fitted' similarity (a ridge map from text to the mean
             standardised feature of a video, fitted on the same training videos; no labels)
             that SG-VS uses with ``--set similarity=fitted``: is the cue learnable without
             labels from this many videos at all?
    score    the trained scorer's p (``score_video``), last epoch and the label_free-selected
             epoch; and tau(p, s_j): does the scorer follow its own similarity?
    step     the per-step signal REINFORCE follows (``selection_policy_loss``): in expectation its
             gradient on logit p_j is p_j (1 - p_j) (e_j hidden - e_j kept), the reconstruction
             error step j costs itself when it is left out of the summary (flat keep-policy)
    prefer   does the training objective prefer a summary of the important steps? Its terms
             (L_rec, L_adv with the trained discriminator, L_align, L_len, L_txt) under three fixed
             keep-policies of ``benchmarks/reward_signal.py`` (flat / aligned / anti, all keeping
             about ``summary_rate``), per video; printed as loss(flat) - loss(aligned) and
             loss(anti) - loss(aligned), positive = the objective prefers the aligned summary,
             and the share of videos where it does. ``total`` weighs the terms as L_G does at the
             last epoch.

gtscore defines the tau and the policies only: nothing here feeds it back into training.
Strength 0 is the control (the text direction is in random shots). Choose between variants on
the 'val' lines (the fold's held-out training videos), never on the 'test' ones.

Measured (README, "SG-VS on the text cue"): with the learned joint space s_j reaches tau 0.11 on
the training videos and 0.05 on the test videos while its L_align of the flat summary is 0.003
against chance 2.77 on the training videos at strength 0.8 and 0 alike (memorised), the scorer
does not follow s_j, and REINFORCE's step signal is -0.13; the fitted map reaches 0.24 / 0.18.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import time
from types import SimpleNamespace

import numpy as np
import torch
from scipy.stats import kendalltau

TERMS = ("rec", "adv", "align", "len", "txt")


def similarity(gen, video) -> np.ndarray:
    """(n_steps,) SG-VS's own frame-text similarity s_j of every step of ``video`` (it is computed
    per frame, no context, so one pass over the whole video gives what every segment sees)."""
    x = torch.from_numpy(video.features).unsqueeze(0)  # (1, n_steps, D)
    text = gen.texts[video.key].float().unsqueeze(0)  # (1, d_text)
    with torch.no_grad():
        sim, _, _ = gen.align(gen.norm(x), x, text)
    return sim[0].numpy()


def fitted_reference(gen, videos):
    """A 'fitted' SemanticAlignment on ``videos`` (their texts and mean standardised features under
    ``gen``'s FeatureNorm), sharing ``gen``'s norm and texts: the label-free reference similarity."""
    from vidsum.models.sgvs import SemanticAlignment
    from vidsum.training.sgvs import video_means

    align = SemanticAlignment(gen.config["d_feat"], gen.config["d_text"], gen.config["d_joint"], "fitted")
    align.fit(torch.stack([gen.texts[v.key].float() for v in videos]), video_means(gen, videos))
    return SimpleNamespace(norm=gen.norm, align=align, texts=gen.texts)  # what similarity() reads


def tau(values: np.ndarray, reference: np.ndarray) -> float:
    """Kendall tau-b of (n_steps,) values against (n_steps,) reference; nan when undefined."""
    return float(kendalltau(values, reference).statistic)


def taus(values: dict[str, np.ndarray], videos) -> np.ndarray:
    """(n_videos,) per-video tau of ``values[key]`` (n_steps,) against the video's gtscore."""
    return np.array([tau(values[v.key], v.gtscore) for v in videos])


def train(cfg, train_videos, val_videos, test_videos, dataset: str):
    """(generator at initialisation, trained generator, its discriminator, history, best) of one
    quick SG-VS run on ``train_videos`` (``val_videos`` for the selection rules; the test videos
    only get their text vectors attached, they take no part in training or selection)."""
    from vidsum.models.sgvs import SGVSDiscriminator
    from vidsum.training.loop import Runtime
    from vidsum.training.sgvs import train_sgvs

    rt = Runtime(device=torch.device("cpu"))
    # epochs=0 with the same seed: exactly the weights the trained run starts from
    init, _, _ = train_sgvs(dataclasses.replace(cfg, epochs=0), train_videos, rt, val_videos=val_videos,
                            test_videos=test_videos, dataset=dataset)
    last: dict = {}
    rt = Runtime(device=torch.device("cpu"), report=lambda row, state: last.update(state or {}))
    gen, history, best = train_sgvs(cfg, train_videos, rt, val_videos=val_videos, dataset=dataset)
    gen.texts = init.texts  # every video's text vector (the run above attached all of them)
    disc = SGVSDiscriminator.from_config(last["extra"]["discriminator_config"])
    disc.load_state_dict(last["extra"]["discriminator"])
    return init.eval(), gen.eval(), disc.eval(), history, best


@torch.no_grad()
def objective_terms(gen, disc, cfg, videos, keep_prob: dict[str, np.ndarray], episodes: int,
                    rng: torch.Generator) -> dict[str, np.ndarray]:
    """Per video (n_videos,) each generator loss term under the keep-policy ``keep_prob[key]``
    (n_steps,): 'rec' and 'adv' averaged over ``episodes`` Bernoulli summaries of the sequential
    segments, 'align' (InfoNCE of the p-weighted summary against the distinct texts of ``videos``,
    all their segments in one batch, weights = the policy's p as in training), 'len', 'txt'; plus 'step'
    (n_steps,) arrays: e_j hidden - e_j kept, the signal REINFORCE follows (see module docstring)."""
    from vidsum.models.common import reconstruction_error
    from vidsum.models.sgvs import alignment_loss, generator_adversarial_loss, length_loss, text_selection_loss
    from vidsum.segments import gather_segments, sequential_segments
    from vidsum.training.sgvs import _text_table

    out: dict[str, list] = {t: [] for t in (*TERMS, "step")}
    rows_x, rows_pad, rows_p, rows_owner = [], [], [], []
    for i, v in enumerate(videos):
        index = sequential_segments(v.n_steps, cfg.segment_len)  # (S, L)
        x, pad = gather_segments(torch.from_numpy(v.features), index)
        valid = ~pad
        p = torch.from_numpy(keep_prob[v.key]).float()[index.clamp(min=0)] * valid  # (S, L)
        x_norm = gen.norm(x)
        rec, adv = [], []
        hidden_err, hidden_n = torch.zeros(v.n_steps), torch.zeros(v.n_steps)
        kept_err, kept_n = torch.zeros(v.n_steps), torch.zeros(v.n_steps)
        for _ in range(episodes):
            keep = torch.bernoulli(p, generator=rng) * valid
            recon = gen.reconstruct(x_norm, keep, pad)
            err = reconstruction_error(recon, x_norm, valid)  # (S, L), 0 at pads
            rec.append(float(err.sum() / valid.sum()))
            adv.append(float(generator_adversarial_loss(disc(recon, pad))))
            steps, k = index[valid], keep[valid].bool()
            hidden_err.index_add_(0, steps[~k], err[valid][~k]), hidden_n.index_add_(0, steps[~k], torch.ones(int((~k).sum())))
            kept_err.index_add_(0, steps[k], err[valid][k]), kept_n.index_add_(0, steps[k], torch.ones(int(k.sum())))
        out["rec"].append(np.mean(rec)), out["adv"].append(np.mean(adv))
        out["len"].append(float(length_loss(p, valid, cfg.summary_rate)))
        # steps never hidden (or never kept) in these episodes: no estimate, 0
        both = (hidden_n > 0) & (kept_n > 0)
        out["step"].append(torch.where(both, hidden_err / hidden_n.clamp(min=1) - kept_err / kept_n.clamp(min=1), 0.0).numpy())
        rows_x.append(x), rows_pad.append(pad), rows_p.append(p), rows_owner.append(torch.full((len(x),), i))
    vectors = {v.key: gen.texts[v.key].numpy() for v in videos}
    table, ids = _text_table(videos, vectors)
    owner = torch.cat(rows_owner)
    x, pad, p = torch.cat(rows_x), torch.cat(rows_pad), torch.cat(rows_p)
    sim, frames, text = gen.align(gen.norm(x), x, table[owner])
    ce = alignment_loss(frames, text, p, ~pad, ids[owner], cfg.align_temperature, reduction="none")  # (rows,)
    out["align"] = [float(ce[owner == i].mean()) for i in range(len(videos))]
    out["txt"] = [float(text_selection_loss(p[owner == i], sim[owner == i], ~pad[owner == i])) for i in range(len(videos))]
    return {k: (v if k == "step" else np.array(v)) for k, v in out.items()}


def objective_preference(gen, disc, cfg, videos, w_adv: float, tilt: float, episodes: int, seed: int):
    """{policy: {term: (n_videos,)}} for the flat / aligned / anti policies of
    ``benchmarks/reward_signal.py`` around ``cfg.summary_rate``, with 'total' = L_G's weighting
    (``w_adv`` the last epoch's adversarial weight); and REINFORCE's step signal under 'flat'."""
    from reward_signal import policies

    np_rng, t_rng = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    probs = {v.key: policies(v.gtscore, cfg.summary_rate, tilt, np_rng) for v in videos}
    result = {}
    for name in ("flat", "aligned", "anti"):
        terms = objective_terms(gen, disc, cfg, videos, {k: p[name] for k, p in probs.items()}, episodes, t_rng)
        terms["total"] = (cfg.rec_weight * terms["rec"] + w_adv * terms["adv"] + cfg.align_weight * terms["align"]
                          + cfg.len_weight * terms["len"] + cfg.text_select_weight * terms["txt"])
        result[name] = terms
    return result


def _ms(values) -> str:
    values = np.asarray(values, dtype=float)
    return f"{np.nanmean(values):+.3f} ± {np.nanstd(values):.3f}"


def preference_lines(pref: dict, label: str) -> list[str]:
    """One line per loss term: loss(flat) - loss(aligned), loss(anti) - loss(aligned) (> 0: aligned preferred)."""
    lines = []
    for term in (*TERMS, "total"):
        vs_flat = pref["flat"][term] - pref["aligned"][term]
        vs_anti = pref["anti"][term] - pref["aligned"][term]
        lines.append(f"    {label:<6}{term:<6} flat-aligned {vs_flat.mean():+.5f} ({np.mean(vs_flat > 0):4.0%} of videos)"
                     f"   anti-aligned {vs_anti.mean():+.5f} ({np.mean(vs_anti > 0):4.0%})"
                     f"   [aligned {pref['aligned'][term].mean():.4f}]")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="summe", choices=["summe", "tvsum"])
    p.add_argument("--cue", default="text", choices=["text", "mixed"])
    p.add_argument("--strengths", default="0.8,0")
    p.add_argument("--splits", default="0,1,2")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--preset", default="quick")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override (as vidsum train --set)")
    p.add_argument("--tilt", type=float, default=0.2, help="how far the aligned / anti policies move p from summary_rate")
    p.add_argument("--episodes", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data-dir", default=None)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))  # reward_signal's policies

    from vidsum.data.datasets import load_dataset
    from vidsum.data.splits import get_split
    from vidsum.training import sgvs
    from vidsum.training.config import parse_overrides
    from vidsum.training.fold import fold_videos

    cfg = sgvs.preset(a.preset, seed=a.seed, **parse_overrides(a.set))
    print(f"SG-VS ({a.preset}{', ' + ' '.join(a.set) if a.set else ''}) on the {a.dataset} stand-in, cue {a.cue}, "
          f"seed {a.seed}: per-video Kendall tau-b vs gtscore, mean ± std over videos", flush=True)
    pooled: dict[tuple[float, str], list] = {}
    for strength in [float(s) for s in a.strengths.split(",")]:
        ds = load_dataset(a.dataset, a.data_dir, quiet=True, cue=a.cue, strength=strength)
        for k in [int(s) for s in a.splits.split(",")]:
            tr, val, te = fold_videos(ds, get_split(a.dataset, "standard", k), cfg.val_fraction, a.seed)
            t0 = time.perf_counter()
            init, gen, disc, history, best = train(cfg, tr, val, te, a.dataset)
            selected = copy.deepcopy(gen)
            selected.load_state_dict(best["label_free"]["state"])
            h0, h1 = history[0], history[-1]
            print(f"\nstrength {strength:g} split {k}: {len(tr)} train / {len(val)} val / {len(te)} test videos, "
                  f"trained {time.perf_counter() - t0:.0f} s; align_loss {h0['align_loss']:.3f} -> {h1['align_loss']:.3f}, "
                  f"rec_loss {h0['rec_loss']:.3f} -> {h1['rec_loss']:.3f}, mean p {h1['mean_p']:.2f}, "
                  f"label_free epoch {best['label_free']['epoch']}", flush=True)
            ref = fitted_reference(gen, tr)
            for part, videos in (("train", tr), ("val", val), ("test", te)):
                s_init = {v.key: similarity(init, v) for v in videos}
                s_ref = {v.key: similarity(ref, v) for v in videos}
                s_gen = {v.key: similarity(gen, v) for v in videos}
                p_last = {v.key: sgvs.score_video(gen, v) for v in videos}
                p_sel = {v.key: sgvs.score_video(selected, v) for v in videos}
                row = {"sim_init": taus(s_init, videos), "sim": taus(s_gen, videos), "fitted": taus(s_ref, videos),
                       "score": taus(p_last, videos),
                       "score_sel": taus(p_sel, videos),
                       "score_vs_sim": np.array([tau(p_last[v.key], s_gen[v.key]) for v in videos])}
                pref = objective_preference(gen, disc, cfg, videos, h1["adv_weight"], a.tilt, a.episodes, a.seed + k)
                row["step"] = taus(dict(zip([v.key for v in videos], pref["flat"]["step"])), videos)
                print(f"  {part:<5} ({len(videos):>2})  sim init {_ms(row['sim_init'])}  sim trained {_ms(row['sim'])}  "
                      f"fitted (reference) {_ms(row['fitted'])}  "
                      f"score last {_ms(row['score'])}  score label_free {_ms(row['score_sel'])}  "
                      f"tau(score, sim) {_ms(row['score_vs_sim'])}  REINFORCE step signal {_ms(row['step'])}")
                print(f"    align loss of the flat policy {pref['flat']['align'].mean():.3f} "
                      f"(chance: ln {len(videos)} texts = {np.log(len(videos)):.3f})")
                print("\n".join(preference_lines(pref, part)), flush=True)
                pooled.setdefault((strength, part), []).append((row, pref))
    print("\npooled over splits (videos of every split; per-video tau, mean ± std)")
    for (strength, part), items in pooled.items():
        cat = lambda key: np.concatenate([r[key] for r, _ in items])  # noqa: E731
        print(f"strength {strength:g} {part:<5} ({len(cat('sim'))} videos)  sim init {_ms(cat('sim_init'))}  "
              f"sim trained {_ms(cat('sim'))}  fitted {_ms(cat('fitted'))}  score last {_ms(cat('score'))}  score label_free {_ms(cat('score_sel'))}  "
              f"tau(score, sim) {_ms(cat('score_vs_sim'))}  step {_ms(cat('step'))}")
        merged = {pol: {t: np.concatenate([pr[pol][t] for _, pr in items]) for t in (*TERMS, "total")}
                  for pol in ("flat", "aligned", "anti")}
        print("\n".join(preference_lines(merged, part)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
