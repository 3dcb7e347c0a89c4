"""One fold, end to end: hold out validation videos from the training keys, train, select, score.

The test keys of a split are used only to *score* the selected models (and for the oracle rule,
which is always labelled ``selection=oracle``). Everything that chooses (epochs, later
hyperparameters) sees the training keys only.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from collections.abc import Callable
from pathlib import Path
from typing import Any


from vidsum.data.datasets import Dataset
from vidsum.data.eccv16 import Video
from vidsum.data.splits import Split, check_keys, validation_holdout
from vidsum.evaluation.metrics import CORR_CONVENTION, evaluate
from vidsum.evaluation.stability import history_stability
from vidsum.training import trsum
from vidsum.training.checkpoint import save_checkpoint


@dataclass
class FoldResult:
    """Rows for the leaderboards plus what was trained.

    fold_rows:  one per selection rule (f1, precision, recall, kendall_tau, spearman_rho, ...)
    video_rows: one per selection rule x test video
    history:    per-epoch metrics of both stages
    """

    fold_rows: list[dict[str, Any]]
    video_rows: list[dict[str, Any]]
    history: list[dict[str, Any]]
    selected_epochs: dict[str, int]


def fold_videos(dataset: Dataset, split: Split, val_fraction: float, seed: int):
    """(train, val, test) Video lists. val is carved out of the training keys only."""
    check_keys(split, list(dataset.videos))
    train_keys, val_keys = validation_holdout(list(split.train_keys), val_fraction, seed)
    pick = lambda keys: [dataset.videos[k] for k in keys]  # noqa: E731
    return pick(train_keys), pick(val_keys), pick(split.test_keys)


# (cfg, train, val, test, dataset name) -> (generator, generator history, summarizer, RL history, best)
# where best is train_summarizer's per-rule {'epoch', 'value', 'state'}. The default trains both
# stages in this process; vidsum.distributed passes one that runs them under Ray Train.
TrainStages = Callable[[trsum.TRSumConfig, list[Video], list[Video], list[Video], str],
                       tuple[Any, list[dict], Any, list[dict], dict[str, dict]]]


def train_stages_in_process(rt: trsum.Runtime) -> TrainStages:
    """Both TR-SUM stages in this process on ``rt`` (what :func:`run_trsum_fold` does by default)."""

    def train(cfg, train_videos, val_videos, test_videos, dataset_name):
        gen, gen_hist = trsum.pretrain_generator(cfg, train_videos, rt)
        summ, rl_hist, best = trsum.train_summarizer(cfg, train_videos, gen, rt, val_videos=val_videos,
                                                     test_videos=test_videos, dataset=dataset_name)
        return gen, gen_hist, summ, rl_hist, best

    return train


def run_trsum_fold(
    cfg: trsum.TRSumConfig,
    dataset: Dataset,
    split: Split,
    *,
    fold: int,
    split_set: str,
    rt: trsum.Runtime | None = None,
    checkpoint_dir: str | Path | None = None,
    rules: tuple[str, ...] = ("label_free", "validation", "oracle", "none"),
    train_stages: TrainStages | None = None,
) -> FoldResult:
    """Train TR-SUM on one fold and score the test videos under each selection rule.

    ``none`` is the last epoch. When ``checkpoint_dir`` is given, the generator and the
    label-free-selected summarizer are saved there as self-describing checkpoints.
    ``train_stages`` replaces the in-process training of both stages (``rt`` is then unused).
    """
    t0 = time.perf_counter()
    rt = rt or trsum.Runtime()
    train, val, test = fold_videos(dataset, split, cfg.val_fraction, cfg.seed)
    train_stages = train_stages or train_stages_in_process(rt)
    gen, gen_hist, summ, rl_hist, best = train_stages(cfg, train, val, test, dataset.name)
    last_state = {k: v.clone() for k, v in summ.state_dict().items()}
    states = {"none": {"epoch": cfg.rl_epochs - 1, "state": last_state}, **best}
    fold_rows, video_rows, selected = [], [], {}
    base = {"method": "trsum", "dataset": dataset.name, "features": dataset.features_kind, "split_set": split_set,
            "fold": fold, "seed": cfg.seed}
    for rule in rules:
        if rule not in states:
            continue
        summ.load_state_dict(states[rule]["state"])
        scores = {v.key: trsum.score_video(summ, v, cfg.segment_len) for v in test}
        per_video, mean = evaluate(scores, {v.key: v for v in test}, dataset.name)
        selected[rule] = int(states[rule]["epoch"])
        fold_rows.append({**base, "selection": rule, **{k: mean[k] for k in ("f1", "precision", "recall", "kendall_tau", "spearman_rho")},
                          "corr_convention": CORR_CONVENTION, "n_videos": len(test), "selected_epoch": selected[rule],
                          "config": json.dumps(cfg.to_dict(), sort_keys=True)})
        for r in per_video:
            video_rows.append({**base, "selection": rule, "video": r["video"], "n_frames": dataset.videos[r["video"]].n_frames,
                               "f1": r["f1"], "kendall_tau": r["kendall_tau"], "spearman_rho": r["spearman_rho"]})
        if checkpoint_dir is not None and rule == "label_free":
            meta = {"feature_dim": dataset.feature_dim, "dataset": dataset.name, "features": dataset.features_kind,
                    "config": cfg.to_dict(), "fold": fold, "split_set": split_set, "selection": rule}
            save_checkpoint(Path(checkpoint_dir) / "summarizer.pt", {
                "kind": "trsum-summarizer", "epoch": selected[rule], "model": states[rule]["state"],
                "model_config": summ.config, "meta": meta, "history": rl_hist})
            save_checkpoint(Path(checkpoint_dir) / "generator.pt", {
                "kind": "trsum-generator", "epoch": cfg.gen_epochs - 1, "model": gen.state_dict(),
                "model_config": gen.config, "meta": meta, "history": gen_hist})
    wall = time.perf_counter() - t0
    # Stability of the RL stage's loss curve (the stage TR-SUM compares with GAN training).
    stab = history_stability(rl_hist)
    for r in fold_rows:
        r["wall_s"] = wall
        r.update({k: (None if v != v else v) for k, v in stab.items()})
    return FoldResult(fold_rows, video_rows, gen_hist + rl_hist, selected)
