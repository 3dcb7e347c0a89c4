"""Rows (lists of dicts) checked against a table's schema and turned into an Arrow table."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from vidsum.results.schema import CHOICES, JSON_COLUMNS, PARAM_PREFIX, SCHEMAS, param_field, widen


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_missing(value: Any) -> bool:
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


def _convert(table: str, i: int, field: pa.Field, value: Any) -> Any:
    """One cell, checked against its field and converted to what pyarrow takes; ValueError otherwise."""
    name, where = field.name, f"{table} row {i}: column {field.name!r}"
    # Float columns keep NaN as a value (an undefined metric); elsewhere NaN / NA / NaT mean null.
    missing = (value is None or value is pd.NA) if pa.types.is_floating(field.type) else is_missing(value)
    if missing:
        if not field.nullable:
            raise ValueError(f"{where} is required, got {_short(value)}")
        return None
    if name in JSON_COLUMNS:
        return _to_json(where, value)
    kind = field.type
    if pa.types.is_string(kind):
        if not isinstance(value, str):
            raise ValueError(f"{where} must be str, got {type(value).__name__} {_short(value)}")
        if name in CHOICES and value not in CHOICES[name]:
            raise ValueError(f"{where} must be one of {list(CHOICES[name])}, got {value!r}")
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
    if is_missing(value):
        return "null"
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, int | np.integer):
        return "int"
    if isinstance(value, float | np.floating):
        return "float"
    return "string"  # str as is; lists / dicts as JSON text


def _param_cell(value: Any) -> Any:
    if is_missing(value):
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
            kind = widen(column, kind, _param_kind(value))
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


def rows_to_arrow(table: str, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
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
            field = param_field(column, kind)
            fields.append(field)
            arrays.append(pa.array(cells, type=field.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))
