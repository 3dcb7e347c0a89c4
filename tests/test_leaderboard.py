import datetime as dt
import json
import multiprocessing
import re
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vidsum.results import leaderboard as lb
from vidsum.results import runs, schema, store, validate

UTC = dt.timezone.utc
STARTED = dt.datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def fold_row(method="trsum", dataset="tvsum", fold=0, seed=0, selection="label_free", f1=0.5, **extra):
    row = dict(
        run_id="run-a",
        method=method,
        dataset=dataset,
        features="generated",
        split_set="kfold",
        fold=fold,
        seed=seed,
        selection=selection,
        f1=f1,
        kendall_tau=0.1,
        spearman_rho=0.2,
    )
    row.update(extra)
    return row


def video_row(video="video_1", fold=0, f1=0.5, **extra):
    row = dict(
        run_id="run-a",
        method="trsum",
        dataset="summe",
        features="real",
        split_set="standard",
        fold=fold,
        seed=0,
        selection="validation",
        video=video,
        n_frames=4494,
        f1=f1,
    )
    row.update(extra)
    return row


def trial_row(trial_id="t0", params=None, fold=0, **extra):
    row = dict(
        run_id="run-a",
        method="trsum",
        dataset="tvsum",
        features="generated",
        split_set="kfold",
        fold=fold,
        trial_id=trial_id,
        params={"lr": 1e-3} if params is None else params,
        objective=0.4,
        status="TERMINATED",
    )
    row.update(extra)
    return row


# --- round trips ---------------------------------------------------------------------------


def test_folds_round_trip(tmp_path):
    berlin = dt.timezone(dt.timedelta(hours=2))
    row = fold_row(
        f1=0.61,
        precision=0.6,
        recall=np.float32(0.625),
        corr_convention="otani2019",
        n_videos=np.int64(10),
        config={"b": 2, "a": [1, np.int64(3)]},
        commit="abc1234",
        started_at=dt.datetime(2025, 3, 1, 14, 0, tzinfo=berlin),
        wall_s=12.5,
    )
    path = lb.append_rows(tmp_path / "results", "folds", [row])
    assert path == tmp_path / "results" / "folds.parquet" and path.exists()

    df = lb.read_table(tmp_path / "results", "folds")
    assert list(df.columns) == lb.FOLDS_SCHEMA.names
    assert len(df) == 1
    got = df.iloc[0]
    assert got["f1"] == 0.61 and got["recall"] == 0.625 and got["n_videos"] == 10
    assert json.loads(got["config"]) == {"a": [1, 3], "b": 2} and got["config"].startswith('{"a"')
    assert got["started_at"] == pd.Timestamp("2025-03-01 12:00", tz="UTC")  # 14:00+02:00 stored as UTC
    assert str(df["started_at"].dtype) == "datetime64[us, UTC]"
    # Stability columns were not given: null (NaN in pandas), not zero.
    assert df[["tvn", "ms", "rauc"]].isna().all().all()
    # The file itself carries the declared Arrow schema (required columns are non-nullable).
    schema = pq.read_schema(path)
    assert schema.field("fold").type == pa.int64() and not schema.field("fold").nullable
    assert schema.field("started_at").type == pa.timestamp("us", tz="UTC")


def test_videos_round_trip_and_key_includes_video(tmp_path):
    rows = [video_row("video_1", f1=0.3), video_row("video_2", f1=0.7, kendall_tau=0.05)]
    lb.append_rows(tmp_path, "videos", rows)
    lb.append_rows(tmp_path, "videos", [video_row("video_1", f1=0.4)])  # replaces video_1 only
    df = lb.read_table(tmp_path, "videos").set_index("video")
    assert list(lb.read_table(tmp_path, "videos").columns) == lb.VIDEOS_SCHEMA.names
    assert df.loc["video_1", "f1"] == 0.4 and df.loc["video_2", "f1"] == 0.7
    assert df.loc["video_2", "kendall_tau"] == 0.05 and np.isnan(df.loc["video_1", "kendall_tau"])
    assert len(df) == 2


def test_trials_param_columns_are_a_union_with_nulls_and_widening(tmp_path):
    lb.append_rows(
        tmp_path,
        "trials",
        [
            trial_row("t0", {"lr": 1, "layers": 2, "act": "gelu", "use_bias": True}),
            trial_row("t1", {"lr": 3, "layers": 4, "act": "relu", "use_bias": False}),
        ],
    )
    assert pq.read_schema(tmp_path / "trials.parquet").field("param_lr").type == pa.int64()
    lb.append_rows(tmp_path, "trials", [trial_row("t2", {"lr": 0.5, "dropout": 0.1, "dims": [64, 128]})])

    schema = pq.read_schema(tmp_path / "trials.parquet")
    assert schema.field("param_lr").type == pa.float64()  # int widened by a later float
    assert schema.field("param_layers").type == pa.int64()
    assert schema.field("param_use_bias").type == pa.bool_()
    assert schema.field("param_dims").type == pa.string()  # lists are kept as JSON text
    df = lb.read_table(tmp_path, "trials").set_index("trial_id")
    assert sorted(c for c in df.columns if c.startswith("param_")) == [
        "param_act", "param_dims", "param_dropout", "param_layers", "param_lr", "param_use_bias"
    ]
    assert df.loc["t1", "param_lr"] == 3.0 and df.loc["t2", "param_lr"] == 0.5
    assert df.loc["t2", "param_dims"] == "[64, 128]"
    assert pd.isna(df.loc["t2", "param_layers"]) and pd.isna(df.loc["t0", "param_dropout"])
    assert json.loads(df.loc["t0", "params"]) == {"act": "gelu", "layers": 2, "lr": 1, "use_bias": True}


def test_trials_params_as_json_string_and_matching_explicit_column(tmp_path):
    lb.append_rows(tmp_path, "trials", [trial_row("t0", '{"lr": 0.01}', param_lr=0.01)])
    assert lb.read_table(tmp_path, "trials")["param_lr"].tolist() == [0.01]


def test_trials_param_type_conflict_is_refused_and_file_kept(tmp_path):
    lb.append_rows(tmp_path, "trials", [trial_row("t0", {"opt": 1})])
    before = (tmp_path / "trials.parquet").read_bytes()
    with pytest.raises(ValueError, match="param_opt"):
        lb.append_rows(tmp_path, "trials", [trial_row("t1", {"opt": "adam"})])
    with pytest.raises(ValueError, match="param_opt"):  # same conflict inside one batch
        lb.append_rows(tmp_path, "trials", [trial_row("t2", {"opt": True}), trial_row("t3", {"opt": 2})])
    assert (tmp_path / "trials.parquet").read_bytes() == before


def test_trials_explicit_param_column_must_agree_with_params(tmp_path):
    with pytest.raises(ValueError, match="param_lr"):
        lb.append_rows(tmp_path, "trials", [trial_row("t0", {"lr": 0.01}, param_lr=0.02)])
    with pytest.raises(ValueError, match="params"):
        lb.append_rows(tmp_path, "trials", [trial_row("t0", "[1, 2]")])  # JSON, but not an object


# --- dedupe / replace ----------------------------------------------------------------------


def test_reappended_key_replaces_row(tmp_path):
    lb.append_rows(tmp_path, "folds", [fold_row(fold=0, f1=0.1), fold_row(fold=1, f1=0.2)])
    lb.append_rows(tmp_path, "folds", [fold_row(fold=0, f1=0.9, wall_s=3.0)])
    df = lb.read_table(tmp_path, "folds").set_index("fold")
    assert len(df) == 2
    assert df.loc[0, "f1"] == 0.9 and df.loc[0, "wall_s"] == 3.0 and df.loc[1, "f1"] == 0.2


def test_key_parts_distinguish_rows_and_last_in_batch_wins(tmp_path):
    rows = [
        fold_row(f1=0.1),
        fold_row(f1=0.2, seed=1),
        fold_row(f1=0.3, selection="oracle"),
        fold_row(f1=0.4, method="random", selection="none"),
        fold_row(f1=0.5, run_id="run-b"),
        fold_row(f1=0.6, dataset="summe"),
        fold_row(f1=0.7),  # same key as the first: replaces it
    ]
    lb.append_rows(tmp_path, "folds", rows)
    df = lb.read_table(tmp_path, "folds")
    assert sorted(df["f1"]) == [0.2, 0.3, 0.4, 0.5, 0.6, 0.7]


def test_trials_key_is_run_fold_trial(tmp_path):
    lb.append_rows(tmp_path, "trials", [trial_row("t0", fold=0), trial_row("t0", fold=1)])
    lb.append_rows(tmp_path, "trials", [trial_row("t0", fold=1, status="ERROR", objective=None)])
    df = lb.read_table(tmp_path, "trials").set_index("fold")
    assert len(df) == 2 and df.loc[1, "status"] == "ERROR" and pd.isna(df.loc[1, "objective"])
    assert df.loc[0, "status"] == "TERMINATED"


# --- schema errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, column",
    [
        ({"fold": None}, "fold"),
        ({"fold": "1"}, "fold"),
        ({"fold": 1.5}, "fold"),
        ({"seed": True}, "seed"),
        ({"f1": "0.5"}, "f1"),
        ({"f1": None}, "f1"),
        ({"kendall_tau": [0.1]}, "kendall_tau"),
        ({"features": "fake"}, "features"),
        ({"selection": "best"}, "selection"),
        ({"method": ""}, "method"),
        ({"method": 3}, "method"),
        ({"started_at": dt.datetime(2025, 1, 1)}, "started_at"),  # naive
        ({"started_at": "yesterday"}, "started_at"),
        ({"started_at": 1700000000}, "started_at"),
        ({"config": "{not json"}, "config"),
        ({"config": {"x": object()}}, "config"),
        ({"config": 3}, "config"),
        ({"f1_score": 0.5}, "f1_score"),  # unknown column (a typo)
        ({"param_lr": 0.1}, "param_lr"),  # param_ columns belong to trials only
    ],
)
def test_folds_schema_errors_name_the_column(tmp_path, change, column):
    bad = {**fold_row(fold=1), **change}
    with pytest.raises(ValueError, match=re.escape("folds row 1: ") + ".*" + re.escape(repr(column))):
        lb.append_rows(tmp_path, "folds", [fold_row(), bad])
    assert not (tmp_path / "folds.parquet").exists()


@pytest.mark.parametrize("table, row, column", [
    ("folds", fold_row(), "f1"),
    ("videos", video_row(), "n_frames"),
    ("trials", trial_row(), "status"),
])
def test_missing_required_column(tmp_path, table, row, column):
    del row[column]
    with pytest.raises(ValueError, match=f"missing required column '{column}'"):
        lb.append_rows(tmp_path, table, [row])


def test_optional_columns_take_none_and_nan(tmp_path):
    nan = float("nan")
    lb.append_rows(tmp_path, "folds", [fold_row(n_videos=nan, commit=None, kendall_tau=nan)])
    df = lb.read_table(tmp_path, "folds")
    assert df["n_videos"].isna().all() and df["commit"].isna().all() and df["kendall_tau"].isna().all()
    # Integral floats (how pandas reads nullable ints back) are accepted for int columns.
    lb.append_rows(tmp_path, "folds", [fold_row(fold=np.float64(2.0), n_videos=5.0)])
    assert sorted(lb.read_table(tmp_path, "folds")["fold"]) == [0, 2]


@pytest.mark.parametrize("rows, message", [
    ([], "no rows"),
    (fold_row(), "list of dicts"),
    ("rows", "list of dicts"),
    ([fold_row(), ["not", "a", "dict"]], "row 1 must be a dict"),
])
def test_bad_rows_container(tmp_path, rows, message):
    with pytest.raises(ValueError, match=message):
        lb.append_rows(tmp_path, "folds", rows)


def test_unknown_table(tmp_path):
    with pytest.raises(ValueError, match="unknown leaderboard table 'runs'"):
        lb.append_rows(tmp_path, "runs", [fold_row()])
    with pytest.raises(ValueError, match="unknown leaderboard table"):
        lb.read_table(tmp_path, "runs")


def test_existing_file_with_foreign_columns_is_refused(tmp_path):
    pq.write_table(pa.table({"run_id": ["x"], "surprise": [1]}), tmp_path / "folds.parquet")
    with pytest.raises(ValueError, match="surprise"):
        lb.append_rows(tmp_path, "folds", [fold_row()])
    with pytest.raises(ValueError, match="surprise"):
        lb.read_table(tmp_path, "folds")


def test_older_file_lacking_optional_columns_is_upgraded(tmp_path):
    old = validate.rows_to_arrow("folds", [fold_row(fold=0)]).drop_columns(["tvn", "ms", "rauc"])
    pq.write_table(old, tmp_path / "folds.parquet")
    lb.append_rows(tmp_path, "folds", [fold_row(fold=1, tvn=0.25)])
    df = lb.read_table(tmp_path, "folds").set_index("fold")
    assert pd.isna(df.loc[0, "tvn"]) and df.loc[1, "tvn"] == 0.25


# --- read_table ----------------------------------------------------------------------------


@pytest.mark.parametrize("table", lb.TABLES)
def test_read_table_absent_is_empty_with_columns(tmp_path, table):
    df = lb.read_table(tmp_path / "nowhere", table)
    assert df.empty and list(df.columns) == lb.SCHEMAS[table].names


# --- atomicity and locking -----------------------------------------------------------------


def test_crash_after_temp_write_keeps_original_and_leaves_no_temp(tmp_path, monkeypatch):
    lb.append_rows(tmp_path, "folds", [fold_row(f1=0.1)])
    original = (tmp_path / "folds.parquet").read_bytes()
    real_writer = store._write_parquet

    def write_then_crash(table, sink):
        real_writer(table, sink)  # the temp file is complete...
        raise RuntimeError("simulated crash")  # ...and the process dies before os.replace

    monkeypatch.setattr(store, "_write_parquet", write_then_crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        lb.append_rows(tmp_path, "folds", [fold_row(fold=1, f1=0.9)])
    assert (tmp_path / "folds.parquet").read_bytes() == original
    assert sorted(p.name for p in tmp_path.iterdir()) == [".folds.lock", "folds.parquet"]

    with pytest.raises(RuntimeError):  # a crash on the very first write leaves no table at all
        lb.append_rows(tmp_path, "videos", [video_row()])
    assert not (tmp_path / "videos.parquet").exists()
    assert not list(tmp_path.glob("*.tmp"))

    monkeypatch.undo()
    assert lb.read_table(tmp_path, "folds")["f1"].tolist() == [0.1]


def _append_many(results_dir, worker, n_rows, barrier):
    """Child process: n_rows single-row appends, so the two processes interleave a lot."""
    barrier.wait()
    for i in range(n_rows):
        lb.append_rows(results_dir, "folds", [fold_row(method=f"m{worker}", fold=i)])


def test_concurrent_appends_from_two_processes_lose_nothing(tmp_path):
    ctx = multiprocessing.get_context("spawn")  # no fork of a process holding Arrow threads
    barrier = ctx.Barrier(2)
    n_rows = 15
    lb.append_rows(tmp_path, "folds", [fold_row(method="before", fold=0)])
    procs = [ctx.Process(target=_append_many, args=(str(tmp_path), w, n_rows, barrier)) for w in range(2)]
    for p in procs:
        p.start()
    # Meanwhile this process reads (without the lock): every read must see a whole file, and
    # rows must never disappear between reads.
    seen = []
    while any(p.is_alive() for p in procs):
        seen.append(len(lb.read_table(tmp_path, "folds")))
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert seen and seen == sorted(seen)
    df = lb.read_table(tmp_path, "folds")
    assert len(df) == 1 + 2 * n_rows
    assert df.groupby("method")["fold"].apply(sorted).to_dict() == {
        "before": [0], "m0": list(range(n_rows)), "m1": list(range(n_rows))
    }


# --- report --------------------------------------------------------------------------------


def _fill_leaderboard(results_dir):
    rows = []
    conv = {"corr_convention": "otani2019"}
    for fold in range(3):
        for seed in range(2):
            rows.append(fold_row("trsum", "tvsum", fold, seed, f1=0.60 + 0.01 * fold, **conv))
        rows.append(fold_row("human", "tvsum", fold, 0, "none", f1=0.55, kendall_tau=0.18, **conv))
        rows.append(fold_row("random", "tvsum", fold, 0, "none", f1=0.58, kendall_tau=0.0, **conv))
    rows.append(fold_row("trsum", "summe", 0, 0, f1=0.45, kendall_tau=None, spearman_rho=None))
    lb.append_rows(results_dir, "folds", rows)
    lb.append_rows(results_dir, "trials", [trial_row("t0"), trial_row("t1", status="ERROR", objective=None)])


def test_report_contents(tmp_path):
    _fill_leaderboard(tmp_path)
    text = lb.report(tmp_path)
    lines = text.splitlines()
    assert "13 fold rows from 1 run(s)" in lines[0]
    trsum = next(l for l in lines if l.split()[:5] == ["tvsum", "generated", "kfold", "label_free", "trsum"])
    # 6 rows over 3 folds x 2 seeds; f1 = 0.60, 0.60, 0.61, 0.61, 0.62, 0.62.
    assert trsum.split()[5:8] == ["6", "3", "2"]
    assert "0.610 ± 0.009" in trsum and "0.100 ± 0.000" in trsum
    human = next(l for l in lines if " human " in l)
    assert human.split()[5:8] == ["3", "3", "1"] and "0.550 ± 0.000" in human and "0.180 ± 0.000" in human
    # Within a block, best mean F1 first: trsum (label_free) is its own block; random beats human.
    none_block = [l.split()[4] for l in lines if l.startswith("tvsum") and " none " in l]
    assert none_block == ["random", "human"]
    summe = next(l for l in lines if l.startswith("summe"))
    assert "0.450 ± -" in summe and summe.rstrip().endswith("-")  # one row, tau/rho absent
    assert lines.index(summe) < lines.index(trsum)  # datasets in alphabetical order
    assert "tau/rho convention: otani2019" in text
    assert "trsum tvsum: 2 trials over 1 fold(s) (ERROR 1, TERMINATED 1)" in text


def test_report_counts_reference_rows_once_per_fold(tmp_path):
    _fill_leaderboard(tmp_path)
    # a second run over the same folds writes its method rows and the same human/random rows again
    lb.append_rows(tmp_path, "folds", [fold_row("trsum", "tvsum", 0, 5, run_id="run-b"),
                                       fold_row("human", "tvsum", 0, 0, "none", f1=0.55, run_id="run-b"),
                                       fold_row("random", "tvsum", 0, 0, "none", f1=0.58, run_id="run-b")])
    lines = lb.report(tmp_path).splitlines()
    row = lambda m, sel: next(l for l in lines if l.split()[:5] == ["tvsum", "generated", "kfold", sel, m])  # noqa: E731
    assert row("trsum", "label_free").split()[5:8] == ["7", "3", "3"]  # method rows all count
    assert row("human", "none").split()[5:8] == ["3", "3", "1"]
    assert row("random", "none").split()[5:8] == ["3", "3", "1"]


def test_report_flags_mixed_conventions_and_missing_file(tmp_path):
    rows = [fold_row(corr_convention="otani2019"), fold_row(fold=1, corr_convention="legacy")]
    lb.append_rows(tmp_path, "folds", rows)
    assert "MIXED" in lb.report(tmp_path)
    with pytest.raises(FileNotFoundError, match="no leaderboard"):
        lb.report(tmp_path / "elsewhere")


def test_report_cli_prints_and_returns_zero(tmp_path, capsys):
    _fill_leaderboard(tmp_path)
    assert lb.report_cli(tmp_path) == 0
    assert "human" in capsys.readouterr().out


def test_vidsum_report_command(tmp_path, capsys):
    from vidsum.cli import main

    _fill_leaderboard(tmp_path / "results")
    assert main(["report", str(tmp_path / "results")]) == 0
    assert "random" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "no leaderboard" in capsys.readouterr().err


def test_readme_snippet_from_docstring_runs(tmp_path, monkeypatch, capsys):
    block = re.search(r"README snippet[^\n]*::\n\n((?: {4}.*\n)+)", schema.__doc__)
    assert block, "the README snippet must stay in the module docstring"
    snippet = textwrap.dedent(block.group(1))
    assert 'pd.read_parquet("results/folds.parquet")' in snippet
    monkeypatch.chdir(tmp_path)
    _fill_leaderboard("results")
    exec(snippet, {})
    out = capsys.readouterr().out
    assert "kendall_tau" in out and "mean" in out and "std" in out
    # pandas prints the MultiIndex sparsely: the trsum/tvsum row follows the trsum/summe one.
    lines = out.splitlines()
    first_trsum = next(i for i, l in enumerate(lines) if l.split()[:2] == ["trsum", "summe"])
    assert lines[first_trsum + 1].split()[0] == "tvsum"
    assert float(lines[first_trsum + 1].split()[1]) == pytest.approx(0.61)
    assert any(l.split()[:2] == ["human", "tvsum"] for l in lines)


# --- small helpers -------------------------------------------------------------------------


def test_new_run_id_is_sortable_and_unique():
    ids = [lb.new_run_id() for _ in range(200)]
    assert all(re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    stamp = dt.datetime.strptime(ids[0][:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs(stamp - lb.utc_now()) < dt.timedelta(minutes=1)


@pytest.mark.parametrize("outcome, expected", [
    (subprocess.CompletedProcess([], 0, "1a2b3c4\n", ""), "1a2b3c4"),
    (subprocess.CompletedProcess([], 128, "", "fatal: not a git repository"), "unknown"),
    (subprocess.CompletedProcess([], 0, "weird output\n", ""), "unknown"),
    (FileNotFoundError("git"), "unknown"),
    (subprocess.TimeoutExpired("git", 10), "unknown"),
])
def test_git_commit(monkeypatch, outcome, expected):
    seen = {}

    def fake_run(cmd, **kwargs):
        seen.update(cmd=cmd, cwd=kwargs.get("cwd"))
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    monkeypatch.setattr(runs.subprocess, "run", fake_run)
    assert lb.git_commit() == expected
    assert seen["cmd"] == ["git", "rev-parse", "--short", "HEAD"]
    assert str(seen["cwd"]).endswith("vidsum/results")  # the code's own checkout, not the cwd


def test_utc_now_is_aware():
    assert lb.utc_now().utcoffset() == dt.timedelta(0)


def test_leaderboard_does_not_import_ray():
    code = "import sys, vidsum.results.leaderboard; sys.exit('ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_cue_and_strength_columns(tmp_path):
    """Rows say which stand-in they were measured on; real-feature (and older) rows leave them null."""
    lb.append_rows(tmp_path, "folds", [fold_row(cue="text", strength=0.8), fold_row(fold=1, features="real"),
                                       fold_row(fold=2, cue="events", strength=0.0)])
    df = lb.read_table(tmp_path, "folds").sort_values("fold")
    assert df["cue"].tolist()[0] == "text" and df["cue"].isna().tolist() == [False, True, False]
    assert df["strength"].tolist()[0] == 0.8 and np.isnan(df["strength"].tolist()[1])
    lb.append_rows(tmp_path, "videos", [video_row(cue="mixed", strength=1.0)])
    assert lb.read_table(tmp_path, "videos")["cue"].tolist() == ["mixed"]
    with pytest.raises(ValueError, match="column 'cue' must be one of"):
        lb.append_rows(tmp_path, "folds", [fold_row(cue="audio")])
    # rows of different stand-ins never share a report line, nor a reference row
    lb.append_rows(tmp_path, "folds", [fold_row("random", fold=0, selection="none", cue="text", strength=0.8),
                                       fold_row("random", fold=0, selection="none", cue="events", strength=0.8,
                                                run_id="run-b")])
    lines = lb.report(tmp_path).splitlines()
    assert any(l.split()[:5] == ["tvsum", "generated[text,s=0.8]", "kfold", "label_free", "trsum"] for l in lines)
    assert any(l.split()[:2] == ["tvsum", "real"] for l in lines)
    randoms = [l.split()[1] for l in lines if len(l.split()) > 4 and l.split()[4] == "random"]
    assert sorted(randoms) == ["generated[events,s=0.8]", "generated[text,s=0.8]"]
