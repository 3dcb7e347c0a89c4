"""The eccv16 h5 schema (KaiyangZhou / DSNet release): read, write, validate.

One h5 file holds one dataset; each top-level group is a video (``video_1`` ...) with:

    features         (n_steps, D) float32   frame features, one step every ~15 frames
    gtscore          (n_steps,)   float      mean importance per step
    user_summary     (n_users, n_frames)     0/1 per-user keyframe selections
    change_points    (n_shots, 2) int        inclusive [first, last] frame of each shot
    n_frame_per_seg  (n_shots,)   int        shot lengths in frames
    n_frames         scalar int
    picks            (n_steps,)   int        frame index of each step, strictly increasing
    n_steps          scalar int
    video_name       optional string (SumMe)
    gtsummary        optional, ignored

Every problem found by :func:`validate_file` is one line naming the video, the key and what
is wrong; readers raise :class:`SchemaError` with those lines.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

REQUIRED_KEYS = (
    "features",
    "gtscore",
    "user_summary",
    "change_points",
    "n_frame_per_seg",
    "n_frames",
    "picks",
    "n_steps",
)


class SchemaError(ValueError):
    """An eccv16 file (or a Video) does not follow the schema; ``problems`` lists every issue."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = list(problems)
        super().__init__(f"{source}: " + "; ".join(self.problems))


@dataclass
class Video:
    """One benchmark video. Steps are the subsampled frames that carry features.

    key:             h5 group name, e.g. ``video_3``
    features:        (n_steps, D) float32
    gtscore:         (n_steps,) float32
    user_summary:    (n_users, n_frames) uint8 in {0, 1}
    change_points:   (n_shots, 2) int64, inclusive frame ranges covering [0, n_frames)
    n_frame_per_seg: (n_shots,) int64
    n_frames:        number of frames in the original video
    picks:           (n_steps,) int64 frame index of each step
    video_name:      human-readable name when the file has one
    user_scores:     (n_users, n_frames) float32 per-user importance scores when the raw
                     annotation has them (TVSum 1..5); None otherwise. Not part of the h5 schema:
                     attached from the shipped annotations (see ``vidsum.data.annotations``).
    """

    key: str
    features: np.ndarray
    gtscore: np.ndarray
    user_summary: np.ndarray
    change_points: np.ndarray
    n_frame_per_seg: np.ndarray
    n_frames: int
    picks: np.ndarray
    video_name: str | None = None
    user_scores: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_steps(self) -> int:
        return int(self.features.shape[0])

    @property
    def n_users(self) -> int:
        return int(self.user_summary.shape[0])

    @property
    def feature_dim(self) -> int:
        return int(self.features.shape[1])

    def problems(self) -> list[str]:
        """Every schema problem of this record (empty list when valid)."""
        return _video_problems(self.key, self._as_arrays())

    def _as_arrays(self) -> dict[str, np.ndarray]:
        return {
            "features": self.features,
            "gtscore": self.gtscore,
            "user_summary": self.user_summary,
            "change_points": self.change_points,
            "n_frame_per_seg": self.n_frame_per_seg,
            "n_frames": np.asarray(self.n_frames),
            "picks": self.picks,
            "n_steps": np.asarray(self.n_steps),
        }


def _video_problems(key: str, a: dict[str, np.ndarray]) -> list[str]:
    """Schema problems of one video given its raw arrays (missing keys already excluded)."""
    p: list[str] = []
    where = f"{key}"
    feats = np.asarray(a["features"])
    if feats.ndim != 2:
        p.append(f"{where}/features: expected 2-d (n_steps, D), got shape {feats.shape}")
        return p
    n_steps = feats.shape[0]
    if n_steps == 0:
        p.append(f"{where}/features: no steps")
        return p
    if not np.all(np.isfinite(feats)):
        bad = int(np.count_nonzero(~np.isfinite(feats)))
        p.append(f"{where}/features: {bad} NaN/inf values")
    n_frames_arr = np.asarray(a["n_frames"])
    if n_frames_arr.size != 1:
        p.append(f"{where}/n_frames: expected a scalar, got shape {n_frames_arr.shape}")
        return p
    n_frames = int(n_frames_arr.reshape(-1)[0])
    if n_frames <= 0:
        p.append(f"{where}/n_frames: must be positive, got {n_frames}")
        return p
    n_steps_decl = int(np.asarray(a["n_steps"]).reshape(-1)[0])
    if n_steps_decl != n_steps:
        p.append(f"{where}/n_steps: says {n_steps_decl} but features has {n_steps} steps")
    gts = np.asarray(a["gtscore"]).reshape(-1) if np.asarray(a["gtscore"]).ndim <= 2 else None
    if gts is None or gts.shape[0] != n_steps:
        p.append(f"{where}/gtscore: expected ({n_steps},), got shape {np.asarray(a['gtscore']).shape}")
    elif not np.all(np.isfinite(gts)):
        p.append(f"{where}/gtscore: NaN/inf values")
    us = np.asarray(a["user_summary"])
    if us.ndim != 2 or us.shape[1] != n_frames or us.shape[0] == 0:
        p.append(f"{where}/user_summary: expected (n_users, {n_frames}), got shape {us.shape}")
    elif not np.all((us == 0) | (us == 1)):
        p.append(f"{where}/user_summary: values must be 0/1")
    picks = np.asarray(a["picks"]).reshape(-1)
    if picks.shape[0] != n_steps:
        p.append(f"{where}/picks: expected ({n_steps},), got shape {picks.shape}")
    elif picks.min() < 0 or picks.max() >= n_frames:
        p.append(
            f"{where}/picks: out of range [0, {n_frames}): min {int(picks.min())}, max {int(picks.max())}"
        )
    elif np.any(np.diff(picks) <= 0):
        p.append(f"{where}/picks: not strictly increasing")
    cps = np.asarray(a["change_points"])
    if cps.ndim != 2 or cps.shape[1] != 2 or cps.shape[0] == 0:
        p.append(f"{where}/change_points: expected (n_shots, 2), got shape {cps.shape}")
    else:
        cps = cps.astype(np.int64)
        covers = (
            cps[0, 0] == 0
            and cps[-1, 1] == n_frames - 1
            and np.all(cps[:, 1] >= cps[:, 0])
            and np.all(cps[1:, 0] == cps[:-1, 1] + 1)
        )
        if not covers:
            p.append(
                f"{where}/change_points: shots do not cover frames 0..{n_frames - 1} contiguously "
                f"(first {cps[0].tolist()}, last {cps[-1].tolist()})"
            )
        nfps = np.asarray(a["n_frame_per_seg"]).reshape(-1)
        if nfps.shape[0] != cps.shape[0]:
            p.append(f"{where}/n_frame_per_seg: expected ({cps.shape[0]},), got shape {nfps.shape}")
        elif covers and not np.array_equal(nfps.astype(np.int64), cps[:, 1] - cps[:, 0] + 1):
            p.append(f"{where}/n_frame_per_seg: does not match change_points lengths")
    return p


def _read_group(key: str, g: h5py.Group) -> tuple[dict[str, np.ndarray], list[str]]:
    missing = [k for k in REQUIRED_KEYS if k not in g]
    if missing:
        return {}, [f"{key}: missing key(s) {', '.join(missing)}"]
    arrays = {k: g[k][()] for k in REQUIRED_KEYS}
    if "video_name" in g:
        name = g["video_name"][()]
        arrays["video_name"] = name.decode() if isinstance(name, bytes) else str(name)
    return arrays, []


def validate_file(path: str | os.PathLike) -> list[str]:
    """All schema problems of an eccv16 h5 file, one line each (empty list when valid)."""
    path = Path(path)
    if not path.exists():
        return [f"{path}: file not found"]
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        return [f"{path}: not a readable HDF5 file ({e})"]
    problems: list[str] = []
    dims: dict[int, str] = {}
    with f:
        keys = [k for k in f.keys() if isinstance(f[k], h5py.Group)]
        if not keys:
            return [f"{path}: no video groups"]
        for key in keys:
            arrays, p = _read_group(key, f[key])
            problems += p
            if arrays:
                problems += _video_problems(key, arrays)
                feats = arrays["features"]
                if feats.ndim == 2:
                    dims.setdefault(int(feats.shape[1]), key)
    if len(dims) > 1:
        desc = ", ".join(f"{d} (e.g. {k})" for d, k in sorted(dims.items()))
        problems.append(f"feature dimension differs across videos: {desc}")
    return problems


def read_file(path: str | os.PathLike, keys: list[str] | None = None) -> dict[str, Video]:
    """Read (and validate) an eccv16 h5 file into ``{key: Video}``, in natural key order.

    Raises SchemaError listing every problem, FileNotFoundError when the file is absent, and
    KeyError naming unknown keys when ``keys`` asks for videos the file lacks.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"eccv16 file not found: {path}")
    problems = validate_file(path)
    if problems:
        raise SchemaError(str(path), problems)
    videos: dict[str, Video] = {}
    with h5py.File(path, "r") as f:
        available = sorted((k for k in f.keys() if isinstance(f[k], h5py.Group)), key=natural_key)
        wanted = available if keys is None else list(keys)
        unknown = [k for k in wanted if k not in f]
        if unknown:
            raise KeyError(f"{path}: unknown video key(s) {', '.join(unknown)}")
        for key in wanted:
            arrays, _ = _read_group(key, f[key])
            videos[key] = Video(
                key=key,
                features=np.asarray(arrays["features"], dtype=np.float32),
                gtscore=np.asarray(arrays["gtscore"], dtype=np.float32).reshape(-1),
                user_summary=np.asarray(arrays["user_summary"]).astype(np.uint8),
                change_points=np.asarray(arrays["change_points"], dtype=np.int64),
                n_frame_per_seg=np.asarray(arrays["n_frame_per_seg"], dtype=np.int64).reshape(-1),
                n_frames=int(np.asarray(arrays["n_frames"]).reshape(-1)[0]),
                picks=np.asarray(arrays["picks"], dtype=np.int64).reshape(-1),
                video_name=arrays.get("video_name"),
            )
    return videos


def read_attrs(path: str | os.PathLike) -> dict[str, str]:
    """File-level attributes (the stand-in builder records ``features=generated`` there)."""
    with h5py.File(path, "r") as f:
        return {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in f.attrs.items()}


def write_file(
    path: str | os.PathLike, videos: dict[str, Video] | list[Video], attrs: dict[str, str] | None = None
) -> Path:
    """Write videos in the eccv16 schema, atomically (temp file in the same folder, then rename).

    Every video is validated first; an invalid one raises SchemaError and nothing is written.
    """
    path = Path(path)
    vids = list(videos.values()) if isinstance(videos, dict) else list(videos)
    problems = [p for v in vids for p in v.problems()]
    dims = {v.feature_dim for v in vids}
    if len(dims) > 1:
        problems.append(f"feature dimension differs across videos: {sorted(dims)}")
    if problems:
        raise SchemaError(str(path), problems)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            for k, v in (attrs or {}).items():
                f.attrs[k] = v
            for v in vids:
                g = f.create_group(v.key)
                g["features"] = v.features.astype(np.float32)
                g["gtscore"] = v.gtscore.astype(np.float32)
                # eccv16 stores floats; gzip keeps the mostly-zero matrix small (lossless).
                g.create_dataset("user_summary", data=v.user_summary.astype(np.float32), compression="gzip")
                g["change_points"] = v.change_points.astype(np.int32)
                g["n_frame_per_seg"] = v.n_frame_per_seg.astype(np.int32)
                g["n_frames"] = np.int32(v.n_frames)
                g["picks"] = v.picks.astype(np.int32)
                g["n_steps"] = np.int32(v.n_steps)
                if v.video_name is not None:
                    g["video_name"] = v.video_name.encode()
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def natural_key(key: str) -> tuple:
    """Sort key so that video_2 comes before video_10."""
    head, _, tail = key.rpartition("_")
    return (head, int(tail)) if tail.isdigit() else (key, -1)
