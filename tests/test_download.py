"""Download path against a local http.server on 127.0.0.1 only; nothing else is contacted."""

import functools
import hashlib
import http.server
import io
import socket
import tarfile
import threading
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from tqdm import tqdm

from vidsum import progress
from vidsum.data import download as D
from vidsum.data.download import (
    ArchiveError,
    ChecksumError,
    DownloadError,
    download_cli,
    download_dataset,
    real_h5_path,
    resolve_data_dir,
)


def make_h5_bytes(tmp_path: Path, seed: int = 0) -> bytes:
    """A few-KB h5 in the eccv16 layout, made with h5py directly."""
    rng = np.random.default_rng(seed)
    path = tmp_path / f"gen_{seed}.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("video_1")
        g["features"] = rng.random((10, 16), dtype=np.float32)
        g["gtscore"] = rng.random(10, dtype=np.float32)
        g["user_summary"] = (rng.random((3, 150)) < 0.15).astype(np.uint8)
        g["change_points"] = np.array([[0, 74], [75, 149]])
        g["n_frame_per_seg"] = np.array([75, 75])
        g["n_frames"] = 150
        g["picks"] = np.arange(0, 150, 15)
        g["n_steps"] = 10
    return path.read_bytes()


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def targz_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def served(tmp_path):
    """(url_for(name, data) -> url, root): files served by a thread on 127.0.0.1:<ephemeral>."""
    root = tmp_path / "www"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root))
    )
    # short poll so that shutdown() in teardown returns quickly
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"

    def url_for(name: str, data: bytes | None = None) -> str:
        if data is not None:
            (root / name).write_bytes(data)
        return f"{base}/{name}"

    try:
        yield url_for
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def h5(tmp_path):
    return make_h5_bytes(tmp_path)


@pytest.fixture
def dest(tmp_path):
    d = tmp_path / "dest"
    d.mkdir()
    return d


SUMME = "eccv16_dataset_summe_google_pool5.h5"
TVSUM = "eccv16_dataset_tvsum_google_pool5.h5"


# --- zip ---------------------------------------------------------------------------------------


def test_zip_accepted_with_expected_sha256(served, h5, dest):
    other = make_h5_bytes(dest.parent, seed=1)
    url = served("dsnet_datasets.zip", zip_bytes({f"datasets/{SUMME}": h5, f"datasets/{TVSUM}": other}))
    lines = []
    path = download_dataset("summe", dest, url=url + "?dl=1", expected_sha256=sha256(h5).upper(), log=lines.append)
    assert path == dest / SUMME
    assert path.read_bytes() == h5
    assert sorted(p.name for p in dest.iterdir()) == [SUMME]  # no temp files left
    assert any("checksum OK" in line for line in lines)
    with h5py.File(path) as f:
        assert f["video_1/features"].shape == (10, 16)
    # the other member of the same zip, for the other dataset
    path = download_dataset("tvsum", dest, url=url, expected_sha256=sha256(other))
    assert path.read_bytes() == other


def test_zip_refused_by_default_table(served, h5, dest):
    url = served("dsnet_datasets.zip", zip_bytes({SUMME: h5}))
    with pytest.raises(ChecksumError) as e:
        download_dataset("summe", dest, url=url)
    msg = str(e.value)
    assert "db3816d2504f322c" in msg and "a108d05ba7a9369e" in msg  # expected: the known entries
    assert sha256(h5) in msg  # got
    assert list(dest.iterdir()) == []


def test_default_table_accepts_any_known_entry(served, h5, dest, monkeypatch):
    # an md5 entry for the dataset is enough; an entry for another dataset is not
    md5 = hashlib.md5(h5).hexdigest()
    url = served("d.zip", zip_bytes({SUMME: h5}))
    monkeypatch.setattr(D, "KNOWN_DIGESTS", D.KNOWN_DIGESTS + (D.KnownDigest("tvsum", "test", "md5", md5),))
    with pytest.raises(ChecksumError):
        download_dataset("summe", dest, url=url)
    monkeypatch.setattr(D, "KNOWN_DIGESTS", D.KNOWN_DIGESTS + (D.KnownDigest("summe", "test", "md5", md5),))
    assert download_dataset("summe", dest, url=url).read_bytes() == h5


def test_sha256_mismatch_names_expected_and_got(served, h5, dest):
    url = served("d.zip", zip_bytes({SUMME: h5}))
    wrong = "0" * 64
    with pytest.raises(ChecksumError, match=f"expected sha256 {wrong}, got {sha256(h5)}"):
        download_dataset("summe", dest, url=url, expected_sha256=wrong)
    assert list(dest.iterdir()) == []


# --- corrupted ---------------------------------------------------------------------------------


def test_corrupted_zip_refused_nothing_left(served, h5, dest):
    data = bytearray(zip_bytes({SUMME: h5}))
    mid = len(data) // 2
    data[mid : mid + 64] = bytes(64)  # damage the compressed member
    url = served("bad.zip", bytes(data))
    with pytest.raises((ArchiveError, ChecksumError)):
        download_dataset("summe", dest, url=url, expected_sha256=sha256(h5))
    assert list(dest.iterdir()) == []


def test_corrupted_h5_refused_and_existing_file_kept(served, h5, dest):
    (dest / SUMME).write_bytes(b"previous good file")
    bad = bytearray(h5)
    bad[-100] ^= 0xFF
    url = served("bad.h5", bytes(bad))
    with pytest.raises(ChecksumError, match=sha256(h5)):
        download_dataset("summe", dest, url=url, expected_sha256=sha256(h5))
    assert sorted(p.name for p in dest.iterdir()) == [SUMME]
    assert (dest / SUMME).read_bytes() == b"previous good file"


def test_truncated_targz_is_a_corrupt_archive(served, h5, dest):
    data = targz_bytes({SUMME: h5})
    url = served("cut.tar.gz", data[: len(data) // 2])
    with pytest.raises(ArchiveError, match="corrupt archive"):
        download_dataset("summe", dest, url=url, expected_sha256=sha256(h5))
    assert list(dest.iterdir()) == []


# --- tar.gz and bare h5 ------------------------------------------------------------------------


def test_targz_accepted(served, h5, dest):
    url = served("datasets.tar.gz", targz_bytes({f"datasets/{SUMME}": h5, "datasets/readme.txt": b"hi"}))
    path = download_dataset("summe", dest, url=url, expected_sha256=sha256(h5))
    assert path.read_bytes() == h5
    assert sorted(p.name for p in dest.iterdir()) == [SUMME]


def test_bare_h5_accepted_and_replaces_existing(served, h5, dest):
    (dest / SUMME).write_bytes(b"old")
    url = served("some_mirror_name.h5", h5)
    path = download_dataset("summe", dest, url=url, expected_sha256=sha256(h5))
    assert path.read_bytes() == h5
    assert sorted(p.name for p in dest.iterdir()) == [SUMME]


def test_file_url_accepted(h5, dest, tmp_path):
    archive = tmp_path / "manual.zip"
    archive.write_bytes(zip_bytes({SUMME: h5}))
    path = download_dataset("summe", dest, url=archive.as_uri(), expected_sha256=sha256(h5))
    assert path.read_bytes() == h5


# --- archive problems --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, make, match",
    [
        ("d.zip", lambda h5: zip_bytes({TVSUM: h5}), f"has no {SUMME}; its h5 files: \\['{TVSUM}'\\]"),
        ("d.zip", lambda h5: zip_bytes({f"a/{SUMME}": h5, f"b/{SUMME}": h5}), "more than once"),
        ("d.tar.gz", lambda h5: targz_bytes({"x.txt": b"x"}), f"has no {SUMME}; its h5 files: none"),
        ("page", lambda h5: b"<!DOCTYPE html><html>virus scan warning</html>", "HTML page"),
        ("d.bin", lambda h5: b"\x00\x01garbage", "not a .zip, .tar.gz or .h5"),
    ],
)
def test_archive_problems(served, h5, dest, name, make, match):
    url = served(name, make(h5))
    with pytest.raises(ArchiveError, match=match) as e:
        download_dataset("summe", dest, url=url, expected_sha256=sha256(h5))
    assert url in str(e.value)
    assert list(dest.iterdir()) == []


# --- network errors and bad arguments ----------------------------------------------------------


def test_404_is_a_clear_error(served, dest):
    url = served("missing.zip")
    with pytest.raises(DownloadError, match="HTTP 404") as e:
        download_dataset("summe", dest, url=url)
    assert "vidsum data check" in str(e.value) and url in str(e.value)
    assert list(dest.iterdir()) == []


def test_connection_refused_is_a_clear_error(dest):
    with socket.socket() as s:  # a port on 127.0.0.1 that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="could not download .*download the archive by hand"):
        download_dataset("summe", dest, url=f"http://127.0.0.1:{port}/d.zip", timeout=5)
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(dataset="ovp"), "unknown dataset 'ovp'"),
        (dict(dataset="summe", url="ftp://127.0.0.1/x.zip"), "unsupported URL"),
        (dict(dataset="summe", url="http://127.0.0.1:1/x", expected_sha256="abc"), "64 hex"),
    ],
)
def test_bad_arguments(dest, kwargs, match):
    with pytest.raises(ValueError, match=match):
        download_dataset(dest_dir=dest, **kwargs)


def test_default_urls_and_known_digests():
    for ds in ("summe", "tvsum"):
        assert D.DEFAULT_URLS[ds].startswith("https://www.dropbox.com/") and D.DEFAULT_URLS[ds].endswith("?dl=1")
        entries = {(e.algorithm, e.digest) for e in D.KNOWN_DIGESTS if e.dataset == ds}
        assert {a for a, _ in entries} == {"sha256", "md5"}
    assert ("sha256", "db3816d2504f322c1107fd5e4d8d612380b1f3ca9cb1e5ce06a113f6515ab278") in {
        (e.algorithm, e.digest) for e in D.KNOWN_DIGESTS if e.dataset == "summe"
    }


def test_match_digest_and_file_digests(tmp_path, h5):
    path = tmp_path / "x.h5"
    path.write_bytes(h5)
    digests = D.file_digests(path)
    assert digests == {"sha256": sha256(h5), "md5": hashlib.md5(h5).hexdigest()}
    assert "given by the user" in D.match_digest("summe", digests, sha256(h5))
    fake = {"sha256": "ec9cbcc715887d30ba2ad46764cb810f07eb6d6241e96c0eac5fca51d398228b", "md5": "0"}
    assert "pytorch-vsumm-reinforce" in D.match_digest("tvsum", fake)
    with pytest.raises(ChecksumError):
        D.match_digest("summe", fake)  # tvsum's digest is not summe's


# --- paths and CLI -----------------------------------------------------------------------------


def test_resolve_data_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VIDSUM_DATA", raising=False)
    assert resolve_data_dir(None) == tmp_path / "data"
    monkeypatch.setenv("VIDSUM_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(None) == tmp_path / "env"
    assert resolve_data_dir("cli") == tmp_path / "cli"


def test_real_h5_path(tmp_path):
    assert real_h5_path("tvsum", tmp_path) == tmp_path / TVSUM
    with pytest.raises(ValueError, match="expected one of summe, tvsum"):
        real_h5_path("youtube", tmp_path)


def test_download_cli_success_and_failures(served, h5, dest, capsys):
    url = served("d.zip", zip_bytes({SUMME: h5}))
    assert download_cli("summe", str(dest), url, sha256(h5)) == 0
    out, err = capsys.readouterr()
    assert out.strip() == f"OK {dest / SUMME}" and "checksum OK" in err
    size = tqdm.format_sizeof(len(zip_bytes({SUMME: h5})), "B", 1024)  # '1.47kB'
    fetched = [line for line in err.splitlines() if line.startswith("downloading d.zip: ")]
    assert fetched and fetched[-1].startswith(f"downloading d.zip: {size}/{size} | ")
    assert "B/s" in fetched[-1]  # the rate
    with progress.quiet():  # --quiet: the result line and errors only
        assert download_cli("summe", str(dest), url, sha256(h5)) == 0
    out, err = capsys.readouterr()
    assert out.strip() == f"OK {dest / SUMME}" and err == ""

    assert download_cli("tvsum", str(dest), url, None) == 1
    out, err = capsys.readouterr()
    assert f"has no {TVSUM}" in err and "vidsum data check" in err and out == ""

    assert download_cli("summe", str(dest), served("missing.zip"), None) == 1
    assert "HTTP 404" in capsys.readouterr().err

    assert download_cli("summe", str(dest), url, "not-a-digest") == 2
    assert "64 hex" in capsys.readouterr().err
    assert sorted(p.name for p in dest.iterdir()) == [SUMME]


def test_cli_wiring(served, h5, tmp_path, monkeypatch):
    from vidsum.cli import main

    url = served("d.zip", zip_bytes({SUMME: h5}))
    monkeypatch.setenv("VIDSUM_DATA", str(tmp_path / "envdata"))
    assert main(["data", "download", "--dataset", "summe", "--url", url, "--sha256", sha256(h5)]) == 0
    assert (tmp_path / "envdata" / SUMME).read_bytes() == h5
