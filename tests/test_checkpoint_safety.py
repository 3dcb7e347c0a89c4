"""Checkpoints hold tensors and plain values only and load with ``weights_only=True``.

Every kind a training loop reports (the per-epoch resume states) and every file a fold runner
writes round-trips through ``save_checkpoint`` / ``load_checkpoint``; a crafted file that would
run code when unpickled is refused before anything runs, also through ``vidsum summarize``; a
trusted old-style file converts once.
"""

import collections
import math
import pickle

import numpy as np
import pytest
import torch

from conftest import make_video
from vidsum.cli import main
from vidsum.data.datasets import Dataset
from vidsum.data.splits import Split
from vidsum.training import drdsn, sgvs, trsum
from vidsum.training.checkpoint import convert_checkpoint, load_checkpoint, plain, save_checkpoint
from vidsum.training.fold import run_fold
from vidsum.training.loop import Runtime
from vidsum.training.methods import get_method

# Tiny configs with the sizes of tests/test_trsum_training.py, test_sgvs.py and test_drdsn.py, one epoch.
TRSUM = dict(d_model=32, n_heads=4, n_layers=1, d_ff=64, segment_len=16, batch_segments=8,
             gen_epochs=1, rl_epochs=1, gen_lr=1e-3, rl_lr=1e-3)
SGVS = dict(d_model=16, n_heads=2, n_layers=1, rec_layers=1, d_ff=32, d_joint=8, dropout=0.0, disc_d_model=16,
            disc_heads=2, disc_layers=1, disc_d_ff=32, segment_len=16, batch_segments=8, epochs=1, warmup_epochs=1,
            ramp_epochs=1, g_lr=1e-3, d_lr=1e-3, text_encoder="hashed")
DRDSN = dict(hidden=8, epochs=1, lr=1e-2, lr_step=0)


@pytest.fixture(scope="module")
def videos():
    return [make_video(key=f"video_{i + 1}", n_frames=450, dim=12, seed=i) for i in range(5)]


@pytest.fixture(autouse=True)
def _text_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDSUM_CACHE_DIR", str(tmp_path / "cache"))


def assert_same(a, b, where="state"):
    """``b`` (loaded) equals ``a`` (saved): tensors exactly (NaN == NaN), numpy values by value."""
    if isinstance(a, (torch.Tensor, np.ndarray)):
        assert isinstance(b, torch.Tensor), where
        torch.testing.assert_close(b, torch.as_tensor(a), rtol=0, atol=0, equal_nan=True, msg=where)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(b) == [plain(k) for k in a], where
        for k, v in a.items():
            assert_same(v, b[plain(k)], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(b) is type(a) and len(b) == len(a), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert type(b) is float and math.isnan(b), where
    else:
        assert b == a, where
        if isinstance(a, np.generic):
            assert type(b) in (int, float, bool, str), where  # a numpy scalar comes back a Python number
        else:
            assert type(b) is type(a), where


def round_trip(tmp_path, state, name):
    """Save ``state``, load it with the safe loader, check every value came back."""
    path = save_checkpoint(tmp_path / f"{name}.pt", state)
    torch.load(path, weights_only=True)  # the plain torch call, not only our wrapper
    loaded = load_checkpoint(path, expect_kind=state["kind"])
    assert_same(state, loaded)
    return loaded


def capture(states):
    return Runtime(report=lambda row, state: states.append(state))


# --------------------------------------------------------------------------- what a checkpoint may hold


def test_plain_converts_numpy_and_refuses_objects():
    state = {"kind": "k", "model": collections.OrderedDict(w=torch.ones(2)), "h": [{"f1": np.float64(0.5)}],
             "a": np.arange(3), "n": np.int64(4), "b": np.bool_(True), "t": (1, "x"), "s": torch.Size([2]),
             "d": collections.defaultdict(list, x=[1])}
    out = plain(state)
    assert type(out["model"]) is collections.OrderedDict and out["model"]["w"] is state["model"]["w"]
    assert type(out["h"][0]["f1"]) is float and out["h"][0]["f1"] == 0.5
    assert torch.equal(out["a"], torch.arange(3)) and type(out["n"]) is int and out["b"] is True
    assert out["t"] == (1, "x") and type(out["d"]) is dict and type(state["d"]) is collections.defaultdict
    with pytest.raises(TypeError, match=r"state\['extra'\]\['best'\]\[1\]: a pathlib.*Path cannot go into"):
        plain({"extra": {"best": [1, __import__("pathlib").Path("x")]}})
    with pytest.raises(TypeError, match=r"state\['f'\]: a builtins.function"):
        save_checkpoint("never.pt", {"kind": "k", "model": {}, "f": lambda: 0})
    with pytest.raises(TypeError, match=r"state\['x'\]: a numpy array of dtype object"):
        plain({"x": np.array([object()])})


# --------------------------------------------------------------------------- every real kind round-trips


def test_trsum_states_and_fold_files_round_trip(videos, tmp_path):
    cfg = trsum.TRSumConfig.from_dict(TRSUM)
    gen_states, summ_states = [], []
    gen, _ = trsum.pretrain_generator(cfg, videos[:3], capture(gen_states))
    trsum.train_summarizer(cfg, videos[:3], gen, capture(summ_states), val_videos=[videos[3]],
                           test_videos=[videos[4]], dataset="summe")
    g = round_trip(tmp_path, gen_states[-1], "gen")
    s = round_trip(tmp_path, summ_states[-1], "summ")
    assert g["kind"] == "trsum-generator" and set(s["extra"]["best"]) == {"label_free", "validation", "oracle"}
    trsum.pretrain_generator(trsum.TRSumConfig.from_dict({**TRSUM, "gen_epochs": 2}), videos[:3], Runtime(resume=g))

    ds = Dataset("summe", {v.key: v for v in videos}, "generated", tmp_path / "x.h5")
    split = Split(train_keys=tuple(v.key for v in videos[:4]), test_keys=(videos[4].key,))
    run_fold(get_method("trsum"), trsum.TRSumConfig.from_dict({**TRSUM, "val_fraction": 0.25}), ds, split, fold=0,
                   split_set="standard", checkpoint_dir=tmp_path / "fold")
    assert load_checkpoint(tmp_path / "fold" / "summarizer.pt", "trsum-summarizer")["meta"]["dataset"] == "summe"
    assert load_checkpoint(tmp_path / "fold" / "generator.pt", "trsum-generator")["history"]


def test_sgvs_state_round_trips(videos, tmp_path):
    states = []
    sgvs.train_sgvs(sgvs.SGVSConfig.from_dict(SGVS), videos[:2], capture(states), val_videos=videos[3:4],
                    test_videos=videos[4:], dataset="summe")
    loaded = round_trip(tmp_path, states[-1], "sgvs")
    assert set(loaded["extra"]["texts"]) == {"video_1", "video_2", "video_4", "video_5"}
    assert loaded["extra"]["d_optimizer"]["state"]  # the discriminator's Adam moments came back too
    resumed = sgvs.SGVSConfig.from_dict({**SGVS, "epochs": 2})
    sgvs.train_sgvs(resumed, videos[:2], Runtime(resume=loaded), dataset="summe")


def test_drdsn_state_round_trips(videos, tmp_path):
    states = []
    drdsn.train_drdsn(drdsn.DRDSNConfig.from_dict(DRDSN), videos[:2], capture(states), val_videos=videos[3:4],
                      test_videos=videos[4:], dataset="summe")
    loaded = round_trip(tmp_path, states[-1], "drdsn")
    resumed = drdsn.DRDSNConfig.from_dict({**DRDSN, "epochs": 2})
    drdsn.train_drdsn(resumed, videos[:2], Runtime(resume=loaded))


# --------------------------------------------------------------------------- a crafted file runs nothing


class Evil:
    """Unpickling this creates ``marker`` (stands in for any code a crafted file could run)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def crafted(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "crafted.pt"
    torch.save({"kind": "trsum-summarizer", "model": {}, "evil": Evil(marker)}, path)
    return path, marker


def test_crafted_checkpoint_is_refused_unrun(tmp_path):
    path, marker = crafted(tmp_path)
    with pytest.raises(ValueError, match=r"crafted.pt: refused: it holds Python objects other than tensors and plain "
                                         r"values .* could run code when opened\). If you trust this file, convert it "
                                         r"once with `vidsum checkpoint convert .*crafted.pt .*crafted.safe.pt`"):
        load_checkpoint(path, expect_kind="trsum-summarizer")
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the control: the old loader does run it
    assert marker.exists()


def test_cli_summarize_refuses_crafted_checkpoint(tmp_path, capsys):
    path, marker = crafted(tmp_path)
    np.save(tmp_path / "f.npy", np.random.default_rng(0).random((60, 8), dtype=np.float32))
    assert main(["summarize", str(tmp_path / "f.npy"), "--checkpoint", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "refused: it holds Python objects" in err and "vidsum checkpoint convert" in err
    assert err.count("\n") == 1 and not marker.exists()


# --------------------------------------------------------------------------- converting a trusted old file


def test_convert_trusted_old_checkpoint(tmp_path, capsys):
    old = tmp_path / "old.pt"
    torch.save({"kind": "drdsn", "model": {"w": torch.ones(2)}, "extra": {"baseline": np.array([0.5, 0.25])},
                "history": [{"epoch": 0, "f1": np.float64(0.4)}]}, old)
    with pytest.raises(ValueError, match="refused"):
        load_checkpoint(old)
    assert main(["checkpoint", "convert", str(old), str(tmp_path / "new.pt")]) == 0
    assert "new.pt" in capsys.readouterr().out
    new = load_checkpoint(tmp_path / "new.pt", expect_kind="drdsn")
    assert torch.equal(new["extra"]["baseline"], torch.tensor([0.5, 0.25], dtype=torch.float64))
    assert new["history"] == [{"epoch": 0, "f1": 0.4}] and type(new["history"][0]["f1"]) is float
    # what cannot become plain is not converted: the converter never writes an unsafe file
    path, _ = crafted(tmp_path)
    with pytest.raises(ValueError, match=r"cannot convert: state\['evil'\]: a _io.TextIOWrapper"):
        convert_checkpoint(path, tmp_path / "still_evil.pt")
    assert not (tmp_path / "still_evil.pt").exists()
    (tmp_path / "junk.pt").write_bytes(pickle.dumps([1, 2]))
    assert main(["checkpoint", "convert", str(tmp_path / "junk.pt"), str(tmp_path / "j.pt")]) == 2
    assert "not a vidsum checkpoint" in capsys.readouterr().err
