"""The benchmark scripts' own arithmetic (their runs are too long for the suite)."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(run, fold, method, selection, f1, tau, cue="events", strength=0.8):
    return dict(run_id=run, fold=fold, method=method, selection=selection, f1=f1, kendall_tau=tau,
                spearman_rho=tau, cue=cue, strength=strength)


def test_mechanism_margins_are_against_the_random_row_of_the_same_run_and_fold():
    mech = _load("mechanisms")
    rows = [_row("a", 0, "random", "none", 0.30, 0.00), _row("a", 1, "random", "none", 0.40, 0.02),
            _row("a", 0, "human", "none", 0.55, 0.20),
            _row("a", 0, "trsum", "validation", 0.35, 0.06), _row("a", 1, "trsum", "validation", 0.43, 0.10),
            _row("b", 0, "random", "none", 0.20, -0.01), _row("b", 0, "trsum", "validation", 0.20, 0.03),
            _row("c", 0, "random", "none", 0.30, 0.0, cue="text", strength=0.0),
            _row("c", 0, "sgvs", "oracle", 0.25, -0.02, cue="text", strength=0.0)]
    t = mech.table(pd.DataFrame(rows))
    trsum = t[(t.method == "trsum") & (t.selection == "validation")].iloc[0]
    assert trsum["runs"] == 3
    assert trsum["f1"] == pytest.approx(np.mean([0.05, 0.03, 0.0]))
    assert trsum["kendall_tau"] == pytest.approx(np.mean([0.06, 0.08, 0.04]))
    assert trsum["kendall_tau_se"] == pytest.approx(np.std([0.06, 0.08, 0.04], ddof=1) / np.sqrt(3))
    assert trsum["f1_above"] == 2 and trsum["kendall_tau_above"] == 3
    assert set(t.method) == {"trsum", "sgvs"}  # human / random are references, not rows
    assert "oracle (TEST-selected)" in mech.render(t)
    with pytest.raises(ValueError, match="no random row"):
        mech.table(pd.DataFrame([_row("z", 3, "trsum", "validation", 0.3, 0.1)]))
    # no cue: a stand-in row from before the cue column is the events cue; real features are 'real'
    old = [dict(_row("d", 0, m, sel, 0.3, 0.1, cue=None, strength=0.8), features="generated")
           for m, sel in (("random", "none"), ("trsum", "validation"))]
    real = [dict(_row("e", 0, m, sel, 0.3, 0.1, cue=None, strength=None), features="real")
            for m, sel in (("random", "none"), ("trsum", "validation"))]
    assert set(mech.table(pd.DataFrame(old + real))["cue"]) == {"events", "real"}


def test_reward_probe_copy_rules_and_generator_share_episodes():
    """The reward benchmark scores every rebuilder on the same drawn episodes, in the generator's
    standardised space; an untrained copy read-out scores exactly as the nearest-copy rule."""
    rs = _load("reward_signal")
    from vidsum.models.trsum import Generator

    gen = Generator(d_feat=6, d_model=8, n_heads=2, n_layers=1, d_ff=16, dropout=0.0, readout="copy").eval()
    feats = torch.rand(70, 6)
    prob = np.full(70, 0.5)
    got = {name: rs.segment_rewards(rs.rebuilder(name, gen), feats, prob, 32, 4, torch.Generator().manual_seed(0))
           for name in rs.REBUILDERS}
    assert got["generator"].shape == (4, 3)
    assert torch.allclose(got["generator"], got["nearest"], atol=1e-6)
    assert bool((got["similar"] >= got["nearest"] - 1e-6).all())  # the oracle copy is never worse here


def test_mfu_counts_matmuls_attention_and_lstm():
    mfu = _load("mfu")
    lin = torch.nn.Linear(16, 8)
    x = torch.rand(4, 16)
    # forward 2*M*N*K, backward twice that (grad of weight and of input)
    assert mfu.count_flops(lambda: lin(x.requires_grad_()).sum().backward(), lambda: 0) == 3 * 2 * 4 * 8 * 16
    q = torch.rand(2, 4, 10, 8)  # (B, heads, L, d_head): QK^T and AV, 2 * 2*B*H*L*L*d each way
    with torch.no_grad():
        flops = mfu.count_flops(lambda: torch.nn.functional.scaled_dot_product_attention(q, q, q), lambda: 0)
    assert flops == 2 * 2 * 2 * 4 * 10 * 10 * 8  # the CPU flash kernel is counted, not left at 0
    lstm = torch.nn.LSTM(6, 5, bidirectional=True)
    assert mfu.lstm_flops(lstm, steps=7, batch=1, backward=False) == 2 * 2 * 4 * 5 * (6 + 5) * 7


def test_learning_grid_returns_runs_in_job_order_with_run_k_of_n_on_stderr(monkeypatch, capfd):
    """run_grid: results in job order, each run's line on stdout, 'run k/n' and the grid's ETA on
    stderr. The worker is the builtin ``tuple`` (picklable by spawn, instant): (k, job) -> (k, job),
    so a job ["line"] comes back as itself and its last item is its result line."""
    monkeypatch.syspath_prepend(str(BENCH))
    import learns_on_standin

    jobs = [["run a"], ["run b"], ["run c"]]
    assert learns_on_standin.run_grid(jobs, 2, "grid", one=tuple) == jobs
    out, err = capfd.readouterr()
    assert sorted(out.split()) == sorted("run a run b run c".split())
    counts = [line.split(" | ")[0] for line in err.splitlines() if line.startswith("grid: ")]
    assert counts == ["grid: run 1/3", "grid: run 2/3", "grid: run 3/3"]
    assert "ETA" in err.splitlines()[0]


def test_mechanism_cells_skip_what_is_there(tmp_path):
    mech = _load("mechanisms")
    (tmp_path / "trsum_events_s0.8").mkdir()
    (tmp_path / "trsum_events_s0.8" / "folds.parquet").write_bytes(b"")
    cells = mech.missing_cells(tmp_path, ["trsum", "drdsn"], ["events"], ["0.8", "0"])
    assert [(m, c, s) for m, c, s, _ in cells] == [("trsum", "events", "0"), ("drdsn", "events", "0.8"),
                                                   ("drdsn", "events", "0")]
    assert cells[0][3] == tmp_path / "trsum_events_s0"


def test_kept_count_dominates_the_reward_of_bernoulli_episodes():
    """Why TR-SUM's stage 2 samples a fixed budget (rl_budget='exact'): with Bernoulli episodes
    most of a segment's episode-to-episode reward variance is the NUMBER of kept steps (every
    kept step is rebuilt exactly), so most of each advantage says "how many", not "which"
    (measured on the SumMe stand-in with the trained quick generator: README, "Where the methods
    stand"). Here with the nearest-copy rebuilder on smooth synthetic features."""
    rs = _load("reward_signal")
    from vidsum.models.trsum import Generator

    gen = Generator(d_feat=6, d_model=8, n_heads=2, n_layers=1, d_ff=16, dropout=0.0).eval()
    feats = torch.cumsum(torch.randn(256, 6, generator=torch.Generator().manual_seed(0)), 0)  # smooth walk
    gen.norm.fit(feats)
    share = rs.count_share(rs.rebuilder("nearest", gen), feats, 0.5, 64, 64, torch.Generator().manual_seed(0))
    assert share.shape == (4,)
    assert share.mean() > 0.5, share


def _sv_record(fold, seed, config, objectives, tau_val, tau_lf=None):
    test = {"validation": {"f1": 0.3, "kendall_tau": tau_val}, "label_free": {"f1": 0.3, "kendall_tau": tau_lf or tau_val}}
    return dict(fold=fold, seed=seed, config=config, params={}, objectives=objectives, test=test)


def test_search_value_gain_is_the_picked_config_minus_the_preset():
    sv = _load("search_value")
    o = lambda v, t, lf: {"validation": v, "validation_tau": t, "label_free": lf}  # noqa: E731
    records = [  # fold 0 seed 0: F picks config 1 (test worse), tau picks config 2 (test best)
        _sv_record(0, 0, 0, o(0.30, 0.10, 1.0), 0.05), _sv_record(0, 0, 1, o(0.40, 0.05, 0.9), 0.01),
        _sv_record(0, 0, 2, o(0.20, 0.20, 0.8), 0.09),
        # fold 0 seed 1: the preset wins everything
        _sv_record(0, 1, 0, o(0.50, 0.30, 1.0), 0.07), _sv_record(0, 1, 1, o(0.40, 0.05, 0.9), 0.03),
        _sv_record(0, 1, 2, o(0.20, 0.20, 0.8), 0.05)]
    f = sv.gains(records, "validation", "validation")
    assert f["gain"] == pytest.approx([0.01 - 0.05, 0.0]) and f["moved"] == [1.0, 0.0]
    tau = sv.gains(records, "validation_tau", "validation")
    assert tau["gain"] == pytest.approx([0.09 - 0.05, 0.0])
    assert tau["corr"] == pytest.approx([1.0, 1.0])  # objective and test tau rank the configs alike
    assert sv.gains(records, "oracle", "validation")["gain"] == pytest.approx([0.04, 0.0])
    # seed-averaged F: config 0 (0.40) vs 1 (0.40) vs 2 (0.20): the first of the tie, the preset
    assert sv.seed_averaged_gains(records, "validation", "validation") == pytest.approx([0.0])
    # seed-averaged tau: 0.20 / 0.05 / 0.20 -> preset again (first of the tie)
    assert sv.seed_averaged_gains(records, "validation_tau", "validation") == pytest.approx([0.0])
    assert "oracle (TEST-selected headroom)" in sv.report(records)


def test_search_value_points_stay_in_the_space_and_are_seeded():
    from vidsum.training.methods import get_method
    from vidsum.tuning.space import default_space, load_space

    sv = _load("search_value")
    method = get_method("trsum")
    space = load_space(default_space("trsum"), method.config_cls)
    points = sv.draw_points(space, 20, seed=3)
    assert points == sv.draw_points(space, 20, seed=3) and points != sv.draw_points(space, 20, seed=4)
    for point in points:
        assert all(space.params[n].contains(v) for n, v in point.items()), point
    assert len({p["segment_len"] for p in points}) > 1
    history = [{"epoch": 0, "sel_validation": 0.2, "sel_validation_tau": 0.1}, {"epoch": 1, "sel_validation": 0.3,
                                                                                 "sel_validation_tau": float("nan")},
               {"stage": "generator", "epoch": 0}]
    best = sv.best_objectives(history)
    assert best["validation"] == 0.3 and best["validation_tau"] == 0.1 and np.isnan(best["label_free"])


def test_cluster_reliability_counts_resumed_trials_and_redone_epochs():
    rel = _load("cluster_reliability")

    def rows(pairs):  # (scored_epoch, resumed_from) per reported row
        return [{"scored_epoch": e, "resumed_from": r} for e, r in pairs]

    counts = rel.trial_counts({
        "clean": rows([(1, -1), (2, -1), (3, -1)]),
        "resumed": rows([(1, -1), (2, -1), (3, -1), (3, 1), (4, 1)]),  # checkpoint of epoch 1: epoch 3 reported twice
        "scratch": rows([(1, -1), (1, -1), (2, -1)]),  # killed before its first checkpoint was kept
    })
    assert counts["trials_reported"] == 3 and counts["trials_resumed"] == 1
    assert counts["resumed_at_epochs"] == {"resumed": [1]} and counts["trials_restarted_from_scratch"] == 1
    assert counts["scored_epochs_redone"] == 2


def test_cluster_reliability_compares_fold_rows_fold_by_fold():
    rel = _load("cluster_reliability")
    a = pd.DataFrame([_row("x", f, "trsum", "validation", 0.3 + f / 10, 0.05) for f in (0, 1)])
    b = a.copy()
    b.loc[b["fold"] == 1, "kendall_tau"] = 0.06
    b["run_id"] = "y"  # another run: only the scores count
    assert rel.same_fold_rows(a, b) == [0]
    assert rel.same_fold_rows(a, a.iloc[:1]) == [0]  # fold 1 missing from b: not the same


def test_an_untrained_attend_readout_rebuilds_standin_videos_better_than_the_nearest_copy(tmp_path):
    """Why the attend read-out generalises (README, "Does the reward prefer the important steps"):
    before any training it is a distance-weighted mean of the visible steps, and on the SumMe
    stand-in that already rebuilds hidden steps better than copying the nearest visible one, on
    every video tried: nothing a model must learn from 16 other videos."""
    rs = _load("reward_signal")
    from vidsum.data.datasets import load_dataset
    from vidsum.models.trsum import Generator

    videos = list(load_dataset("summe", tmp_path, quiet=True).videos.values())[:6]
    torch.manual_seed(0)
    gen = Generator(d_feat=1024, d_model=16, n_heads=2, n_layers=1, d_ff=32, dropout=0.0, readout="attend").eval()
    gen.norm.fit(torch.cat([torch.from_numpy(v.features) for v in videos]))
    gains = []
    for v in videos:
        feats, prob = torch.from_numpy(v.features), np.full(len(v.features), 0.5)
        r = {name: rs.segment_rewards(rs.rebuilder(name, gen), feats, prob, 64, 4, torch.Generator().manual_seed(1)).mean()
             for name in ("generator", "nearest")}
        gains.append(float(r["generator"] - r["nearest"]))
    assert min(gains) > 0.003, gains  # measured: +0.016 to +0.017
