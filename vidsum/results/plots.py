"""Pictures (PNG, matplotlib Agg): ``vidsum plot RESULTS_DIR --out figures/``.

    summary.json (from ``vidsum summarize``)  -> videos/<name>.png   scores, selected shots shaded,
                                                                     human mean below when known
    folds.parquet                             -> leaderboard_<features>_<split_set>_<selection>.png
                                                 methods x datasets bars, mean ± std over fold rows,
                                                 for F1, Kendall tau, Spearman rho
    trials.parquet                            -> optuna_<method>_<dataset>_<split>_fold<k>_<run>_<kind>.png
                                                 kind = history | importance: Optuna's own
                                                 matplotlib plots of a study rebuilt from the table

Per-video pictures need per-step scores, which ``videos.parquet`` does not hold (it has one
F1 / tau / rho per video). They come from the ``summary.json`` files found anywhere under the
results folder; the human mean is drawn when the summarized input was an eccv16 video group
(``vidsum summarize data.h5 --video-key video_3 ...``). Without any, the report says so.

Optuna: trials.parquet has each trial's parameters and objective but not the search space, so
the study is rebuilt with distributions spanning the observed values (see
:func:`_param_distribution`) and direction ``maximize`` (what ``vidsum.distributed.search``
uses); importance is Optuna's default PED-ANOVA and needs two completed trials.

The human and random rows (``selection=none``) are reference rows: they appear in every
leaderboard picture of the same features kind and split set, whatever its selection rule.
Our own figures use matplotlib's object API (no pyplot state); only Optuna's plots go through
pyplot, inside an ``rc_context`` so their ggplot style does not leak. PNGs are written atomically.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from vidsum.data.eccv16 import natural_key
from vidsum.results.schema import REFERENCE_METHODS
from vidsum.results.store import read_table, table_path, write_atomic

METRICS = {"f1": "F1", "kendall_tau": "Kendall τ", "spearman_rho": "Spearman ρ"}
DPI = 130
_SELECTED_COLOR, _SCORE_COLOR, _HUMAN_COLOR = "#f2a93b", "#1f5fa8", "#3a8f3a"
_METHOD_COLORS = ["#1f5fa8", "#d1495b", "#66a182", "#8d6cab", "#edae49", "#2e4057"]
_REFERENCE_COLORS = {"human": "#7a7a7a", "random": "#c4c4c4"}
_SELECTION_LABELS = {"none": "none (last epoch)", "oracle": "oracle (best TEST epoch, for comparison with papers only)",
                     "label_free": "label_free (no labels)", "validation": "validation (held-out training videos)"}


# --------------------------------------------------------------------------- helpers


def save_png(fig: Any, path: str | os.PathLike) -> Path:
    """Write ``fig`` to ``path`` as PNG atomically (temp file in the same folder + os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=DPI))
    return path


def _slug(text: Any) -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in str(text)).strip("_") or "x"


def _ordered_methods(methods: Sequence[str]) -> list[str]:
    """Trained methods alphabetically, then the reference rows (human, random) last."""
    own = sorted(m for m in set(methods) if m not in REFERENCE_METHODS)
    return own + [m for m in REFERENCE_METHODS if m in set(methods)]


def _method_color(method: str, own_methods: list[str]) -> str:
    if method in _REFERENCE_COLORS:
        return _REFERENCE_COLORS[method]
    return _METHOD_COLORS[own_methods.index(method) % len(_METHOD_COLORS)]


# --------------------------------------------------------------------------- (a) one video


def _load_summary(doc: dict | str | os.PathLike) -> dict:
    if isinstance(doc, dict):
        return doc
    path = Path(doc)
    if not path.is_file():
        raise FileNotFoundError(f"summary not found: {path}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not JSON ({e.msg})") from None
    missing = [k for k in ("input", "step_scores", "step_times_s", "shots", "summary") if k not in doc]
    if missing:
        raise ValueError(f"{path}: not a vidsum summary.json (missing {', '.join(missing)})")
    return doc


def _shade_shots(ax: Any, shots: list[dict], label: str | None) -> None:
    for i, s in enumerate(r for r in shots if r["selected"]):
        ax.axvspan(s["start_s"], s["end_s"], color=_SELECTED_COLOR, alpha=0.35, lw=0,
                   label=label if i == 0 else None)
    if len(shots) <= 150:  # boundaries stop being readable beyond that
        for s in shots[1:]:
            ax.axvline(s["start_s"], color="0.75", lw=0.6, zorder=0)


def _score_limits(values: np.ndarray) -> tuple[float, float]:
    """y-limits with a margin and a span of at least 0.05 (summarizer scores can be flat)."""
    lo, hi = float(np.min(values)), float(np.max(values))
    mid, half = (lo + hi) / 2, max(hi - lo, 0.05) / 2 * 1.15
    return max(mid - half, -0.02), min(mid + half, 1.02)


def plot_summary(doc: dict | str | os.PathLike, out_path: str | os.PathLike) -> Path:
    """Per-step scores against time with the selected shots shaded; the human mean (fraction of
    annotators selecting each step) in a second panel when the summary has it. Returns the path."""
    doc = _load_summary(doc)
    inp, s = doc["input"], doc["summary"]
    t = np.asarray(doc["step_times_s"], dtype=float)
    scores = np.asarray(doc["step_scores"], dtype=float)
    human = doc.get("human_mean")
    n_panels = 1 if human is None else 2
    fig = Figure(figsize=(11, 3.2 + 2.2 * (n_panels - 1)), layout="constrained")
    axes = fig.subplots(n_panels, 1, sharex=True, squeeze=False)[:, 0]

    ax = axes[0]
    _shade_shots(ax, doc["shots"], "selected shots")
    ax.plot(t, scores, color=_SCORE_COLOR, lw=1.6, marker="o" if len(t) <= 60 else None, ms=3,
            label="predicted score")
    ax.set_ylim(*_score_limits(scores))
    ax.set_ylabel("keep probability")
    if human is not None:
        hx = axes[1]
        _shade_shots(hx, doc["shots"], "selected shots")
        hx.plot(t, np.asarray(human, dtype=float), color=_HUMAN_COLOR, lw=1.6, label="human mean")
        hx.set_ylim(-0.02, 1.02)
        hx.set_ylabel("fraction of\nannotators")
    xlabel = "time (s)"
    if inp.get("fps_source") == "assumed":
        xlabel += (", assuming 2 feature steps per second" if inp.get("frame_unit") == "step"
                   else f", assuming {inp['fps']:g} fps")
    axes[-1].set_xlabel(xlabel)
    axes[-1].set_xlim(0, inp["duration_s"])

    # One legend above the axes: inside, it would hide the scores at the end of the video.
    handles = [h for a in axes for h in a.get_legend_handles_labels()[0]]
    labels = [lab for a in axes for lab in a.get_legend_handles_labels()[1]]
    unique = dict(zip(labels, handles))
    fig.legend(unique.values(), unique.keys(), loc="outside upper right", ncols=len(unique), fontsize=8, frameon=False)
    name = inp.get("name") or inp.get("key") or Path(inp["path"]).name
    meta = (doc.get("checkpoint") or {}).get("meta") or {}
    trained = ", ".join(str(meta[k]) for k in ("dataset", "features", "selection") if k in meta)
    fig.suptitle(f"{name}: {s['n_selected_shots']} of {s['n_shots']} shots selected, "
                 f"{s['duration_s']:.1f} s of {inp['duration_s']:.1f} s ({100 * s['selected_fraction']:.1f}%)",
                 fontsize=11, x=0.01, ha="left")
    ax.set_title(f"shots: {doc['settings']['shots_source']}"
                 f" · budget {100 * doc['settings']['proportion']:.0f}%"
                 + (f" · model trained on {trained}" if trained else ""), fontsize=9, loc="left", color="0.3")
    return save_png(fig, out_path)


# --------------------------------------------------------------------------- (b) leaderboard


def leaderboard_groups(folds: pd.DataFrame) -> list[tuple[tuple[str, str, str], pd.DataFrame]]:
    """((features, split_set, selection), rows) per picture; reference rows join every selection."""
    is_ref = folds["method"].isin(REFERENCE_METHODS)
    own, ref = folds[~is_ref], folds[is_ref]
    groups = []
    if own.empty:  # only human/random rows: one picture per features / split set
        for (features, split_set), rows in ref.groupby(["features", "split_set"], sort=True):
            groups.append(((features, split_set, "none"), rows))
        return groups
    for (features, split_set, selection), rows in own.groupby(["features", "split_set", "selection"], sort=True):
        refs = ref[(ref["features"] == features) & (ref["split_set"] == split_set)]
        groups.append(((features, split_set, selection), pd.concat([rows, refs])))
    return groups


def _bar_panel(ax: Any, rows: pd.DataFrame, metric: str, label: str, datasets: list[str], methods: list[str],
               own: list[str]) -> None:
    width = 0.8 / len(methods)
    for j, method in enumerate(methods):
        x, means, stds = [], [], []
        for i, dataset in enumerate(datasets):
            values = rows.loc[(rows["method"] == method) & (rows["dataset"] == dataset), metric].dropna()
            if values.empty:
                continue
            x.append(i - 0.4 + width * (j + 0.5))
            means.append(values.mean())
            stds.append(values.std(ddof=1) if len(values) > 1 else 0.0)
        if not x:
            continue
        ax.bar(x, means, width * 0.92, yerr=stds, capsize=3, color=_method_color(method, own),
               edgecolor="0.25", lw=0.5, error_kw={"lw": 1, "ecolor": "0.15"})
        for xi, m, sd in zip(x, means, stds):
            y = m + sd if m >= 0 else m - sd
            ax.annotate(f"{m:.3f}", (xi, y), xytext=(0, 3 if m >= 0 else -3), textcoords="offset points",
                        ha="center", va="bottom" if m >= 0 else "top", fontsize=7,
                        rotation=90 if len(methods) * len(datasets) > 6 else 0)
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set_xticks(range(len(datasets)), datasets)
    ax.set_title(label, fontsize=10)
    ax.grid(axis="y", color="0.9", lw=0.6)
    ax.set_axisbelow(True)
    lo, hi = ax.get_ylim()
    ax.set_ylim(min(lo, 0), hi + 0.12 * (hi - min(lo, 0)))  # room for the value labels


def plot_leaderboard(folds: pd.DataFrame, out_dir: str | os.PathLike) -> list[Path]:
    """One PNG per (features, split_set, selection): F1 / tau / rho bars, methods x datasets,
    mean ± sample std (ddof=1) over the fold rows (folds x seeds). Returns the paths."""
    if folds.empty:
        return []
    missing = [c for c in ("method", "dataset", "features", "split_set", "selection", *METRICS) if c not in folds]
    if missing:
        raise ValueError(f"folds table lacks column(s) {', '.join(missing)}")
    paths = []
    for (features, split_set, selection), rows in leaderboard_groups(folds):
        datasets = sorted(rows["dataset"].unique())
        methods = _ordered_methods(rows["method"].unique())
        own = [m for m in methods if m not in REFERENCE_METHODS]
        fig = Figure(figsize=(max(10.0, 3.0 + 1.1 * len(datasets) * len(methods) * len(METRICS) / 2), 4.8),
                     layout="constrained")
        axes = fig.subplots(1, len(METRICS))
        for ax, (metric, label) in zip(axes, METRICS.items()):
            _bar_panel(ax, rows, metric, label, datasets, methods, own)
        handles = [_legend_patch(m, own) for m in methods]
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(methods), 6), fontsize=9, frameon=False)
        counts = rows.groupby(["method", "dataset"]).size()
        n = str(counts.iloc[0]) if counts.nunique() == 1 else f"{counts.min()}-{counts.max()}"
        rule = _SELECTION_LABELS.get(selection, selection)
        lines = [f"{split_set} splits · selection: {rule} · features: {features}"]
        if features == "generated":
            lines.append("GENERATED stand-in features: what a method recovers of a planted signal, "
                         "not real-video accuracy")
        lines.append(f"mean ± std (ddof=1) over fold rows, n = {n} per bar; human / random: reference rows")
        fig.suptitle("\n".join(lines), fontsize=10)
        name = f"leaderboard_{_slug(features)}_{_slug(split_set)}_{_slug(selection)}.png"
        paths.append(save_png(fig, Path(out_dir) / name))
    return paths


def _legend_patch(method: str, own: list[str]):
    from matplotlib.patches import Patch

    return Patch(facecolor=_method_color(method, own), edgecolor="0.25", label=method)


# --------------------------------------------------------------------------- (c) Optuna trials


def _param_distribution(values: pd.Series):
    """An Optuna distribution covering the observed values (the table has no search space).

    bool / str -> categorical; int -> IntDistribution(min, max); float -> FloatDistribution(min,
    max), log scale when all values are positive and span at least a factor 100.
    """
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    v = values.dropna()
    kinds = {type(x) for x in v}
    if kinds <= {bool, np.bool_} or any(isinstance(x, str) for x in v):
        return CategoricalDistribution(sorted({x.item() if isinstance(x, np.generic) else x for x in v}, key=str))
    numbers = v.astype(float)
    lo, hi = float(numbers.min()), float(numbers.max())
    if all(float(x).is_integer() for x in numbers) and not any(isinstance(x, float | np.floating) for x in v):
        return IntDistribution(int(lo), int(hi))
    return FloatDistribution(lo, hi, log=lo > 0 and hi / lo >= 100)


def study_from_trials(trials: pd.DataFrame, direction: str = "maximize"):
    """An in-memory Optuna study holding the table's trials, in trial-id order.

    Finished trials with an objective are COMPLETE; the rest (ERROR, no objective) are FAIL.
    Parameters come from the JSON ``params`` column.
    """
    import optuna
    from optuna.trial import TrialState, create_trial

    rows = trials.sort_values("trial_id", key=lambda s: s.map(natural_key)).reset_index(drop=True)
    params = [json.loads(p) if isinstance(p, str) else dict(p) for p in rows["params"]]
    table = pd.DataFrame(params)
    dists = {name: _param_distribution(table[name]) for name in table.columns}
    study = optuna.create_study(direction=direction)
    for p, objective, status in zip(params, rows["objective"], rows["status"]):
        complete = objective is not None and not pd.isna(objective) and math.isfinite(objective) and status != "ERROR"
        kept = {k: v for k, v in p.items() if v is not None}
        study.add_trial(create_trial(params=kept, distributions={k: dists[k] for k in kept},
                                     value=float(objective) if complete else None,
                                     state=TrialState.COMPLETE if complete else TrialState.FAIL))
    return study


def _importance_possible(study) -> str | None:
    """None when parameter importance can be computed, else why not."""
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(done) < 2:
        return f"{len(done)} completed trial(s); importance needs at least 2"
    varying = {k for t in done for k in t.params if len({json.dumps(u.params.get(k)) for u in done}) > 1}
    if not varying:
        return "no parameter took more than one value"
    return None


def plot_trials(trials: pd.DataFrame, out_dir: str | os.PathLike,
                direction: str = "maximize") -> tuple[list[Path], list[str]]:
    """Optuna optimisation history and parameter importance per (run, dataset, split set, fold).

    Returns (paths written, notes on what was skipped and why).
    """
    if trials.empty:
        return [], []
    import optuna

    paths, notes = [], []
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" line per fold
    try:
        _plot_studies(trials, Path(out_dir), direction, paths, notes)
    finally:
        optuna.logging.set_verbosity(verbosity)
    return paths, notes


def _plot_studies(trials: pd.DataFrame, out_dir: Path, direction: str, paths: list[Path], notes: list[str]) -> None:
    import matplotlib
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as ovm

    keys = ["run_id", "method", "dataset", "split_set", "fold"]
    for (run_id, method, dataset, split_set, fold), rows in trials.groupby(keys, sort=True):
        where = f"{method} {dataset} {split_set} fold {fold} (run {run_id})"
        stem = f"optuna_{_slug(method)}_{_slug(dataset)}_{_slug(split_set)}_fold{fold}_{_slug(run_id)}"
        study = study_from_trials(rows, direction)
        n_done = sum(t.state.name == "COMPLETE" for t in study.trials)
        title = f"{method} · {dataset} · {split_set} fold {fold} · {n_done}/{len(study.trials)} trials complete"
        why_not = _importance_possible(study)
        with warnings.catch_warnings(), matplotlib.rc_context():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            if n_done:
                ax = ovm.plot_optimization_history(study, target_name="objective")
                _finish_optuna(ax, f"Optimization history\n{title}", (7.5, 4.2))
                paths.append(save_png(ax.figure, Path(out_dir) / f"{stem}_history.png"))
                plt.close(ax.figure)
            else:
                notes.append(f"{where}: no completed trial, no history plot")
            if why_not is None:
                ax = ovm.plot_param_importances(study)
                height = 1.8 + 0.45 * len(study.best_params)
                _finish_optuna(ax, f"Parameter importance (PED-ANOVA)\n{title}", (7.5, height))
                paths.append(save_png(ax.figure, Path(out_dir) / f"{stem}_importance.png"))
                plt.close(ax.figure)
            else:
                notes.append(f"{where}: no importance plot ({why_not})")


def _finish_optuna(ax: Any, title: str, size: tuple[float, float]) -> None:
    """Our title in place of Optuna's, the legend inside the axes, a readable size."""
    ax.set_title("")
    ax.set_title(title, loc="left", fontsize=10)
    if ax.get_legend() is not None:
        ax.legend(loc="best", fontsize=8, framealpha=0.9)
    ax.figure.set_size_inches(*size)
    ax.figure.tight_layout()


# --------------------------------------------------------------------------- everything


@dataclass
class PlotReport:
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plot_results(results_dir: str | os.PathLike, out_dir: str | os.PathLike) -> PlotReport:
    """Every picture the results folder allows (see the module docstring)."""
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    if not results_dir.is_dir():
        raise FileNotFoundError(f"results folder not found: {results_dir}")
    report = PlotReport()
    summaries = sorted(p for p in results_dir.rglob("summary.json") if not out_dir.resolve() in p.resolve().parents)
    for path in summaries:
        rel = path.parent.relative_to(results_dir)
        name = _slug("_".join(rel.parts)) if rel.parts else "summary"
        try:
            report.files.append(plot_summary(path, out_dir / "videos" / f"{name}.png"))
        except ValueError as e:  # one foreign summary.json must not stop the other pictures
            report.notes.append(f"skipped {path}: {e}")
    if not summaries:
        report.notes.append("no per-video pictures: videos.parquet holds per-video metrics, not scores; "
                            f"put `vidsum summarize ... --out {results_dir}/<name>` outputs (summary.json) there")
    if table_path(results_dir, "folds").exists():
        report.files += plot_leaderboard(read_table(results_dir, "folds"), out_dir)
    else:
        report.notes.append(f"no leaderboard picture: {table_path(results_dir, 'folds')} does not exist")
    if table_path(results_dir, "trials").exists():
        paths, notes = plot_trials(read_table(results_dir, "trials"), out_dir)
        report.files += paths
        report.notes += notes
    else:
        report.notes.append(f"no Optuna pictures: {table_path(results_dir, 'trials')} does not exist")
    return report


def plot_cli(results_dir: str | os.PathLike, out_dir: str | os.PathLike) -> int:
    """``vidsum plot RESULTS_DIR --out DIR``: write the PNGs, print each path and each note."""
    import matplotlib

    matplotlib.use("Agg")  # Optuna's plots go through pyplot; never open a window from the CLI
    report = plot_results(results_dir, out_dir)
    for path in report.files:
        print(f"wrote {path}")
    for note in report.notes:
        print(f"note: {note}")
    if not report.files:
        print(f"nothing to plot in {results_dir}")
    return 0
