"""What a search writes and prints, without Ray: reference rows, fold rows, run ids, progress lines.

Rows go to ``<results>/{trials,folds,videos}.parquet`` (``vidsum.results.leaderboard``): a fold's
method rows come with human and random rows for the same test videos (:func:`write_fold`). The
run id of a search is kept in ``<results>/tune_state/`` so ``--resume`` finds it
(:func:`state_path`, :func:`resolve_run_id`) and skips folds already written (:func:`folds_done`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidsum.data.datasets import Dataset
from vidsum.data.standin import DEFAULT_CUE, DEFAULT_STRENGTH
from vidsum.evaluation.baselines import baseline_rows
from vidsum.evaluation.metrics import CORR_CONVENTION
from vidsum.results import leaderboard
from vidsum.training.methods import Method
from vidsum.tuning.plan import SearchOptions
from vidsum.tuning.space import SearchSpace

if TYPE_CHECKING:
    from vidsum.training.fold import FoldResult


# -------------------------------------------------------------------------------------- rows


def reference_rows(dataset: Dataset, test_keys: tuple[str, ...], base: dict[str, Any], n_seeds: int = 10
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(fold rows, video rows) of the human and random baselines on the fold's test videos."""
    ref = baseline_rows({k: dataset.videos[k] for k in test_keys}, dataset.name, n_seeds=n_seeds)
    fold_rows, video_rows = [], []
    for method in ("human", "random"):
        row = {**base, "method": method, "seed": 0, "selection": "none", "f1": ref[f"{method}_f1"],
               "kendall_tau": ref[f"{method}_tau"], "spearman_rho": ref[f"{method}_rho"],
               "corr_convention": CORR_CONVENTION, "n_videos": len(test_keys),
               "config": {"n_seeds": n_seeds} if method == "random" else {}}
        fold_rows.append(row)
        for v in ref["videos"]:
            video_rows.append({**base, "method": method, "seed": 0, "selection": "none", "video": v["video"],
                               "n_frames": dataset.videos[v["video"]].n_frames, "f1": v[f"{method}_f1"],
                               "kendall_tau": v[f"{method}_tau"], "spearman_rho": v[f"{method}_rho"]})
    return fold_rows, video_rows


def write_fold(results_dir: Path, dataset: Dataset, result: FoldResult, test_keys: tuple[str, ...],
               run_row: dict[str, Any], fold: int) -> list[dict[str, Any]]:
    """Append the method's rows of a fold plus its human/random rows; returns the fold rows written."""
    base = {**dataset.row_tags(), **run_row, "fold": fold}  # the data's features / cue / strength unless given
    fold_rows, video_rows = result.stamped(base)
    ref_base = {k: base[k] for k in ("run_id", "dataset", "features", "cue", "strength", "split_set", "fold", "commit",
                                     "started_at")}
    ref_folds, ref_videos = reference_rows(dataset, test_keys, ref_base)
    ref_videos = [{k: v for k, v in r.items() if k not in ("commit", "started_at")} for r in ref_videos]
    leaderboard.append_rows(results_dir, "videos", video_rows + ref_videos)
    leaderboard.append_rows(results_dir, "folds", fold_rows + ref_folds)
    return fold_rows + ref_folds


# ----------------------------------------------------------------------------------- run ids


def _standin_tag(o: SearchOptions) -> str:
    """'' for the default stand-in (events, default strength), else '-<cue>-s<strength>'."""
    cue = o.cue or DEFAULT_CUE
    strength = DEFAULT_STRENGTH if o.strength is None else float(o.strength)
    return "" if (cue, strength) == (DEFAULT_CUE, DEFAULT_STRENGTH) else f"-{cue}-s{strength:g}"


def state_path(results_dir: Path, o: SearchOptions, space: SearchSpace) -> Path:
    """Where the run id of a (method, dataset, splits, preset, space, stand-in) search is kept for --resume."""
    return results_dir / "tune_state" / f"{o.method}-{o.dataset}-{o.splits}-{o.preset}-{space.name}{_standin_tag(o)}.json"


def resolve_run_id(results_dir: Path, o: SearchOptions, space: SearchSpace) -> str:
    """A new run id, kept in :func:`state_path`; with ``o.resume`` the one kept there."""
    path = state_path(results_dir, o, space)
    if o.resume:
        if not path.exists():
            raise FileNotFoundError(f"--resume: no earlier {o.method}/{o.dataset}/{o.splits}/{o.preset}/{space.name} search "
                                    f"in {results_dir} ({path} missing); run without --resume")
        state = json.loads(path.read_text())
        print(f"resuming run {state['run_id']} (started {state['started_at']})", flush=True)
        return state["run_id"]
    run_id = leaderboard.new_run_id()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"run_id": run_id, "started_at": leaderboard.utc_now().isoformat(),
                               "options": {k: str(v) for k, v in asdict(o).items()}}, indent=1))
    os.replace(tmp, path)
    return run_id


def folds_done(results_dir: Path, run_id: str, method: str) -> set[int]:
    """Folds of this run that already have rows of ``method`` in folds.parquet."""
    folds = leaderboard.read_table(results_dir, "folds")
    done = folds[(folds["run_id"] == run_id) & (folds["method"] == method)]
    return {int(f) for f in done["fold"].unique()}


# ---------------------------------------------------------------------------- progress lines


def fmt_params(params: dict[str, Any]) -> str:
    """'delta=0.5 segment_len=16': a trial's parameters by name, floats to 3 significant digits."""
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(params.items()))


def fmt_epochs(method: Method, epochs: dict[str, int], at_most: bool = True) -> str:
    """'18 pretraining + <= 5 scored epochs' (a trial ASHA may stop) or '120 pretraining + 25 scored epochs'."""
    scored = f"{'<= ' if at_most else ''}{epochs[method.scored_epochs]}"
    if method.pretrain_epochs:
        return f"{epochs[method.pretrain_epochs]} pretraining + {scored} scored epochs"
    return f"{scored} epochs"


def print_fold(fold: int, method: str, rows: list[dict[str, Any]], wall: float) -> None:
    """The fold's TEST line: the method's F1 / tau per selection rule next to human and random."""
    trs = {r["selection"]: r for r in rows if r["method"] == method}
    ref = {r["method"]: r for r in rows if r["method"] != method}
    sel = "  ".join(f"{s} F1 {r['f1']:.3f} tau {r['kendall_tau']:.3f}" for s, r in trs.items())
    print(f"[fold {fold}] TEST ({trs and next(iter(trs.values()))['n_videos']} videos, final fit {wall:.0f} s): {sel}"
          f"  | human F1 {ref['human']['f1']:.3f}  random F1 {ref['random']['f1']:.3f}", flush=True)


def trial_epoch_line(result: dict[str, Any], max_t: int) -> str:
    """'epoch 3/5: objective 0.4123 (36 s, at most 24 s left)' from a trial's Tune result. ASHA
    may stop the trial sooner, hence "at most"; the pace is the trial's mean time per epoch so far."""
    done, wall = int(result.get("scored_epoch", 0)), float(result.get("time_total_s") or 0.0)
    text = f"epoch {done}/{max_t}: objective {result.get('objective', float('nan')):.4f}"
    if done > 0 and wall > 0:
        left = f", at most {wall / done * (max_t - done):.0f} s left" if done < max_t else ""
        text += f" ({wall:.0f} s{left})"
    return text
