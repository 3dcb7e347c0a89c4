"""One fold of any method, end to end: hold out validation videos from the training keys, train
every stage, score the test videos under each selection rule, build the leaderboard rows.

The test keys of a split are used only to *score* the selected models (and for the oracle rule,
which is always labelled ``selection=oracle``). Everything that chooses (epochs, later
hyperparameters) sees the training keys only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vidsum.data.datasets import Dataset
from vidsum.data.eccv16 import Video
from vidsum.data.splits import Split, check_keys, validation_holdout
from vidsum.evaluation.metrics import CORR_CONVENTION, evaluate
from vidsum.evaluation.stability import history_stability
from vidsum.training.checkpoint import save_checkpoint
from vidsum.training.loop import Runtime
from vidsum.training.methods import Method, StageResult, fit_stages

FOLD_RULES = ("label_free", "validation", "oracle", "none")  # none: the last epoch


@dataclass
class FoldResult:
    """Rows for the leaderboards plus what was trained.

    fold_rows:  one per selection rule (f1, precision, recall, kendall_tau, spearman_rho, ...)
    video_rows: one per selection rule x test video
    history:    per-epoch metrics of every stage, in training order
    """

    fold_rows: list[dict[str, Any]]
    video_rows: list[dict[str, Any]]
    history: list[dict[str, Any]]
    selected_epochs: dict[str, int]

    def stamped(self, tags: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(folds.parquet rows, videos.parquet rows) with the run's ``tags`` (run_id, commit,
        started_at, the data's features / cue / strength, ...) added; video rows leave out
        commit and started_at, and fold rows selected_epoch (not columns of those tables)."""
        folds = [{**{k: v for k, v in r.items() if k != "selected_epoch"}, **tags} for r in self.fold_rows]
        videos = [{k: v for k, v in {**r, **tags}.items() if k not in ("commit", "started_at")} for r in self.video_rows]
        return folds, videos


def fold_videos(dataset: Dataset, split: Split, val_fraction: float, seed: int):
    """(train, val, test) Video lists. val is carved out of the training keys only."""
    check_keys(split, list(dataset.videos))
    train_keys, val_keys = validation_holdout(list(split.train_keys), val_fraction, seed)
    pick = lambda keys: [dataset.videos[k] for k in keys]  # noqa: E731
    return pick(train_keys), pick(val_keys), pick(split.test_keys)


# (cfg, train, val, test, dataset name) -> one StageResult per stage of the method. The default
# trains every stage in this process; vidsum.distributed passes one that runs them on Ray Train.
TrainStages = Callable[[Any, list[Video], list[Video], list[Video], str], list[StageResult]]


def run_fold(
    method: Method,
    cfg: Any,
    dataset: Dataset,
    split: Split,
    *,
    fold: int,
    split_set: str,
    rt: Runtime | None = None,
    checkpoint_dir: str | Path | None = None,
    rules: tuple[str, ...] = FOLD_RULES,
    train: TrainStages | None = None,
) -> FoldResult:
    """Train ``method`` on one fold and score its test videos under each selection rule.

    ``train`` replaces the in-process training of the stages (``rt`` is then unused). With
    ``checkpoint_dir``, each stage's model is saved there as a self-describing checkpoint
    (``stage.file``): the scored stage's label-free-selected epoch, earlier stages' last epoch.
    """
    t0 = time.perf_counter()
    train_videos, val, test = fold_videos(dataset, split, cfg.val_fraction, cfg.seed)
    if train is None:
        rt = rt or Runtime()
        train = lambda *a: fit_stages(method, *a, rt)  # noqa: E731
    results = train(cfg, train_videos, val, test, dataset.name)
    model, scored_history, best = results[-1]
    last = {k: v.clone() for k, v in model.state_dict().items()}
    states = {"none": {"epoch": getattr(cfg, method.scored.epochs) - 1, "state": last}, **best}
    fold_rows, video_rows, selected = score_rules(method, cfg, dataset, model, states, test, rules)
    base = {"method": method.name, "dataset": dataset.name, "features": dataset.features_kind,
            "split_set": split_set, "fold": fold, "seed": cfg.seed}
    # Stability of the scored stage's loss curve (what TR-SUM compares with GAN training);
    # undefined values are null.
    stability = {k: (None if v != v else v) for k, v in history_stability(scored_history).items()}
    for r in fold_rows:
        r.update(base)
        r["config"] = json.dumps(cfg.to_dict(), sort_keys=True)
        r.update(stability)
    for r in video_rows:
        r.update(base)
    if checkpoint_dir is not None:
        meta = {"feature_dim": dataset.feature_dim, "dataset": dataset.name, "features": dataset.features_kind,
                "config": cfg.to_dict(), "fold": fold, "split_set": split_set}
        save_models(method, cfg, results, states, Path(checkpoint_dir), meta)
    wall = time.perf_counter() - t0
    for r in fold_rows:
        r["wall_s"] = wall
    history = [row for _, h, _ in results for row in h]
    return FoldResult(fold_rows, video_rows, history, selected)


def score_rules(method: Method, cfg: Any, dataset: Dataset, model: Any, states: dict[str, dict], test: list[Video],
                rules: tuple[str, ...]) -> tuple[list[dict], list[dict], dict[str, int]]:
    """(fold rows, video rows, {rule: selected epoch}) of the test videos scored by the weights
    of each rule in ``rules`` that ``states`` ({rule: {'epoch', 'state'}}) holds. Leaves
    ``model`` holding the weights of the last rule scored."""
    fold_rows, video_rows, selected = [], [], {}
    for rule in rules:
        if rule not in states:
            continue
        model.load_state_dict(states[rule]["state"])
        scores = {v.key: method.score(model, v, cfg) for v in test}
        per_video, mean = evaluate(scores, {v.key: v for v in test}, dataset.name)
        selected[rule] = int(states[rule]["epoch"])
        fold_rows.append({"selection": rule, **{k: mean[k] for k in ("f1", "precision", "recall", "kendall_tau", "spearman_rho")},
                          "corr_convention": CORR_CONVENTION, "n_videos": len(test), "selected_epoch": selected[rule]})
        for r in per_video:
            video_rows.append({"selection": rule, "video": r["video"], "n_frames": dataset.videos[r["video"]].n_frames,
                               "f1": r["f1"], "kendall_tau": r["kendall_tau"], "spearman_rho": r["spearman_rho"]})
    return fold_rows, video_rows, selected


def save_models(method: Method, cfg: Any, results: list[StageResult], states: dict[str, dict], folder: Path,
                meta: dict[str, Any]) -> None:
    """Each stage's model as ``folder / stage.file``: the scored stage's label-free-selected
    weights (``meta['selection'] = 'label_free'``), the earlier stages' last epoch."""
    for stage, (model, history, _) in zip(method.stages, results, strict=True):
        if stage is method.scored:
            if "label_free" not in states:
                continue
            epoch, weights = int(states["label_free"]["epoch"]), states["label_free"]["state"]
        else:
            epoch, weights = getattr(cfg, stage.epochs) - 1, None
        save_checkpoint(folder / stage.file, stage.model_state(model, epoch, history, weights=weights,
                                                               meta={**meta, "selection": "label_free"}))
