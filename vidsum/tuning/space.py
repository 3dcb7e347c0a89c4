"""A search space: one ``tune_spaces/*.yaml`` file, checked against a method's config class.

Format (see tune_spaces/trsum.yaml): ``params`` (name -> float / int in [low, high] with an
optional step or log scale, or categorical choices), optional ``fixed`` overrides of the preset,
``objective`` (validation, validation_tau or label_free) and ``description``. The Optuna distributions of a
space are made in ``vidsum.distributed.search``; this module imports neither Ray nor Optuna.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

OBJECTIVES = ("validation", "validation_tau", "label_free")  # sel_<name> of vidsum.training.loop
PARAM_TYPES = ("float", "int", "categorical")
# Parameters a space may not search: they define the budget or the data split, not the model.
RESERVED = ("gen_epochs", "rl_epochs", "epochs", "seed", "val_fraction", "summary_proportion")


@dataclass(frozen=True)
class ParamSpec:
    """One searched parameter: float / int in [low, high] (optional step, log) or categorical choices."""

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def contains(self, value: Any) -> bool:
        if self.type == "categorical":
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, int | float) or not self.low <= value <= self.high:
            return False
        return self.step is None or math.isclose(((value - self.low) / self.step) % 1, 0, abs_tol=1e-9)

    def corners(self) -> list[Any]:
        """Extreme values (checked against the method's config when the space is loaded)."""
        if self.type == "categorical":
            return list(self.choices)
        cast = int if self.type == "int" else float
        return [cast(self.low), cast(self.high)]


@dataclass(frozen=True)
class SearchSpace:
    """A ``tune_spaces/*.yaml`` file: searched params, fixed overrides of the preset, the objective."""

    name: str
    params: dict[str, ParamSpec]
    objective: str = "validation"
    fixed: dict[str, Any] = field(default_factory=dict)


def _parse_param(source: str, name: str, spec: Any) -> ParamSpec:
    where = f"{source}: param {name!r}"
    if not isinstance(spec, dict):
        raise ValueError(f"{where}: expected a map with 'type', got {type(spec).__name__}")
    kind = spec.get("type")
    if kind not in PARAM_TYPES:
        raise ValueError(f"{where}: type must be one of {', '.join(PARAM_TYPES)}, got {kind!r}")
    allowed = {"type", "choices"} if kind == "categorical" else {"type", "low", "high", "step", "log"}
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown} for a {kind} parameter (allowed: {sorted(allowed)})")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or len(choices) < 2:
            raise ValueError(f"{where}: choices must be a list of at least 2 values, got {choices!r}")
        if len({json.dumps(c) for c in choices}) != len(choices):
            raise ValueError(f"{where}: repeated choices {choices}")
        return ParamSpec(name, kind, choices=tuple(choices))
    for key in ("low", "high"):
        v = spec.get(key)
        if isinstance(v, bool) or not isinstance(v, int | float) or (kind == "int" and not float(v).is_integer()):
            raise ValueError(f"{where}: {key} must be a{'n integer' if kind == 'int' else ' number'}, got {v!r}")
    low, high, step, log = spec["low"], spec["high"], spec.get("step"), spec.get("log", False)
    if not low < high:
        raise ValueError(f"{where}: low ({low}) must be < high ({high})")
    if not isinstance(log, bool):
        raise ValueError(f"{where}: log must be true or false, got {log!r}")
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, int | float) or step <= 0:
            raise ValueError(f"{where}: step must be a positive number, got {step!r}")
        if log:
            raise ValueError(f"{where}: step and log cannot be combined")
        if not math.isclose(((high - low) / step) % 1, 0, abs_tol=1e-9) and not math.isclose(((high - low) / step) % 1, 1, abs_tol=1e-9):
            raise ValueError(f"{where}: high - low ({high - low}) is not a multiple of step {step}")
    if log and low <= 0:
        raise ValueError(f"{where}: log scale needs low > 0, got {low}")
    return ParamSpec(name, kind, low, high, step, log)


def load_space(path: str | os.PathLike, config_cls: type) -> SearchSpace:
    """Read and check a search-space YAML (format: see tune_spaces/trsum.yaml).

    Every parameter must be a field of ``config_cls`` (the method's config: a dataclass with
    ``from_dict``) and not a reserved one, and every extreme value of every parameter must give
    a valid config on top of the defaults and ``fixed``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"search space file not found: {path}")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a map with 'params', got {type(doc).__name__}")
    unknown = sorted(set(doc) - {"params", "objective", "fixed", "description"})
    if unknown:
        raise ValueError(f"{path}: unknown top-level key(s) {unknown} (allowed: description, objective, fixed, params)")
    objective = doc.get("objective", "validation")
    if objective not in OBJECTIVES:
        raise ValueError(f"{path}: objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    raw = doc.get("params")
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{path}: 'params' must be a non-empty map of parameter name -> spec")
    fixed = doc.get("fixed") or {}
    if not isinstance(fixed, dict):
        raise ValueError(f"{path}: 'fixed' must be a map of {config_cls.__name__} fields, got {type(fixed).__name__}")
    known = set(config_cls.__dataclass_fields__)
    for name in [*raw, *fixed]:
        if name not in known:
            raise ValueError(f"{path}: {name!r} is not a {config_cls.__name__} field")
        if name in RESERVED:
            raise ValueError(f"{path}: {name!r} cannot be searched or fixed here (the tuning budget/split owns it)")
    both = sorted(set(raw) & set(fixed))
    if both:
        raise ValueError(f"{path}: {both} both searched and fixed")
    params = {name: _parse_param(str(path), name, spec) for name, spec in raw.items()}
    for p in params.values():
        for value in p.corners():
            try:
                config_cls.from_dict({**fixed, p.name: value})
            except (ValueError, TypeError) as e:
                raise ValueError(f"{path}: param {p.name!r} value {value!r} gives an invalid config: {e}") from None
    return SearchSpace(path.stem, params, objective, dict(fixed))


def default_space(method: str) -> Path:
    """tune_spaces/<method>.yaml of the repository."""
    return Path(__file__).resolve().parents[2] / "tune_spaces" / f"{method}.yaml"
