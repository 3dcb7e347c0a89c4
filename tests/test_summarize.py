"""vidsum.summarize and ``vidsum summarize``: inputs, checkpoint checks, summary.json, PNG, clip."""

import json

import h5py
import numpy as np
import pytest
import torch

from conftest import make_video
from vidsum import summarize as sm
from vidsum.cli import main
from vidsum.data.eccv16 import write_file
from vidsum.models.trsum import Generator, Summarizer
from vidsum.training.checkpoint import save_checkpoint

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_checkpoints(folder, d_feat=8, segment_len=16, seed=0):
    """(summarizer.pt, generator.pt) as ``vidsum train --checkpoint-dir`` writes them, tiny model."""
    torch.manual_seed(seed)
    gen = Generator(d_feat=d_feat, d_model=16, n_heads=2, n_layers=1, d_ff=32, dropout=0.0, max_len=64)
    summ = Summarizer.from_generator(gen)
    meta = {"feature_dim": d_feat, "dataset": "summe", "features": "generated", "fold": 0, "split_set": "standard",
            "selection": "label_free", "config": {"segment_len": segment_len, "d_model": 16}}
    s = save_checkpoint(folder / "summarizer.pt", {"kind": "trsum-summarizer", "epoch": 3, "model": summ.state_dict(),
                                                   "model_config": summ.config, "meta": meta, "history": []})
    g = save_checkpoint(folder / "generator.pt", {"kind": "trsum-generator", "epoch": 9, "model": gen.state_dict(),
                                                  "model_config": gen.config, "meta": meta, "history": []})
    return s, g


@pytest.fixture
def ckpt(tmp_path):
    return make_checkpoints(tmp_path / "ckpt")


SHOT_STEPS = [4, 8, 6, 10, 5, 12, 7, 8]  # 60 steps, shots of 2 to 6 s


def shot_features(dim=8, seed=0):
    """(60, dim) features with clean shots of SHOT_STEPS steps: KTS finds the boundaries."""
    rng = np.random.default_rng(seed)
    protos = 3 * np.eye(max(dim, len(SHOT_STEPS)))[: len(SHOT_STEPS), :dim] + 0.5  # cosine 0.36 across shots
    x = np.repeat(protos, SHOT_STEPS, axis=0) + 0.05 * rng.random((sum(SHOT_STEPS), dim))
    return x.astype(np.float32)


# --------------------------------------------------------------------------- inputs


def test_npy_steps_without_and_with_fps(tmp_path):
    np.save(tmp_path / "f.npy", shot_features())
    a = sm.load_features_file(tmp_path / "f.npy")
    assert (a.kind, a.frame_unit, a.fps_source, a.fps, a.n_frames) == ("npy", "step", "assumed", 2.0, 60)
    np.testing.assert_array_equal(a.picks, np.arange(60))
    b = sm.load_features_file(tmp_path / "f.npy", fps=25.0)
    assert (b.frame_unit, b.fps_source, b.n_frames) == ("frame", "given", 60 * 12)
    np.testing.assert_array_equal(b.picks, np.arange(60) * 12)


def test_plain_h5_round_trip(tmp_path):
    np.save(tmp_path / "f.npy", shot_features())
    inp = sm.load_features_file(tmp_path / "f.npy", fps=30.0)
    sm.write_features_h5(tmp_path / "features.h5", inp)
    back = sm.load_features_file(tmp_path / "features.h5")
    assert (back.kind, back.fps, back.fps_source, back.n_frames) == ("h5", 30.0, "file", inp.n_frames)
    np.testing.assert_array_equal(back.picks, inp.picks)
    np.testing.assert_array_equal(back.features, inp.features)
    with h5py.File(tmp_path / "bare.h5", "w") as f:
        f["features"] = shot_features()
    assert sm.load_features_file(tmp_path / "bare.h5").frame_unit == "step"


def test_eccv16_group_brings_shots_and_human_mean(tmp_path):
    videos = [make_video("video_1", seed=1), make_video("video_2", seed=2)]
    write_file(tmp_path / "d.h5", videos)
    inp = sm.load_features_file(tmp_path / "d.h5", key="video_2")
    assert (inp.kind, inp.key, inp.fps, inp.fps_source) == ("eccv16", "video_2", 30.0, "assumed")
    np.testing.assert_array_equal(inp.change_points, videos[1].change_points)
    np.testing.assert_allclose(inp.human_mean, videos[1].user_summary.mean(0)[videos[1].picks])
    with pytest.raises(ValueError, match="holds 2 videos .*--video-key"):
        sm.load_features_file(tmp_path / "d.h5")
    with pytest.raises(KeyError, match="no video 'video_9'"):
        sm.load_features_file(tmp_path / "d.h5", key="video_9")
    write_file(tmp_path / "one.h5", videos[:1])
    assert sm.load_features_file(tmp_path / "one.h5").key == "video_1"


def test_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="input not found"):
        sm.load_features_file(tmp_path / "nope.npy")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(ValueError, match="expected a video or a features file"):
        sm.load_features_file(tmp_path / "f.txt")
    np.save(tmp_path / "flat.npy", np.zeros(5))
    with pytest.raises(ValueError, match=r"2-d \(n_steps, D\).*shape \(5,\)"):
        sm.load_features_file(tmp_path / "flat.npy")
    bad = shot_features()
    bad[3, 2] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(ValueError, match="1 NaN/inf"):
        sm.load_features_file(tmp_path / "nan.npy")
    (tmp_path / "junk.npy").write_text("junk")
    with pytest.raises(ValueError, match="not a numpy .npy array"):
        sm.load_features_file(tmp_path / "junk.npy")
    (tmp_path / "junk.h5").write_text("junk")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        sm.load_features_file(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "empty.h5", "w") as f:
        f["other"] = np.zeros(3)
    with pytest.raises(ValueError, match="neither a root 'features' dataset nor eccv16 video groups"):
        sm.load_features_file(tmp_path / "empty.h5")
    with h5py.File(tmp_path / "picks.h5", "w") as f:
        f["features"], f["picks"], f["n_frames"] = shot_features(), np.arange(3), 100
    with pytest.raises(ValueError, match="picks has 3 entries for 60 feature steps"):
        sm.load_features_file(tmp_path / "picks.h5")
    with pytest.raises(ValueError, match="fps must be a positive number"):
        sm.load_features_file(tmp_path / "picks.h5", fps=-2)
    np.save(tmp_path / "f.npy", shot_features())
    with pytest.raises(ValueError, match="--video-key applies to .h5 files only"):
        sm.load_features_file(tmp_path / "f.npy", key="video_1")


# --------------------------------------------------------------------------- checkpoints


def test_checkpoint_checks(tmp_path, ckpt):
    summ_path, gen_path = ckpt
    loaded = sm.load_scorer(summ_path)
    summ, state = loaded.model, loaded.ckpt
    assert isinstance(summ, Summarizer) and not summ.training and state["meta"]["dataset"] == "summe"
    assert loaded.method.name == "trsum" and loaded.cfg.segment_len == 16
    with pytest.raises(ValueError, match="holds a 'trsum-generator' checkpoint.*--checkpoint needs its summarizer.pt"):
        sm.load_scorer(gen_path)
    with pytest.raises(ValueError, match="holds a 'trsum-summarizer' checkpoint; --generator needs trsum's generator.pt"):
        sm.load_stage_input(summ_path, loaded)
    assert isinstance(sm.load_stage_input(gen_path, loaded).model, Generator)
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        sm.load_scorer(tmp_path / "missing.pt")
    save_checkpoint(tmp_path / "alien.pt", dict(state, kind="alien-model"))
    with pytest.raises(ValueError, match="no registered method writes 'alien-model' checkpoints"):
        sm.load_scorer(tmp_path / "alien.pt")
    with pytest.raises(ValueError, match="feature dimension mismatch: x.npy has 1024-d features but .* trained on "
                                         r"8-d features \(dataset summe, features generated\)"):
        sm.check_feature_dim(state, summ_path, 1024, "x.npy")
    sm.check_feature_dim(state, summ_path, 8, "x.npy")  # fits: no error
    broken = dict(state, model={k: v[:1] for k, v in state["model"].items()})
    save_checkpoint(tmp_path / "broken.pt", broken)
    with pytest.raises(ValueError, match="weights do not fit its model_config"):
        sm.load_scorer(tmp_path / "broken.pt")
    lying = dict(state, meta={**state["meta"], "feature_dim": 512})
    save_checkpoint(tmp_path / "lying.pt", lying)
    with pytest.raises(ValueError, match="meta feature_dim 512 disagrees with the model's d_feat 8"):
        sm.load_scorer(tmp_path / "lying.pt")


# --------------------------------------------------------------------------- summarize


def test_summarize_npy_writes_json_and_png(tmp_path, ckpt, capsys, monkeypatch):
    np.save(tmp_path / "f.npy", shot_features())
    doc = sm.summarize(tmp_path / "f.npy", ckpt[0], tmp_path / "out", fps=30.0)
    assert "KTS" not in capsys.readouterr().err  # a short input: KTS progress stays silent
    on_disk = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert on_disk["selected_shots"] == doc["selected_shots"] and on_disk["step_scores"] == doc["step_scores"]
    assert (tmp_path / "out" / "summary.png").read_bytes()[:8] == PNG_MAGIC
    assert doc["settings"]["shots_source"] == "kts" and doc["settings"]["segment_len"] == 16
    assert doc["summary"]["n_shots"] == 8  # KTS recovers the planted shots
    assert [s["first_frame"] for s in doc["shots"]] == (np.cumsum([0, *SHOT_STEPS[:-1]]) * 15).tolist()
    assert len(doc["step_scores"]) == 60 and all(0 <= s <= 1 for s in doc["step_scores"])
    assert doc["input"]["n_frames"] == 900 and doc["input"]["duration_s"] == 30.0
    assert doc["checkpoint"]["meta"]["feature_dim"] == 8 and doc["checkpoint"]["kind"] == "trsum-summarizer"
    assert doc["generator"] is None and doc["label_free_reward"] is None
    # Selected shots: within budget, with frame and time ranges that agree.
    assert 0 < doc["summary"]["n_selected_frames"] <= int(0.15 * 900)
    for s in doc["selected_shots"]:
        assert s["selected"] and s["start_s"] == pytest.approx(s["first_frame"] / 30, abs=1e-3)
        assert s["end_s"] == pytest.approx((s["last_frame"] + 1) / 30, abs=1e-3)
    lengths = [s["last_frame"] - s["first_frame"] + 1 for s in doc["selected_shots"]]
    assert sum(lengths) == doc["summary"]["n_selected_frames"]
    assert doc["selected_shots"] == [s for s in doc["shots"] if s["selected"]]
    monkeypatch.setattr(sm, "KTS_PROGRESS_DELAY_S", 0.0)  # as if KTS took long: its rounds are shown
    again = sm.summarize(tmp_path / "f.npy", ckpt[0], tmp_path / "out2", fps=30.0, plot=False)
    assert again["step_scores"] == doc["step_scores"] and again["selected_shots"] == doc["selected_shots"]
    assert "png" not in again["files"]
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("KTS shots of 60 steps: round ") and last.split()[6].split("/")[0] == last.split()[6].split("/")[1]


def test_summarize_eccv16_uses_its_shots_and_generator_reward(tmp_path, ckpt):
    video = make_video("video_4", n_frames=600, seed=3)
    write_file(tmp_path / "d.h5", [video])
    doc = sm.summarize(tmp_path / "d.h5", ckpt[0], tmp_path / "out", generator=ckpt[1])
    assert doc["settings"]["shots_source"] == "input"
    assert [[s["first_frame"], s["last_frame"]] for s in doc["shots"]] == video.change_points.tolist()
    assert 0 < doc["label_free_reward"] < 1 and doc["generator"]["kind"] == "trsum-generator"
    assert len(doc["human_mean"]) == video.n_steps and doc["input"]["key"] == "video_4"
    assert any("times assume 30 frames/s" in n for n in doc["notes"])


def test_summarize_errors_before_work(tmp_path, ckpt):
    np.save(tmp_path / "f.npy", shot_features(dim=12))
    with pytest.raises(ValueError, match="12-d features but .* trained on 8-d"):
        sm.summarize(tmp_path / "f.npy", ckpt[0], tmp_path / "out")
    np.save(tmp_path / "g.npy", shot_features())
    with pytest.raises(ValueError, match="--clip needs a video input"):
        sm.summarize(tmp_path / "g.npy", ckpt[0], tmp_path / "out", clip=True)
    (tmp_path / "v.mp4").write_bytes(b"x")
    with pytest.raises(ValueError, match="--fps and --video-key apply to features files only"):
        sm.summarize(tmp_path / "v.mp4", ckpt[0], tmp_path / "out", fps=25.0)
    with pytest.raises(ValueError, match="proportion must be in"):
        sm.summarize(tmp_path / "g.npy", ckpt[0], tmp_path / "out", proportion=0.0)
    with pytest.raises(ValueError, match="segment_len 100 exceeds the model's max_len 64"):
        sm.summarize(tmp_path / "g.npy", ckpt[0], tmp_path / "out", segment_len=100)
    other = make_checkpoints(tmp_path / "other", d_feat=12)
    with pytest.raises(ValueError, match="generator .* takes 12-d features, summarizer .* 8-d"):
        sm.summarize(tmp_path / "g.npy", ckpt[0], tmp_path / "out", generator=other[1])
    assert not (tmp_path / "out").exists()  # nothing written by a failed call


def test_empty_summary_is_explained(tmp_path, ckpt):
    video = make_video("video_1", n_frames=300, shot_len=300)  # one shot = the whole video
    write_file(tmp_path / "one_shot.h5", [video])
    doc = sm.summarize(tmp_path / "one_shot.h5", ckpt[0], tmp_path / "out", fps=30.0)
    assert doc["selected_shots"] == [] and doc["summary"]["n_selected_frames"] == 0
    assert any("no shot fits the 15% budget" in n for n in doc["notes"])
    assert "note: no shot fits" in sm.format_summary(doc)


# --------------------------------------------------------------------------- CLI


def test_cli_summarize_features_and_bad_dim(tmp_path, ckpt, capsys):
    np.save(tmp_path / "f.npy", shot_features())
    assert main(["summarize", str(tmp_path / "f.npy"), "--checkpoint", str(ckpt[0]), "--out", str(tmp_path / "o"),
                 "--generator", str(ckpt[1])]) == 0
    out = capsys.readouterr().out
    assert "selected" in out and "summary.json" in out and "label-free reward" in out
    np.save(tmp_path / "wide.npy", shot_features(dim=4))
    assert main(["summarize", str(tmp_path / "wide.npy"), "--checkpoint", str(ckpt[0]), "--out", str(tmp_path / "o")]) == 2
    assert "4-d features but" in capsys.readouterr().err


def test_cli_summarize_without_decoder(tmp_path, ckpt, capsys, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "av", None)
    (tmp_path / "v.mp4").write_bytes(b"x")
    args = ["summarize", str(tmp_path / "v.mp4"), "--checkpoint", str(ckpt[0]), "--out", str(tmp_path / "o"), "--clip"]
    assert main(args) == 2
    assert "pip install 'vidsum[video]'" in capsys.readouterr().err


def test_cli_summarize_generated_video_readme_flow(tmp_path, monkeypatch, capsys):
    """README: weights in torchvision's cache, a generated video, summary.json + PNG + clip."""
    pytest.importorskip("av", reason="PyAV not installed (pip install 'vidsum[video]'): video test skipped")
    from vidsum.features import default_weights_path, load_googlenet, write_test_video

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    weights = default_weights_path()
    weights.parent.mkdir(parents=True)
    torch.save(load_googlenet(random_init=True).state_dict(), weights)  # stands in for the ImageNet file
    summ, _ = make_checkpoints(tmp_path / "ckpt", d_feat=1024)
    write_test_video(tmp_path / "demo.mp4", shot_seconds=1.0)
    out = tmp_path / "demo_summary"
    # A random network hardly separates shots: a low KTS penalty gives short shots to choose from.
    assert main(["summarize", str(tmp_path / "demo.mp4"), "--checkpoint", str(summ), "--out", str(out), "--clip",
                 "--kts-vmax", "0.01"]) == 0
    doc = json.loads((out / "summary.json").read_text())
    assert doc["input"]["kind"] == "video" and doc["input"]["fps"] == 30.0 and doc["input"]["n_frames"] == 120
    assert doc["picks"] == list(range(0, 120, 15)) and doc["summary"]["n_selected_shots"] >= 1
    assert (out / "summary.png").read_bytes()[:8] == PNG_MAGIC
    import av

    with av.open(str(out / "summary.mp4")) as clip:
        n_clip = sum(1 for _ in clip.decode(video=0))
    assert n_clip == doc["summary"]["n_selected_frames"]
    # The features saved next to the summary give the same scores without decoding again.
    again = sm.summarize(out / "features.h5", summ, tmp_path / "again", kts_vmax=0.01, plot=False)
    assert again["step_scores"] == doc["step_scores"] and again["input"]["fps_source"] == "file"
    out, err = capsys.readouterr()
    assert "wrote" in out
    # Decoding progress (frames / total, rate) went to stderr, for the features and for the clip.
    assert "features of demo.mp4: frame 120/120" in err and "frame/s" in err
    assert "writing the summary clip: frame 120/120" in err and "frame 120" not in out
