"""Parquet leaderboards: three tables in one results folder, appended atomically.

Every run appends rows to ``<results>/{folds,videos,trials}.parquet`` with :func:`append_rows`.
A row whose primary key is already in the table REPLACES the old row (re-running a fold never
duplicates it). Each append is a locked read-modify-write (``fcntl.flock`` on
``<results>/.<table>.lock``, so concurrent appenders on one machine never lose rows) that
writes a temp file in the same folder and ``os.replace``-s it over the table (a crash mid-write
leaves the old file intact). Nothing here imports Ray.

``folds.parquet`` — one row per (run, method, dataset, fold, seed, selection);
primary key: run_id, method, dataset, fold, seed, selection.

    ==============  ==================  =====================================================
    column          type                meaning
    ==============  ==================  =====================================================
    run_id          string              one invocation (:func:`new_run_id`)
    method          string              ``trsum``, ``sgvs``, ``drdsn``, ``human``, ``random``
    dataset         string              ``summe`` | ``tvsum``
    features        string              ``real`` (eccv16 file) | ``generated`` (stand-in)
    cue             string, nullable    stand-in cue ``events`` | ``text`` | ``mixed``; null for
                                        real features (and rows written before cues existed)
    strength        float64, nullable   stand-in planted strength in [0, 1]; null as cue
    split_set       string              ``standard`` | ``kfold`` | ... (which split file)
    fold            int64               fold index within the split set
    seed            int64               training / sampling seed
    selection       string              ``label_free`` | ``validation`` | ``oracle`` | ``none``
    f1              float64             F-score on the fold's test videos
    precision       float64, nullable   matching precision
    recall          float64, nullable   matching recall
    kendall_tau     float64, nullable   Kendall tau (convention in ``corr_convention``)
    spearman_rho    float64, nullable   Spearman rho (same convention)
    corr_convention string, nullable    how tau/rho were computed (e.g. ``otani2019``)
    n_videos        int64, nullable     test videos in the fold
    config          string, nullable    the run's config as JSON (dicts are serialised)
    commit          string, nullable    short git hash of the code (:func:`git_commit`)
    started_at      timestamp[us, UTC]  when the run started (tz-aware; naive is refused)
    wall_s          float64, nullable   wall-clock seconds of the fold
    tvn             float64, nullable   stability: filled by later work
    ms              float64, nullable   stability: filled by later work
    rauc            float64, nullable   stability: filled by later work
    ==============  ==================  =====================================================

``videos.parquet`` — one row per video of a fold; primary key: the folds key + video.

    ==============  ==================  =====================================================
    column          type                meaning
    ==============  ==================  =====================================================
    run_id .. selection                 as in folds (required but cue, strength)
    video           string              eccv16 key, e.g. ``video_7``
    n_frames        int64               frames in the original video
    f1              float64             F-score of this video
    kendall_tau     float64, nullable   Kendall tau of this video
    spearman_rho    float64, nullable   Spearman rho of this video
    ==============  ==================  =====================================================

``trials.parquet`` — one row per hyperparameter trial; primary key: run_id, fold, trial_id.

    ==============  ==================  =====================================================
    column          type                meaning
    ==============  ==================  =====================================================
    run_id .. fold                      as in folds (no seed / selection; cue, strength nullable)
    trial_id        string              Tune / Optuna trial id
    params          string              the trial's parameters as JSON (give a dict)
    objective       float64, nullable   the value the search optimised (null if it failed)
    status          string              e.g. ``TERMINATED``, ``ERROR``
    wall_s          float64, nullable   wall-clock seconds of the trial
    param_<name>    bool/int64/float64/ one column per parameter, derived from ``params``;
                    string, nullable    the union over all appends (missing -> null);
                                        ints widen to float when a later trial has a float
    ==============  ==================  =====================================================

Required columns are non-nullable; a missing one, an unknown column, or a value of the wrong
type is a ``ValueError`` naming the table, row and column. In nullable columns None (or NaN,
in non-float columns) means null.

README snippet (the leaderboard needs nothing but pandas to read)::

    import pandas as pd
    folds = pd.read_parquet("results/folds.parquet")
    print(folds.groupby(["method", "dataset"])[["f1", "kendall_tau", "spearman_rho"]].agg(["mean", "std"]))
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import math
import os
import secrets
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

TABLES = ("trials", "folds", "videos")
FEATURES = ("real", "generated")
CUES = ("events", "text", "mixed")  # vidsum.data.standin.CUES (not imported: no numpy/scipy data code here)
SELECTIONS = ("label_free", "validation", "oracle", "none")
PARAM_PREFIX = "param_"
TIMESTAMP = pa.timestamp("us", tz="UTC")

# Columns with a closed set of values, and string columns that hold JSON.
_CHOICES = {"features": FEATURES, "selection": SELECTIONS, "cue": CUES}
_JSON_COLUMNS = {"config", "params"}


def _required(name: str, arrow_type: pa.DataType) -> pa.Field:
    return pa.field(name, arrow_type, nullable=False)


def _optional(name: str, arrow_type: pa.DataType) -> pa.Field:
    return pa.field(name, arrow_type, nullable=True)


_RUN_FIELDS = [
    _required("run_id", pa.string()),
    _required("method", pa.string()),
    _required("dataset", pa.string()),
    _required("features", pa.string()),
    _optional("cue", pa.string()),
    _optional("strength", pa.float64()),
    _required("split_set", pa.string()),
    _required("fold", pa.int64()),
]
_FOLD_KEY_FIELDS = [*_RUN_FIELDS, _required("seed", pa.int64()), _required("selection", pa.string())]

FOLDS_SCHEMA = pa.schema(
    [
        *_FOLD_KEY_FIELDS,
        _required("f1", pa.float64()),
        _optional("precision", pa.float64()),
        _optional("recall", pa.float64()),
        _optional("kendall_tau", pa.float64()),
        _optional("spearman_rho", pa.float64()),
        _optional("corr_convention", pa.string()),
        _optional("n_videos", pa.int64()),
        _optional("config", pa.string()),
        _optional("commit", pa.string()),
        _optional("started_at", TIMESTAMP),
        _optional("wall_s", pa.float64()),
        _optional("tvn", pa.float64()),
        _optional("ms", pa.float64()),
        _optional("rauc", pa.float64()),
    ]
)
VIDEOS_SCHEMA = pa.schema(
    [
        *_FOLD_KEY_FIELDS,
        _required("video", pa.string()),
        _required("n_frames", pa.int64()),
        _required("f1", pa.float64()),
        _optional("kendall_tau", pa.float64()),
        _optional("spearman_rho", pa.float64()),
    ]
)
# The fixed part only: param_<name> columns are appended per file (see _param_fields).
TRIALS_SCHEMA = pa.schema(
    [
        *_RUN_FIELDS,
        _required("trial_id", pa.string()),
        _required("params", pa.string()),
        _optional("objective", pa.float64()),
        _required("status", pa.string()),
        _optional("wall_s", pa.float64()),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {"trials": TRIALS_SCHEMA, "folds": FOLDS_SCHEMA, "videos": VIDEOS_SCHEMA}
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "folds": ("run_id", "method", "dataset", "fold", "seed", "selection"),
    "videos": ("run_id", "method", "dataset", "fold", "seed", "selection", "video"),
    "trials": ("run_id", "fold", "trial_id"),
}

# Kinds of param_<name> columns, and how they widen when appends disagree.
_PARAM_ARROW = {
    "null": pa.null(), "bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(), "string": pa.string()
}


# ---------------------------------------------------------------------------------------------
# small helpers


def table_path(results_dir: str | os.PathLike, table: str) -> Path:
    """``<results_dir>/<table>.parquet`` for a known table name."""
    return Path(results_dir) / f"{_check_table(table)}.parquet"


def _check_table(table: str) -> str:
    if table not in SCHEMAS:
        raise ValueError(f"unknown leaderboard table {table!r}; expected one of {list(TABLES)}")
    return table


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_missing(value: Any) -> bool:
    """None, pd.NA, pd.NaT, or a float NaN (pandas' stand-in for null)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def _json_default(value: Any) -> Any:
    """Let json.dumps take numpy scalars and arrays (common in configs)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def utc_now() -> dt.datetime:
    """The current time, timezone-aware in UTC (what ``started_at`` expects)."""
    return dt.datetime.now(dt.timezone.utc)


def new_run_id() -> str:
    """A sortable, unique run id: UTC timestamp + 6 random hex digits, e.g. ``20250101T120000Z-3fa2c1``."""
    return f"{utc_now():%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def git_commit() -> str:
    """Short hash of HEAD of the git checkout this code runs from, or ``'unknown'``.

    'unknown' when git is missing, the code is not in a checkout (a plain pip install), or git
    fails for any other reason: a results row must never fail to be written because of it.
    """
    here = Path(__file__).resolve().parent
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    sha = proc.stdout.strip()
    if proc.returncode != 0 or not sha or any(c not in "0123456789abcdef" for c in sha):
        return "unknown"
    return sha


# ---------------------------------------------------------------------------------------------
# row validation -> Arrow


def _convert(table: str, i: int, field: pa.Field, value: Any) -> Any:
    """One cell, checked against its field and converted to what pyarrow takes; ValueError otherwise."""
    name, where = field.name, f"{table} row {i}: column {field.name!r}"
    # Float columns keep NaN as a value (an undefined metric); elsewhere NaN / NA / NaT mean null.
    missing = (value is None or value is pd.NA) if pa.types.is_floating(field.type) else _is_missing(value)
    if missing:
        if not field.nullable:
            raise ValueError(f"{where} is required, got {_short(value)}")
        return None
    if name in _JSON_COLUMNS:
        return _to_json(where, value)
    kind = field.type
    if pa.types.is_string(kind):
        if not isinstance(value, str):
            raise ValueError(f"{where} must be str, got {type(value).__name__} {_short(value)}")
        if name in _CHOICES and value not in _CHOICES[name]:
            raise ValueError(f"{where} must be one of {list(_CHOICES[name])}, got {value!r}")
        if not value and not field.nullable:
            raise ValueError(f"{where} must be a non-empty string")
        return value
    if pa.types.is_integer(kind):
        if isinstance(value, bool | np.bool_):
            raise ValueError(f"{where} must be int, got bool {value!r}")
        if isinstance(value, int | np.integer):
            return int(value)
        # Integral floats appear when pandas reads a nullable int column back; accept those.
        if isinstance(value, float | np.floating) and float(value).is_integer():
            return int(value)
        raise ValueError(f"{where} must be int, got {type(value).__name__} {_short(value)}")
    if pa.types.is_floating(kind):
        is_number = isinstance(value, int | float | np.integer | np.floating)
        if isinstance(value, bool | np.bool_) or not is_number:
            raise ValueError(f"{where} must be a number, got {type(value).__name__} {_short(value)}")
        return float(value)
    if pa.types.is_timestamp(kind):
        return _to_utc(where, value)
    raise AssertionError(f"no converter for {kind}")  # a schema bug, not bad input


def _to_json(where: str, value: Any) -> str:
    """A dict/list is serialised (sorted keys); a str must already be valid JSON."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except json.JSONDecodeError as e:
            raise ValueError(f"{where} must be JSON, got {_short(value)} ({e.msg})") from None
        return value
    if isinstance(value, Mapping | list | tuple):
        try:
            return json.dumps(value, sort_keys=True, default=_json_default)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where} is not JSON serialisable: {e}") from None
    raise ValueError(f"{where} must be a dict or a JSON string, got {type(value).__name__}")


def _to_utc(where: str, value: Any) -> dt.datetime:
    """A tz-aware datetime (or ISO string with an offset) -> datetime in UTC."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{where} must be an ISO timestamp, got {_short(value)}") from None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime(warn=False)
    if not isinstance(value, dt.datetime):
        raise ValueError(f"{where} must be a datetime, got {type(value).__name__} {_short(value)}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{where} is a naive datetime; give a timezone (e.g. leaderboard.utc_now())")
    return value.astimezone(dt.timezone.utc)


def _param_kind(value: Any) -> str:
    if _is_missing(value):
        return "null"
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, int | np.integer):
        return "int"
    if isinstance(value, float | np.floating):
        return "float"
    return "string"  # str as is; lists / dicts as JSON text


def _widen(column: str, a: str, b: str) -> str:
    """The kind that holds both a and b: null < int < float; anything else must match."""
    if a == b or b == "null":
        return a
    if a == "null":
        return b
    if {a, b} == {"int", "float"}:
        return "float"
    raise ValueError(f"trials column {column!r} mixes {a} and {b} values; give one type per parameter")


def _kind_of(arrow_type: pa.DataType) -> str:
    if pa.types.is_null(arrow_type):
        return "null"
    if pa.types.is_boolean(arrow_type):
        return "bool"
    if pa.types.is_integer(arrow_type):
        return "int"
    if pa.types.is_floating(arrow_type):
        return "float"
    return "string"


def _param_cell(value: Any) -> Any:
    if _is_missing(value):
        return None
    kind = _param_kind(value)
    if kind == "string":
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=_json_default)
    return value.item() if isinstance(value, np.generic) else value


def _param_columns(
    rows: Sequence[Mapping[str, Any]], params: list[dict[str, Any]]
) -> dict[str, tuple[str, list[Any]]]:
    """param_<name> -> (kind, cells) for every parameter seen in this batch.

    An explicit ``param_<name>`` key in a row must agree with ``params`` (it is derived from it).
    """
    names = sorted({name for p in params for name in p})
    columns: dict[str, tuple[str, list[Any]]] = {}
    for name in names:
        column = PARAM_PREFIX + name
        values = [p.get(name) for p in params]
        kind = "null"
        for value in values:
            kind = _widen(column, kind, _param_kind(value))
        columns[column] = (kind, [_param_cell(v) for v in values])
    for i, row in enumerate(rows):
        for key in row:
            if not key.startswith(PARAM_PREFIX):
                continue
            derived = columns.get(key, ("null", [None] * len(rows)))[1][i]
            given = _param_cell(row[key])
            if given != derived:
                raise ValueError(
                    f"trials row {i}: column {key!r} = {_short(row[key])} disagrees with params "
                    f"({_short(derived)}); param_ columns are derived from params"
                )
    return columns


def _rows_to_arrow(table: str, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Validate rows against the table's schema; the result has the schema (+ param columns)."""
    if isinstance(rows, Mapping | str | bytes) or not isinstance(rows, Sequence):
        raise ValueError(f"{table}: rows must be a list of dicts, got {type(rows).__name__}")
    if not rows:
        raise ValueError(f"{table}: no rows to append")
    schema = SCHEMAS[table]
    known = set(schema.names)
    rows = list(rows)
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"{table} row {i} must be a dict, got {type(row).__name__}")
        for key in row:
            if not isinstance(key, str):
                raise ValueError(f"{table} row {i}: column names must be str, got {key!r}")
            if key not in known and not (table == "trials" and key.startswith(PARAM_PREFIX)):
                raise ValueError(f"{table} row {i}: unknown column {key!r}; known columns: {schema.names}")
        missing = [f.name for f in schema if not f.nullable and f.name not in row]
        if missing:
            raise ValueError(f"{table} row {i}: missing required column {missing[0]!r}")

    arrays = []
    for field in schema:
        cells = [_convert(table, i, field, row.get(field.name)) for i, row in enumerate(rows)]
        arrays.append(pa.array(cells, type=field.type))
    fields = list(schema)
    if table == "trials":
        params = [json.loads(cell) for cell in arrays[schema.get_field_index("params")].to_pylist()]
        for i, p in enumerate(params):
            if not isinstance(p, dict):
                raise ValueError(f"trials row {i}: column 'params' must be a JSON object, got {_short(p)}")
        for column, (kind, cells) in _param_columns(rows, params).items():
            fields.append(_optional(column, _PARAM_ARROW[kind]))
            arrays.append(pa.array(cells, type=_PARAM_ARROW[kind]))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


# ---------------------------------------------------------------------------------------------
# schema reconciliation, dedupe, atomic write


def _param_fields(*tables: pa.Table) -> list[pa.Field]:
    """The union of param_<name> columns over tables, each at the widest kind seen."""
    kinds: dict[str, str] = {}
    for t in tables:
        for field in t.schema:
            if field.name.startswith(PARAM_PREFIX) and field.name not in TRIALS_SCHEMA.names:
                kinds[field.name] = _widen(field.name, kinds.get(field.name, "null"), _kind_of(field.type))
    return [_optional(name, _PARAM_ARROW[kinds[name]]) for name in sorted(kinds)]


def _target_schema(table: str, *tables: pa.Table) -> pa.Schema:
    schema = SCHEMAS[table]
    return pa.schema([*schema, *_param_fields(*tables)]) if table == "trials" else schema


def _conform(table: pa.Table, schema: pa.Schema, source: str) -> pa.Table:
    """Reorder / cast / null-fill table's columns to schema; refuse what would lose information."""
    extra = [n for n in table.column_names if n not in schema.names]
    if extra:
        raise ValueError(f"{source}: unexpected column(s) {extra} (written by a newer vidsum?)")
    columns = []
    for field in schema:
        if field.name not in table.column_names:
            if not field.nullable:
                raise ValueError(f"{source}: lacks required column {field.name!r}")
            columns.append(pa.nulls(table.num_rows, field.type))
            continue
        column = table[field.name]
        if not field.nullable and column.null_count:
            raise ValueError(f"{source}: required column {field.name!r} has {column.null_count} null(s)")
        if column.type != field.type:
            try:
                column = column.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise ValueError(
                    f"{source}: column {field.name!r} is {column.type}, expected {field.type}: {e}"
                ) from None
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=schema)


def _keep_last(table: pa.Table, key: Sequence[str]) -> pa.Table:
    """Drop every row whose key appears again later: a re-appended key replaces the old row."""
    keys = table.select(list(key)).to_pandas()
    return table.filter(pa.array(~keys.duplicated(keep="last").to_numpy()))


def _read_parquet(path: Path) -> pa.Table:
    """Read through ONE open handle: a concurrent os.replace swaps the name, never our inode.

    (Reading by path lets pyarrow open the file more than once; a replace in between gives
    "Unexpected end of stream" — measured with two writers and a reader.)
    """
    with open(path, "rb") as f:
        return pq.read_table(f)


def _write_parquet(table: pa.Table, sink: BinaryIO) -> None:
    """The one place bytes are written (tests patch it to simulate a crash)."""
    pq.write_table(table, sink)


def _write_atomic(table: pa.Table, path: Path) -> None:
    """Write to a temp file in path's folder, fsync, then os.replace: readers see old or new, never half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            _write_parquet(table, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def _locked(results_dir: Path, table: str) -> Iterator[None]:
    """Exclusive lock for one table's read-modify-write. The lock file stays (deleting it would race)."""
    with open(results_dir / f".{table}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------------
# public API


def append_rows(results_dir: str | os.PathLike, table: str, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Validate rows, merge them into ``<results_dir>/<table>.parquet`` and return its path.

    table: ``'trials'`` | ``'folds'`` | ``'videos'``; rows: list of dicts, column -> value.
    A row whose primary key (``PRIMARY_KEYS[table]``) exists replaces the old row; within one
    call the last row with a key wins. Everything is validated before the file is touched.
    """
    table = _check_table(table)
    new = _rows_to_arrow(table, rows)
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{table}.parquet"
    with _locked(results_dir, table):
        parts = [new]
        if path.exists():
            parts.insert(0, _read_parquet(path))
        schema = _target_schema(table, *parts)
        merged = pa.concat_tables([_conform(t, schema, str(path)) for t in parts])
        _write_atomic(_keep_last(merged, PRIMARY_KEYS[table]), path)
    return path


def read_table(results_dir: str | os.PathLike, table: str) -> pd.DataFrame:
    """One table as a DataFrame with the schema's columns (empty, same columns, when absent).

    pandas' default conversion: an int column holding nulls reads back as float64.
    """
    path = table_path(results_dir, table)
    if not path.exists():
        return SCHEMAS[table].empty_table().to_pandas()
    data = _read_parquet(path)
    return _conform(data, _target_schema(table, data), str(path)).to_pandas()


REPORT_GROUP = ["dataset", "features", "split_set", "selection", "method"]
REPORT_METRICS = {"f1": "F1", "kendall_tau": "Kendall tau", "spearman_rho": "Spearman rho"}
# Rows that do not depend on a run: every tune.py / benchmark run writes them again for its folds.
REFERENCE_METHODS = ("human", "random")


def _data_label(folds: pd.DataFrame) -> pd.Series:
    """The report's features cell: ``generated`` / ``real``, plus ``[cue,s=strength]`` when a row
    has them (rows of different stand-ins never share a line, nor a reference row)."""
    cue = folds["cue"] if "cue" in folds else pd.Series(None, index=folds.index, dtype=object)
    strength = folds["strength"] if "strength" in folds else pd.Series(np.nan, index=folds.index)
    tags = [
        "" if _is_missing(c) and _is_missing(s)
        else f"[{'-' if _is_missing(c) else c},s={'-' if _is_missing(s) else format(float(s), 'g')}]"
        for c, s in zip(cue, strength)
    ]
    return folds["features"].astype(str) + pd.Series(tags, index=folds.index, dtype=object)


def _one_reference_row_per_fold(folds: pd.DataFrame) -> pd.DataFrame:
    """Keep the latest human / random row per (group, fold, seed), so n counts folds, not runs."""
    ref = folds["method"].isin(REFERENCE_METHODS)
    latest = folds[ref].drop_duplicates(subset=[*REPORT_GROUP, "fold", "seed"], keep="last")
    return pd.concat([folds[~ref], latest])


def _mean_std(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return "-"
    if len(values) < 2:
        return f"{values.mean():.3f} ± -"
    return f"{values.mean():.3f} ± {values.std(ddof=1):.3f}"


def _format_table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    line = lambda r: "  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip()  # noqa: E731
    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def report(results_dir: str | os.PathLike) -> str:
    """Leaderboard text from the Parquet files alone.

    One line per (dataset, features, split_set, selection, method): mean ± sample std (ddof=1)
    of f1, kendall_tau, spearman_rho over that group's fold rows (folds x seeds), with the
    number of rows, distinct folds and distinct seeds; the features cell carries the stand-in's
    cue and strength (``generated[text,s=0.8]``) when the rows have them. Within a dataset/features/split/selection
    block methods are sorted by mean F1, best first. Human and random rows are the same for every
    run over a fold, so only the latest one per (fold, seed) counts.
    """
    path = table_path(results_dir, "folds")
    if not path.exists():
        raise FileNotFoundError(f"no leaderboard at {path} (wrong results folder, or nothing appended yet?)")
    folds = read_table(results_dir, "folds")
    lines = [f"vidsum leaderboard: {path} ({len(folds)} fold rows from {folds['run_id'].nunique()} run(s))"]
    if folds.empty:
        return "\n".join([*lines, "(no rows)"])
    lines.append("mean ± std over fold rows (folds x seeds); n = rows; human/random: one row per fold")

    body = []
    folds = _one_reference_row_per_fold(folds.assign(features=_data_label(folds)))
    for key, group in folds.groupby(REPORT_GROUP, sort=False):
        cells = [str(k) for k in key]
        counts = [str(len(group)), str(group["fold"].nunique()), str(group["seed"].nunique())]
        mean_f1 = group["f1"].mean()
        rank = -mean_f1 if pd.notna(mean_f1) else math.inf  # best first; all-NaN groups last
        body.append((key[:-1], rank, cells + counts + [_mean_std(group[m]) for m in REPORT_METRICS]))
    body.sort(key=lambda b: (b[0], b[1], b[2][4]))
    header = [*REPORT_GROUP, "n", "folds", "seeds", *REPORT_METRICS.values()]
    lines += ["", *_format_table(header, [b[2] for b in body])]

    conventions = sorted(folds["corr_convention"].dropna().unique())
    if conventions:
        note = "tau/rho convention: " + ", ".join(conventions)
        if len(conventions) > 1:
            note += "  (MIXED: compare tau/rho only within one convention)"
        lines += ["", note]

    trials = read_table(results_dir, "trials")
    if not trials.empty:
        lines += ["", "Tune trials:"]
        for (method, dataset), group in trials.groupby(["method", "dataset"]):
            statuses = ", ".join(f"{s} {n}" for s, n in group["status"].value_counts().sort_index().items())
            lines.append(
                f"  {method} {dataset}: {len(group)} trials over {group['fold'].nunique()} fold(s)"
                f" ({statuses})"
            )
    return "\n".join(lines)


def report_cli(results_dir: str | os.PathLike = "results") -> int:
    """``vidsum report [results/]``: print :func:`report`; errors propagate (the CLI prints them)."""
    print(report(results_dir))
    return 0
