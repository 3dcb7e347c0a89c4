"""Per-fold hyperparameter search (TR-SUM, SG-VS, DR-DSN) with Ray Tune + Optuna, then a scored final fit.

    python tune.py --dataset summe                      # TR-SUM, quick preset, 5 standard folds, 2 CPU cores
    python tune.py --dataset summe --method sgvs        # SG-VS (space: tune_spaces/sgvs.yaml)
    python tune.py --dataset summe --method drdsn       # the DR-DSN baseline
    python tune.py --dataset tvsum --preset paper --gpus-per-trial 1 --address auto
    python tune.py --dataset summe --resume             # continue a killed run
    python tune.py --dataset summe --address auto --storage s3://bucket/runs   # a cluster: storage every node reaches
    python tune.py --dataset summe --address 10.0.0.5:6379 --gpus-per-trial 0.25  # four trials share each GPU

With a cluster (and a local Ray alike) tune.py first checks what it offers against what one trial
holds (vidsum/distributed/preflight.py): no alive node, --workers-per-trial >= 1 without Ray's
State API, or a trial that fits on no node is refused with one error line (exit 2) instead of a
search that waits forever; --connect-timeout bounds joining, --wait-for-resources waits (bounded)
for an autoscaler to add a node.

Without the real eccv16 file (--data-dir / $VIDSUM_DATA / ./data) it runs on the stand-in
dataset (real annotations, generated features), says so, and tags every row features=generated
with its cue and strength (--cue events|text|mixed, --strength S).
Results: <results>/{trials,folds,videos}.parquet; `vidsum report <results>` prints them.
How it works: vidsum/distributed/search.py (Ray Tune + Optuna) and vidsum/tuning/ (no Ray).
The same command is ``vidsum tune ...``; this module is both (tune.py at the repository root
calls :func:`main`).
"""

from __future__ import annotations

import argparse
import os
import sys

CUES = ("events", "text", "mixed")  # vidsum.data.standin.CUES (likewise)


def _folds(text: str) -> list[int]:
    try:
        folds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--folds takes comma-separated integers like 0,1,4, got {text!r}") from None
    if not folds or len(set(folds)) != len(folds):
        raise argparse.ArgumentTypeError(f"--folds needs distinct fold numbers, got {text!r}")
    return folds


def build_parser(prog: str = "tune.py") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True, choices=["summe", "tvsum"])
    from vidsum.training.methods import method_names  # light: no torch

    p.add_argument("--method", default="trsum", choices=method_names(), help="method to tune (default: trsum)")
    p.add_argument("--splits", default="standard", choices=["standard", "kfold", "vasnet", "dsnet"],
                   help="split set (default: standard, the PGL-SUM splits)")
    p.add_argument("--folds", type=_folds, default=None, help="comma-separated folds, e.g. 0,1 (default: all)")
    p.add_argument("--trials", type=int, default=None, help="trials per fold (default: the preset's, quick 2)")
    p.add_argument("--preset", default="quick", choices=["quick", "paper"])
    p.add_argument("--space", default=None, help="search space YAML (default: tune_spaces/<method>.yaml)")
    p.add_argument("--gpus-per-trial", type=float, default=0.0,
                   help="GPUs per trial (default 0); a fraction shares a GPU (0.25: four trials on each), and GPU "
                        "trials run as many at once as fit unless --max-concurrent says otherwise")
    p.add_argument("--workers-per-trial", type=int, default=0,
                   help="Ray Train DDP workers per trial; 0 (default) trains inside the trial process")
    p.add_argument("--resume", action="store_true", help="continue the last run with the same dataset/splits/preset/space")
    p.add_argument("--data-dir", default=None, help="folder with the eccv16 h5 files (default: $VIDSUM_DATA, ./data)")
    p.add_argument("--cue", default=None, choices=CUES,
                   help="stand-in only: what the generated features plant (default events; see vidsum/data/standin.py)")
    p.add_argument("--strength", type=float, default=None,
                   help="stand-in only: planted signal strength in [0, 1] (default 0.8; 0 = the control)")
    p.add_argument("--address", default=None, help="Ray cluster to join, e.g. auto (default: start a local Ray)")
    p.add_argument("--connect-timeout", type=float, default=60.0, metavar="S",
                   help="--address: give up joining the cluster after S seconds (default 60)")
    p.add_argument("--wait-for-resources", type=float, default=0.0, metavar="S",
                   help="wait up to S seconds at start for a node that can hold one trial, asking the autoscaler for "
                        "one (default 0: refuse at once); a search whose trials wait while none runs stops after "
                        "max(S, 600) seconds")
    p.add_argument("--results", default="results", help="leaderboard folder (default: results)")
    p.add_argument("--storage", default=None, metavar="URI",
                   help="where Ray Tune/Train storage, every checkpoint and the final models go, and the leaderboards "
                        "and Optuna journal are mirrored after every fold: a path (shared by every node of a cluster) "
                        "or s3://bucket/prefix, gs://... (default: --results)")
    p.add_argument("--storage-endpoint", default=None, metavar="URL",
                   help="S3-compatible endpoint for --storage s3://... (MinIO, Ceph, moto), e.g. http://127.0.0.1:9000 "
                        "(default: AWS_ENDPOINT_URL or AWS)")
    p.add_argument("--seed", type=int, default=0, help="TPE sampler seed (default 0)")
    p.add_argument("--max-concurrent", type=int, default=None, help="trials at once (default: the preset's; 0: resources)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a preset value of the method's config, e.g. --set rl_epochs=10 (repeatable)")
    p.add_argument("--verbose", action="store_true",
                   help="a line per trial epoch (default: at most one per trial every 30 s), and Ray worker logs "
                        "(the final fits' epoch lines)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no per-trial lines and no progress (also: VIDSUM_PROGRESS=0); the fold lines stay")
    return p


def _cluster_can_run(options, address: str | None, dashboard_url: str | None, prog: str) -> bool:
    """The cluster checks of ``vidsum.distributed.preflight`` (Ray initialised): prints the cluster's
    line, its warnings loudly, and each problem as an error; False when there is one."""
    from vidsum.distributed import preflight
    from vidsum.distributed.search import trial_request

    say = lambda line: print(f"{prog}: {line}", file=sys.stderr, flush=True)  # noqa: E731
    found = preflight.run_preflight(address or "(local)", trial_request(options.workers_per_trial, options.gpus_per_trial),
                                    wait_s=options.wait_for_resources, max_concurrent=options.max_concurrent,
                                    dashboard_url=dashboard_url, say=say)
    print(found.summary, flush=True)
    for warning in found.warnings:
        print(f"\n*** WARNING: {warning}\n", file=sys.stderr, flush=True)
    for problem in found.problems:
        print(f"{prog}: error: {problem}", file=sys.stderr, flush=True)
    return not found.problems


def main(argv: list[str] | None = None, prog: str = "tune.py") -> int:
    from vidsum.training.config import parse_overrides

    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        overrides = parse_overrides(args.set)
    except ValueError as e:
        parser.error(str(e))
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # with verbose=0: no Tune tables; search.py prints progress
    if args.quiet:
        os.environ["VIDSUM_PROGRESS"] = "0"  # before Ray starts: its workers inherit it (vidsum.progress)
    from vidsum.tuning.plan import SearchOptions, check_options  # no Ray: errors come before it starts

    options = SearchOptions(
        dataset=args.dataset, method=args.method, splits=args.splits, folds=args.folds, trials=args.trials, preset=args.preset,
        space=args.space, gpus_per_trial=args.gpus_per_trial, workers_per_trial=args.workers_per_trial,
        resume=args.resume, data_dir=args.data_dir, results=args.results, storage=args.storage,
        storage_endpoint=args.storage_endpoint, seed=args.seed,
        max_concurrent=args.max_concurrent, verbose=args.verbose, quiet=args.quiet, config_overrides=overrides,
        cue=args.cue, strength=args.strength, connect_timeout=args.connect_timeout,
        wait_for_resources=args.wait_for_resources)
    try:
        check_options(options)
    except (ValueError, FileNotFoundError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    import ray
    import torch

    from vidsum.distributed import preflight
    from vidsum.distributed.search import run_search

    torch.set_num_threads(1)  # the driver only scores baselines; cores go to the trials
    if args.address:
        try:
            context = preflight.connect(args.address, args.connect_timeout, log_to_driver=args.verbose,
                                        say=lambda line: print(f"{prog}: {line}", file=sys.stderr, flush=True))
        except ConnectionError as e:
            print(f"{prog}: error: {e}", file=sys.stderr)
            return 2
    else:
        # The dashboard (ray[default]) is what frees Train workers' CPUs when ASHA stops a
        # Tune-over-Train trial; without Train workers it only costs memory.
        context = ray.init(include_dashboard=args.workers_per_trial > 0, log_to_driver=args.verbose,
                           object_store_memory=256 * 2**20)
    try:
        if not _cluster_can_run(options, args.address, getattr(context, "dashboard_url", None), prog):
            return 2
        run_search(options)
    except (ValueError, KeyError, FileNotFoundError, RuntimeError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; `--resume` (same arguments) continues this run", file=sys.stderr)
        return 130
    finally:
        ray.shutdown()
    return 0
