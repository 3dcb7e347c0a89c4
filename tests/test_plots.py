"""vidsum.results.plots and ``vidsum plot``: PNGs from summary.json, folds.parquet, trials.parquet."""

import json

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution  # noqa: E402

from vidsum.cli import main  # noqa: E402
from vidsum.results import leaderboard as lb  # noqa: E402
from vidsum.results import plots  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path):
    """(width, height) from the PNG header."""
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def summary_doc(human=True, n=40):
    t = np.arange(n) * 0.5
    shots = [{"shot": i, "first_frame": i * 75, "last_frame": i * 75 + 74, "start_s": i * 2.5, "end_s": i * 2.5 + 2.5,
              "score": 0.5, "selected": i in (1, 5)} for i in range(n // 5)]
    return {"input": {"path": "x.npy", "name": "demo", "key": None, "fps": 30.0, "fps_source": "given",
                      "frame_unit": "frame", "duration_s": n * 0.5},
            "settings": {"shots_source": "kts", "proportion": 0.15},
            "checkpoint": {"meta": {"dataset": "summe", "features": "generated"}},
            "summary": {"n_shots": len(shots), "n_selected_shots": 2, "duration_s": 5.0, "selected_fraction": 0.25},
            "shots": shots, "step_times_s": t.tolist(), "step_scores": (0.5 + 0.1 * np.sin(t)).tolist(),
            "human_mean": (np.cos(t) ** 2).tolist() if human else None}


def fold_rows(methods=("trsum", "human", "random"), selections=("label_free", "oracle"), n_folds=3):
    rng = np.random.default_rng(0)
    rows = []
    for dataset in ("summe", "tvsum"):
        for fold in range(n_folds):
            for method in methods:
                for sel in (selections if method not in plots.REFERENCE_METHODS else ("none",)):
                    rows.append(dict(run_id="r", method=method, dataset=dataset, features="generated",
                                     split_set="standard", fold=fold, seed=0, selection=sel, f1=0.4 + rng.normal(0, .02),
                                     kendall_tau=rng.normal(0.1, .02), spearman_rho=rng.normal(0.1, .02)))
    return rows


def trial_rows(n=6, fold=0, fail=(2,)):
    rng = np.random.default_rng(fold)
    rows = []
    for t in range(n):
        params = {"mask_ratio": float(rng.uniform(.1, .5)), "segment_len": int([64, 128, 256][t % 3]),
                  "mask_mode": ["dynamic", "fixed"][t % 2], "lr": float(10 ** rng.uniform(-5, -2))}
        rows.append(dict(run_id="r", method="trsum", dataset="summe", features="generated", split_set="standard",
                         fold=fold, trial_id=f"t_{t:05d}", params=params, objective=None if t in fail else 0.3 + params["mask_ratio"],
                         status="ERROR" if t in fail else "TERMINATED", wall_s=1.0))
    return rows


# --------------------------------------------------------------------------- per video


def test_plot_summary_with_and_without_human(tmp_path):
    two = plots.plot_summary(summary_doc(human=True), tmp_path / "a.png")
    one = plots.plot_summary(summary_doc(human=False), tmp_path / "sub" / "b.png")
    (w2, h2), (w1, h1) = png_size(two), png_size(one)
    assert w1 == w2 and h2 > h1  # the human panel adds height
    (tmp_path / "summary.json").write_text(json.dumps(summary_doc()))
    assert png_size(plots.plot_summary(tmp_path / "summary.json", tmp_path / "c.png")) == (w2, h2)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp files


def test_plot_summary_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="summary not found"):
        plots.plot_summary(tmp_path / "none.json", tmp_path / "x.png")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="not JSON"):
        plots.plot_summary(tmp_path / "bad.json", tmp_path / "x.png")
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(ValueError, match="not a vidsum summary.json"):
        plots.plot_summary(tmp_path / "other.json", tmp_path / "x.png")


# --------------------------------------------------------------------------- leaderboard


def test_leaderboard_groups_put_reference_rows_in_every_selection():
    folds = pd.DataFrame(fold_rows())
    groups = dict(plots.leaderboard_groups(folds))
    assert set(groups) == {("generated", "standard", "label_free"), ("generated", "standard", "oracle")}
    for rows in groups.values():
        assert set(rows["method"]) == {"trsum", "human", "random"} and len(rows) == 3 * 2 * 3
    only_refs = dict(plots.leaderboard_groups(folds[folds["method"] != "trsum"]))
    assert set(only_refs) == {("generated", "standard", "none")}
    assert plots._ordered_methods(["random", "zeta", "human", "alpha"]) == ["alpha", "zeta", "human", "random"]


def test_plot_leaderboard_one_png_per_selection(tmp_path):
    paths = plots.plot_leaderboard(pd.DataFrame(fold_rows()), tmp_path)
    assert sorted(p.name for p in paths) == ["leaderboard_generated_standard_label_free.png",
                                             "leaderboard_generated_standard_oracle.png"]
    w, h = png_size(paths[0])
    assert w > h > 400
    assert plots.plot_leaderboard(pd.DataFrame(columns=["method"]), tmp_path) == []
    with pytest.raises(ValueError, match="lacks column"):
        plots.plot_leaderboard(pd.DataFrame(fold_rows()).drop(columns="kendall_tau"), tmp_path)


# --------------------------------------------------------------------------- Optuna


def test_param_distribution_inference():
    assert plots._param_distribution(pd.Series([64, 128, 256])) == IntDistribution(64, 256)
    assert plots._param_distribution(pd.Series([0.1, 0.4])) == FloatDistribution(0.1, 0.4)
    assert plots._param_distribution(pd.Series([1e-5, 1e-2])).log
    assert plots._param_distribution(pd.Series(["fixed", "dynamic", None])) == CategoricalDistribution(["dynamic", "fixed"])
    assert plots._param_distribution(pd.Series([True, False])) == CategoricalDistribution([False, True])


def test_study_from_trials_states_and_order():
    rows = trial_rows()
    table = pd.DataFrame(rows[::-1])  # appended out of order
    table["params"] = [json.dumps(p) for p in table["params"]]
    study = plots.study_from_trials(table)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE", "COMPLETE", "COMPLETE"]
    assert study.trials[0].params["mask_ratio"] == rows[0]["params"]["mask_ratio"]
    assert study.best_value == pytest.approx(max(r["objective"] for r in rows if r["objective"] is not None))
    assert plots._importance_possible(study) is None


def test_plot_trials_writes_history_and_importance(tmp_path):
    table = pd.DataFrame(trial_rows() + trial_rows(n=3, fold=1, fail=(0, 1)))
    paths, notes = plots.plot_trials(table, tmp_path)
    names = sorted(p.name for p in paths)
    assert names == ["optuna_trsum_summe_standard_fold0_r_history.png", "optuna_trsum_summe_standard_fold0_r_importance.png",
                     "optuna_trsum_summe_standard_fold1_r_history.png"]
    assert len(notes) == 1 and "fold 1" in notes[0] and "1 completed trial(s)" in notes[0]
    assert all(png_size(p)[0] > 500 for p in paths)
    assert matplotlib.rcParams["axes.facecolor"] == "white"  # Optuna's ggplot style did not leak


# --------------------------------------------------------------------------- whole folder / CLI


def test_cli_plot_results_folder(tmp_path, capsys):
    results = tmp_path / "results"
    lb.append_rows(results, "folds", fold_rows(selections=("label_free",)))
    lb.append_rows(results, "trials", trial_rows())
    (results / "my_video").mkdir()
    (results / "my_video" / "summary.json").write_text(json.dumps(summary_doc()))
    assert main(["plot", str(results), "--out", str(tmp_path / "figs")]) == 0
    out = capsys.readouterr().out
    assert out.count("wrote ") == 4 and "note:" not in out
    assert (tmp_path / "figs" / "videos" / "my_video.png").exists()
    assert (tmp_path / "figs" / "leaderboard_generated_standard_label_free.png").exists()


def test_cli_plot_notes_and_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["plot", str(tmp_path / "empty"), "--out", str(tmp_path / "figs")]) == 0
    out = capsys.readouterr().out
    assert "no per-video pictures" in out and "folds.parquet does not exist" in out and "nothing to plot" in out
    (tmp_path / "empty" / "foreign").mkdir()
    (tmp_path / "empty" / "foreign" / "summary.json").write_text("{}")
    assert main(["plot", str(tmp_path / "empty"), "--out", str(tmp_path / "figs")]) == 0
    out = capsys.readouterr().out
    assert "note: skipped" in out and "not a vidsum summary.json" in out
    assert main(["plot", str(tmp_path / "missing"), "--out", str(tmp_path / "figs")]) == 2
    assert "results folder not found" in capsys.readouterr().err
