"""vidsum.distributed.storage: --storage URIs, uploads and downloads, on a local folder and on
moto's S3 server (127.0.0.1, a free port; started and stopped by the ``s3`` fixture)."""

from __future__ import annotations

import pytest

from vidsum.distributed.storage import Storage, fetch_results, mirror_results

pytest.importorskip("moto")
from local_cluster import moto_s3_in_env  # noqa: E402


@pytest.fixture(scope="module")
def s3():
    with moto_s3_in_env("unit") as server:
        yield server


def test_parse(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    local = Storage.parse("runs/a/")
    assert local.is_local and local.uri == str(tmp_path / "runs" / "a") and local.endpoint is None
    assert Storage.parse(f"file://{tmp_path}/x").uri == str(tmp_path / "x")
    s = Storage.parse("s3://bucket/pre/fix/", endpoint="http://127.0.0.1:9000")
    assert (s.uri, s.endpoint, s.is_local) == ("s3://bucket/pre/fix", "http://127.0.0.1:9000", False)
    assert s.url("checkpoints", "r1") == "s3://bucket/pre/fix/checkpoints/r1"
    assert s.child("a").uri == "s3://bucket/pre/fix/a" and s.child("a").endpoint == s.endpoint
    assert s.path("ray_tune") == "bucket/pre/fix/ray_tune"
    for bad, match in [("ftp://x/y", "unknown scheme"), ("s3://", "no bucket"), ("", "empty")]:
        with pytest.raises(ValueError, match=match):
            Storage.parse(bad)
    with pytest.raises(ValueError, match="for s3://"):
        Storage.parse("/tmp/x", endpoint="http://h:1")
    with pytest.raises(ValueError, match="URL"):
        Storage.parse("s3://b/p", endpoint="127.0.0.1:9000")


def test_ray_storage_kwargs(tmp_path):
    local = Storage.parse(tmp_path)
    assert local.ray_storage("ray_tune") == {"storage_path": str(tmp_path / "ray_tune"), "storage_filesystem": None}
    remote = Storage.parse("s3://b/p", endpoint="http://127.0.0.1:1").ray_storage("ray_tune")
    assert remote["storage_path"] == "b/p/ray_tune" and remote["storage_filesystem"].type_name == "s3"


def _tree(root):
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("A")
    (root / "sub" / "b.bin").write_bytes(b"\x00\x01")
    return root


def _roundtrip(storage: Storage, tmp_path):
    src = _tree(tmp_path / "src")
    assert storage.upload(src, "ckpt", "fold0") == storage.url("ckpt", "fold0")
    assert storage.upload(src / "a.txt", "single", "a.txt") == storage.url("single", "a.txt")
    assert storage.files("ckpt") == ["fold0/a.txt", "fold0/sub/b.bin"]
    assert storage.exists("single", "a.txt") and not storage.exists("nothing")
    assert storage.files("nothing") == []
    assert storage.download(tmp_path / "back", "ckpt", "fold0")
    assert (tmp_path / "back" / "sub" / "b.bin").read_bytes() == b"\x00\x01"
    assert storage.download(tmp_path / "one" / "a.txt", "single", "a.txt")
    assert (tmp_path / "one" / "a.txt").read_text() == "A"
    assert not storage.download(tmp_path / "none", "missing")
    with pytest.raises(FileNotFoundError):
        storage.upload(tmp_path / "nope", "x")
    storage.upload(src, "gone")
    assert storage.delete("gone", "a.txt") and storage.files("gone") == ["sub/b.bin"]
    assert storage.delete("gone") and storage.files("gone") == [] and not storage.delete("gone")


def test_local_roundtrip(tmp_path):
    _roundtrip(Storage.parse(tmp_path / "store"), tmp_path)


def test_s3_roundtrip(s3, tmp_path):
    storage = Storage.parse(f"s3://{s3.bucket}/run1", endpoint=s3.endpoint)
    _roundtrip(storage, tmp_path)
    assert "run1/ckpt/fold0/sub/b.bin" in s3.keys("run1/")


def test_s3_endpoint_from_the_environment(s3, tmp_path):
    """Without --storage-endpoint pyarrow takes AWS_ENDPOINT_URL (set by the fixture)."""
    storage = Storage.parse(f"s3://{s3.bucket}/env")
    (tmp_path / "f.txt").write_text("x")
    storage.upload(tmp_path / "f.txt", "f.txt")
    assert s3.keys("env/") == ["env/f.txt"]


def test_mirror_and_fetch_results(s3, tmp_path):
    results = tmp_path / "results"
    (results / "optuna").mkdir(parents=True)
    (results / "tune_state").mkdir()
    for name in ("trials.parquet", "folds.parquet", "optuna/r1.journal", "optuna/other.journal", "tune_state/a.json"):
        (results / name).write_text(name)
    storage = Storage.parse(f"s3://{s3.bucket}/mirror", endpoint=s3.endpoint)
    urls = mirror_results(storage, results, "r1")
    assert sorted(u.rsplit("mirror/", 1)[1] for u in urls) == ["folds.parquet", "optuna/r1.journal", "trials.parquet",
                                                                  "tune_state/a.json"]
    assert mirror_results(Storage.parse(results), results, "r1") == []  # the storage is the results folder
    fresh = tmp_path / "new_head"
    assert sorted(fetch_results(storage, fresh)) == ["folds.parquet", "optuna/r1.journal", "trials.parquet",
                                                     "tune_state/a.json"]
    assert (fresh / "optuna" / "r1.journal").read_text() == "optuna/r1.journal"
    assert fetch_results(storage, fresh) == []  # present locally: kept
