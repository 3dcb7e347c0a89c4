"""Fetch the real eccv16 h5 files (GoogLeNet pool5 features + ground truth) and verify them.

Where the files live (none of them is on a package registry):

- DSNet release (default): ``https://www.dropbox.com/s/tdknvkpz1jp6iuz/dsnet_datasets.zip?dl=1``,
  a ~178 MB zip holding ``eccv16_dataset_{summe,tvsum,ovp,youtube}_google_pool5.h5``.
  Google Drive mirror of the same zip: file id ``11ulsvk1MZI7iDqymw9cfL7csAYS0cDYH``.
- KaiyangZhou/pytorch-vsumm-reinforce ``datasets.tar.gz`` (173.5 MB): Google Drive file id
  ``1Bf0beMN_ieiM3JpprghaoOwQe9QJIyAN``.

Google Drive answers large files with a confirmation page, so download those in a browser and
hand the archive over as ``--url file:///path/to/archive.zip`` (or put the h5 in the data folder
and run ``vidsum data check``). The two releases may differ byte-wise, so the extracted h5 is
accepted when it matches ANY known-good entry for its dataset in :data:`KNOWN_DIGESTS` (or the
user's own ``expected_sha256``), and refused otherwise.

Data folder resolution (shared with ``vidsum.data.datasets``): ``--data-dir``, then
``$VIDSUM_DATA``, then ``./data``.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from vidsum import progress

DATASETS = ("summe", "tvsum")
ENV_DATA_DIR = "VIDSUM_DATA"
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class KnownDigest:
    """A known-good digest of ``eccv16_dataset_{dataset}_google_pool5.h5`` from one release."""

    dataset: str
    source: str
    algorithm: str  # 'sha256' | 'md5'
    digest: str


_VSUMM_LFS = ("KaiyangZhou/pytorch-vsumm-reinforce release as stored in Git LFS "
              "(mehryar72/RS-SUM, Soumya-Chakraborty/legal-sum)")
_DSNET_ZIP = "DSNet dsnet_datasets.zip (MD5 reported by a public reproduction)"

KNOWN_DIGESTS: tuple[KnownDigest, ...] = (
    KnownDigest("summe", _VSUMM_LFS, "sha256",
                "db3816d2504f322c1107fd5e4d8d612380b1f3ca9cb1e5ce06a113f6515ab278"),
    KnownDigest("tvsum", _VSUMM_LFS, "sha256",
                "ec9cbcc715887d30ba2ad46764cb810f07eb6d6241e96c0eac5fca51d398228b"),
    KnownDigest("summe", _DSNET_ZIP, "md5", "a108d05ba7a9369ef6c891df475e6a2b"),
    KnownDigest("tvsum", _DSNET_ZIP, "md5", "b56ae0ae124d5b3f8e7c0f641bb5c059"),
)

_DSNET_URL = "https://www.dropbox.com/s/tdknvkpz1jp6iuz/dsnet_datasets.zip?dl=1"
DEFAULT_URLS = {"summe": _DSNET_URL, "tvsum": _DSNET_URL}

_SCHEMES = ("http", "https", "file")
_MAGIC_ZIP = b"PK\x03\x04"
_MAGIC_GZIP = b"\x1f\x8b"
_MAGIC_HDF5 = b"\x89HDF\r\n\x1a\n"


class DownloadError(OSError):
    """The file could not be fetched (HTTP error, no network, timeout)."""


class ArchiveError(ValueError):
    """What was fetched is not a usable .zip / .tar.gz / .h5, or lacks the wanted h5."""


class ChecksumError(ValueError):
    """The h5 does not match the expected digest(s)."""


def h5_name(dataset: str) -> str:
    _check_dataset(dataset)
    return f"eccv16_dataset_{dataset}_google_pool5.h5"


def real_h5_path(dataset: str, data_dir: str | os.PathLike) -> Path:
    """Where the real eccv16 file of ``dataset`` lives in ``data_dir``."""
    return Path(data_dir) / h5_name(dataset)


def resolve_data_dir(cli_value: str | None) -> Path:
    """The data folder: ``--data-dir`` if given, else ``$VIDSUM_DATA`` if set, else ``./data``."""
    value = cli_value or os.environ.get(ENV_DATA_DIR) or "data"
    return Path(value).expanduser().absolute()


def _check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")


# ---------------------------------------------------------------------------------------------
# digests


def file_digests(path: str | os.PathLike) -> dict[str, str]:
    """{'sha256': hex, 'md5': hex} of a file, in one pass."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            sha.update(chunk)
            md5.update(chunk)
    return {"sha256": sha.hexdigest(), "md5": md5.hexdigest()}


def _normalize_sha256(expected_sha256: str) -> str:
    digest = expected_sha256.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ValueError(f"expected sha256 must be 64 hex characters, got {expected_sha256!r}")
    return digest


def match_digest(dataset: str, digests: dict[str, str], expected_sha256: str | None = None) -> str:
    """Which known-good entry ``digests`` matches; returns a description, else raises ChecksumError.

    With ``expected_sha256`` only that digest is accepted (a user's own mirror); otherwise any
    entry of :data:`KNOWN_DIGESTS` for ``dataset`` is.
    """
    _check_dataset(dataset)
    name = h5_name(dataset)
    if expected_sha256 is not None:
        expected = _normalize_sha256(expected_sha256)
        if digests["sha256"] == expected:
            return f"sha256 {expected} (given by the user)"
        raise ChecksumError(f"{name}: checksum mismatch: expected sha256 {expected}, got {digests['sha256']}")
    known = [e for e in KNOWN_DIGESTS if e.dataset == dataset]
    for entry in known:
        if digests.get(entry.algorithm) == entry.digest:
            return f"{entry.algorithm} {entry.digest} ({entry.source})"
    expected = ", ".join(f"{e.algorithm} {e.digest}" for e in known)
    raise ChecksumError(
        f"{name}: checksum matches no known release: expected one of [{expected}], "
        f"got sha256 {digests['sha256']} / md5 {digests['md5']} "
        f"(for a mirror you trust, pass its sha256 with --sha256)"
    )


# ---------------------------------------------------------------------------------------------
# fetching and extraction


def _manual_hint(dataset: str, dest_dir: Path) -> str:
    return (
        f"download the archive by hand (see `vidsum data download --help`; sources in "
        f"vidsum/data/download.py), put {h5_name(dataset)} in {dest_dir} or pass the archive as "
        f"--url file:///path/to/archive, then run `vidsum data check {real_h5_path(dataset, dest_dir)}`"
    )


def _fetch(url: str, out: BinaryIO, timeout: float, show_progress: bool = False) -> int:
    """Stream ``url`` into ``out``; returns the number of bytes. Network problems -> DownloadError.

    show_progress: bytes so far / total and the rate on stderr (``vidsum.progress``; plain
    lines at most every 5 s when stderr is not a terminal)."""
    request = urllib.request.Request(url, headers={"User-Agent": "vidsum-download/0.1"})
    n_bytes = 0
    with urllib.request.urlopen(request, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        shown = progress.Progress(f"downloading {PurePosixPath(urllib.parse.urlsplit(url).path).name or url}", total,
                                  unit="B", byte_counts=True, show_rate=True, every_s=5.0) if show_progress else None
        try:
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                n_bytes += len(chunk)
                if shown is not None:
                    shown.update(len(chunk))
        finally:
            if shown is not None:
                shown.close()
    if total and n_bytes != total:
        raise DownloadError(f"connection closed after {n_bytes} of {total} bytes")
    return n_bytes


def _copy_member(src: BinaryIO, dst_path: Path) -> None:
    with open(dst_path, "wb") as dst:
        shutil.copyfileobj(src, dst, CHUNK_BYTES)


def _extract_h5(archive: Path, member_name: str, out_path: Path) -> str:
    """Write the member named ``member_name`` (at any depth) of ``archive`` to ``out_path``.

    archive: a .zip, a .tar(.gz) or a bare h5, told apart by their first bytes (URLs such as
    Google Drive's carry no suffix). Returns the kind found.
    """
    with open(archive, "rb") as f:
        head = f.read(512)
    try:
        if head.startswith(_MAGIC_HDF5):
            shutil.copyfile(archive, out_path)
            return "h5"
        if head.startswith(_MAGIC_ZIP):
            with zipfile.ZipFile(archive) as zf:
                names = [m for m in zf.namelist() if PurePosixPath(m).name == member_name]
                if len(names) != 1:
                    _member_problem(member_name, names, [m for m in zf.namelist() if m.endswith(".h5")])
                with zf.open(names[0]) as src:  # zipfile checks the CRC at the end of the read
                    _copy_member(src, out_path)
            return "zip"
        if head.startswith(_MAGIC_GZIP) or head[257:262] == b"ustar":
            with tarfile.open(archive, "r:*") as tf:
                members = [m for m in tf.getmembers() if m.isfile()]
                found = [m for m in members if PurePosixPath(m.name).name == member_name]
                if len(found) != 1:
                    _member_problem(member_name, [m.name for m in found],
                                    [m.name for m in members if m.name.endswith(".h5")])
                # Read the member ourselves: nothing from the archive decides where files go.
                src = tf.extractfile(found[0])
                _copy_member(src, out_path)
            return "tar"
    except (zipfile.BadZipFile, tarfile.TarError, gzip.BadGzipFile, zlib.error, EOFError) as e:
        raise ArchiveError(f"corrupt archive: {e}") from None
    if head.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
        raise ArchiveError("got an HTML page instead of a file (a login or confirmation page?)")
    raise ArchiveError(f"not a .zip, .tar.gz or .h5 file (first bytes {head[:8]!r})")


def _member_problem(member_name: str, found: list[str], h5_members: list[str]) -> None:
    if found:
        raise ArchiveError(f"archive holds {member_name} more than once: {found}")
    raise ArchiveError(f"archive has no {member_name}; its h5 files: {h5_members or 'none'}")


def download_dataset(
    dataset: str,
    dest_dir: str | os.PathLike,
    url: str | None = None,
    expected_sha256: str | None = None,
    timeout: float = 60,
    log: Callable[[str], None] | None = None,
    show_progress: bool = False,
) -> Path:
    """Download, extract and verify ``eccv16_dataset_{dataset}_google_pool5.h5`` into ``dest_dir``.

    url: a .zip, .tar.gz or bare .h5 (http, https or file); default :data:`DEFAULT_URLS`.
    expected_sha256: accept only this digest (a mirror); default: any :data:`KNOWN_DIGESTS` entry.
    log: receives a line per step: download, extract, checksum (default: silent).
    show_progress: the download's bytes, rate and ETA on stderr (``vidsum.progress``).

    Everything is written to temp files in ``dest_dir``; on any failure they are deleted and an
    existing file at the destination is left untouched. Raises DownloadError (network),
    ArchiveError (bad archive), ChecksumError (digest mismatch), ValueError (bad arguments).
    """
    _check_dataset(dataset)
    if expected_sha256 is not None:
        expected_sha256 = _normalize_sha256(expected_sha256)
    url = url or DEFAULT_URLS[dataset]
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in _SCHEMES:
        raise ValueError(f"unsupported URL {url!r}: expected one of {', '.join(_SCHEMES)}://")
    log = log or (lambda msg: None)
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    final_path = real_h5_path(dataset, dest_dir)

    temps: list[Path] = []

    def new_temp(suffix: str) -> Path:
        fd, name = tempfile.mkstemp(prefix=f".vidsum-{dataset}-", suffix=suffix, dir=dest_dir)
        os.close(fd)
        temps.append(Path(name))
        return temps[-1]

    try:
        archive = new_temp(".download")
        log(f"downloading {url}")
        try:
            with open(archive, "wb") as out:
                n_bytes = _fetch(url, out, timeout, show_progress)
        except urllib.error.HTTPError as e:
            raise DownloadError(f"could not download {url}: HTTP {e.code} {e.reason}; "
                                f"{_manual_hint(dataset, dest_dir)}") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", None) or e
            raise DownloadError(f"could not download {url}: {reason}; "
                                f"{_manual_hint(dataset, dest_dir)}") from None
        h5_tmp = new_temp(".h5")
        try:
            kind = _extract_h5(archive, h5_name(dataset), h5_tmp)
        except ArchiveError as e:
            raise ArchiveError(f"{url}: {e}") from None
        log(f"fetched {n_bytes / 1e6:.1f} MB ({kind}); verifying {h5_name(dataset)}")
        archive.unlink()
        matched = match_digest(dataset, file_digests(h5_tmp), expected_sha256)
        log(f"checksum OK: {matched}")
        os.chmod(h5_tmp, 0o644)
        os.replace(h5_tmp, final_path)
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
    return final_path


def download_cli(dataset: str, dest: str | os.PathLike, url: str | None, sha256: str | None) -> int:
    """``vidsum data download``: progress on stderr, result on stdout; returns the exit code."""
    def log(msg: str) -> None:
        if progress.enabled():  # the steps are progress too: --quiet leaves the errors and "OK <path>"
            print(msg, file=sys.stderr, flush=True)

    try:
        path = download_dataset(dataset, dest, url=url, expected_sha256=sha256, log=log, show_progress=True)
    except (DownloadError, ArchiveError, ChecksumError) as e:
        print(f"vidsum: error: {e}", file=sys.stderr)
        if not isinstance(e, DownloadError):  # DownloadError already carries the hint
            print(f"vidsum: nothing was written; {_manual_hint(dataset, Path(dest))}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as e:
        print(f"vidsum: error: {e}", file=sys.stderr)
        return 2
    print(f"OK {path}")
    return 0
