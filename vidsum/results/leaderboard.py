"""Parquet leaderboards: ``<results>/{folds,videos,trials}.parquet``, one import for all of it.

The work is split by job: :mod:`~vidsum.results.schema` (columns, types, keys; the tables are
documented there), :mod:`~vidsum.results.validate` (rows -> Arrow), :mod:`~vidsum.results.store`
(locked, atomic appends; reading), :mod:`~vidsum.results.runs` (run ids, git commit) and
:mod:`~vidsum.results.report` (``vidsum report``). Nothing here imports Ray.
"""

from vidsum.results.report import REPORT_GROUP, REPORT_METRICS, report, report_cli
from vidsum.results.runs import git_commit, new_run_id, utc_now
from vidsum.results.schema import (
    CUES,
    FEATURES,
    FOLDS_SCHEMA,
    PARAM_PREFIX,
    PRIMARY_KEYS,
    REFERENCE_METHODS,
    SCHEMAS,
    SELECTIONS,
    TABLES,
    TIMESTAMP,
    TRIALS_SCHEMA,
    VIDEOS_SCHEMA,
)
from vidsum.results.store import append_rows, read_table, table_path

__all__ = [
    "CUES", "FEATURES", "FOLDS_SCHEMA", "PARAM_PREFIX", "PRIMARY_KEYS", "REFERENCE_METHODS", "REPORT_GROUP",
    "REPORT_METRICS", "SCHEMAS", "SELECTIONS", "TABLES", "TIMESTAMP", "TRIALS_SCHEMA", "VIDEOS_SCHEMA",
    "append_rows", "git_commit", "new_run_id", "read_table", "report", "report_cli", "table_path", "utc_now",
]
