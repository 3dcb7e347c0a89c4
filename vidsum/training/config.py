"""What every method's config dataclass shares: plain values in and out, and named presets."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, ClassVar, TypeVar

C = TypeVar("C", bound="PlainConfig")


class PlainConfig:
    """Mixin for a ``@dataclass`` config: ``from_dict`` refuses unknown keys by name, ``to_dict``
    gives JSON-able plain values. Subclasses set ``LABEL`` (used in error messages)."""

    LABEL: ClassVar[str] = "config"

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
