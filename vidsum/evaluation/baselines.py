"""Reference rows every method is compared with: human agreement and random scores.

Human row (per video, then mean over videos):
  * F: each annotator's user_summary is the "machine" summary, scored leave-one-out against the
    other annotators with the dataset's reduction (SumMe 'max', TVSum 'avg'); mean over annotators.
  * tau / rho: Kendall tau-b / Spearman rho between every ORDERED pair of different annotators
    (i, j), i != j, on the frame-level annotations, mean over the n(n-1) pairs. Both
    statistics are symmetric, so this equals the mean over unordered pairs, which is what is
    computed. This is Otani et al. 2019's HumanEvaluator (their rank-order notebook), and on the
    shipped TVSum annotations (20 users, raw 1..5 frame scores) it gives tau = 0.1774,
    rho = 0.2042, their published 0.177 / 0.204. Other pairings do not reproduce it: each user
    against the mean of the others gives 0.314 / 0.396; the same pairs on every 15th frame
    (steps) give 0.1774 / 0.2042 too, because TVSum scores are constant over 2-s runs.
    SumMe uses the 0/1 selections (shipped ``user_scores > 0``).
Random row: uniform [0, 1) STEP scores (one per feature step, like a model's output), scored by
  exactly the evaluator a method gets (:func:`vidsum.evaluation.metrics.evaluate_video`: 15%
  keyshot F, frame-level tau/rho); the dataset mean per seed, then mean and std (ddof=1, like
  pandas) over ``n_seeds`` seeds. Seed s draws from ``np.random.default_rng([seed, s])`` over the
  videos in natural key order.
"""

from __future__ import annotations

import json

import numpy as np

from vidsum.data import annotations as annotations_mod
from vidsum.data.eccv16 import Video, natural_key
from vidsum.evaluation.metrics import (
    CORR_CONVENTION,
    F_REDUCE,
    _codes,
    _correlations,
    correlation_annotations,
    evaluate_video,
    f_score,
)

SUMMARY_KEYS = ("human_f1", "human_tau", "human_rho", "random_f1", "random_tau", "random_rho")
STD_KEYS = ("random_f1_std", "random_tau_std", "random_rho_std")


def _check_dataset(dataset: str) -> None:
    if dataset not in F_REDUCE:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(F_REDUCE)}")


def human_pairwise_correlation(annotations: np.ndarray, name: str = "video") -> tuple[float, float]:
    """(tau, rho) between annotators: mean over all pairs of different annotators.

    annotations: (n_users, n_frames). An undefined pair (a constant annotator) counts as 0, as in
    :func:`vidsum.evaluation.metrics.rank_correlation`.
    """
    ann = np.asarray(annotations)
    if ann.ndim != 2 or ann.shape[0] < 2 or ann.shape[1] < 2:
        raise ValueError(f"{name}: need (n_users >= 2, n_frames >= 2) annotations, got shape {ann.shape}")
    if np.issubdtype(ann.dtype, np.floating) and not np.all(np.isfinite(ann)):
        raise ValueError(f"{name}: {int(np.count_nonzero(~np.isfinite(ann)))} NaN/inf annotation values")
    codes, n_levels = _codes(ann)
    taus, rhos = [], []
    for i in range(ann.shape[0] - 1):  # user i against every later user: each unordered pair once
        tau, rho = _correlations(codes[i], n_levels, codes[i + 1 :], n_levels)
        taus.append(tau)
        rhos.append(rho)
    taus, rhos = np.nan_to_num(np.concatenate(taus)), np.nan_to_num(np.concatenate(rhos))
    return float(np.mean(taus)), float(np.mean(rhos))


def human_f_score(user_summary: np.ndarray, reduce: str, name: str = "video") -> float:
    """Leave-one-out F of the annotators: user i's summary against the others, mean over users."""
    users = np.asarray(user_summary)
    if users.ndim != 2 or users.shape[0] < 2:
        raise ValueError(f"{name}: leave-one-out F needs >= 2 user summaries, got shape {users.shape}")
    scores = [f_score(users[i], np.delete(users, i, axis=0), reduce)[0] for i in range(users.shape[0])]
    return float(np.mean(scores))


def human_correlation_from_annotations(dataset: str) -> dict:
    """Human tau/rho from the shipped real annotations alone (no features, no eccv16 file).

    Returns {'human_tau', 'human_rho', 'videos': [{'video', 'human_tau', 'human_rho'}, ...]}.
    TVSum uses the raw 1..5 scores, SumMe the 0/1 selections (score > 0).
    """
    _check_dataset(dataset)
    rows = []
    for a in annotations_mod.load(dataset):
        ann = a.user_scores if dataset == "tvsum" else a.user_summary
        tau, rho = human_pairwise_correlation(ann, a.key)
        rows.append({"video": a.key, "human_tau": tau, "human_rho": rho})
    return {
        "human_tau": float(np.mean([r["human_tau"] for r in rows])),
        "human_rho": float(np.mean([r["human_rho"] for r in rows])),
        "videos": rows,
    }


def baseline_rows(videos: dict[str, Video], dataset: str, n_seeds: int = 10, seed: int = 0) -> dict:
    """Human and random reference rows of a dataset.

    videos: {key: Video}. Returns {'dataset', 'n_seeds', 'videos': per-video rows, and the
    dataset means human_f1, human_tau, human_rho, random_f1, random_tau, random_rho plus
    random_f1_std, random_tau_std, random_rho_std (std over seeds of the dataset mean)}.
    Per-video random values are means over seeds. tau/rho use video.user_scores when present
    (TVSum), else video.user_summary (SumMe).
    """
    _check_dataset(dataset)
    if not videos:
        raise ValueError("no videos")
    if n_seeds < 2:
        raise ValueError(f"n_seeds must be >= 2 for a std over seeds, got {n_seeds}")
    reduce = F_REDUCE[dataset]
    keys = sorted(videos, key=natural_key)

    rows = []
    for key in keys:
        v = videos[key]
        tau, rho = human_pairwise_correlation(correlation_annotations(v), key)
        rows.append({"video": key, "human_f1": human_f_score(v.user_summary, reduce, key), "human_tau": tau, "human_rho": rho})

    # random[s, i] = (f1, tau, rho) of seed s on video i
    random = np.zeros((n_seeds, len(keys), 3))
    for s in range(n_seeds):
        rng = np.random.default_rng([seed, s])
        for i, key in enumerate(keys):
            m = evaluate_video(rng.random(videos[key].n_steps), videos[key], dataset)
            random[s, i] = (m["f1"], m["kendall_tau"], m["spearman_rho"])
    for i, row in enumerate(rows):
        row.update(dict(zip(("random_f1", "random_tau", "random_rho"), random[:, i].mean(0).tolist())))

    per_seed = random.mean(axis=1)  # (n_seeds, 3) dataset mean of each seed
    out: dict = {"dataset": dataset, "n_seeds": n_seeds, "videos": rows}
    for k in ("human_f1", "human_tau", "human_rho"):
        out[k] = float(np.mean([r[k] for r in rows]))
    for j, name in enumerate(("f1", "tau", "rho")):
        out[f"random_{name}"] = float(per_seed[:, j].mean())
        out[f"random_{name}_std"] = float(per_seed[:, j].std(ddof=1))
    return out


def _pm(res: dict, key: str) -> str:
    return f"{res[key]:.3f} ± {res[key + '_std']:.3f}"


def run_baselines_cli(videos: dict[str, Video], dataset: str, as_json: bool) -> str:
    """Text for ``vidsum baselines``: a small table, or one JSON object with the summary keys,
    the std keys and 'corr_convention'."""
    res = baseline_rows(videos, dataset)
    if as_json:
        obj = {k: res[k] for k in SUMMARY_KEYS + STD_KEYS}
        obj["corr_convention"] = CORR_CONVENTION
        return json.dumps(obj)
    lines = [
        f"{dataset}: {len(res['videos'])} videos; F reduce={F_REDUCE[dataset]}; random: mean ± std over {res['n_seeds']} seeds",
        f"{'row':<8}{'F1':>18}{'tau':>18}{'rho':>18}",
        f"{'human':<8}{res['human_f1']:>18.3f}{res['human_tau']:>18.3f}{res['human_rho']:>18.3f}",
        f"{'random':<8}" + "".join(f"{_pm(res, k):>18}" for k in ("random_f1", "random_tau", "random_rho")),
        f"correlation: {CORR_CONVENTION}",
    ]
    return "\n".join(lines)
