"""The real human annotations of SumMe and TVSum, shipped inside the package in compact form.

A user's machine has no ``../shared``; the stand-in builder and the Kendall/Spearman evaluation
need the per-user annotations, so :func:`derive` turns the official files into two small
compressed ``.npz`` files (``vidsum/data/annotations/{summe,tvsum}.npz``) and records the
sha256 of every source file in ``SOURCES.json``. ``scripts/derive_annotations.py`` reruns it.

Video order (= eccv16 keys ``video_1`` ...):
  * SumMe: GT file names in byte (ASCII) order, which is the order of the eccv16 groups
    (their ``video_name`` field confirms it when a real file is read).
  * TVSum: line order of ``ydata-tvsum50-anno.tsv`` (first video ``AwmHb44_ouw``).

Per video:
  * SumMe ``user_scores``: (n_users, n_frames) uint8 from the GT ``user_score``; a frame is in a
    user's summary when the value is > 0. fps from the GT ``FPS``.
  * TVSum ``user_scores``: (20, n_frames) uint8 importance 1..5 written per frame. fps is not in
    the annotation; it is estimated as (most common length of a constant-score run) / 2, because
    TVSum annotators scored 2-second shots.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

DATASETS = ("summe", "tvsum")


@dataclass
class VideoAnnotation:
    """Real annotation of one video.

    key:         eccv16 group name (``video_1`` ...)
    name:        SumMe video name / TVSum YouTube id
    category:    TVSum category code (e.g. ``VT``); the SumMe name otherwise
    n_frames:    frames in the original video
    fps:         frames per second (estimated for TVSum, see module docstring)
    user_scores: (n_users, n_frames) uint8 raw per-user annotation
    """

    key: str
    name: str
    category: str
    n_frames: int
    fps: float
    user_scores: np.ndarray

    @property
    def user_summary(self) -> np.ndarray:
        """(n_users, n_frames) 0/1 selections (SumMe: score > 0; meaningless for TVSum)."""
        return (self.user_scores > 0).astype(np.uint8)


TVSUM_CATEGORIES = {
    "VT": "changing vehicle tire",
    "VU": "getting vehicle unstuck",
    "GA": "grooming an animal",
    "MS": "making sandwich",
    "PK": "parkour",
    "PR": "parade",
    "FM": "flash mob gathering",
    "BK": "bee keeping",
    "BT": "attempting bike tricks",
    "DS": "dog show",
}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def estimate_fps_from_runs(user_scores: np.ndarray) -> float:
    """fps of a TVSum video from its per-frame scores.

    user_scores: (n_users, n_frames). Annotators scored 2-second shots, so the most common length
    of a run of equal consecutive scores is 2 * fps frames.
    """
    runs: Counter[int] = Counter()
    for row in user_scores:
        change = np.flatnonzero(np.diff(row.astype(np.int16)) != 0)
        bounds = np.concatenate([[-1], change, [row.shape[0] - 1]])
        runs.update(np.diff(bounds).tolist())
    run = runs.most_common(1)[0][0]
    return run / 2.0


def _derive_summe(gt_dir: Path) -> tuple[dict[str, np.ndarray], list[Path]]:
    import scipy.io

    files = sorted(gt_dir.glob("*.mat"), key=lambda p: p.name.encode())
    if len(files) != 25:
        raise FileNotFoundError(f"expected 25 SumMe GT .mat files in {gt_dir}, found {len(files)}")
    arrays: dict[str, np.ndarray] = {}
    names, n_frames, fps = [], [], []
    for i, path in enumerate(files):
        mat = scipy.io.loadmat(path)
        scores = np.asarray(mat["user_score"]).T.astype(np.uint8)  # (n_users, n_frames)
        nf = int(np.asarray(mat["nFrames"]).reshape(-1)[0])
        if scores.shape[1] != nf:
            raise ValueError(f"{path}: user_score has {scores.shape[1]} frames, nFrames says {nf}")
        arrays[f"scores_{i + 1}"] = scores
        names.append(path.stem)
        n_frames.append(nf)
        fps.append(float(np.asarray(mat["FPS"]).reshape(-1)[0]))
    arrays["names"] = np.array(names)
    arrays["categories"] = np.array(names)
    arrays["n_frames"] = np.array(n_frames, dtype=np.int64)
    arrays["fps"] = np.array(fps, dtype=np.float64)
    return arrays, files


def _derive_tvsum(tsv: Path) -> tuple[dict[str, np.ndarray], list[Path]]:
    rows: dict[str, list[np.ndarray]] = {}
    cats: dict[str, str] = {}
    with open(tsv) as f:
        for line_no, line in enumerate(f, 1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3:
                raise ValueError(f"{tsv}:{line_no}: expected 3 tab-separated fields")
            vid, cat, scores = parts
            rows.setdefault(vid, []).append(np.array(scores.split(","), dtype=np.uint8))
            cats[vid] = cat
    arrays: dict[str, np.ndarray] = {}
    names, categories, n_frames, fps = [], [], [], []
    for i, (vid, user_rows) in enumerate(rows.items()):
        lengths = {r.shape[0] for r in user_rows}
        if len(lengths) != 1:
            raise ValueError(f"{tsv}: video {vid} has user rows of different lengths {sorted(lengths)}")
        scores = np.stack(user_rows)
        arrays[f"scores_{i + 1}"] = scores
        names.append(vid)
        categories.append(cats[vid])
        n_frames.append(scores.shape[1])
        fps.append(estimate_fps_from_runs(scores))
    if len(names) != 50:
        raise ValueError(f"{tsv}: expected 50 videos, found {len(names)}")
    arrays["names"] = np.array(names)
    arrays["categories"] = np.array(categories)
    arrays["n_frames"] = np.array(n_frames, dtype=np.int64)
    arrays["fps"] = np.array(fps, dtype=np.float64)
    return arrays, [tsv]


def derive(shared_data: str | os.PathLike, out_dir: str | os.PathLike) -> dict[str, dict]:
    """Regenerate the shipped annotation files from the official sources under ``shared_data``.

    Writes ``summe.npz``, ``tvsum.npz`` and ``SOURCES.json`` (sha256 of every source) to
    ``out_dir`` atomically. Returns the SOURCES record.
    """
    shared_data, out_dir = Path(shared_data), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    record: dict[str, dict] = {}
    for name, (arrays, sources) in {
        "summe": _derive_summe(shared_data / "summe" / "GT"),
        "tvsum": _derive_tvsum(shared_data / "tvsum" / "ydata-tvsum50-anno.tsv"),
    }.items():
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        _atomic_write_bytes(out_dir / f"{name}.npz", buf.getvalue())
        record[name] = {
            "file": f"{name}.npz",
            "sha256": hashlib.sha256(buf.getvalue()).hexdigest(),
            "sources": {str(p.relative_to(shared_data)): _sha256(p) for p in sources},
        }
    _atomic_write_bytes(out_dir / "SOURCES.json", (json.dumps(record, indent=1) + "\n").encode())
    return record


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def shipped_path(dataset: str) -> Path:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    return Path(str(resources.files("vidsum.data") / "annotations" / f"{dataset}.npz"))


_CACHE: dict[str, list[VideoAnnotation]] = {}


def load(dataset: str) -> list[VideoAnnotation]:
    """The shipped real annotations of ``dataset`` ('summe' | 'tvsum'), in eccv16 key order."""
    if dataset not in _CACHE:
        path = shipped_path(dataset)
        if not path.exists():
            raise FileNotFoundError(
                f"shipped annotations missing: {path}; rerun scripts/derive_annotations.py"
            )
        with np.load(path) as z:
            _CACHE[dataset] = [
                VideoAnnotation(
                    key=f"video_{i + 1}",
                    name=str(z["names"][i]),
                    category=str(z["categories"][i]),
                    n_frames=int(z["n_frames"][i]),
                    fps=float(z["fps"][i]),
                    user_scores=z[f"scores_{i + 1}"],
                )
                for i in range(len(z["names"]))
            ]
    return _CACHE[dataset]


def by_key(dataset: str) -> dict[str, VideoAnnotation]:
    return {a.key: a for a in load(dataset)}
