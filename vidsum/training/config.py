"""What every method's config dataclass shares: plain values in and out, and named presets."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import Any, ClassVar, TypeVar

C = TypeVar("C", bound="PlainConfig")


class PlainConfig:
    """Mixin for a ``@dataclass`` config: ``from_dict`` refuses unknown keys by name, ``to_dict``
    gives JSON-able plain values, and construction raises one ValueError listing every problem
    :meth:`problems` finds. Subclasses set ``LABEL`` (used in error messages)."""

    LABEL: ClassVar[str] = "config"

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ValueError(f"bad {self.LABEL} config: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """Every problem of the values, as readable lines (empty: the config is good)."""
        return []

    @classmethod
    def from_dict(cls: type[C], d: dict[str, Any]) -> C:
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown {cls.LABEL} config key(s): {', '.join(unknown)}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def from_preset(cls: type[C], presets: dict[str, dict[str, Any]], name: str, **overrides: Any) -> C:
    """``cls`` built from preset ``name`` with ``overrides`` applied on top."""
    if name not in presets:
        raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(presets)}")
    return cls.from_dict({**presets[name], **overrides})


# name -> (is the value bad?, what it must be); the predicates mirror the original checks exactly
# (e.g. ``not v > 0`` also refuses NaN).
_BOUNDS = {
    "open_unit": (lambda v: not 0 < v < 1, "in (0, 1)"),
    "half_open_unit": (lambda v: not 0 <= v < 1, "in [0, 1)"),
    "positive": (lambda v: not v > 0, "> 0"),
    "at_least_one": (lambda v: v < 1, ">= 1"),
    "non_negative": (lambda v: v < 0, ">= 0"),
}


def bound_problems(cfg: Any, *checks: tuple[str, tuple[str, ...]]) -> list[str]:
    """One message per field of ``cfg`` outside its bound, in the order given.

    checks: (bound, field names) pairs, bound one of open_unit | half_open_unit | positive |
    at_least_one | non_negative.
    """
    problems = []
    for bound, names in checks:
        is_bad, text = _BOUNDS[bound]
        for name in names:
            value = getattr(cfg, name)
            if is_bad(value):
                problems.append(f"{name} must be {text}, got {value}")
    return problems


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` items (``vidsum train``, ``tune.py``, benchmarks) -> {key: value}.

    A value is read as JSON (``3``, ``1e-3``, ``true``, ``null``, ``[1, 2]``, ``"quoted"``);
    true / false in any case is a bool (``True``); a number JSON refuses but Python reads (``.5``,
    ``+1``, ``1_000``) is that number; anything else is the bare string (``mask_mode=fixed``).
    Not YAML: PyYAML reads ``1e-3`` as a string and ``017`` as octal. Key and value are
    stripped; a later item for a key wins. ValueError names the item when it has no ``=``, an
    empty key, or a value that starts like JSON (``[``, ``{``, ``"``) but does not parse.
    """
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE (a config field of the method), got {item!r}")
        overrides[key] = _override_value(item, text.strip())
    return overrides


def _override_value(item: str, text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        if text[:1] in ("[", "{", '"'):
            raise ValueError(f"--set {item!r}: the value is not valid JSON ({e.msg})") from None
    if text[:1] and text[0] in "+-.0123456789":
        for number in (int, float):
            try:
                return number(text)
            except ValueError:
                pass
    return text  # a bare string such as mask_mode=fixed
