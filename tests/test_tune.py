"""Per-fold Tune + Optuna search (vidsum.distributed.search) and the tune.py CLI.

Uses the Ray session and tiny stand-in of test_distributed.py (6 short SumMe videos, 16-dim
features) with a 1-layer d_model-32 TR-SUM, so a trial takes a few seconds. The Ray-free
checks of spaces, budgets, options and run ids are in test_tuning.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ray = pytest.importorskip("ray")

from test_distributed import FEATURE_DIM, TINY_KEYS, start_ray_once, tiny_data_dir  # noqa: E402
from test_tuning import TRSUM, TUNE_TINY, options, space_file  # noqa: E402, F401 -- space_file: a fixture
from vidsum.data.splits import load_splits, validation_holdout  # noqa: E402
from vidsum.results import leaderboard  # noqa: E402
from vidsum.training import trsum  # noqa: E402
from conftest import SGVS_TINY_MODEL  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ray_root():
    return start_ray_once()


@pytest.fixture(scope="module")
def data_dir(ray_root):
    return tiny_data_dir(ray_root)


def _options(space_file, data_dir, results, **kw):
    return options(space_file, data_dir, results, **{"feature_dim": FEATURE_DIM, **kw})


# ---------------------------------------------------------------- spaces and trial lines


def test_spaces_become_optuna_distributions(tmp_path):
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    from vidsum.distributed.search import distributions
    from vidsum.tuning.space import load_space

    path = tmp_path / "space.yaml"
    path.write_text("params: {segment_len: {type: int, low: 64, high: 256, step: 64},"
                    " mask_ratio: {type: float, low: 0.01, high: 0.5, log: true},"
                    " mask_mode: {type: categorical, choices: [dynamic, random]}}\n")
    d = distributions(load_space(path, TRSUM))
    assert d["segment_len"] == IntDistribution(64, 256, step=64)
    assert d["mask_ratio"] == FloatDistribution(0.01, 0.5, log=True)
    assert d["mask_mode"] == CategoricalDistribution(["dynamic", "random"])
    shipped = distributions(load_space(REPO / "tune_spaces" / "segment_length.yaml", TRSUM))
    assert shipped["segment_len"].step == 32


def test_trial_lines_carry_epoch_progress_from_tune_results(tmp_path, capsys, monkeypatch):
    """A trial's epoch progress reaches the driver as its normal Tune result (scored_epoch,
    objective, time_total_s): a line per epoch with --verbose, throttled by default (never the
    last epoch: its end line follows), none with --quiet."""
    from types import SimpleNamespace

    from vidsum.distributed import search

    trial = SimpleNamespace(trial_id="t1", config={"delta": 0.5})
    results = [{"scored_epoch": e, "objective": 0.1 * e, "time_total_s": 6.0 * e} for e in (1, 2, 3)]

    def lines(verbose: bool, quiet: bool) -> list[str]:
        rows = search._TrialRows(tmp_path, {}, 0, 2, 3, verbose, quiet=quiet)
        rows.on_trial_start(0, [], trial)
        for r in results:
            rows.on_trial_result(0, [], trial, r)
        return capsys.readouterr().out.splitlines()

    assert lines(verbose=True, quiet=False) == [
        "[fold 0] trial t1 started: delta=0.5", "[fold 0] trial t1 epoch 1/3: objective 0.1000 (6 s, at most 12 s left)",
        "[fold 0] trial t1 epoch 2/3: objective 0.2000 (12 s, at most 6 s left)",
        "[fold 0] trial t1 epoch 3/3: objective 0.3000 (18 s)"]
    assert lines(verbose=False, quiet=False) == ["[fold 0] trial t1 started: delta=0.5"]  # within 30 s of its start
    monkeypatch.setattr(search, "TRIAL_EPOCH_LINE_EVERY_S", 0.0)
    assert [line.split(":")[0] for line in lines(verbose=False, quiet=False)] == [
        "[fold 0] trial t1 started", "[fold 0] trial t1 epoch 1/3", "[fold 0] trial t1 epoch 2/3"]
    assert lines(verbose=True, quiet=True) == []


# ------------------------------------------------------------------------------ with Ray


def test_two_trial_search_over_one_fold_writes_valid_parquet(ray_root, data_dir, space_file, tmp_path):
    from vidsum.distributed.search import run_search

    results = tmp_path / "results"
    summary = run_search(_options(space_file, data_dir, results))
    run_id = summary["run_id"]
    time = summary["time"]  # the breakdown printed at the end: its parts add up to the wall time
    assert time["startup_s"] + time["searching_s"] + time["tail_s"] == pytest.approx(time["wall_s"])
    assert time["trial_cpu_s"] > 0 and time["fit_cpu_s"] > 0 and time["n_fits"] == 1 and 0 < time["busy_share"] <= 1
    trials = leaderboard.read_table(results, "trials")
    assert len(trials) == 2 and set(trials["run_id"]) == {run_id} and set(trials["fold"]) == {0}
    assert set(trials["status"]) <= {"TERMINATED", "EARLY_STOPPED"} and trials["objective"].between(0, 1).all()
    assert {"param_mask_ratio", "param_segment_len", "param_delta"} <= set(trials.columns)
    assert set(trials["features"]) == {"generated"}
    # the preset's values are the first trial
    first = json.loads(trials.sort_values("trial_id")["params"].iloc[0])
    assert any(json.loads(p) == {"mask_ratio": 0.25, "segment_len": 16, "delta": 0.5} for p in trials["params"]), first
    folds = pd.read_parquet(results / "folds.parquet")  # plain pandas reads it
    assert set(zip(folds["method"], folds["selection"])) == {
        ("trsum", "label_free"), ("trsum", "validation"), ("trsum", "oracle"), ("trsum", "none"),
        ("human", "none"), ("random", "none")}
    assert folds["f1"].between(0, 1).all() and folds["kendall_tau"].notna().all()
    assert set(folds["features"]) == {"generated"} and folds["commit"].notna().all()
    test_keys = load_splits("summe", "kfold", keys=TINY_KEYS)[0].test_keys
    videos = pd.read_parquet(results / "videos.parquet")
    assert set(videos["video"]) == set(test_keys)
    assert len(videos) == len(test_keys) * 6
    config = json.loads(folds[folds["method"] == "trsum"]["config"].iloc[0])
    assert config["gen_epochs"] == TUNE_TINY["gen_epochs"]  # the final fit uses the preset's full epochs
    assert "Tune trials" in leaderboard.report(results)
    assert (results / "optuna" / f"{run_id}.journal").exists()
    assert list((results / "checkpoints" / run_id / "fold0").glob("*.pt"))
    # --resume of a finished run: the fold is skipped, nothing is trained or appended
    again = run_search(_options(space_file, data_dir, results, resume=True))
    assert again["run_id"] == run_id and again["skipped"] == [0] and not again["folds"]
    assert len(leaderboard.read_table(results, "trials")) == 2


# Tiny single-stage configs (the spaces are the shipped ones, so segment_len may be searched).
METHOD_TINY = {
    "sgvs": dict(SGVS_TINY_MODEL, batch_segments=8, epochs=3, warmup_epochs=1, ramp_epochs=1),
    "drdsn": dict(hidden=8, epochs=3, lr=1e-2),
}


@pytest.mark.parametrize("name", ["sgvs", "drdsn"])
def test_tune_runs_the_other_methods_into_the_same_tables(ray_root, data_dir, space_file, tmp_path, monkeypatch, name):
    from vidsum.distributed.search import run_search

    monkeypatch.setenv("VIDSUM_CACHE_DIR", str(tmp_path / "cache"))  # SG-VS text vectors
    results = tmp_path / "results"
    first = run_search(_options(space_file, data_dir, results, method="trsum", trials=1))  # TR-SUM rows first
    summary = run_search(_options(None, data_dir, results, method=name, trials=1, config_overrides=METHOD_TINY[name]))
    assert summary["run_id"] != first["run_id"]
    trials = leaderboard.read_table(results, "trials")
    assert sorted(trials["method"]) == sorted(["trsum", name])
    assert trials["objective"].between(-1, 1).all()  # validation_tau (a Kendall tau) for the shipped spaces
    folds = leaderboard.read_table(results, "folds")
    mine = folds[folds["method"] == name]
    assert set(mine["selection"]) == {"label_free", "validation", "oracle", "none"} and set(mine["fold"]) == {0}
    assert mine["f1"].between(0, 1).all() and mine["tvn"].notna().all()
    assert json.loads(mine["config"].iloc[0])["epochs"] == METHOD_TINY[name]["epochs"]  # final fit: full epochs
    assert {"trsum", name, "human", "random"} <= set(folds["method"])
    report = leaderboard.report(results)
    assert name in report and "trsum" in report
    # --resume finds this method's run (state kept per method), not TR-SUM's
    again = run_search(_options(None, data_dir, results, method=name, trials=1, config_overrides=METHOD_TINY[name],
                                resume=True))
    assert again["run_id"] == summary["run_id"] and again["skipped"] == [0]


def test_resume_with_nothing_to_resume(ray_root, data_dir, space_file, tmp_path):
    from vidsum.distributed.search import run_search

    with pytest.raises(FileNotFoundError, match="no earlier"):
        run_search(_options(space_file, data_dir, tmp_path / "empty", resume=True))


def test_fold_out_of_range(ray_root, data_dir, space_file, tmp_path):
    from vidsum.distributed.search import run_search

    with pytest.raises(ValueError, match="out of range"):
        run_search(_options(space_file, data_dir, tmp_path / "r", folds=[7]))


def test_tuning_never_receives_test_keys(ray_root, data_dir, space_file, tmp_path, monkeypatch):
    """1) the driver hands tune_fold only the fold's train/validation keys; 2) trials read their
    videos from a file that HOLDS NO TEST VIDEO, so any access to a test key would fail the trial
    (KeyError) and with it the search."""
    from vidsum.data.eccv16 import read_file, write_file
    from vidsum.data.download import real_h5_path
    from vidsum.distributed import search
    from vidsum.distributed.train import DataSpec, load_videos
    from vidsum.training.methods import get_method
    from vidsum.tuning.space import load_space

    split = load_splits("summe", "kfold", keys=TINY_KEYS)[1]
    base = trsum.preset("quick", **TUNE_TINY).to_dict()
    train_keys, val_keys = validation_holdout(list(split.train_keys), base["val_fraction"], base["seed"])

    seen = []
    real_tune_fold = search.tune_fold
    monkeypatch.setattr(search, "tune_fold", lambda **kw: seen.append(kw) or real_tune_fold(**kw))
    search.run_search(_options(space_file, data_dir, tmp_path / "spy", folds=[1], trials=1))
    assert len(seen) == 1
    passed = json.dumps(seen[0], default=repr)  # every argument, objects by their repr
    leaked = [k for k in split.test_keys if f'"{k}"' in passed or f"'{k}'" in passed]
    assert not leaked, f"test keys {leaked} reached the tuning code"
    assert (tuple(seen[0]["train_keys"]), tuple(seen[0]["val_keys"])) == (train_keys, val_keys)

    # A data folder whose (real-path) file holds the tuning keys only.
    train_only = tmp_path / "train_only"
    source = load_videos(DataSpec("summe", str(data_dir), FEATURE_DIM), train_keys + val_keys)
    write_file(real_h5_path("summe", train_only), source, {"features": "generated"})
    assert set(read_file(real_h5_path("summe", train_only))) == set(train_keys + val_keys)
    spec = DataSpec("summe", str(train_only), FEATURE_DIM)
    with pytest.raises(KeyError):
        load_videos(spec, list(split.test_keys))  # what a leaking trial would hit
    space = load_space(space_file, TRSUM)
    found = search.tune_fold(
        fold=1, method=get_method("trsum"), data=spec, train_keys=train_keys, val_keys=val_keys, base=base, space=space,
        budget=search.TuneBudget(1, 1, 0.5, 0.34, 1, 2), n_trials=1, run_id="leak-check",
        results_dir=tmp_path / "leak", base_row={"run_id": "leak-check", "method": "trsum", "dataset": "summe",
                                                 "features": "generated", "split_set": "kfold"})
    assert found.n_finished == 1 and 0 <= found.best_objective <= 1


def _tune_cli(data_dir, results, space_file, *extra):
    sets = [f"--set={k}={v}" for k, v in TUNE_TINY.items()]
    return [sys.executable, str(REPO / "tune.py"), "--dataset", "summe", "--splits", "kfold", "--folds", "0",
            "--data-dir", str(data_dir), "--results", str(results), "--space", str(space_file), *sets, *extra]


def test_resume_after_a_killed_run_keeps_finished_trials(ray_root, space_file, tmp_path):
    """tune.py is SIGKILLed (with its Ray) once a trial has finished; --resume keeps that trial,
    runs only the missing ones and finishes the fold."""
    from optuna.storages.journal import JournalFileBackend, JournalStorage
    import optuna

    data = tmp_path / "data"  # this copy lives at the real-file path, so tune.py needs no stand-in options
    from vidsum.data.download import real_h5_path
    from vidsum.data.standin import build_standin

    build_standin("summe", real_h5_path("summe", data), feature_dim=FEATURE_DIM, keys=TINY_KEYS)
    results = tmp_path / "results"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_TMPDIR": str(ray_root)}
    args = _tune_cli(data, results, space_file, "--trials", "3", "--max-concurrent", "1")
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 90
    try:
        while time.time() < deadline and not (results / "trials.parquet").exists():
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray processes it started
        proc.wait()
    first = leaderboard.read_table(results, "trials")
    assert len(first) == 1, "the kill came too late or too early"
    run_id = first["run_id"].iloc[0]

    done = subprocess.run(args + ["--resume"], env=env, capture_output=True, text=True, timeout=150)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "1 finished trial(s) kept" in done.stdout
    trials = leaderboard.read_table(results, "trials")
    assert len(trials) == 3 and set(trials["run_id"]) == {run_id}
    assert first["trial_id"].iloc[0] in set(trials["trial_id"])
    study = optuna.load_study(study_name="fold0", storage=JournalStorage(JournalFileBackend(
        str(results / "optuna" / f"{run_id}.journal"))))
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") == 3 and "RUNNING" not in states  # the interrupted one was closed
    folds = leaderboard.read_table(results, "folds")
    assert set(folds["run_id"]) == {run_id} and set(folds["fold"]) == {0} and len(folds) == 6

    # Killed after the search but before the final fit's rows: --resume only refits and scores.
    (results / "folds.parquet").unlink()
    refit = subprocess.run(args + ["--resume"], env=env, capture_output=True, text=True, timeout=120)
    assert refit.returncode == 0, refit.stdout[-3000:] + refit.stderr[-3000:]
    assert "3 finished trial(s) kept, 0 interrupted, 0 to run" in refit.stdout and "started:" not in refit.stdout
    assert len(leaderboard.read_table(results, "folds")) == 6 and len(leaderboard.read_table(results, "trials")) == 3


def test_cli_errors_exit_2_before_starting_ray(tmp_path):
    out = subprocess.run([sys.executable, str(REPO / "tune.py"), "--dataset", "summe", "--set", "lr=1"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "unknown TR-SUM config key" in out.stderr
    out = subprocess.run([sys.executable, str(REPO / "tune.py"), "--dataset", "summe", "--folds", "0,0"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "distinct" in out.stderr


# ------------------------------------------------------------------------- --storage (issue 15)


def test_warns_when_a_cluster_uses_a_local_storage_path(tmp_path, monkeypatch, capsys):
    from vidsum.distributed import search
    from vidsum.distributed.storage import Storage

    monkeypatch.setattr(search.ray, "nodes", lambda: [{"Alive": True}, {"Alive": True}, {"Alive": False}])
    assert search.warn_if_unshared(Storage.parse(tmp_path))
    err = capsys.readouterr().err
    assert "2 nodes with a LOCAL storage path" in err and "Configuring Persistent Storage" in err
    assert not search.warn_if_unshared(Storage.parse("s3://bucket/run"))
    monkeypatch.setattr(search.ray, "nodes", lambda: [{"Alive": True}])
    assert not search.warn_if_unshared(Storage.parse(tmp_path)) and capsys.readouterr().err == ""


def _reported_rows(ray_tune_dir: Path) -> dict[str, list[dict]]:
    """{trial id: every result it reported, in order} from Tune's result.json files."""
    out: dict[str, list[dict]] = {}
    for path in ray_tune_dir.glob("*/*/result.json"):
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if rows:
            out.setdefault(rows[0]["trial_id"], []).extend(rows)
    return out


def test_a_killed_in_process_trial_resumes_after_its_last_checkpoint(ray_root, data_dir, space_file, tmp_path):
    """--workers-per-trial 0: each scored epoch reports a Tune checkpoint (loop state + the
    generator); a trial whose process dies after scored epoch 0 is restarted by Tune's
    FailureConfig and continues at epoch 1 (resumed_from 0), without pretraining again; the fold
    ends with one trials row per trial and each trial once (COMPLETE) in the Optuna study."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    from vidsum.distributed.search import run_search
    from vidsum.tuning.plan import TuneBudget

    results = tmp_path / "results"
    marker = tmp_path / "crashed"
    budget = TuneBudget(trials=2, max_concurrent=2, pretrain_frac=0.5, scored_frac=1.0, grace_period=3, reduction_factor=2)
    summary = run_search(_options(space_file, data_dir, results, budget=budget,
                                  crash_once={"after_epoch": 0, "marker": str(marker), "delay_s": 1.0}))
    assert marker.exists(), "no trial crashed"
    trials = leaderboard.read_table(results, "trials")
    assert len(trials) == 2 and trials["trial_id"].is_unique and set(trials["status"]) == {"TERMINATED"}
    rows = _reported_rows(results / "ray_tune")
    assert set(rows) == set(trials["trial_id"])
    resumed = {t: r for t, r in rows.items() if any(x["resumed_from"] >= 0 for x in r)}
    assert len(resumed) == 1, {t: [(x["scored_epoch"], x["resumed_from"]) for x in r] for t, r in rows.items()}
    (tid, seq), = resumed.items()
    after = [x for x in seq if x["resumed_from"] >= 0]
    assert {x["resumed_from"] for x in after} == {0} and after[0]["scored_epoch"] == 2  # epoch 1 is the next one
    assert [x["scored_epoch"] for x in after] == [2, 3]
    study = optuna.load_study(study_name="fold0", storage=JournalStorage(JournalFileBackend(
        str(results / "optuna" / f"{summary['run_id']}.journal"))))
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    assert len(leaderboard.read_table(results, "folds")) == 6


def test_a_killed_in_process_final_fit_resumes_after_its_last_checkpoint(ray_root, data_dir, space_file, tmp_path):
    """--workers-per-trial 0: the final fit checkpoints every epoch of every stage into
    checkpoints/<run_id>/fold0/progress/; its process dies after summarizer epoch 0, Ray runs the
    task again, and the retry loads the generator from the checkpoint (no pretraining again) and
    continues at summarizer epoch 1. One fold row set, the models written, the checkpoints gone."""
    from vidsum.distributed.search import run_search

    results = tmp_path / "results"
    marker = tmp_path / "crashed"
    crash = {"stage": "summarizer", "after_epoch": 0, "marker": str(marker), "delay_s": 0.0}
    summary = run_search(_options(space_file, data_dir, results, trials=1, final_crash_once=crash))
    assert marker.read_text() == "crashed after epoch 0\n"
    fold = summary["folds"][0]
    assert fold["resumed_from"] == {"stage": "summarizer", "epoch": 0}
    seen = [(r["stage"], r["epoch"], r["resumed_from"]) for r in fold["final_history"]]
    # generator epochs once, from the first attempt; the retry starts at summarizer epoch 1
    assert seen == [("generator", 0, -1), ("generator", 1, -1), ("summarizer", 0, -1),
                    ("summarizer", 1, 0), ("summarizer", 2, 0)], seen
    folds = leaderboard.read_table(results, "folds")
    assert len(folds) == 6 and (folds[folds["method"] == "trsum"]["selection"].value_counts() == 1).all()
    fold_dir = results / "checkpoints" / summary["run_id"] / "fold0"
    assert {p.name for p in fold_dir.iterdir()} == {"generator.pt", "summarizer.pt"}  # progress/ deleted
