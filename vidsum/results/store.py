"""Storage of the leaderboard tables: ``<results>/{folds,videos,trials}.parquet``.

:func:`append_rows` validates rows, then does a locked read-modify-write (``fcntl.flock`` on
``<results>/.<table>.lock``, so concurrent appenders on one machine never lose rows) and writes
the table atomically (:func:`write_atomic`: a crash mid-write leaves the old file intact). A row
whose primary key is already in the table REPLACES the old row. Older files lacking optional
columns are filled with nulls on read and on the next append.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from vidsum.results.schema import PRIMARY_KEYS, SCHEMAS, check_table, target_schema
from vidsum.results.validate import rows_to_arrow


def table_path(results_dir: str | os.PathLike, table: str) -> Path:
    """``<results_dir>/<table>.parquet`` for a known table name."""
    return Path(results_dir) / f"{check_table(table)}.parquet"


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


def write_atomic(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """``write(file)`` into a temp file in path's folder, fsync, then os.replace: readers see
    the old file or the new one, never half of one. The file is made world-readable (0644)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
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


def append_rows(results_dir: str | os.PathLike, table: str, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Validate rows, merge them into ``<results_dir>/<table>.parquet`` and return its path.

    table: ``'trials'`` | ``'folds'`` | ``'videos'``; rows: list of dicts, column -> value.
    A row whose primary key (``PRIMARY_KEYS[table]``) exists replaces the old row; within one
    call the last row with a key wins. Everything is validated before the file is touched.
    """
    table = check_table(table)
    new = rows_to_arrow(table, rows)
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{table}.parquet"
    with _locked(results_dir, table):
        parts = [new]
        if path.exists():
            parts.insert(0, _read_parquet(path))
        schema = target_schema(table, *parts)
        merged = pa.concat_tables([_conform(t, schema, str(path)) for t in parts])
        merged = _keep_last(merged, PRIMARY_KEYS[table])
        write_atomic(path, lambda f: _write_parquet(merged, f))
    return path


def read_table(results_dir: str | os.PathLike, table: str) -> pd.DataFrame:
    """One table as a DataFrame with the schema's columns (empty, same columns, when absent).

    pandas' default conversion: an int column holding nulls reads back as float64.
    """
    path = table_path(results_dir, table)
    if not path.exists():
        return SCHEMAS[table].empty_table().to_pandas()
    data = _read_parquet(path)
    return _conform(data, target_schema(table, data), str(path)).to_pandas()
