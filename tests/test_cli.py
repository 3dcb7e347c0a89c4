"""End-to-end CLI paths a user runs (small settings)."""

import json

import pandas as pd
import pytest

from vidsum.cli import main
from conftest import SGVS_TINY_MODEL


def test_baselines_json_reproduces_otani_human_rows(tmp_path, capsys):
    assert main(["baselines", "--dataset", "tvsum", "--json", "--data-dir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    obj = json.loads(captured.out)  # the stand-in build's progress went to stderr: stdout is one JSON object
    assert set(obj) >= {"human_tau", "human_rho", "random_tau", "random_rho", "human_f1", "random_f1"}
    assert abs(obj["human_tau"] - 0.177) <= 0.003 and abs(obj["human_rho"] - 0.204) <= 0.003
    assert abs(obj["random_tau"]) < 0.02 and obj["features"] == "generated"
    assert "building the tvsum stand-in (events, strength 0.8): video 50/50" in captured.err
    assert "\r" not in captured.err  # stderr is not a terminal here: plain lines


def test_train_trsum_writes_leaderboard_rows(tmp_path, capsys):
    tiny = ["--set", "d_model=32", "--set", "n_heads=4", "--set", "n_layers=1", "--set", "d_ff=64",
            "--set", "gen_epochs=1", "--set", "rl_epochs=2", "--set", "mask_mode=fixed"]
    args = ["train", "trsum", "--dataset", "summe", "--split", "1", "--data-dir", str(tmp_path / "data"),
            "--results", str(tmp_path / "results"), "--checkpoint-dir", str(tmp_path / "ckpt"), *tiny]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "label_free" in out and "oracle" in out
    # Progress on stderr, one plain line per epoch of each stage, counting up to that stage's epochs.
    epochs = [line.split(": ")[1].split("  ")[0] for line in err.splitlines() if line.startswith("train trsum, ")]
    assert epochs == ["epoch 1/1", "epoch 1/2", "epoch 2/2"]
    assert "train trsum, generator (stage 1/2)" in err and "train trsum, summarizer (stage 2/2)" in err
    assert "train trsum" not in out and "\r" not in err
    folds = pd.read_parquet(tmp_path / "results" / "folds.parquet")
    assert set(folds["selection"]) == {"label_free", "validation", "oracle", "none"}
    assert (folds["features"] == "generated").all() and (folds["fold"] == 1).all()
    assert json.loads(folds["config"].iloc[0])["mask_mode"] == "fixed"
    videos = pd.read_parquet(tmp_path / "results" / "videos.parquet")
    assert len(videos) == 4 * 5  # 4 rules x 5 test videos
    assert (tmp_path / "ckpt" / "summarizer.pt").exists()


def test_train_rejects_bad_config(tmp_path, capsys):
    assert main(["train", "trsum", "--dataset", "summe", "--set", "mask_ratio=2", "--data-dir", str(tmp_path)]) == 2
    assert "mask_ratio must be in" in capsys.readouterr().err


def test_unknown_split_index(tmp_path, capsys):
    assert main(["train", "trsum", "--dataset", "summe", "--split", "9", "--data-dir", str(tmp_path)]) == 2
    assert "valid 0..4" in capsys.readouterr().err


def test_readme_pandas_snippet_runs_on_fresh_results(tmp_path, monkeypatch, capsys):
    """The README's leaderboard snippet, verbatim, on a results/ folder written by `vidsum train`."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    snippet = re.search(r"```python\n(import pandas as pd\n.*?)```", readme, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    tiny = ["--set", "d_model=32", "--set", "n_heads=4", "--set", "n_layers=1", "--set", "d_ff=64",
            "--set", "gen_epochs=1", "--set", "rl_epochs=1"]
    assert main(["train", "trsum", "--dataset", "summe", "--data-dir", "data", *tiny]) == 0
    capsys.readouterr()
    exec(snippet, {})
    out = capsys.readouterr().out
    assert "trsum" in out and "summe" in out and "kendall_tau" in out


def test_train_quiet_silences_progress_and_leaves_stdout_alone(tmp_path, capsys):
    args = ["train", "drdsn", "--dataset", "summe", "--split", "3", "--data-dir", str(tmp_path / "data"),
            "--results", str(tmp_path / "results"), "--set", "epochs=1", "--set", "hidden=8"]
    assert main(args) == 0
    shown = capsys.readouterr()
    assert [line.split("  ")[0] for line in shown.err.splitlines() if line.startswith("train drdsn")] == [
        "train drdsn: epoch 1/1"]
    assert main(args + ["--quiet"]) == 0
    quiet = capsys.readouterr()
    assert "train drdsn" not in quiet.err
    # the same table: only the run id and the wall time of the last line differ
    assert quiet.out.splitlines()[:-1] == shown.out.splitlines()[:-1] and "wall" in quiet.out.splitlines()[-1]


# A small SG-VS (the tables and tags do not depend on its size): the quick one is ~40 s a run here.
SGVS_TINY = [f"--set={k}={v}" for k, v in SGVS_TINY_MODEL.items()]


@pytest.mark.parametrize("method, tiny", [("sgvs", SGVS_TINY), ("drdsn", ["--set", "hidden=8"])], ids=["sgvs", "drdsn"])
def test_train_other_methods_land_in_the_same_tables(tmp_path, method, tiny, capsys):
    args = ["train", method, "--dataset", "summe", "--split", "2", "--data-dir", str(tmp_path / "data"),
            "--results", str(tmp_path / "results"), "--set", "epochs=1", *tiny]
    assert main(args) == 0
    folds = pd.read_parquet(tmp_path / "results" / "folds.parquet")
    assert set(folds["method"]) == {method} and set(folds["selection"]) >= {"label_free", "none"}
    assert main(["report", str(tmp_path / "results")]) == 0
    assert method in capsys.readouterr().out


def test_train_on_the_text_cue_tags_its_rows(tmp_path, capsys):
    args = ["train", "sgvs", "--dataset", "summe", "--split", "2", "--data-dir", str(tmp_path / "data"),
            "--results", str(tmp_path / "results"), "--set", "epochs=1", *SGVS_TINY, "--cue", "text", "--strength", "1"]
    assert main(args) == 0
    assert "cue=text, strength=1" in capsys.readouterr().out
    assert (tmp_path / "data" / "standin" / "standin_summe_v3-text_s1_seed0_d1024.h5").exists()
    for table in ("folds", "videos"):
        rows = pd.read_parquet(tmp_path / "results" / f"{table}.parquet")
        assert (rows["cue"] == "text").all() and (rows["strength"] == 1.0).all()
    assert main(["train", "sgvs", "--dataset", "summe", "--cue", "text", "--strength", "2",
                 "--data-dir", str(tmp_path / "data")]) == 2
    assert "strength must be in [0, 1]" in capsys.readouterr().err


def test_train_storage_uploads_the_models_and_mirrors_the_leaderboards(tmp_path, capsys):
    """--storage (a local path here; s3:// goes through the same Storage, tests/test_storage.py):
    without --checkpoint-dir the models are written to a temporary folder and uploaded to
    <storage>/checkpoints/<run_id>/fold<split>/; the leaderboards under --results are mirrored."""
    store = tmp_path / "store"
    args = ["train", "drdsn", "--dataset", "summe", "--split", "3", "--data-dir", str(tmp_path / "data"),
            "--results", str(tmp_path / "results"), "--set", "epochs=1", "--set", "hidden=8", "--storage", str(store)]
    assert main(args) == 0
    out = capsys.readouterr().out
    folds = pd.read_parquet(tmp_path / "results" / "folds.parquet")
    run_id = folds["run_id"].iloc[0]
    assert f"models uploaded to {store}/checkpoints/{run_id}/fold3" in out
    assert [p.name for p in (store / "checkpoints" / run_id / "fold3").iterdir()] == ["dsn.pt"]
    for table in ("folds", "videos"):
        mirrored = pd.read_parquet(store / f"{table}.parquet")
        assert mirrored.equals(pd.read_parquet(tmp_path / "results" / f"{table}.parquet"))
    # bad input: one line, exit 2, before any training
    for bad, says in [(["--storage", "ftp://x/y"], "unknown scheme"),
                      (["--storage-endpoint", "http://127.0.0.1:9"], "needs --storage"),
                      (["--storage", str(tmp_path / "ck" / "sub"), "--checkpoint-dir", str(tmp_path / "ck")],
                       "inside it")]:
        assert main(["train", "drdsn", "--dataset", "summe", "--data-dir", str(tmp_path / "nodata"), *bad]) == 2
        assert says in capsys.readouterr().err
    assert not (tmp_path / "nodata").exists()
