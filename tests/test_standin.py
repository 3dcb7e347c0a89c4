from dataclasses import replace

import h5py
import numpy as np
import pytest

from vidsum.data import annotations, standin
from vidsum.data.eccv16 import read_attrs, read_file, validate_file
from vidsum.evaluation.metrics import f_score, rank_correlation
from vidsum.evaluation.summary import keyshot_summary, knapsack, step_to_frame_scores

# The shortest videos keep the builds (and the TVSum knapsacks) fast.
SUBSET = {
    "summe": ["video_12", "video_8", "video_11", "video_19", "video_18", "video_24"],
    "tvsum": ["video_45", "video_38", "video_26", "video_5", "video_13", "video_34"],
}
DIM = 64


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """{(dataset, strength): path} of 64-d subset builds at DEFAULT_STRENGTH and at 0."""
    root = tmp_path_factory.mktemp("standin")
    out = {}
    for ds, keys in SUBSET.items():
        for s in (standin.DEFAULT_STRENGTH, 0.0):
            out[ds, s] = standin.build_standin(ds, root / f"{ds}_{s}.h5", strength=s, feature_dim=DIM, keys=keys)
    return out


def _index(dataset, key):
    return [a.key for a in annotations.load(dataset)].index(key)


def _video(dataset, key, strength=standin.DEFAULT_STRENGTH, dim=DIM, seed=0, annotation=None):
    ann = annotation or annotations.by_key(dataset)[key]
    return standin.build_video(dataset, _index(dataset, key), ann, strength, dim, seed)


def test_make_picks():
    assert standin.make_picks(31).tolist() == [0, 15, 30]
    assert standin.make_picks(30).tolist() == [0, 15]


def test_make_shots_cover_video_with_lengths_in_range():
    for n_frames, fps, seed in [(4494, 25.0, 0), (950, 25.0, 1), (19406, 30.0, 2), (100, 30.0, 3)]:
        cps = standin.make_shots(n_frames, fps, np.random.default_rng(seed))
        assert cps[0, 0] == 0 and cps[-1, 1] == n_frames - 1
        assert np.all(cps[1:, 0] == cps[:-1, 1] + 1)
        lengths = cps[:, 1] - cps[:, 0] + 1
        if n_frames >= 2 * fps:
            assert lengths.min() >= round(2 * fps)
        assert np.all(lengths[:-1] <= round(8 * fps))  # only the last one may absorb a remainder
        assert lengths[-1] < round(10 * fps) + 1
    a = standin.make_shots(4494, 25.0, np.random.default_rng(7))
    assert np.array_equal(a, standin.make_shots(4494, 25.0, np.random.default_rng(7)))


def test_shot_of_steps_and_shot_means():
    cps = np.array([[0, 9], [10, 29], [30, 44]])
    assert standin.shot_of_steps(np.array([0, 9, 10, 29, 30, 44]), cps).tolist() == [0, 0, 1, 1, 2, 2]
    values = np.concatenate([np.full(10, 1.0), np.full(20, 3.0), np.arange(15.0)])
    assert standin.shot_means(values, cps).tolist() == [1.0, 3.0, 7.0]
    two = np.stack([values, 2 * values])
    assert standin.shot_means(two, cps).shape == (2, 3)


def test_frame_importance_and_gtscore():
    scores = np.array([[0, 2, 0, 1], [1, 1, 0, 0]], dtype=np.uint8)
    assert standin.frame_importance("summe", scores).tolist() == [0.5, 1.0, 0.0, 0.5]
    assert standin.frame_importance("tvsum", scores).tolist() == [0.5, 1.5, 0.0, 0.5]
    imp = np.array([1.0, 2.0, 5.0, 3.0])
    assert standin.gtscore("tvsum", imp, np.array([0, 2, 3])).tolist() == [0.0, 1.0, 0.5]
    assert standin.gtscore("summe", np.array([0.2, 0.4, 0.6]), np.array([0, 2])).tolist() == pytest.approx([0.2, 0.6])
    assert standin.gtscore("tvsum", np.ones(4), np.array([0, 1])).tolist() == [0.0, 0.0]


def test_event_weights_strength_sets_only_the_order():
    importance = np.random.default_rng(0).random(40)
    full = standin.event_weights(importance, 1.0, np.random.default_rng(1))
    assert np.array_equal(np.argsort(full), np.argsort(importance))  # s = 1: ordered by importance
    ws = [standin.event_weights(importance, s, np.random.default_rng(1)) for s in (0.0, 0.5, 1.0)]
    for w in ws:  # the same multiset of weights at every strength
        assert np.allclose(np.sort(w), np.sort(full))
    assert full.min() == 0.0 and full.max() == standin.W_MAX
    # s = 0: the weights do not depend on the importance at all.
    shuffled = np.random.default_rng(2).permutation(importance)
    assert np.array_equal(
        standin.event_weights(importance, 0.0, np.random.default_rng(3)),
        standin.event_weights(shuffled, 0.0, np.random.default_rng(3)),
    )
    assert standin.event_weights(np.array([0.3]), 0.8, np.random.default_rng(0)).tolist() == [0.0]


def test_generate_features_marginals_do_not_reveal_weights():
    shot_of_step = np.repeat(np.arange(30), 12)
    weights = np.where(np.arange(30) % 2 == 0, 0.0, 1.0)
    x = standin.generate_features(shot_of_step, weights, 256, np.random.default_rng(0), standin.shared_bases("summe", 256, 0))
    assert x.shape == (360, 256) and x.dtype == np.float32 and x.min() > 0
    assert abs(x.mean() - standin.FEATURE_SCALE) < 0.05
    logs = np.log(x.astype(np.float64))
    event_steps = weights[shot_of_step] == 1.0
    for part in (logs[event_steps], logs[~event_steps]):  # same log-normal law either way
        assert abs(part.std() - standin.LOG_SIGMA) < 0.05
        assert abs(part.mean() - (np.log(standin.FEATURE_SCALE) - standin.LOG_SIGMA**2 / 2)) < 0.1


def test_events_move_and_live_in_the_shared_event_subspace():
    """The two cues besides distinctiveness: an event shot changes from step to step (static
    background does not), and event content lies in the dataset's shared event subspace."""
    shot_of_step = np.repeat(np.arange(30), 12)
    weights = np.where(np.arange(30) % 2 == 0, 0.0, 1.0)
    bg, ev = standin.shared_bases("summe", 256, 0)
    x = standin.generate_features(shot_of_step, weights, 256, np.random.default_rng(0), (bg, ev))
    g = (np.log(x.astype(np.float64) / standin.FEATURE_SCALE) + standin.LOG_SIGMA**2 / 2) / standin.LOG_SIGMA
    step = np.linalg.norm(np.diff(g, axis=0), axis=1)
    same_shot = shot_of_step[1:] == shot_of_step[:-1]
    in_event = weights[shot_of_step[1:]] == 1.0
    assert step[same_shot & in_event].mean() > 1.3 * step[same_shot & ~in_event].mean()

    def share_in(basis, rows):  # fraction of the rows' energy inside span(basis)
        q, _ = np.linalg.qr(basis.T)
        return (np.linalg.norm(rows @ q) / np.linalg.norm(rows)) ** 2

    event_rows, background_rows = g[weights[shot_of_step] == 1.0], g[weights[shot_of_step] == 0.0]
    # content is 70% of the variance; a random 64-d subspace of 256-d holds 25% of anything
    assert share_in(ev, event_rows) > 0.5 > share_in(bg, event_rows)
    assert share_in(bg, background_rows) > 0.5 > share_in(ev, background_rows)
    # the bases are the dataset's: the same for every video, different per dataset and seed
    assert np.array_equal(standin.shared_bases("summe", 256, 0)[1], ev)
    assert not np.array_equal(standin.shared_bases("tvsum", 256, 0)[1], ev)
    assert not np.array_equal(standin.shared_bases("summe", 256, 1)[1], ev)


def test_shot_boundaries_visible_in_features():
    v = _video("summe", "video_1", dim=256)
    unit = v.features / np.linalg.norm(v.features, axis=1, keepdims=True)
    cos = (unit[1:] * unit[:-1]).sum(1)
    shot = standin.shot_of_steps(v.picks, v.change_points)
    boundary = shot[1:] != shot[:-1]
    assert boundary.sum() > 10
    assert cos[~boundary].mean() > cos[boundary].mean() + 0.2


def test_strength_zero_features_ignore_annotations():
    real = annotations.by_key("summe")["video_12"]
    rng = np.random.default_rng(0)
    fake = replace(real, user_scores=rng.permutation(real.user_scores, axis=1))
    at0 = [_video("summe", "video_12", 0.0, annotation=a).features for a in (real, fake)]
    assert np.array_equal(at0[0], at0[1])
    atd = [_video("summe", "video_12", annotation=a).features for a in (real, fake)]
    assert not np.array_equal(atd[0], atd[1])
    # Shots do not depend on the annotations or the strength either.
    assert np.array_equal(_video("summe", "video_12", 0.0).change_points, _video("summe", "video_12").change_points)


def test_summe_user_summary_is_the_real_selection(built):
    videos = read_file(built["summe", standin.DEFAULT_STRENGTH])
    ann = annotations.by_key("summe")
    for key, v in videos.items():
        assert np.array_equal(v.user_summary, (ann[key].user_scores > 0).astype(np.uint8))
        assert v.video_name == ann[key].name
        assert np.allclose(v.gtscore, (ann[key].user_scores > 0).mean(0)[v.picks], atol=1e-6)


def test_tvsum_user_summary_knapsack_over_shots(built):
    videos = read_file(built["tvsum", 0.0])
    ann = annotations.by_key("tvsum")
    for key, v in videos.items():
        fractions = v.user_summary.mean(axis=1)
        assert np.all(fractions <= 0.15) and np.all(fractions > 0.12)
        # Whole shots only, and user 0's choice is the knapsack of its shot means.
        shot_sums = np.add.reduceat(v.user_summary, v.change_points[:, 0], axis=1)
        assert np.all((shot_sums == 0) | (shot_sums == v.n_frame_per_seg))
        values = standin.shot_means(ann[key].user_scores[0].astype(float), v.change_points)
        chosen = knapsack(values, v.n_frame_per_seg, int(0.15 * v.n_frames))
        assert np.array_equal(shot_sums[0] > 0, chosen)
        assert v.gtscore.min() == 0.0 and v.gtscore.max() == 1.0
        assert v.video_name is None


def test_tvsum_user_summary_differs_between_users():
    scores = annotations.by_key("tvsum")["video_45"].user_scores
    cps = standin.make_shots(scores.shape[1], 24.0, np.random.default_rng(0))
    summary = standin.tvsum_user_summary(scores, cps)
    assert summary.shape == scores.shape and summary.dtype == np.uint8
    assert len({row.tobytes() for row in summary}) >= 5  # 9 of 20 distinct here


def test_file_schema_attrs_and_keys(built):
    path = built["tvsum", standin.DEFAULT_STRENGTH]
    assert validate_file(path) == []
    attrs = read_attrs(path)
    assert attrs["features"] == "generated" and attrs["dataset"] == "tvsum"
    assert float(attrs["strength"]) == standin.DEFAULT_STRENGTH and attrs["seed"] == "0"
    assert attrs["builder_version"] == standin.BUILDER_VERSION
    assert attrs["annotations_sha256"] == standin.annotations_sha256("tvsum") and len(attrs["annotations_sha256"]) == 64
    assert float(read_attrs(built["tvsum", 0.0])["strength"]) == 0.0
    videos = read_file(path)
    assert sorted(videos) == sorted(SUBSET["tvsum"])
    ann = annotations.by_key("tvsum")
    for key, v in videos.items():
        assert v.n_frames == ann[key].n_frames and v.feature_dim == DIM
        assert np.array_equal(v.picks, np.arange(0, v.n_frames, 15))
    with h5py.File(path, "r") as f:  # nothing beyond the eccv16 keys
        assert set(f["video_45"].keys()) == {
            "features", "gtscore", "user_summary", "change_points", "n_frame_per_seg", "n_frames", "picks", "n_steps"
        }


def test_determinism_and_subset_independence(tmp_path, built):
    a = standin.build_standin("summe", tmp_path / "a.h5", feature_dim=DIM, keys=["video_8", "video_12"])
    b = standin.build_standin("summe", tmp_path / "b.h5", feature_dim=DIM, keys=["video_12"])
    c = standin.build_standin("summe", tmp_path / "c.h5", feature_dim=DIM, seed=1, keys=["video_12"])
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb, h5py.File(c, "r") as fc:
        same = fa["video_12/features"][()]
        assert same.tobytes() == fb["video_12/features"][()].tobytes()
        assert not np.array_equal(same, fc["video_12/features"][()])
    with h5py.File(built["summe", standin.DEFAULT_STRENGTH], "r") as f:  # built with 5 other videos
        assert f["video_12/features"][()].tobytes() == same.tobytes()


def _probe_tau(path, dataset):
    ann = annotations.by_key(dataset)
    taus = []
    for key, v in read_file(path).items():
        frames = step_to_frame_scores(standin.distinctiveness(v.features), v.picks, v.n_frames)
        ref = ann[key].user_scores if dataset == "tvsum" else v.user_summary
        taus.append(rank_correlation(frames, ref)[0])
    return float(np.mean(taus))


@pytest.mark.parametrize("dataset", ["summe", "tvsum"])
def test_distinctiveness_recovers_planted_structure_only_when_planted(built, dataset):
    planted = _probe_tau(built[dataset, standin.DEFAULT_STRENGTH], dataset)
    control = _probe_tau(built[dataset, 0.0], dataset)
    assert planted > 0.1, planted
    assert abs(control) < 0.06, control


def test_distinctiveness_probe_beats_random_f_score(built):
    ds = "summe"
    f_probe, f_random = [], []
    rng = np.random.default_rng(0)
    for v in read_file(built[ds, standin.DEFAULT_STRENGTH]).values():
        for scores, out in ((standin.distinctiveness(v.features), f_probe), (rng.random(v.n_steps), f_random)):
            summary = keyshot_summary(scores, v.picks, v.change_points, v.n_frames)
            out.append(f_score(summary, v.user_summary, "max")[0])
    assert np.mean(f_probe) > np.mean(f_random) + 0.05


def test_distinctiveness_unit():
    rng = np.random.default_rng(0)
    background = rng.random((2, 16))
    x = background[np.arange(60) % 2] + 0.01 * rng.random((60, 16))
    x[30] = rng.random(16)  # one unique step
    score = standin.distinctiveness(x, k=3, min_gap=4)
    assert score.shape == (60,) and int(np.argmax(score)) == 30
    assert standin.distinctiveness(np.ones((3, 4)), k=2, min_gap=5).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="expected \\(n_steps, D\\)"):
        standin.distinctiveness(np.ones(5))
    with pytest.raises(ValueError, match="k and min_gap"):
        standin.distinctiveness(np.ones((5, 2)), k=0)


def test_build_cli(tmp_path, capsys):
    assert standin.build_cli("summe", tmp_path, 0.5, 3, 8) == 0
    path = tmp_path / f"standin_summe_v{standin.BUILDER_VERSION}_s0.5_seed3_d8.h5"
    assert path.exists() and validate_file(path) == []
    assert read_attrs(path)["seed"] == "3" and str(path) in capsys.readouterr().out
    assert len(read_file(path)) == 25
    assert standin.standin_filename("tvsum", 0.8, 0, 1024) == f"standin_tvsum_v{standin.BUILDER_VERSION}_s0.8_seed0_d1024.h5"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"dataset": "ovp"}, ValueError, "unknown dataset 'ovp'"),
        ({"strength": -0.1}, ValueError, "strength must be in \\[0, 1\\], got -0.1"),
        ({"strength": 1.5}, ValueError, "strength must be in \\[0, 1\\], got 1.5"),
        ({"strength": float("nan")}, ValueError, "strength must be in"),
        ({"feature_dim": 0}, ValueError, "feature_dim must be a positive integer"),
        ({"seed": -1}, ValueError, "seed must be a non-negative integer"),
        ({"keys": ["video_1", "video_99", "clip"]}, KeyError, "unknown summe video key\\(s\\) video_99, clip"),
        ({"keys": []}, ValueError, "keys: empty"),
        ({"keys": ["video_1", "video_1"]}, ValueError, "keys: duplicates"),
    ],
)
def test_build_errors(tmp_path, kwargs, error, match):
    args = {"dataset": "summe", "out_path": tmp_path / "x.h5", "feature_dim": 4, **kwargs}
    with pytest.raises(error, match=match):
        standin.build_standin(**args)
    assert not (tmp_path / "x.h5").exists()
    assert list(tmp_path.iterdir()) == []  # no temp file left either


def test_build_cli_rejects_bad_strength(tmp_path):
    with pytest.raises(ValueError, match="strength"):
        standin.build_cli("tvsum", tmp_path, 2.0, 0, 8)
    assert list(tmp_path.iterdir()) == []


# --- cues: events (builder v2, the default), text and mixed (v3) -------------------------------


def test_default_cue_is_events_and_unchanged(tmp_path):
    """The default is the 'events' cue, written exactly as before cues existed: same file name,
    same bytes, no cue attribute, builder version 2."""
    a = standin.build_standin("summe", tmp_path / "a.h5", feature_dim=8, keys=["video_12"])
    b = standin.build_standin("summe", tmp_path / "b.h5", feature_dim=8, keys=["video_12"], cue="events")
    assert a.read_bytes() == b.read_bytes()
    attrs = read_attrs(a)
    assert "cue" not in attrs and "text_encoder" not in attrs and attrs["builder_version"] == "2" == standin.BUILDER_VERSION
    x = read_file(a)["video_12"].features
    # values of the builder before the cue argument existed (seed 0, strength 0.8, D = 8)
    assert x.shape == (64, 8)
    assert np.allclose(x[:2, :4], [[0.41358674, 0.92072237, 0.07911745, 0.18240044],
                                   [0.21489039, 0.11641517, 0.20055646, 0.46586442]], rtol=1e-5)
    assert float(x.astype(np.float64).sum()) == pytest.approx(231.05729472, rel=1e-5)
    assert standin.standin_filename("summe", 0.8, 0, 1024) == "standin_summe_v2_s0.8_seed0_d1024.h5"
    assert standin.standin_filename("summe", 0.8, 0, 1024, "events") == "standin_summe_v2_s0.8_seed0_d1024.h5"


def test_text_cue_file_name_and_attrs(tmp_path, capsys):
    assert standin.standin_filename("summe", 0.8, 0, 1024, "text") == "standin_summe_v3-text_s0.8_seed0_d1024.h5"
    assert standin.standin_filename("tvsum", 0, 2, 64, "mixed") == "standin_tvsum_v3-mixed_s0_seed2_d64.h5"
    assert standin.build_cli("summe", tmp_path, 0.5, 3, 4, cue="text") == 0
    path = tmp_path / "standin_summe_v3-text_s0.5_seed3_d4.h5"
    assert path.exists() and validate_file(path) == [] and str(path) in capsys.readouterr().out
    attrs = read_attrs(path)
    assert attrs["cue"] == "text" and attrs["builder_version"] == standin.TEXT_BUILDER_VERSION == "3"
    assert float(attrs["strength"]) == 0.5 and attrs["features"] == "generated"
    assert attrs["text_encoder"] == "wordllama-l2_supercat-256"


def test_cues_share_everything_but_the_features():
    """Shots, ground truth and weights do not depend on the cue; only the features do."""
    vs = {c: _video("summe", "video_12", dim=16, annotation=None) if c == "events" else
          standin.build_video("summe", _index("summe", "video_12"), annotations.by_key("summe")["video_12"],
                              standin.DEFAULT_STRENGTH, 16, 0, cue=c)
          for c in standin.CUES}
    for c in ("text", "mixed"):
        assert np.array_equal(vs[c].change_points, vs["events"].change_points)
        assert np.array_equal(vs[c].gtscore, vs["events"].gtscore)
        assert not np.array_equal(vs[c].features, vs["events"].features)
    assert not np.array_equal(vs["text"].features, vs["mixed"].features)


@pytest.mark.parametrize("cue", ["text", "mixed"])
def test_text_cue_marginals_stay_log_normal(cue):
    shot_of_step = np.repeat(np.arange(30), 12)
    weights = np.where(np.arange(30) % 2 == 0, 0.0, 1.0)
    direction = standin.text_directions("summe", ["video_1"], 256, 0)["video_1"]
    x = standin.generate_features(shot_of_step, weights, 256, np.random.default_rng(0),
                                  standin.shared_bases("summe", 256, 0), cue, direction)
    assert x.shape == (360, 256) and x.dtype == np.float32 and x.min() > 0
    logs = np.log(x.astype(np.float64))
    for part in (logs[weights[shot_of_step] == 1.0], logs[weights[shot_of_step] == 0.0]):
        assert abs(part.std() - standin.LOG_SIGMA) < 0.1
        assert abs(part.mean() - (np.log(standin.FEATURE_SCALE) - standin.LOG_SIGMA**2 / 2)) < 0.15
    with pytest.raises(ValueError, match="needs the video's text_direction"):
        standin.generate_features(shot_of_step, weights, 256, np.random.default_rng(0),
                                  standin.shared_bases("summe", 256, 0), cue)


def test_text_projection_is_the_datasets():
    m = standin.text_projection("summe", 256, 32, 0)
    assert m.shape == (256, 32) and np.array_equal(m, standin.text_projection("summe", 256, 32, 0))
    assert not np.array_equal(m, standin.text_projection("tvsum", 256, 32, 0))
    assert not np.array_equal(m, standin.text_projection("summe", 256, 32, 1))
    d = standin.text_directions("tvsum", ["video_1", "video_2", "video_11"], 32, 0)
    cats = annotations.by_key("tvsum")
    same = [k for k in ("video_2", "video_11") if cats[k].category == cats["video_1"].category]
    for k in same:  # TVSum videos of one category share their text, hence their direction
        assert np.array_equal(d[k], d["video_1"])


def _text_probe(dataset, cue, strength, dim=64):
    anns = annotations.by_key(dataset)
    videos = {k: standin.build_video(dataset, _index(dataset, k), anns[k], strength, dim, 0, cue=cue)
              for k in SUBSET[dataset]}
    return standin.text_cue_probe(dataset, videos)["tau"]


@pytest.mark.parametrize("dataset", ["summe", "tvsum"])
def test_text_cue_probe_finds_the_text_cue_only_when_planted(dataset):
    assert _text_probe(dataset, "text", 1.0) > 0.3
    assert _text_probe(dataset, "mixed", 1.0) > 0.3
    # 6 videos, per-video sd ~0.1: measured -0.085 / +0.007 and -0.049 / -0.012 (SumMe / TVSum)
    assert abs(_text_probe(dataset, "text", 0.0)) < 0.15
    assert abs(_text_probe(dataset, "events", 1.0)) < 0.15


def test_text_alignment_unit():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    s = standin.text_alignment(x, np.array([1.0, 0.0]))
    assert s.shape == (3,) and s[0] > 0 and s[1] < 0
    assert standin.text_alignment(np.ones((3, 2)), np.array([1.0, 0.0])).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="direction must be"):
        standin.text_alignment(x, np.ones(3))


def test_bad_cue_is_one_clear_error(tmp_path):
    from vidsum.data.datasets import load_dataset

    calls = [
        lambda: standin.build_standin("summe", tmp_path / "x.h5", feature_dim=4, keys=["video_12"], cue="audio"),
        lambda: standin.build_cli("summe", tmp_path, 0.8, 0, 4, cue="audio"),
        lambda: standin.standin_filename("summe", 0.8, 0, 4, "audio"),
        lambda: load_dataset("summe", tmp_path, cue="audio", quiet=True),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="unknown stand-in cue 'audio'; expected one of events, text, mixed"):
            call()
    assert list(tmp_path.iterdir()) == []


def test_load_dataset_with_cue_tags_the_dataset(tmp_path):
    from vidsum.data.datasets import load_dataset

    ds = load_dataset("summe", tmp_path, cue="text", strength=0.5, feature_dim=4, quiet=True)
    assert ds.path.name == "standin_summe_v3-text_s0.5_seed0_d4.h5" and ds.cue == "text" and ds.strength == 0.5
    assert ds.row_tags() == {"features": "generated", "cue": "text", "strength": 0.5}
    default = load_dataset("summe", tmp_path, feature_dim=4, quiet=True)
    assert default.path.name == "standin_summe_v2_s0.8_seed0_d4.h5" and default.cue == "events"
    assert default.strength == standin.DEFAULT_STRENGTH
    # a stand-in file in the real file's place still says what it is
    default.path.rename(tmp_path / "eccv16_dataset_summe_google_pool5.h5")
    again = load_dataset("summe", tmp_path, cue="text", quiet=True)
    assert (again.features_kind, again.cue, again.strength) == ("generated", "events", standin.DEFAULT_STRENGTH)


def test_vidsum_data_build_cue(tmp_path, capsys):
    from vidsum.cli import main

    assert main(["data", "build", "--dataset", "summe", "--dest", str(tmp_path), "--feature-dim", "4",
                 "--cue", "mixed", "--strength", "0"]) == 0
    assert read_attrs(tmp_path / "standin_summe_v3-mixed_s0_seed0_d4.h5")["cue"] == "mixed"
    with pytest.raises(SystemExit):
        main(["data", "build", "--dataset", "summe", "--dest", str(tmp_path), "--cue", "audio"])
    assert "invalid choice: 'audio'" in capsys.readouterr().err
