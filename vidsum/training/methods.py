"""The trainable methods by name: config class, presets, one-fold runner, validation-trial loop.

Whatever runs "a method" (``vidsum train <method>``, ``tune.py --method``) looks it up here, so
a method is added in one place. Imports of the method modules happen on first use (SG-VS pulls
in the text encoder).

Each method trains in one or two stages. The *scored* stage reports, after each epoch, a row
with ``sel_validation`` (mean F of held-out training videos) and ``sel_label_free``; tuning
judges a trial by those. TR-SUM has a pretraining stage before it (the generator) that reports
no selection values; SG-VS and DR-DSN have only the scored stage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vidsum.data.eccv16 import Video
from vidsum.training.trsum import Runtime

METHODS = ("trsum", "sgvs", "drdsn")


@dataclass(frozen=True)
class Method:
    """What the harness needs to run a method.

    name:            leaderboard ``method`` value
    config_cls:      its config dataclass (``from_dict`` / ``to_dict``)
    presets:         preset name -> overrides of the config defaults
    run_fold:        (cfg, dataset, split, *, fold, split_set, rt, checkpoint_dir) -> FoldResult
    train_scored:    (cfg, train videos, validation videos, rt, dataset name) -> None: trains on
                     ``train`` and reports every scored epoch through ``rt.report`` (tuning trials)
    scored_epochs:   config field: epochs of the scored stage
    pretrain_epochs: config field: epochs of the pretraining stage, or None
    stage_names:     the ``stage`` its loops write in their epoch rows, in training order
                     (pretraining first), paired with ``epoch_fields``
    """

    name: str
    config_cls: type
    presets: dict[str, dict[str, Any]]
    run_fold: Callable[..., Any]
    train_scored: Callable[[Any, list[Video], list[Video], Runtime, str], None]
    scored_epochs: str
    pretrain_epochs: str | None = None
    stage_names: tuple[str, ...] = ()

    def preset(self, name: str, **overrides: Any):
        from vidsum.training.config import from_preset

        return from_preset(self.config_cls, self.presets, name, **overrides)

    @property
    def epoch_fields(self) -> tuple[str, ...]:
        return tuple(f for f in (self.pretrain_epochs, self.scored_epochs) if f)

    def stage_epochs(self, cfg: Any) -> dict[str, int]:
        """{stage name: its epochs in ``cfg``}, in training order (what a progress display counts to)."""
        return {stage: int(getattr(cfg, f)) for stage, f in zip(self.stage_names, self.epoch_fields, strict=True)}


def _trsum() -> Method:
    from vidsum.training import trsum
    from vidsum.training.fold import run_trsum_fold

    def train_scored(cfg, train, val, rt, dataset):
        # The generator stage reports nothing to the caller: only the RL epochs are scored.
        gen, _ = trsum.pretrain_generator(cfg, train, Runtime(device=rt.device))
        trsum.train_summarizer(cfg, train, gen, rt, val_videos=val, dataset=dataset)

    return Method("trsum", trsum.TRSumConfig, trsum.PRESETS, run_trsum_fold, train_scored, "rl_epochs", "gen_epochs",
                  ("generator", "summarizer"))


def _sgvs() -> Method:
    from vidsum.training import sgvs

    def train_scored(cfg, train, val, rt, dataset):
        sgvs.train_sgvs(cfg, train, rt, val_videos=val, dataset=dataset)

    return Method("sgvs", sgvs.SGVSConfig, sgvs.PRESETS, sgvs.run_sgvs_fold, train_scored, "epochs", None, ("sgvs",))


def _drdsn() -> Method:
    from vidsum.training import drdsn

    def train_scored(cfg, train, val, rt, dataset):
        drdsn.train_drdsn(cfg, train, rt, val_videos=val, dataset=dataset)

    return Method("drdsn", drdsn.DRDSNConfig, drdsn.PRESETS, drdsn.run_drdsn_fold, train_scored, "epochs", None, ("drdsn",))


_BUILDERS: dict[str, Callable[[], Method]] = {"trsum": _trsum, "sgvs": _sgvs, "drdsn": _drdsn}


def get_method(name: str) -> Method:
    """The :class:`Method` called ``name`` (one of METHODS)."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown method {name!r}; expected one of {', '.join(METHODS)}")
    return _BUILDERS[name]()
