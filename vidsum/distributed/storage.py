"""Where a search keeps what must outlive a node: ``tune.py --storage URI``.

A local (or shared-mount) folder, or ``s3://bucket/prefix`` / ``gs://bucket/prefix`` through
pyarrow's filesystems. ``endpoint`` overrides the S3 endpoint (MinIO, Ceph, moto:
``http://127.0.0.1:9000``); without it pyarrow reads the usual AWS settings, the endpoint too
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``).

Layout under the storage root (the same as a results folder, so a bucket can be read like one)::

    ray_tune/<experiment>/...       Ray Tune's trials and their checkpoints (one per scored epoch)
    checkpoints/<run_id>/fold<k>/   the final fits' models (generator.pt, summarizer.pt, ...)
      progress/<stage>-epoch<NNNN>/ a running in-process final fit's last epoch checkpoint
                                    (vidsum.distributed.resume.FitProgress; deleted once the
                                    fold's rows are written)
    {trials,folds,videos}.parquet   mirrors of the driver's leaderboards, after every fold
    optuna/<run_id>.journal         mirror of the Optuna study
    tune_state/*.json               mirror of the run ids ``--resume`` looks up

Since Ray 2.7 Ray Train / Tune do not sync files between nodes: a multi-node run needs a storage
every node reaches, cloud storage or a shared filesystem (Ray docs, "Configuring Persistent
Storage"). A :class:`Storage` is a picklable pair of strings; every process builds its own
filesystem from it (:meth:`Storage.filesystem`), with that node's credentials.

pyarrow API relied on: pyarrow.fs.FileSystem.from_uri(uri) -> (fs, path); pyarrow.fs.S3FileSystem(
endpoint_override=, region=); LocalFileSystem; fs.get_file_info(path | FileSelector(recursive=True));
fs.create_dir; fs.delete_dir / delete_file; pyarrow.fs.copy_files(src, dst, source_filesystem=, destination_filesystem=).
Ray: ray.tune.RunConfig / ray.train.RunConfig(storage_path=<path on the fs>, storage_filesystem=fs).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

REMOTE_SCHEMES = ("s3", "gs", "gcs", "hdfs", "abfs", "abfss")


@dataclass(frozen=True)
class Storage:
    """A storage root: ``uri`` is an absolute local path or ``scheme://bucket/prefix``."""

    uri: str
    endpoint: str | None = None

    @classmethod
    def parse(cls, uri: str | os.PathLike, endpoint: str | None = None) -> Storage:
        """Check and normalise ``uri`` (a local path becomes absolute; ``file://`` is local)."""
        text = str(uri).strip()
        if not text:
            raise ValueError("--storage: empty URI")
        scheme = text.split("://", 1)[0].lower() if "://" in text else ""
        if scheme == "file":
            text, scheme = text[len("file://"):], ""
        if scheme and scheme not in REMOTE_SCHEMES:
            raise ValueError(f"--storage {uri!r}: unknown scheme {scheme!r}; expected a path or one of "
                             f"{', '.join(s + '://' for s in REMOTE_SCHEMES)}")
        if scheme and not text.split("://", 1)[1].strip("/"):
            raise ValueError(f"--storage {uri!r}: no bucket")
        if endpoint is not None and scheme != "s3":
            raise ValueError(f"--storage-endpoint is for s3:// storage, got --storage {uri!r}")
        if endpoint is not None and "://" not in endpoint:
            raise ValueError(f"--storage-endpoint must be a URL like http://127.0.0.1:9000, got {endpoint!r}")
        if scheme:
            return cls(f"{scheme}://{text.split('://', 1)[1].rstrip('/')}", endpoint)
        return cls(str(Path(text).expanduser().resolve()), None)

    @property
    def is_local(self) -> bool:
        return "://" not in self.uri

    @property
    def local_path(self) -> Path:
        if not self.is_local:
            raise ValueError(f"{self.uri} is not a local path")
        return Path(self.uri)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def child(self, *parts: str) -> Storage:
        """The storage root ``parts`` below this one."""
        return Storage(self.url(*parts), self.endpoint)

    def url(self, *parts: str) -> str:
        """``parts`` below the root, as a URI (or a local path)."""
        return "/".join([self.uri.rstrip("/"), *(str(p).strip("/") for p in parts)]) if parts else self.uri

    def filesystem(self) -> tuple[pafs.FileSystem, str]:
        """(pyarrow filesystem, the root's path on it)."""
        if self.is_local:
            return pafs.LocalFileSystem(), self.uri
        if self.uri.startswith("s3://") and self.endpoint:
            region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
            fs = pafs.S3FileSystem(endpoint_override=self.endpoint, region=region,
                                   scheme="https" if self.endpoint.startswith("https") else "http")
            return fs, self.uri[len("s3://"):]
        fs, path = pafs.FileSystem.from_uri(self.uri)
        return fs, path

    def path(self, *parts: str) -> str:
        """``parts`` below the root, as a path on :meth:`filesystem`."""
        _, root = self.filesystem()
        return "/".join([root.rstrip("/"), *(str(p).strip("/") for p in parts)])

    def ray_storage(self, *parts: str) -> dict[str, Any]:
        """``storage_path`` / ``storage_filesystem`` for a Ray RunConfig: ``parts`` below the root.

        A local root gives a plain path and no filesystem (Ray's default handling)."""
        if self.is_local:
            return {"storage_path": str(Path(self.uri, *parts)), "storage_filesystem": None}
        fs, _ = self.filesystem()
        return {"storage_path": self.path(*parts), "storage_filesystem": fs}

    # ----------------------------------------------------------------------------- copies

    def upload(self, local: str | os.PathLike, *dest: str) -> str:
        """Copy a local file or folder (recursively) to ``dest`` below the root; returns its URL."""
        local = Path(local)
        if not local.exists():
            raise FileNotFoundError(f"upload: {local} does not exist")
        fs, _ = self.filesystem()
        target = self.path(*dest)
        parent = target.rsplit("/", 1)[0] if local.is_file() else target
        fs.create_dir(parent, recursive=True)
        pafs.copy_files(str(local.resolve()), target, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs)
        return self.url(*dest)

    def download(self, local: str | os.PathLike, *src: str) -> bool:
        """Copy the file or folder ``src`` below the root to ``local``; False when it does not exist."""
        fs, _ = self.filesystem()
        source = self.path(*src)
        info = fs.get_file_info(source)
        if info.type == pafs.FileType.NotFound:
            return False
        local = Path(local)
        (local if info.type == pafs.FileType.Directory else local.parent).mkdir(parents=True, exist_ok=True)
        pafs.copy_files(source, str(local.resolve()), source_filesystem=fs, destination_filesystem=pafs.LocalFileSystem())
        return True

    def delete(self, *parts: str) -> bool:
        """Remove the file or folder (recursively) ``parts`` below the root; False when it does not exist."""
        fs, _ = self.filesystem()
        target = self.path(*parts)
        kind = fs.get_file_info(target).type
        if kind == pafs.FileType.NotFound:
            return False
        if kind == pafs.FileType.Directory:
            fs.delete_dir(target)
        else:
            fs.delete_file(target)
        return True

    def exists(self, *parts: str) -> bool:
        fs, _ = self.filesystem()
        return fs.get_file_info(self.path(*parts)).type != pafs.FileType.NotFound

    def files(self, *parts: str) -> list[str]:
        """Every file below ``parts``, as paths relative to it, sorted ([] when it does not exist)."""
        fs, _ = self.filesystem()
        base = self.path(*parts).rstrip("/")
        if fs.get_file_info(base).type != pafs.FileType.Directory:
            return []
        infos = fs.get_file_info(pafs.FileSelector(base, recursive=True))
        return sorted(i.path[len(base) + 1:] for i in infos if i.type == pafs.FileType.File)


# What the driver mirrors after every fold (relative to the results folder / the storage root).
LEADERBOARDS = ("trials.parquet", "folds.parquet", "videos.parquet")


def mirror_results(storage: Storage, results_dir: Path, run_id: str) -> list[str]:
    """Upload the leaderboards, this run's Optuna journal and the run ids (tune_state/) from ``results_dir`` to ``storage``
    (nothing when the storage IS the results folder). Returns the URLs written."""
    results_dir = Path(results_dir).resolve()
    if storage.is_local and storage.local_path == results_dir:
        return []
    names = [*LEADERBOARDS, f"optuna/{run_id}.journal",
             *(f"tune_state/{p.name}" for p in sorted((results_dir / "tune_state").glob("*.json")))]
    return [storage.upload(results_dir / n, n) for n in names if (results_dir / n).exists()]


def fetch_results(storage: Storage, results_dir: Path) -> list[str]:
    """For ``--resume`` on a new head: download the leaderboards, Optuna journals and run ids that
    ``results_dir`` lacks from ``storage``. Returns the names fetched."""
    results_dir = Path(results_dir).resolve()
    if storage.is_local and storage.local_path == results_dir:
        return []
    got = [n for n in LEADERBOARDS if not (results_dir / n).exists() and storage.download(results_dir / n, n)]
    for folder in ("optuna", "tune_state"):
        for name in storage.files(folder):
            if not (results_dir / folder / name).exists() and storage.download(results_dir / folder / name, folder, name):
                got.append(f"{folder}/{name}")
    return got
