"""The ``vidsum`` command: data | baselines | train | tune | report | summarize | plot | checkpoint.

Each subcommand imports what it needs when it runs, so ``vidsum --help`` stays fast and
nothing here imports Ray.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # not imported at run time: --help stays fast
    from vidsum.distributed.storage import Storage

CUES = ("events", "text", "mixed")  # vidsum.data.standin.CUES (not imported: --help stays fast)


def _cmd_data_check(args: argparse.Namespace) -> int:
    from vidsum.data.eccv16 import validate_file

    problems = validate_file(args.file)
    if problems:
        for p in problems:
            print(f"FAIL {p}")
        return 1
    print(f"OK {args.file}")
    return 0


def _cmd_data_download(args: argparse.Namespace) -> int:
    from vidsum.data.download import download_cli, resolve_data_dir

    dest = args.dest or str(resolve_data_dir(args.data_dir))
    return download_cli(args.dataset, dest, args.url, args.sha256)


def _cmd_data_build(args: argparse.Namespace) -> int:
    from vidsum.data.standin import DEFAULT_STRENGTH, build_cli

    strength = DEFAULT_STRENGTH if args.strength is None else args.strength
    return build_cli(args.dataset, args.dest, strength, args.seed, args.feature_dim, cue=args.cue)


def _cmd_baselines(args: argparse.Namespace) -> int:
    import json

    from vidsum.data.datasets import load_dataset
    from vidsum.evaluation.baselines import run_baselines_cli

    ds = load_dataset(args.dataset, args.data_dir, quiet=args.json)
    text = run_baselines_cli(ds.videos, args.dataset, args.json)
    if args.json:  # F depends on the shots/summaries of the file: say which kind it was
        text = json.dumps({**json.loads(text), "features": ds.features_kind})
    else:
        text += f"\nfeatures={ds.features_kind} ({ds.path})"
    print(text)
    return 0


def _train_storage(args: argparse.Namespace) -> Storage | None:
    """The --storage of ``vidsum train``, or None; ValueError for a bad URI or endpoint."""
    if args.storage is None:
        if args.storage_endpoint is not None:
            raise ValueError("--storage-endpoint needs --storage s3://...")
        return None
    from pathlib import Path

    from vidsum.distributed.storage import Storage  # pyarrow only: no Ray

    storage = Storage.parse(args.storage, args.storage_endpoint)
    if storage.is_local and args.checkpoint_dir and storage.local_path.is_relative_to(Path(args.checkpoint_dir).resolve()):
        raise ValueError(f"--storage {args.storage} is --checkpoint-dir or inside it: the models are copied from "
                         f"there into <storage>/checkpoints/...; use another folder")
    return storage


def _cmd_train(args: argparse.Namespace) -> int:
    import tempfile

    storage = _train_storage(args)  # checked before anything is trained
    if storage is None or args.checkpoint_dir:
        return _train(args, args.checkpoint_dir, storage)
    # --storage without --checkpoint-dir: the models go to a temporary folder, then to the storage
    with tempfile.TemporaryDirectory(prefix="vidsum-train-") as scratch:
        return _train(args, scratch, storage)


def _train(args: argparse.Namespace, checkpoint_dir: str | None, storage: Storage | None) -> int:
    """`vidsum train`: the fold, its rows, the table; with ``storage`` the models in
    ``checkpoint_dir`` are uploaded and the leaderboards mirrored afterwards."""
    import datetime as dt

    from vidsum.data.datasets import load_dataset
    from vidsum.data.splits import get_split
    from vidsum.progress import EpochProgress
    from vidsum.results import leaderboard
    from vidsum.training.config import parse_overrides
    from vidsum.training.loop import Runtime
    from vidsum.training.methods import get_method

    method = get_method(args.method)
    overrides = parse_overrides(args.set or [])
    cfg = method.preset(args.preset, seed=args.seed, **overrides)
    ds = load_dataset(args.dataset, args.data_dir, cue=args.cue, strength=args.strength)
    split = get_split(args.dataset, args.split_set, args.split)
    started = dt.datetime.now(dt.timezone.utc)
    # Epoch progress (stderr) comes from the loops' report callback; the table below is stdout.
    epochs = EpochProgress(f"train {args.method}", method.stage_epochs(cfg))
    try:
        res = method.run_fold(cfg, ds, split, fold=args.split, split_set=args.split_set, rt=Runtime(report=epochs),
                              checkpoint_dir=checkpoint_dir)
    finally:
        epochs.close()
    run_id, commit = leaderboard.new_run_id(), leaderboard.git_commit()
    # features, and the stand-in's cue / strength
    folds, videos = res.stamped({**ds.row_tags(), "run_id": run_id, "commit": commit, "started_at": started})
    leaderboard.append_rows(args.results, "videos", videos)
    leaderboard.append_rows(args.results, "folds", folds)
    if storage is not None:
        from pathlib import Path

        from vidsum.distributed.storage import mirror_results

        # the layout tune.py uses, so a bucket holding both reads like one results folder
        models = storage.upload(checkpoint_dir, "checkpoints", run_id, f"fold{args.split}")
        mirror_results(storage, Path(args.results), run_id)
    data = ds.features_kind + ("" if ds.cue is None else f", cue={ds.cue}, strength={ds.strength:g}")
    print(f"\n{args.method} {args.dataset} {args.split_set} split {args.split} (features={data}, "
          f"preset={args.preset}, seed={args.seed}); {len(split.test_keys)} test videos")
    print(f"{'selection':<12}{'epoch':>6}{'F1':>8}{'tau':>8}{'rho':>8}")
    for r in res.fold_rows:
        print(f"{r['selection']:<12}{r['selected_epoch']:>6}{r['f1']:>8.3f}{r['kendall_tau']:>8.3f}{r['spearman_rho']:>8.3f}")
    print("(oracle = best epoch on the TEST videos: for comparison with papers only)")
    print(f"rows appended to {args.results}/folds.parquet and videos.parquet (run_id {run_id}); "
          f"wall {res.fold_rows[0]['wall_s']:.0f} s")
    if storage is not None:
        print(f"models uploaded to {models}; leaderboards mirrored to {storage.uri}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from vidsum.results.leaderboard import report_cli

    return report_cli(args.results_dir)


def _cmd_summarize(args: argparse.Namespace) -> int:
    from vidsum.features import MissingVideoDecoder
    from vidsum.summarize import format_summary, summarize

    try:
        doc = summarize(args.input, args.checkpoint, args.out, generator=args.generator, key=args.video_key,
                        fps=args.fps, proportion=args.proportion, weights=args.weights, kts_vmax=args.kts_vmax,
                        max_change_points=args.max_change_points, segment_len=args.segment_len, title=args.title,
                        clip=args.clip)
    except MissingVideoDecoder as e:  # an ImportError: main() only turns ValueError & co into one line
        print(f"vidsum: error: {e}", file=sys.stderr)
        return 2
    print(format_summary(doc))
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from vidsum.results.plots import plot_cli

    return plot_cli(args.results_dir, args.out)


def _cmd_checkpoint(args: argparse.Namespace) -> int:
    """``vidsum checkpoint convert IN OUT``: rewrite a trusted old checkpoint so the safe loader reads it."""
    from vidsum.training.checkpoint import convert_checkpoint

    out = convert_checkpoint(args.src, args.dst)
    print(f"converted {args.src} -> {out} (tensors and plain values only; loads with weights_only=True)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from vidsum.training.methods import method_names  # light: no torch

    p = argparse.ArgumentParser(prog="vidsum", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="check, download or build eccv16 h5 files")
    dsub = data.add_subparsers(dest="data_command", required=True)
    c = dsub.add_parser("check", help="validate an eccv16 h5 file; prints OK or one line per problem")
    c.add_argument("file")
    c.set_defaults(func=_cmd_data_check)
    d = dsub.add_parser("download", help="fetch the real eccv16 file and verify its checksum")
    d.add_argument("--dataset", required=True, choices=["summe", "tvsum"])
    d.add_argument("--dest", default=None, help="folder (default: the resolved data dir)")
    d.add_argument("--data-dir", default=None)
    d.add_argument("--url", default=None, help="archive URL (.zip/.tar.gz/.h5); default: DSNet release")
    d.add_argument("--sha256", default=None, help="expected sha256 of the h5 (for a known mirror)")
    d.set_defaults(func=_cmd_data_download)
    b = dsub.add_parser("build", help="build the stand-in dataset (real annotations, generated features)")
    b.add_argument("--dataset", required=True, choices=["summe", "tvsum"])
    b.add_argument("--dest", default="data/standin")
    b.add_argument("--strength", type=float, default=None, help="planted signal strength in [0, 1]")
    b.add_argument("--cue", default="events", choices=CUES,
                   help="what is planted: events (builder v2, default), text (v3: aligned with the video's text), mixed")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--feature-dim", type=int, default=1024)
    b.set_defaults(func=_cmd_data_build)

    bl = sub.add_parser("baselines", help="human and random reference rows")
    bl.add_argument("--dataset", required=True, choices=["summe", "tvsum"])
    bl.add_argument("--data-dir", default=None)
    bl.add_argument("--json", action="store_true", help="print one JSON object")
    bl.set_defaults(func=_cmd_baselines)

    t = sub.add_parser("train", help="train a method on one split and score its test videos")
    t.add_argument("method", choices=method_names())
    t.add_argument("--dataset", required=True, choices=["summe", "tvsum"])
    t.add_argument("--split", type=int, default=0, help="split index")
    t.add_argument("--split-set", default="standard", choices=["standard", "vasnet", "dsnet", "kfold"])
    t.add_argument("--preset", default="quick", choices=["quick", "paper"])
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value (repeatable)")
    t.add_argument("--data-dir", default=None)
    t.add_argument("--cue", default=None, choices=CUES, help="stand-in only: planted cue (default events)")
    t.add_argument("--strength", type=float, default=None, help="stand-in only: planted strength in [0, 1] (default 0.8)")
    t.add_argument("--results", default="results", help="leaderboard folder")
    t.add_argument("--checkpoint-dir", default=None, help="save each stage's model here (the scored stage's label-free-selected epoch)")
    t.add_argument("--storage", default=None, metavar="URI",
                   help="after the run, upload the models to URI/checkpoints/<run_id>/fold<split>/ and mirror the "
                        "leaderboards to URI (as tune.py --storage): a path, s3://bucket/prefix or gs://...")
    t.add_argument("--storage-endpoint", default=None, metavar="URL",
                   help="S3-compatible endpoint for --storage s3://... (MinIO, Ceph, moto), e.g. http://127.0.0.1:9000 "
                        "(default: AWS_ENDPOINT_URL or AWS)")
    t.set_defaults(func=_cmd_train)

    sub.add_parser("tune", add_help=False, help="per-fold search with Ray Tune + Optuna (= python tune.py; "
                                                 "`vidsum tune --help`)")

    r = sub.add_parser("report", help="mean ± std per method/dataset from the Parquet leaderboards")
    r.add_argument("results_dir", nargs="?", default="results")
    r.set_defaults(func=_cmd_report)

    sm = sub.add_parser("summarize", help="summarize a video or features file with a trained model of any method")
    sm.add_argument("input", help="video file (needs vidsum[video]) or features file (.npy / .h5)")
    sm.add_argument("--checkpoint", required=True,
                    help="the scoring model from `vidsum train --checkpoint-dir` (summarizer.pt, SG-VS generator.pt, dsn.pt)")
    sm.add_argument("--generator", default=None, help="TR-SUM's generator.pt: also report the label-free reward")
    sm.add_argument("--title", default=None, help="SG-VS: the video's text (title or topic) when the model has none")
    sm.add_argument("--out", required=True, help="folder for summary.json, summary.png (and the clip)")
    sm.add_argument("--clip", action="store_true", help="also write summary.mp4 (video input only)")
    sm.add_argument("--video-key", default=None, help="video group of an eccv16 .h5 (e.g. video_3)")
    sm.add_argument("--fps", type=float, default=None, help="frame rate behind a features file (2 steps/s assumed)")
    sm.add_argument("--proportion", type=float, default=0.15, help="summary length as a fraction of the video")
    sm.add_argument("--weights", default=None, help="GoogLeNet state dict (default: torchvision's cache)")
    sm.add_argument("--kts-vmax", type=float, default=1.0, help="KTS penalty weight; lower gives more, shorter shots")
    sm.add_argument("--max-change-points", type=int, default=None, help="cap on KTS change points")
    sm.add_argument("--segment-len", type=int, default=None, help="override the checkpoint's segment length")
    sm.set_defaults(func=_cmd_summarize)

    pl = sub.add_parser("plot", help="PNG pictures of a results folder (leaderboard, Optuna, summaries)")
    pl.add_argument("results_dir", nargs="?", default="results")
    pl.add_argument("--out", default="figures", help="folder for the PNGs")
    pl.set_defaults(func=_cmd_plot)

    ck = sub.add_parser("checkpoint", help="convert an old checkpoint to one that loads without running code")
    cksub = ck.add_subparsers(dest="checkpoint_command", required=True)
    cv = cksub.add_parser("convert", help="ONLY FOR A TRUSTED FILE: re-save it as tensors and plain values")
    cv.add_argument("src", metavar="IN", help="old checkpoint (read with weights_only=False: it may run code)")
    cv.add_argument("dst", metavar="OUT", help="converted checkpoint (may be IN itself)")
    cv.set_defaults(func=_cmd_checkpoint)
    for command in (c, d, b, bl, t, r, sm, pl, cv):
        command.add_argument("-q", "--quiet", action="store_true",
                             help="no progress on stderr (also: VIDSUM_PROGRESS=0); results are unchanged")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["tune"]:  # tune.py's own parser: its --help and errors read "vidsum tune"
        from vidsum.tuning.cli import main as tune_main

        return tune_main(argv[1:], prog="vidsum tune")
    from vidsum import progress

    args = build_parser().parse_args(argv)
    try:
        with progress.quiet(args.quiet):
            return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError, KeyError, IndexError) as e:
        # One clear line for bad input; tracebacks are for bugs.
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"vidsum: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
