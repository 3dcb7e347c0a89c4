"""Train/test splits for SumMe and TVSum: the published split files and a seeded k-fold.

Split sets (``load_splits(dataset, split_set)``):

    standard   PGL-SUM / CA-SUM JSON (e-apostolidis), the splits most recent papers report on
    vasnet     VASNet JSON (ok1zjf), different random splits, same format
    dsnet      DSNet YAML (li-plus), keys are ``<h5 path>/video_N``
    kfold      built here: a seeded partition in which every video is tested exactly once

The three published sets are 5 *random* 80/20 splits, not a 5-fold partition: some videos are
tested several times and some never (standard: 7 of 25 SumMe and 16 of 50 TVSum videos are
never tested, see :func:`coverage`). The files ship with the package (``splits/``, byte-for-byte
copies, origin and sha256 in ``splits/SOURCES.json``); nothing here reads outside the package.

Keys are eccv16 h5 group names (``video_1`` ...). Model selection and tuning use
:func:`validation_holdout` on a fold's train keys, never its test keys.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

import numpy as np
import yaml

from vidsum.data.eccv16 import natural_key

DATASETS = ("summe", "tvsum")
SPLIT_SETS = ("standard", "vasnet", "dsnet", "kfold")
N_VIDEOS = {"summe": 25, "tvsum": 50}

# split set -> shipped file name pattern (flat names so that package-data "data/splits/*" ships them)
_SHIPPED = {
    "standard": "standard_{dataset}_splits.json",
    "vasnet": "vasnet_{dataset}_splits.json",
    "dsnet": "dsnet_{dataset}.yml",
}


@dataclass(frozen=True)
class Split:
    """One train/test split. Keys are kept in the order given (lists are turned into tuples)."""

    train_keys: tuple[str, ...]
    test_keys: tuple[str, ...]

    def __post_init__(self) -> None:
        for name in ("train_keys", "test_keys"):
            keys = getattr(self, name)
            if isinstance(keys, str) or not isinstance(keys, Iterable):
                raise ValueError(f"Split.{name} must be a sequence of keys, got {type(keys).__name__}")
            keys = tuple(keys)
            object.__setattr__(self, name, keys)
            if not keys:
                raise ValueError(f"Split.{name} is empty")
            bad = [k for k in keys if not isinstance(k, str) or not k]
            if bad:
                raise ValueError(f"Split.{name} holds non-string or empty keys: {bad[:5]}")
            dup = sorted({k for k in keys if keys.count(k) > 1}, key=natural_key)
            if dup:
                raise ValueError(f"Split.{name} repeats keys: {dup}")
        both = sorted(set(self.train_keys) & set(self.test_keys), key=natural_key)
        if both:
            raise ValueError(f"Split train_keys and test_keys overlap: {both}")


# ---------------------------------------------------------------------------------------------
# readers


def _splits_from_records(records: object, source: str, normalize=lambda k: k) -> list[Split]:
    """records: a list of maps {train_keys: [...], test_keys: [...]} -> list[Split] (errors name source)."""
    if not isinstance(records, list) or not records:
        raise ValueError(f"{source}: expected a non-empty list of {{train_keys, test_keys}} maps, "
                         f"got {type(records).__name__}")
    splits = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise ValueError(f"{source}: split {i} is a {type(rec).__name__}, expected a map")
        for name in ("train_keys", "test_keys"):
            if name not in rec:
                raise ValueError(f"{source}: split {i} has no '{name}' (keys: {sorted(rec)})")
            if not isinstance(rec[name], list) or not all(isinstance(k, str) for k in rec[name]):
                raise ValueError(f"{source}: split {i} '{name}' must be a list of strings")
        try:
            splits.append(Split(tuple(map(normalize, rec["train_keys"])),
                                tuple(map(normalize, rec["test_keys"]))))
        except ValueError as e:
            raise ValueError(f"{source}: split {i}: {e}") from None
    return splits


def read_json_splits(path: str | os.PathLike) -> list[Split]:
    """PGL-SUM / CA-SUM / VASNet JSON: a list of ``{"train_keys": [...], "test_keys": [...]}``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"split file not found: {path}")
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON: {e}") from None
    return _splits_from_records(records, str(path))


def _dsnet_key_parts(key: str, source: str) -> tuple[str, str]:
    """'../datasets/eccv16_dataset_summe_google_pool5.h5/video_22' -> ('eccv16_dataset_summe_google_pool5', 'video_22')."""
    h5_path, sep, group = key.rpartition("/")
    if not sep or not h5_path or not group:
        raise ValueError(f"{source}: key {key!r} is not '<h5 path>/<video group>' (DSNet format)")
    h5_name = PurePosixPath(h5_path).name
    return (h5_name[:-3] if h5_name.endswith(".h5") else h5_name), group


def read_dsnet_yaml(path: str | os.PathLike) -> list[Split]:
    """DSNet YAML: a list of ``{train_keys, test_keys}`` with keys ``<h5 path>/video_N``.

    When every key comes from one h5 file (summe.yml, tvsum.yml) keys become ``video_N``; when the
    file mixes datasets (the *_aug / *_trans files) they become ``<h5 stem>/video_N``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"split file not found: {path}")
    try:
        records = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid YAML: {e}") from None
    # Validate the shape first (clear error), then look at all keys to pick the normalization.
    _splits_from_records(records, str(path))
    stems = {
        _dsnet_key_parts(k, str(path))[0]
        for rec in records for name in ("train_keys", "test_keys") for k in rec[name]
    }

    def normalize(key: str) -> str:
        stem, group = _dsnet_key_parts(key, str(path))
        return group if len(stems) == 1 else f"{stem}/{group}"

    return _splits_from_records(records, str(path), normalize)


# ---------------------------------------------------------------------------------------------
# k-fold and holdout


def _unique_sorted(keys: Iterable[str], what: str) -> list[str]:
    keys = list(keys)
    bad = [k for k in keys if not isinstance(k, str) or not k]
    if bad:
        raise ValueError(f"{what}: keys must be non-empty strings, got {bad[:5]}")
    dup = sorted({k for k in keys if keys.count(k) > 1}, key=natural_key)
    if dup:
        raise ValueError(f"{what}: repeated keys {dup}")
    # Sorted first so the result depends on the set of keys and the seed, not on input order.
    return sorted(keys, key=natural_key)


def kfold_partition(keys: Iterable[str], k: int = 5, seed: int = 0) -> list[Split]:
    """Seeded k-fold: every key is a test key in exactly one fold; fold sizes differ by at most 1.

    Keys inside each Split are in natural order (video_2 before video_10).
    """
    keys = _unique_sorted(keys, "kfold_partition")
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ValueError(f"kfold_partition: k must be an integer >= 2, got {k!r}")
    if k > len(keys):
        raise ValueError(f"kfold_partition: k={k} folds need at least {k} keys, got {len(keys)}")
    order = np.random.default_rng(seed).permutation(len(keys))
    shuffled = [keys[i] for i in order]
    splits = []
    for fold in range(k):
        test = set(shuffled[fold::k])  # striding gives fold sizes floor(n/k) or ceil(n/k)
        splits.append(Split(
            train_keys=tuple(x for x in keys if x not in test),
            test_keys=tuple(x for x in keys if x in test),
        ))
    return splits


def validation_holdout(
    train_keys: Sequence[str], fraction: float = 0.2, seed: int = 0
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split a fold's train keys into (train, val) for model selection and tuning.

    The test keys of the fold never enter: pass ``split.train_keys`` only. ``round(fraction * n)``
    videos go to val, clipped so that both parts hold at least one video. Seeded, natural order.
    """
    keys = _unique_sorted(train_keys, "validation_holdout")
    if len(keys) < 2:
        raise ValueError(f"validation_holdout: need at least 2 train keys to hold one out, got {len(keys)}")
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation_holdout: fraction must be in (0, 1), got {fraction!r}")
    n_val = min(max(1, round(fraction * len(keys))), len(keys) - 1)
    order = np.random.default_rng(seed).permutation(len(keys))
    val = {keys[i] for i in order[:n_val]}
    return tuple(x for x in keys if x not in val), tuple(x for x in keys if x in val)


# ---------------------------------------------------------------------------------------------
# shipped split sets


def shipped_split_path(dataset: str, split_set: str) -> Path:
    """Path of the shipped split file for a published split set (not 'kfold')."""
    _check_names(dataset, split_set)
    if split_set not in _SHIPPED:
        raise ValueError(f"split set {split_set!r} is built, not shipped; shipped: {', '.join(_SHIPPED)}")
    name = _SHIPPED[split_set].format(dataset=dataset)
    return Path(str(resources.files("vidsum.data") / "splits" / name))


def _check_names(dataset: str, split_set: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    if split_set not in SPLIT_SETS:
        raise ValueError(f"unknown split set {split_set!r}; expected one of {', '.join(SPLIT_SETS)}")


def load_splits(
    dataset: str,
    split_set: str = "standard",
    k: int = 5,
    seed: int = 0,
    keys: Iterable[str] | None = None,
) -> list[Split]:
    """The splits of ``dataset`` ('summe' | 'tvsum') in ``split_set``.

    kfold: a seeded k-fold over ``keys`` (default video_1..video_N, N = 25 SumMe / 50 TVSum).
    standard / vasnet / dsnet: read from the shipped files (k and seed unused); when ``keys``
    (the videos a data file holds) is given, every split is checked against it (KeyError).
    """
    _check_names(dataset, split_set)
    if split_set == "kfold":
        if keys is None:
            keys = [f"video_{i}" for i in range(1, N_VIDEOS[dataset] + 1)]
        return kfold_partition(keys, k=k, seed=seed)
    path = shipped_split_path(dataset, split_set)
    splits = read_dsnet_yaml(path) if split_set == "dsnet" else read_json_splits(path)
    if keys is not None:
        keys = set(keys)
        for split in splits:
            check_keys(split, keys)
    return splits


def get_split(dataset: str, split_set: str, index: int, **kwargs) -> Split:
    """Split number ``index`` (0-based) of ``load_splits(dataset, split_set, **kwargs)``."""
    splits = load_splits(dataset, split_set, **kwargs)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(splits):
        raise IndexError(
            f"split index {index!r} out of range for {dataset}/{split_set}: valid 0..{len(splits) - 1}"
        )
    return splits[index]


def check_keys(split: Split, available_keys: Iterable[str]) -> None:
    """Raise KeyError naming the split's keys that the data file does not have."""
    available = set(available_keys)
    missing = sorted(
        (set(split.train_keys) | set(split.test_keys)) - available, key=natural_key
    )
    if missing:
        raise KeyError(
            f"{len(missing)} split key(s) not in the data file: {missing} "
            f"(the file has {len(available)} videos)"
        )


def coverage(splits: Sequence[Split], all_keys: Iterable[str]) -> dict[str, int]:
    """How many times each of ``all_keys`` is a test key across ``splits`` (0 = never tested).

    Test keys outside ``all_keys`` raise KeyError (the splits belong to another dataset).
    """
    counts = {key: 0 for key in sorted(set(all_keys), key=natural_key)}
    for i, split in enumerate(splits):
        unknown = sorted(set(split.test_keys) - counts.keys(), key=natural_key)
        if unknown:
            raise KeyError(f"split {i} tests keys not in all_keys: {unknown}")
        for key in split.test_keys:
            counts[key] += 1
    return counts
