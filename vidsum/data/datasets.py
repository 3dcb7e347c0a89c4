"""Find and load a benchmark dataset: the real eccv16 file when the user has it, else the stand-in.

Resolution of the data folder: ``--data-dir``, then ``$VIDSUM_DATA``, then ``./data``.
In it, ``eccv16_dataset_{summe,tvsum}_google_pool5.h5`` is the real file. Without it, a stand-in
(real annotations + generated features, see ``vidsum.data.standin``) is built once into
``<data dir>/standin/`` and used, with a loud warning; every result made from it is tagged
``features=generated``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidsum.data import annotations
from vidsum.data.download import real_h5_path, resolve_data_dir
from vidsum.data.eccv16 import Video, read_attrs, read_file

DATASETS = annotations.DATASETS


@dataclass
class Dataset:
    """A loaded dataset. features_kind is 'real' or 'generated' and travels into every result row,
    with the stand-in's ``cue`` and ``strength`` (None for real features): :meth:`row_tags`."""

    name: str
    videos: dict[str, Video]
    features_kind: str
    path: Path
    cue: str | None = None
    strength: float | None = None

    @property
    def feature_dim(self) -> int:
        return next(iter(self.videos.values())).feature_dim

    def row_tags(self) -> dict[str, object]:
        """The leaderboard columns that say what data a row was measured on."""
        return {"features": self.features_kind, "cue": self.cue, "strength": self.strength}


def standin_path(dataset: str, data_dir: Path, strength: float, seed: int, feature_dim: int,
                 cue: str = "events") -> Path:
    from vidsum.data.standin import standin_filename

    return data_dir / "standin" / standin_filename(dataset, strength, seed, feature_dim, cue)


def generated_tags(attrs: dict[str, str]) -> tuple[str | None, float | None]:
    """(cue, strength) from a stand-in file's attributes; (None, None) for real features.
    A generated file without a cue attribute is builder version 2: cue 'events'."""
    if attrs.get("features") != "generated":
        return None, None
    strength = attrs.get("strength")
    return attrs.get("cue", "events"), None if strength is None else float(strength)


def attach_user_scores(dataset: str, videos: dict[str, Video]) -> None:
    """Attach the real per-user TVSum scores (1..5) used for Kendall/Spearman.

    The eccv16 TVSum groups follow the annotation file's line order; a video whose frame count
    does not match its annotation keeps ``user_scores=None`` (correlation then falls back to
    the 0/1 user summaries) and a warning names it.
    """
    if dataset != "tvsum":
        return
    ann = annotations.by_key("tvsum")
    for key, v in videos.items():
        a = ann.get(key)
        if a is not None and a.n_frames == v.n_frames:
            v.user_scores = a.user_scores.astype(np.float32)
        else:
            print(f"warning: {key}: no matching TVSum annotation; tau/rho use user_summary", file=sys.stderr)


def load_dataset(
    dataset: str,
    data_dir: str | Path | None = None,
    *,
    allow_standin: bool = True,
    strength: float | None = None,
    seed: int = 0,
    feature_dim: int = 1024,
    quiet: bool = False,
    cue: str | None = None,
) -> Dataset:
    """Load ``dataset`` ('summe' | 'tvsum') from the resolved data folder (see module docstring).

    strength, seed, feature_dim, cue: which stand-in to use when the real file is absent
    (``vidsum.data.standin``; cue None = 'events', strength None = its default). With the real
    file they are ignored (a bad cue is still an error)."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    from vidsum.data.standin import DEFAULT_CUE, check_cue

    cue = check_cue(DEFAULT_CUE if cue is None else cue)
    data_dir = resolve_data_dir(None if data_dir is None else str(data_dir))
    real = real_h5_path(dataset, data_dir)
    if real.exists():
        videos = read_file(real)
        attrs = read_attrs(real)
        kind = attrs.get("features", "real")
        attach_user_scores(dataset, videos)
        return Dataset(dataset, videos, kind, real, *generated_tags(attrs))
    if not allow_standin:
        raise FileNotFoundError(
            f"{real} not found; get it with `vidsum data download --dataset {dataset}` "
            f"or point --data-dir / VIDSUM_DATA at the folder holding it"
        )
    from vidsum.data.standin import DEFAULT_STRENGTH, build_standin, check_strength

    strength = check_strength(DEFAULT_STRENGTH if strength is None else strength)
    path = standin_path(dataset, data_dir, strength, seed, feature_dim, cue)
    if not quiet:
        print(
            f"\n*** {real.name} not found in {data_dir}: using the STAND-IN {dataset} dataset "
            f"(real annotations, GENERATED features, cue {cue}, strength {strength:g}).\n"
            f"*** Results are tagged features=generated and say nothing about real-video accuracy.\n",
            file=sys.stderr,
        )
    if not path.exists():
        build_standin(dataset, path, strength=strength, feature_dim=feature_dim, seed=seed, cue=cue)
    videos = read_file(path)
    attach_user_scores(dataset, videos)
    return Dataset(dataset, videos, "generated", path, cue, strength)
