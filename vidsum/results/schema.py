"""The leaderboard tables' columns, types, primary keys and allowed values (no I/O here).

``folds.parquet`` — one row per (run, method, dataset, fold, seed, selection);
primary key: run_id, method, dataset, fold, seed, selection.

    ==============  ==================  =====================================================
    column          type                meaning
    ==============  ==================  =====================================================
    run_id          string              one invocation (``runs.new_run_id``)
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
    commit          string, nullable    short git hash of the code (``runs.git_commit``)
    started_at      timestamp[us, UTC]  when the run started (tz-aware; naive is refused)
    wall_s          float64, nullable   wall-clock seconds of the fold
    tvn             float64, nullable   stability of the scored stage's loss curve: total variation, normalised
    ms              float64, nullable   stability: monotonicity score (``vidsum.evaluation.stability``)
    rauc            float64, nullable   stability: relative area under the curve; null where undefined
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

import pyarrow as pa

TABLES = ("trials", "folds", "videos")
FEATURES = ("real", "generated")
CUES = ("events", "text", "mixed")  # vidsum.data.standin.CUES (not imported: no numpy/scipy data code here)
SELECTIONS = ("label_free", "validation", "oracle", "none")
PARAM_PREFIX = "param_"
# Rows that do not depend on a run: every tune.py / benchmark run writes them again for its folds.
REFERENCE_METHODS = ("human", "random")
TIMESTAMP = pa.timestamp("us", tz="UTC")

# Columns with a closed set of values, and string columns that hold JSON.
CHOICES = {"features": FEATURES, "selection": SELECTIONS, "cue": CUES}
JSON_COLUMNS = {"config", "params"}


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
# The fixed part only: param_<name> columns are appended per file (see :func:`param_fields`).
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


def param_field(name: str, kind: str) -> pa.Field:
    """The nullable ``param_<name>`` column for a kind: null | bool | int | float | string."""
    return _optional(name, _PARAM_ARROW[kind])


def widen(column: str, a: str, b: str) -> str:
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


def param_fields(*tables: pa.Table) -> list[pa.Field]:
    """The union of param_<name> columns over tables, each at the widest kind seen."""
    kinds: dict[str, str] = {}
    for t in tables:
        for field in t.schema:
            if field.name.startswith(PARAM_PREFIX) and field.name not in TRIALS_SCHEMA.names:
                kinds[field.name] = widen(field.name, kinds.get(field.name, "null"), _kind_of(field.type))
    return [param_field(name, kinds[name]) for name in sorted(kinds)]


def target_schema(table: str, *tables: pa.Table) -> pa.Schema:
    """The table's schema, plus (trials) the param columns of ``tables``."""
    schema = SCHEMAS[table]
    return pa.schema([*schema, *param_fields(*tables)]) if table == "trials" else schema


def check_table(table: str) -> str:
    if table not in SCHEMAS:
        raise ValueError(f"unknown leaderboard table {table!r}; expected one of {list(TABLES)}")
    return table
