import json
import os
import socket

import numpy as np
import pytest

from vidsum import text


class CountingEncoder:
    """A stand-in encoder that counts how many texts it was asked to encode."""

    name = "counting-test"
    dim = 4

    def __init__(self):
        self.calls = 0

    def encode(self, texts):
        self.calls += len(texts)
        return np.stack([np.full(self.dim, 0.5, dtype=np.float32) for _ in texts])


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a network connection fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_video_texts_defaults_and_titles():
    summe = text.video_texts("summe", ["video_1", "video_19"])
    assert summe == {"video_1": "Air Force One", "video_19": "St Maarten Landing"}
    tvsum = text.video_texts("tvsum", ["video_1"])
    assert tvsum == {"video_1": "changing vehicle tire"}  # category VT, the collection query
    titled = text.video_texts("summe", ["video_1", "video_2"], titles={"video_2": "  people jumping off a cliff "})
    assert titled["video_2"] == "people jumping off a cliff" and titled["video_1"] == "Air Force One"


def test_video_texts_errors():
    with pytest.raises(ValueError, match="unknown dataset"):
        text.video_texts("youtube", ["video_1"])
    with pytest.raises(KeyError, match="video_99"):
        text.video_texts("summe", ["video_1", "video_99"])
    with pytest.raises(ValueError, match="title of video_1"):
        text.video_texts("summe", ["video_1"], titles={"video_1": "   "})
    # a title makes an unknown key usable
    assert text.video_texts("summe", ["mine"], titles={"mine": "my video"}) == {"mine": "my video"}


def test_read_titles(tmp_path):
    good = tmp_path / "titles.json"
    good.write_text(json.dumps({"video_1": "a plane"}))
    assert text.read_titles(good) == {"video_1": "a plane"}
    with pytest.raises(FileNotFoundError, match="titles file not found"):
        text.read_titles(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        text.read_titles(bad)
    bad.write_text(json.dumps(["video_1", "a plane"]))
    with pytest.raises(ValueError, match="JSON object of video key"):
        text.read_titles(bad)


def test_hashed_encoder_is_deterministic_unit_and_spelling_aware():
    enc = text.HashedNgramEncoder(dim=64)
    a = enc.encode(["Air Force One", "air force 1", "cooking pasta"])
    assert a.shape == (3, 64) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(a, text.HashedNgramEncoder(dim=64).encode(["Air Force One", "air force 1", "cooking pasta"]))
    assert a[0] @ a[1] > a[0] @ a[2] + 0.3
    with pytest.raises(ValueError, match="dim must be an integer >= 8"):
        text.HashedNgramEncoder(dim=4)


@pytest.mark.parametrize("bad, match", [("just a string", "list of strings"), (["ok", ""], r"texts\[1\] is empty")])
def test_encoders_reject_bad_texts(bad, match):
    with pytest.raises(ValueError, match=match):
        text.get_encoder("hashed").encode(bad)


def test_get_encoder_unknown():
    with pytest.raises(ValueError, match="unknown text encoder 'clip'"):
        text.get_encoder("clip")


def test_wordllama_runs_offline_from_package_files(no_network):
    enc = text.get_encoder("wordllama")
    assert enc.dim == 256 and enc.name.startswith("wordllama")
    v = enc.encode(["changing vehicle tire", "getting vehicle unstuck", "parkour", "dog show", "grooming an animal"])
    assert v.shape == (5, 256)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    sim = v @ v.T
    assert sim[0, 1] > sim[0, 2] + 0.2  # the two vehicle queries are neighbours
    assert sim[3, 4] > sim[3, 2] + 0.2  # dog show ~ grooming an animal


def test_cache_is_filled_then_read_without_the_encoder(tmp_path, monkeypatch, no_network):
    first = text.text_vectors("summe", ["video_1", "video_2"], "wordllama", cache_dir=tmp_path)
    files = sorted((tmp_path / text.get_encoder("wordllama").name).glob("*.npy"))
    assert len(files) == 2 and first["video_1"].shape == (256,)

    def broken(texts):
        raise AssertionError("encoder called although the cache has every text")

    monkeypatch.setattr(text.get_encoder("wordllama"), "encode", broken)
    again = text.text_vectors("summe", ["video_2", "video_1"], "wordllama", cache_dir=tmp_path)
    for k in first:
        np.testing.assert_array_equal(first[k], again[k])


def test_encode_cached_dedupes_disables_and_repairs(tmp_path):
    enc = CountingEncoder()
    out = text.encode_cached({"a": "same", "b": "same", "c": "other"}, enc, cache_dir=tmp_path)
    assert enc.calls == 2 and set(out) == {"a", "b", "c"}  # one encode per distinct text
    text.encode_cached({"a": "same"}, enc, cache_dir=tmp_path)
    assert enc.calls == 2
    # a cache entry of the wrong shape is recomputed, not trusted
    entry = next((tmp_path / enc.name).glob("*.npy"))
    np.save(entry, np.zeros(3, dtype=np.float32))
    text.encode_cached({"a": "same", "c": "other"}, enc, cache_dir=tmp_path)
    assert enc.calls == 3
    nowhere = tmp_path / "off"
    text.encode_cached({"a": "same"}, CountingEncoder(), cache_dir=False)
    assert not nowhere.exists()


def test_unwritable_cache_only_warns(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    out = text.encode_cached({"a": "x"}, CountingEncoder(), cache_dir=blocker)
    assert out["a"].shape == (4,)
    assert "text cache not written" in capsys.readouterr().err


def test_default_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("VIDSUM_CACHE_DIR", str(tmp_path))
    assert text.default_cache_dir() == tmp_path / "text"


def test_npz_text_vectors(tmp_path):
    path = tmp_path / "clip_text.npz"
    np.savez(path, video_1=np.ones(8, dtype=np.float32), video_2=np.arange(8, dtype=np.float32))
    out = text.text_vectors("summe", ["video_2"], str(path))
    np.testing.assert_array_equal(out["video_2"], np.arange(8))
    with pytest.raises(KeyError, match="video_3"):
        text.text_vectors("summe", ["video_3"], str(path))
    with pytest.raises(FileNotFoundError, match="text vector file not found"):
        text.text_vectors("summe", ["video_1"], str(tmp_path / "missing.npz"))
    np.savez(path, video_1=np.ones(8), video_2=np.ones(4))
    with pytest.raises(ValueError, match="one width"):
        text.read_text_vectors(path, ["video_1", "video_2"])
    np.savez(path, video_1=np.zeros(8))
    with pytest.raises(ValueError, match="finite and non-zero"):
        text.read_text_vectors(path, ["video_1"])
    with pytest.raises(ValueError, match="no video keys"):
        text.text_vectors("summe", [], "hashed")
