"""The Ray-free half of tuning (vidsum.tuning): search spaces, budgets, options, run ids, lines.

Runs without Ray installed; the search itself is tested in test_tune.py (which imports the
helpers below).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from vidsum.training import trsum
from vidsum.training.methods import get_method
from vidsum.tuning.plan import TUNE_DEFAULTS, SearchOptions, TuneBudget, check_options, final_fit_slots, trial_config
from vidsum.tuning.rows import fmt_epochs, fmt_params, state_path, trial_epoch_line
from vidsum.tuning.space import default_space, load_space

REPO = Path(__file__).resolve().parents[1]
TRSUM = get_method("trsum").config_cls
TUNE_TINY = dict(d_model=32, n_heads=4, n_layers=1, d_ff=64, segment_len=16, batch_segments=8,
                 gen_epochs=2, rl_epochs=3, gen_lr=1e-3, rl_lr=1e-3)
SPACE_TINY = """
objective: validation
params:
  mask_ratio: {type: float, low: 0.1, high: 0.5}
  segment_len: {type: categorical, choices: [16, 32]}
  delta: {type: float, low: 0.3, high: 0.7}
"""


@pytest.fixture
def space_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(SPACE_TINY)
    return path


def options(space_file, data_dir, results, **kw) -> SearchOptions:
    """SearchOptions of a tiny TR-SUM search of kfold fold 0 (2 trials); ``kw`` overrides."""
    base = dict(dataset="summe", splits="kfold", folds=[0], trials=2, data_dir=str(data_dir), results=str(results),
                space=str(space_file) if space_file else None, config_overrides=TUNE_TINY,
                budget=TuneBudget(trials=2, max_concurrent=2, pretrain_frac=0.5, scored_frac=1.0, grace_period=1,
                                  reduction_factor=2))
    return SearchOptions(**{**base, **kw})


def write_space(tmp_path, text, name="space.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


# -------------------------------------------------------------------- spaces and budgets


@pytest.mark.parametrize("name", ["trsum", "masking_ablation", "segment_length"])
def test_shipped_spaces_load_and_contain_the_paper_values(name):
    space = load_space(REPO / "tune_spaces" / f"{name}.yaml", TRSUM)
    paper = trsum.preset("paper")
    assert space.name == name and space.objective == "validation_tau"
    for p in space.params.values():
        assert p.contains(getattr(paper, p.name)), f"{p.name}: the paper value is outside the space"
    if name == "trsum":
        assert set(space.params) == {"mask_ratio", "window_ratio", "segment_len", "delta"}
    if name == "segment_length":
        assert space.params["segment_len"].step == 32
        assert (space.params["segment_len"].low, space.params["segment_len"].high) == (64, 256)


@pytest.mark.parametrize("text, message", [
    ("- a\n- b\n", "expected a map"),
    ("params: {}\n", "non-empty map"),
    ("params: {lr: {type: float, low: 0, high: 1}}\n", "not a TRSumConfig field"),
    ("params: {gen_epochs: {type: int, low: 1, high: 5}}\n", "cannot be searched"),
    ("params: {delta: {type: normal, low: 0.1, high: 0.2}}\n", "type must be one of"),
    ("params: {delta: {type: float, low: 0.5, high: 0.2}}\n", "must be < high"),
    ("params: {delta: {type: float, low: 0.1}}\n", "high must be a number"),
    ("params: {delta: {type: float, low: 0.1, high: 0.9, step: 0.25}}\n", "not a multiple of step"),
    ("params: {delta: {type: float, low: 0.1, high: 0.9, log: true, step: 0.1}}\n", "cannot be combined"),
    ("params: {window_ratio: {type: float, low: 0.2, high: 1.0}}\n", "invalid config"),
    ("params: {mask_mode: {type: categorical, choices: [dynamic]}}\n", "at least 2 values"),
    ("params: {mask_mode: {type: categorical, choices: [dynamic, dynamic]}}\n", "repeated choices"),
    ("params: {delta: {type: float, low: 0.1, high: 0.9, bins: 3}}\n", "unknown key"),
    ("objective: test_f1\nparams: {delta: {type: float, low: 0.1, high: 0.9}}\n", "objective must be one of"),
    ("extra: 1\nparams: {delta: {type: float, low: 0.1, high: 0.9}}\n", "unknown top-level"),
    ("fixed: {delta: 0.4}\nparams: {delta: {type: float, low: 0.1, high: 0.9}}\n", "both searched and fixed"),
    ("params: {delta: [0.1, 0.9]}\n", "expected a map with 'type'"),
    ("params: {delta: {type: float, low: 0.1, high: 0.9}\n", "not valid YAML"),
])
def test_bad_spaces_are_refused_with_one_clear_error(tmp_path, text, message):
    with pytest.raises(ValueError, match=message):
        load_space(write_space(tmp_path, text), TRSUM)


def test_missing_space_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="search space file not found"):
        load_space(tmp_path / "nope.yaml", TRSUM)


def test_space_for_another_config_class(tmp_path):
    from dataclasses import dataclass

    @dataclass
    class Other:
        lr: float = 1e-3

        def __post_init__(self):
            if self.lr <= 0:
                raise ValueError("lr must be > 0")

        @classmethod
        def from_dict(cls, d):
            return cls(**d)

    path = write_space(tmp_path, "params: {lr: {type: float, low: 1.0e-5, high: 1.0e-2, log: true}}\n")
    assert load_space(path, Other).params["lr"].log
    with pytest.raises(ValueError, match="not a TRSumConfig field"):
        load_space(path, TRSUM)
    with pytest.raises(ValueError, match="invalid config"):
        load_space(write_space(tmp_path, "params: {lr: {type: float, low: -1, high: 1}}\n", "neg.yaml"), Other)


def test_param_contains(tmp_path):
    space = load_space(write_space(tmp_path, "params: {segment_len: {type: int, low: 64, high: 256, step: 64},"
                                        " mask_ratio: {type: float, low: 0.01, high: 0.5, log: true}}\n"), TRSUM)
    seg, mr = space.params["segment_len"], space.params["mask_ratio"]
    assert seg.contains(128) and not seg.contains(96) and not seg.contains(320)
    assert mr.log and mr.contains(0.25) and not mr.contains(0.6)


def test_trial_budget_reads_the_preset_at_run_time(monkeypatch, tmp_path):
    budget, method = TUNE_DEFAULTS["quick"], get_method("trsum")
    monkeypatch.setitem(trsum.PRESETS, "quick", {**trsum.PRESETS["quick"], "gen_epochs": 8, "rl_epochs": 9})
    cfg = trsum.preset("quick")
    expected = {"gen_epochs": math.ceil(budget.pretrain_frac * 8), "rl_epochs": math.ceil(budget.scored_frac * 9)}
    assert budget.trial_epochs(method, cfg) == expected and expected["gen_epochs"] < 8 and expected["rl_epochs"] < 9
    space = load_space(write_space(tmp_path, "fixed: {mask_mode: random}\nparams: {delta: {type: float, low: 0.1, high: 0.9}}\n"),
                       TRSUM)
    trial = trial_config(method, cfg.to_dict(), space, {"delta": 0.3}, budget.trial_epochs(method, cfg))
    assert (trial.delta, trial.mask_mode, trial.gen_epochs, trial.rl_epochs) == (0.3, "random", *expected.values())
    final = trial_config(method, cfg.to_dict(), space, {"delta": 0.3})
    assert (final.gen_epochs, final.rl_epochs, final.d_model) == (8, 9, cfg.d_model)


@pytest.mark.parametrize("name", ["sgvs", "drdsn"])
def test_single_stage_methods_budget_their_one_loop(name):
    method, budget = get_method(name), TUNE_DEFAULTS["quick"]
    cfg = method.preset("quick")
    epochs = budget.trial_epochs(method, cfg)
    assert epochs == {"epochs": math.ceil(budget.scored_frac * cfg.epochs)} and epochs["epochs"] < cfg.epochs
    space = load_space(default_space(name), config_cls=method.config_cls)
    trial = trial_config(method, cfg.to_dict(), space, {}, epochs)
    assert isinstance(trial, method.config_cls) and trial.epochs == epochs["epochs"]


def test_check_options_errors(space_file, tmp_path):
    ok = options(space_file, tmp_path, tmp_path)
    assert check_options(ok).name == "tiny"
    for kw, message in [({"preset": "huge"}, "unknown preset"), ({"splits": "random"}, "unknown split set"),
                        ({"trials": 0}, "--trials"), ({"workers_per_trial": -1}, "--workers-per-trial"),
                        ({"gpus_per_trial": -1}, "--gpus-per-trial"), ({"folds": []}, "folds"),
                        ({"config_overrides": {"d_model": 30}}, "not divisible"), ({"method": "vasnet"}, "unknown method"),
                        ({"method": "drdsn", "workers_per_trial": 2, "config_overrides": {}}, "batch_videos"),
                        ({"cue": "audio"}, "unknown stand-in cue 'audio'"), ({"strength": 1.5}, "--strength"),
                        ({"gpus_per_trial": 1.5}, "fraction of one GPU"), ({"connect_timeout": 0}, "--connect-timeout"),
                        ({"wait_for_resources": -1}, "--wait-for-resources")]:
        with pytest.raises(ValueError, match=message):
            check_options(options(space_file, tmp_path, tmp_path, **kw))


# --------------------------------------------------------------- options, run ids, lines


def test_stand_in_options_reach_the_state_file_and_parser(space_file, tmp_path):
    """--cue / --strength pick the stand-in; a non-default one resumes its own run, not the default's."""
    from vidsum.tuning import cli as tune

    args = tune.build_parser().parse_args(["--dataset", "summe", "--cue", "text", "--strength", "0"])
    assert (args.cue, args.strength) == ("text", 0.0)
    default = options(space_file, tmp_path, tmp_path)
    text = options(space_file, tmp_path, tmp_path, cue="text", strength=0.0)
    space = check_options(text)
    assert state_path(tmp_path, default, space).name == f"trsum-summe-kfold-quick-{space.name}.json"
    assert state_path(tmp_path, text, space).name == f"trsum-summe-kfold-quick-{space.name}-text-s0.json"


def test_vidsum_tune_is_tune_py(capsys):
    """`vidsum tune` runs tune.py's command: same parser, its own name in help and errors."""
    from vidsum.cli import main

    with pytest.raises(SystemExit):
        main(["tune", "--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: vidsum tune") and "--workers-per-trial" in out and "--dataset" in out
    assert main(["tune", "--dataset", "summe", "--trials", "0"]) == 2  # checked before Ray starts
    assert "vidsum tune: error: --trials must be >= 1" in capsys.readouterr().err


def test_progress_lines():
    trsum_m, drdsn_m = get_method("trsum"), get_method("drdsn")
    assert fmt_params({"segment_len": 16, "delta": 0.123456}) == "delta=0.123 segment_len=16"
    assert fmt_epochs(trsum_m, {"gen_epochs": 18, "rl_epochs": 5}) == "18 pretraining + <= 5 scored epochs"
    assert fmt_epochs(trsum_m, {"gen_epochs": 120, "rl_epochs": 25}, at_most=False) == "120 pretraining + 25 scored epochs"
    assert fmt_epochs(drdsn_m, {"epochs": 4}) == "<= 4 epochs"
    assert trial_epoch_line({"scored_epoch": 2, "objective": 0.2, "time_total_s": 12.0}, 3) == \
        "epoch 2/3: objective 0.2000 (12 s, at most 6 s left)"
    assert trial_epoch_line({"scored_epoch": 3, "objective": 0.3, "time_total_s": 18.0}, 3) == "epoch 3/3: objective 0.3000 (18 s)"


def test_final_fits_leave_the_search_its_cpus():
    quick = TUNE_DEFAULTS["quick"]  # 2 trials at a time
    assert final_fit_slots(2, quick, 0) == 1  # 2 cores: one fit while searching, not two
    assert final_fit_slots(8, quick, 0) == 6
    assert final_fit_slots(0, quick, 0) == 1  # a cluster still scaling up: at least one
    assert final_fit_slots(2, quick, 2) is None  # Ray Train trials: fits start at once
    assert final_fit_slots(2, TuneBudget(**{**quick.__dict__, "max_concurrent": 0}), 0) is None
