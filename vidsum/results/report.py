"""The text leaderboard (``vidsum report``): mean ± std per method from the Parquet tables."""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd

from vidsum.results.schema import REFERENCE_METHODS
from vidsum.results.store import read_table, table_path
from vidsum.results.validate import is_missing

REPORT_GROUP = ["dataset", "features", "split_set", "selection", "method"]
REPORT_METRICS = {"f1": "F1", "kendall_tau": "Kendall tau", "spearman_rho": "Spearman rho"}


def _data_label(folds: pd.DataFrame) -> pd.Series:
    """The report's features cell: ``generated`` / ``real``, plus ``[cue,s=strength]`` when a row
    has them (rows of different stand-ins never share a line, nor a reference row)."""
    cue = folds["cue"] if "cue" in folds else pd.Series(None, index=folds.index, dtype=object)
    strength = folds["strength"] if "strength" in folds else pd.Series(np.nan, index=folds.index)
    tags = [
        "" if is_missing(c) and is_missing(s)
        else f"[{'-' if is_missing(c) else c},s={'-' if is_missing(s) else format(float(s), 'g')}]"
        for c, s in zip(cue, strength)
    ]
    return folds["features"].astype(str) + pd.Series(tags, index=folds.index, dtype=object)


def _one_reference_row_per_fold(folds: pd.DataFrame) -> pd.DataFrame:
    """Keep the latest human / random row per (group, fold, seed), so n counts folds, not runs."""
    ref = folds["method"].isin(REFERENCE_METHODS)
    latest = folds[ref].drop_duplicates(subset=[*REPORT_GROUP, "fold", "seed"], keep="last")
    return pd.concat([folds[~ref], latest])


def _mean_std(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return "-"
    if len(values) < 2:
        return f"{values.mean():.3f} ± -"
    return f"{values.mean():.3f} ± {values.std(ddof=1):.3f}"


def _format_table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    line = lambda r: "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip()  # noqa: E731
    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def report(results_dir: str | os.PathLike) -> str:
    """Leaderboard text from the Parquet files alone.

    One line per (dataset, features, split_set, selection, method): mean ± sample std (ddof=1)
    of f1, kendall_tau, spearman_rho over that group's fold rows (folds x seeds), with the
    number of rows, distinct folds and distinct seeds; the features cell carries the stand-in's
    cue and strength (``generated[text,s=0.8]``) when the rows have them. Within a dataset/features/split/selection
    block methods are sorted by mean F1, best first. Human and random rows are the same for every
    run over a fold, so only the latest one per (fold, seed) counts.
    """
    path = table_path(results_dir, "folds")
    if not path.exists():
        raise FileNotFoundError(f"no leaderboard at {path} (wrong results folder, or nothing appended yet?)")
    folds = read_table(results_dir, "folds")
    lines = [f"vidsum leaderboard: {path} ({len(folds)} fold rows from {folds['run_id'].nunique()} run(s))"]
    if folds.empty:
        return "\n".join([*lines, "(no rows)"])
    lines.append("mean ± std over fold rows (folds x seeds); n = rows; human/random: one row per fold")

    body = []
    folds = _one_reference_row_per_fold(folds.assign(features=_data_label(folds)))
    for key, group in folds.groupby(REPORT_GROUP, sort=False):
        cells = [str(k) for k in key]
        counts = [str(len(group)), str(group["fold"].nunique()), str(group["seed"].nunique())]
        mean_f1 = group["f1"].mean()
        rank = -mean_f1 if pd.notna(mean_f1) else math.inf  # best first; all-NaN groups last
        body.append((key[:-1], rank, cells + counts + [_mean_std(group[m]) for m in REPORT_METRICS]))
    body.sort(key=lambda b: (b[0], b[1], b[2][4]))
    header = [*REPORT_GROUP, "n", "folds", "seeds", *REPORT_METRICS.values()]
    lines += ["", *_format_table(header, [b[2] for b in body])]

    conventions = sorted(folds["corr_convention"].dropna().unique())
    if conventions:
        note = "tau/rho convention: " + ", ".join(conventions)
        if len(conventions) > 1:
            note += "  (MIXED: compare tau/rho only within one convention)"
        lines += ["", note]

    trials = read_table(results_dir, "trials")
    if not trials.empty:
        lines += ["", "Tune trials:"]
        for (method, dataset), group in trials.groupby(["method", "dataset"]):
            statuses = ", ".join(f"{s} {n}" for s, n in group["status"].value_counts().sort_index().items())
            lines.append(
                f"  {method} {dataset}: {len(group)} trials over {group['fold'].nunique()} fold(s)"
                f" ({statuses})"
            )
    return "\n".join(lines)


def report_cli(results_dir: str | os.PathLike = "results") -> int:
    """``vidsum report [results/]``: print :func:`report`; errors propagate (the CLI prints them)."""
    print(report(results_dir))
    return 0
