"""Can the search steer? How well each search objective picks, per fold, the config that is best on the test videos.

    python benchmarks/search_value.py --method drdsn --configs 6 --seeds 0,1 --jobs 2 --out results/search_value/drdsn.json
    python benchmarks/search_value.py --from results/search_value/drdsn.json       # print the table again

Per fold of the 5 standard splits: the preset and ``--configs - 1`` points drawn at random from
the method's search space (the same points for every seed), each trained at the preset's FULL
epochs (what the final fit trains; a trial's reduced budget is a separate question) by the
method's fold runner, one run per seed. Each run records what a search could maximise, all
measured on the fold's validation videos (held-out *training* videos; never a test video):

    validation      best epoch's mean F (tune_spaces' default objective)
    validation_tau  best epoch's mean Kendall tau of the scores against the annotations
    label_free      best epoch's mean reconstruction / label-free value (no labels)

and, for this analysis only, the test videos' F / tau under the 'validation' and 'label_free'
selection rules. Printed per objective: the test tau of the config it picks minus the preset's
(tuned - untuned; mean ± std over (fold, seed), standard error, picks that differ from the
preset), the same when the objective is averaged over the seeds before picking (seeds per
trial: each seed holds out different validation videos, so also more validation videos), and
the rank correlation between the objective and the test tau over the configs of a fold. The
oracle line (pick by TEST tau) is the headroom, labelled: it is never a result.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from learns_on_standin import run_grid  # noqa: E402

OBJECTIVES = ("validation", "validation_tau", "label_free")
TEST_RULES = ("validation", "label_free")


def draw_points(space, n: int, seed: int) -> list[dict]:
    """``n`` points drawn uniformly (log-uniformly where ``log``) from ``space``'s params; ints
    and stepped floats land on their grid. space: vidsum.tuning.space.SearchSpace."""
    rng = np.random.default_rng(seed)
    points = []
    for _ in range(n):
        point = {}
        for name, p in space.params.items():
            if p.type == "categorical":
                point[name] = p.choices[int(rng.integers(len(p.choices)))]
                continue
            lo, hi = float(p.low), float(p.high)
            x = float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if p.log else float(rng.uniform(lo, hi))
            if p.step:
                x = lo + round((x - lo) / p.step) * p.step
            point[name] = int(round(x)) if p.type == "int" else x
        points.append(point)
    return points


def best_objectives(history: list[dict]) -> dict[str, float]:
    """{objective: best value over the scored stage's epochs} from a run's history rows."""
    out = {}
    for name in OBJECTIVES:
        values = [r[f"sel_{name}"] for r in history if f"sel_{name}" in r and r[f"sel_{name}"] == r[f"sel_{name}"]]
        out[name] = max(values) if values else float("nan")
    return out


def _one(item: tuple[int, dict]):
    number, job = item
    import torch

    torch.set_num_threads(1)
    from vidsum.data.datasets import load_dataset
    from vidsum.data.splits import get_split
    from vidsum.training.methods import get_method
    from vidsum.tuning.plan import trial_config
    from vidsum.tuning.space import default_space, load_space

    method = get_method(job["method"])
    space = load_space(job["space"] or default_space(method.name), method.config_cls)
    ds = load_dataset(job["dataset"], job["data_dir"], quiet=True, cue=job["cue"], strength=job["strength"])
    split = get_split(job["dataset"], "standard", job["fold"])
    base = method.preset(job["preset"], seed=job["seed"]).to_dict()
    cfg = trial_config(method, base, space, job["params"])
    t0 = time.perf_counter()
    res = method.run_fold(cfg, ds, split, fold=job["fold"], split_set="standard", rules=TEST_RULES)
    test = {r["selection"]: {"f1": r["f1"], "kendall_tau": r["kendall_tau"]} for r in res.fold_rows}
    record = {k: job[k] for k in ("fold", "seed", "config", "params")}
    record.update(objectives=best_objectives(res.history), test=test, wall_s=time.perf_counter() - t0)
    line = (f"  fold {job['fold']} seed {job['seed']} config {job['config']}: {record['wall_s']:.0f} s  "
            + "  ".join(f"{o} {v:.3f}" for o, v in record["objectives"].items())
            + f"  | test tau (validation rule) {test['validation']['kendall_tau']:+.3f}")
    return number, (record, line)


def _group(records: list[dict]) -> dict[tuple[int, int], list[dict]]:
    groups: dict[tuple[int, int], list[dict]] = {}
    for r in records:
        groups.setdefault((r["fold"], r["seed"]), []).append(r)
    return {k: sorted(v, key=lambda r: r["config"]) for k, v in groups.items()}


def gains(records: list[dict], objective: str, rule: str) -> dict[str, list[float]]:
    """Per (fold, seed): test tau (under ``rule``) of the config with the best ``objective`` minus
    the preset's (config 0); whether the pick differs from the preset; the Spearman correlation
    of objective and test tau over the configs. ``objective='oracle'`` picks by test tau itself."""
    out = {"gain": [], "moved": [], "corr": []}
    for rows in _group(records).values():
        tau = np.array([r["test"][rule]["kendall_tau"] for r in rows])
        obj = tau if objective == "oracle" else np.array([r["objectives"][objective] for r in rows])
        pick = int(np.nanargmax(obj))
        out["gain"].append(float(tau[pick] - tau[0]))
        out["moved"].append(float(pick != 0))
        if objective != "oracle" and np.nanstd(obj) > 0:
            out["corr"].append(float(spearmanr(obj, tau, nan_policy="omit").statistic))
    return out


def seed_averaged_gains(records: list[dict], objective: str, rule: str) -> list[float]:
    """Per fold: the objective averaged over the seeds picks one config; its seed-mean test tau
    minus the preset's seed-mean test tau."""
    out = []
    folds = sorted({r["fold"] for r in records})
    for fold in folds:
        rows = [r for r in records if r["fold"] == fold]
        configs = sorted({r["config"] for r in rows})
        mean_obj = [np.nanmean([r["objectives"][objective] for r in rows if r["config"] == c]) for c in configs]
        mean_tau = [np.mean([r["test"][rule]["kendall_tau"] for r in rows if r["config"] == c]) for c in configs]
        pick = int(np.nanargmax(mean_obj))
        out.append(float(mean_tau[pick] - mean_tau[0]))
    return out


def _stat(x: list[float]) -> str:
    if not x:
        return "n/a"
    a = np.asarray(x, float)
    se = a.std(ddof=1) / np.sqrt(len(a)) if len(a) > 1 else float("nan")
    return f"{a.mean():+.3f} ± {a.std(ddof=1) if len(a) > 1 else 0:.3f} (se {se:.3f}, {int((a > 0).sum())}/{len(a)} > 0)"


def report(records: list[dict]) -> str:
    """The markdown table of every objective under every test selection rule."""
    lines = ["| objective | test rule | tuned − untuned τ, one seed per pick | picks ≠ preset | "
             "Spearman ρ(objective, test τ) over configs | seed-averaged objective: tuned − untuned τ (per fold) |",
             "|---|---|---|---|---|---|"]
    for rule in TEST_RULES:
        for objective in (*OBJECTIVES, "oracle"):
            g = gains(records, objective, rule)
            name = "oracle (TEST-selected headroom)" if objective == "oracle" else objective
            avg = seed_averaged_gains(records, objective, rule) if objective != "oracle" else []
            corr = f"{np.mean(g['corr']):+.2f} ± {np.std(g['corr'], ddof=1):.2f}" if len(g["corr"]) > 1 else "n/a"
            lines.append(f"| {name} | {rule} | {_stat(g['gain'])} | {int(sum(g['moved']))}/{len(g['moved'])} | "
                         f"{corr if objective != 'oracle' else '—'} | {_stat(avg) if avg else '—'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--method", default="drdsn", choices=["trsum", "sgvs", "drdsn"])
    p.add_argument("--dataset", default="summe", choices=["summe", "tvsum"])
    p.add_argument("--folds", default="0,1,2,3,4")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--configs", type=int, default=6, help="configs per fold, the preset first (default 6)")
    p.add_argument("--space", default=None, help="search space YAML (default tune_spaces/<method>.yaml)")
    p.add_argument("--preset", default="quick")
    p.add_argument("--cue", default=None, choices=["events", "text", "mixed"])
    p.add_argument("--strength", type=float, default=None)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", default=None, help="JSON of every run's record (written atomically)")
    p.add_argument("--from", dest="source", default=None, help="print the table of an earlier --out")
    a = p.parse_args(argv)
    if a.source:
        print(report(json.loads(Path(a.source).read_text())["records"]))
        return 0

    from vidsum.data.datasets import load_dataset
    from vidsum.training.methods import get_method
    from vidsum.tuning.space import default_space, load_space

    method = get_method(a.method)
    space = load_space(a.space or default_space(method.name), method.config_cls)
    preset = method.preset(a.preset)
    load_dataset(a.dataset, a.data_dir, cue=a.cue, strength=a.strength)  # build the stand-in once, before the workers
    folds = [int(k) for k in a.folds.split(",")]
    seeds = [int(s) for s in a.seeds.split(",")]
    jobs = []
    for fold in folds:
        points = [{n: getattr(preset, n) for n in space.params}] + draw_points(space, a.configs - 1, seed=1000 + fold)
        for i, params in enumerate(points):
            for seed in seeds:
                jobs.append(dict(method=a.method, dataset=a.dataset, data_dir=a.data_dir, cue=a.cue, strength=a.strength,
                                 space=a.space, preset=a.preset, fold=fold, seed=seed, config=i, params=params))
    t0 = time.perf_counter()
    print(f"{len(jobs)} runs of {a.method} ({a.preset}, full epochs): folds {folds} x {a.configs} configs x seeds {seeds}, "
          f"{a.jobs} at a time", flush=True)
    records = [rec for rec, _ in run_grid(jobs, a.jobs, f"search value of {a.method}", one=_one)]
    wall = time.perf_counter() - t0
    print(f"\n{a.method} on {a.dataset} (cue {a.cue or 'default'}), wall {wall:.0f} s\n")
    print(report(records))
    if a.out:
        out = Path(a.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps({"args": vars(a), "wall_s": wall, "records": records}, indent=1, default=str))
        tmp.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
