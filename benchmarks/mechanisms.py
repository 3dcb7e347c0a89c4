"""Mechanism table: which method recovers which planted cue, against random on the same test videos.

    python benchmarks/mechanisms.py --run --methods trsum,drdsn,sgvs --cues events,text,mixed \
        --strengths 0.8,0 --seeds 0,1 --results results/mechanisms        # train what is missing, then print
    python benchmarks/mechanisms.py --results results/mechanisms           # print from what is there

Each cell (method, cue, strength) is one ``benchmarks/learns_on_standin.py`` run over the 5
standard SumMe folds x seeds, written to ``<results>/<method>_<cue>_s<strength>/``. The table
reads every ``folds.parquet`` under ``--results`` and gives, per cell and selection rule, the
margin over the random row of the same fold and run (same test videos): mean ± std over runs,
its standard error, and the runs above random, for F1, Kendall tau and Spearman rho. Strength 0
is the control: features independent of importance, where an honest method sits at random.
'oracle' (test-selected) rows are printed labelled and never count as a result.
With ``--run``, progress on stderr: cell k of n and the ETA of the cells still to train, and
inside each cell learns_on_standin's run k of n; ``--quiet`` / ``VIDSUM_PROGRESS=0`` silence it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

METRICS = ("f1", "kendall_tau", "spearman_rho")
RULES = ("label_free", "validation", "none", "oracle")


def margins(folds: pd.DataFrame) -> pd.DataFrame:
    """Rows of the methods (not human/random), each with ``<metric>_margin`` = its value minus the
    random row of the same run and fold. folds: the concatenated folds tables."""
    key = ["run_id", "fold"]
    rnd = folds[folds["method"] == "random"].drop_duplicates(key, keep="last")[key + list(METRICS)]
    rnd = rnd.rename(columns={m: f"{m}_random" for m in METRICS})
    mine = folds[~folds["method"].isin(["random", "human"])]
    joined = mine.merge(rnd, on=key, how="left")
    missing = joined["f1_random"].isna()
    if missing.any():
        raise ValueError(f"{int(missing.sum())} method rows have no random row of the same run and fold")
    for m in METRICS:
        joined[f"{m}_margin"] = joined[m] - joined[f"{m}_random"]
    return joined


def table(folds: pd.DataFrame) -> pd.DataFrame:
    """One line per (method, cue, strength, selection): runs, and per metric the mean margin, its
    std over runs, standard error and the number of runs above random."""
    m = margins(folds)
    # no cue: real features, or stand-in rows written before the cue column (builder v2 = events)
    generated = m["features"] == "generated" if "features" in m else pd.Series(False, index=m.index)
    m["cue"] = m["cue"].where(m["cue"].notna(), np.where(generated, "events", "real"))
    m["strength"] = m["strength"].astype(float)
    lines = []
    for (method, cue, strength, rule), g in m.groupby(["method", "cue", "strength", "selection"], sort=True, dropna=False):
        line = {"method": method, "cue": cue, "strength": strength, "selection": rule, "runs": len(g)}
        for metric in METRICS:
            x = g[f"{metric}_margin"].to_numpy(float)
            sd = float(x.std(ddof=1)) if len(x) > 1 else float("nan")
            line.update({f"{metric}": float(x.mean()), f"{metric}_sd": sd, f"{metric}_se": sd / np.sqrt(len(x)),
                         f"{metric}_above": int((x > 0).sum())})
        lines.append(line)
    out = pd.DataFrame(lines)
    out["selection"] = pd.Categorical(out["selection"], [r for r in RULES if r in set(out["selection"])] +
                                      sorted(set(out["selection"]) - set(RULES)))
    return out.sort_values(["method", "cue", "strength", "selection"], ascending=[True, True, False, True]).reset_index(drop=True)


def render(t: pd.DataFrame) -> str:
    """Markdown: margin mean ± std (standard error) [runs above / runs] per metric."""
    head = "| method | cue | strength | selection | runs | F1 margin | Kendall τ margin | Spearman ρ margin |"
    lines = [head, "|" + "---|" * 8]
    for _, r in t.iterrows():
        rule = "oracle (TEST-selected)" if r["selection"] == "oracle" else ("last epoch" if r["selection"] == "none" else r["selection"])
        cells = [f"{r[m]:+.3f} ± {r[m + '_sd']:.3f} (se {r[m + '_se']:.3f}) [{r[m + '_above']}/{r['runs']}]" for m in METRICS]
        lines.append(f"| {r['method']} | {r['cue']} | {r['strength']:g} | {rule} | {r['runs']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def read_folds(root: Path) -> pd.DataFrame:
    files = sorted(root.rglob("folds.parquet"))
    if not files:
        raise FileNotFoundError(f"no folds.parquet under {root}")
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default="results/mechanisms")
    p.add_argument("--run", action="store_true", help="train the cells that have no results folder yet")
    p.add_argument("--methods", default="trsum,drdsn,sgvs")
    p.add_argument("--cues", default="events,text,mixed")
    p.add_argument("--strengths", default="0.8,0")
    p.add_argument("--dataset", default="summe", choices=["summe", "tvsum"])
    p.add_argument("--splits", default="0,1,2,3,4")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr (also: VIDSUM_PROGRESS=0)")
    a = p.parse_args(argv)
    root = Path(a.results)
    if a.run:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import learns_on_standin

        from vidsum import progress

        cells = missing_cells(root, a.methods.split(","), a.cues.split(","), a.strengths.split(","))
        with progress.quiet(a.quiet), progress.Progress("mechanism cells", len(cells), unit="cell") as shown:
            for method, cue, strength, cell in cells:
                learns_on_standin.main(["--method", method, "--dataset", a.dataset, "--cue", cue, "--strength", strength,
                                        "--splits", a.splits, "--seeds", a.seeds, "--jobs", str(a.jobs),
                                        "--results", str(cell)] + (["--quiet"] if a.quiet else []))
                shown.update()
    print(render(table(read_folds(root))))
    return 0


def missing_cells(root: Path, methods: list[str], cues: list[str], strengths: list[str]) -> list[tuple[str, str, str, Path]]:
    """(method, cue, strength, folder) of every cell without a folds.parquet yet, in run order."""
    cells = [(m, c, s, root / f"{m}_{c}_s{float(s):g}") for m in methods for c in cues for s in strengths]
    return [cell for cell in cells if not (cell[3] / "folds.parquet").exists()]


if __name__ == "__main__":
    sys.exit(main())
