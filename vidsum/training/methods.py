"""The registry: the one place that knows the methods (DSNet's ``TRAINER = {name: fn}``).

Everything that runs "a method" reads it: ``vidsum train``, ``tune.py`` (trials and final fits),
the Ray Train workers, ``vidsum summarize`` and the benchmarks. A method is a module with a
config dataclass, its presets and its training loops, plus one entry here; nothing else
dispatches on a method's name.

A method trains in one or more :class:`Stage` s, in order; each stage's loop gets the models of
the stages before it. The last stage is the *scored* one: after each epoch it reports
``sel_validation`` (mean F of held-out training videos) and ``sel_label_free``, and keeps its
best epoch per selection rule; a fold's test scores and tuning's objective come from it.
TR-SUM pretrains a generator (reports no selection values) before its scored summarizer;
SG-VS and DR-DSN have only the scored stage.

Methods are imported on first use (SG-VS pulls in the text encoder). A method defined outside
the package registers with :func:`register`; a process that did not run that code (a Ray
worker) imports the modules named in ``$VIDSUM_METHODS`` (comma-separated), which register
their methods on import.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # kept out of the import: tune.py --help lists the methods without loading torch
    import numpy as np
    import torch.nn as nn

    from vidsum.data.eccv16 import Video
    from vidsum.training.loop import Runtime

# StageResult: (model, history, best) of a stage's loop; best = {rule: {'epoch', 'value', 'state'}}
# ({} for a stage before the scored one).
StageResult = tuple[Any, list[dict], dict[str, dict]]
# StageLoop: (cfg, training videos, rt, *, inputs {earlier stage: model}, val_videos,
# test_videos, dataset name) -> StageResult. It reports every epoch through rt.report.
StageLoop = Callable[..., StageResult]

PLUGINS_ENV = "VIDSUM_METHODS"


@dataclass(frozen=True)
class Stage:
    """One training stage.

    name:   the ``stage`` its loop writes in its epoch rows (unique over all methods)
    kind:   the checkpoint kind its loop reports and its model file holds
    epochs: config field with its number of epochs
    file:   the file its model is saved as in a fold's checkpoint folder
    train:  its loop (see StageLoop)
    build:  model_config -> an untrained module of this stage's model (weights: :meth:`load`)
    export: model -> plain extra state its model file must carry to be rebuilt (e.g. texts)
    attach: (model, extra) -> None: puts that extra state back on a rebuilt model
    """

    name: str
    kind: str
    epochs: str
    file: str
    train: StageLoop
    build: Callable[[dict], nn.Module]
    export: Callable[[nn.Module], dict[str, Any]] = lambda model: {}
    attach: Callable[[nn.Module, dict[str, Any]], None] = lambda model, extra: None

    def model_state(self, model: nn.Module, epoch: int, history: list[dict], *, weights: dict | None = None,
                    meta: dict[str, Any] | None = None) -> dict[str, Any]:
        """A model-only checkpoint state of this stage, what :meth:`load` rebuilds (a fold's model
        files, a tuning trial's earlier-stage models). ``weights``: another state_dict of ``model``
        (a selected epoch's) instead of its current one."""
        state = {"kind": self.kind, "epoch": int(epoch), "model": model.state_dict() if weights is None else weights,
                 "model_config": model.config, "extra": self.export(model), "history": list(history)}
        return state if meta is None else {**state, "meta": meta}

    def load(self, state: dict[str, Any]) -> nn.Module:
        """The model of a checkpoint ``state`` of this stage (CPU, eval mode)."""
        model = self.build(state["model_config"])
        model.load_state_dict(state["model"])
        self.attach(model, state.get("extra") or {})
        return model.eval()


@dataclass(frozen=True)
class Method:
    """What the harness needs to run a method.

    name:          leaderboard ``method`` value
    config_cls:    its config dataclass (``from_dict`` / ``to_dict``)
    presets:       preset name -> overrides of the config defaults
    stages:        its stages in training order; the last is scored
    score:         (scored model, video, cfg) -> (n_steps,) importance scores
    summary_value: (scored model, video, cfg, inputs {earlier stage: model}, proportion) -> the
                   label-free value of the video's keyshot summary, or None when it needs an
                   input not given (``vidsum summarize`` reports it)
    check_workers: (cfg, data-parallel workers) -> None; ValueError when the config cannot
                   run on that many workers (checked before a search starts)
    add_title:     (scored model, video key, title, cfg) -> None, for a method that scores a
                   video together with its text (SG-VS): the text of a video it has none for
                   (``vidsum summarize --title``); None for the others
    """

    name: str
    config_cls: type
    presets: dict[str, dict[str, Any]]
    stages: tuple[Stage, ...]
    score: Callable[[nn.Module, Video, Any], np.ndarray]
    summary_value: Callable[[nn.Module, Video, Any, dict[str, nn.Module], float], float | None]
    check_workers: Callable[[Any, int], None] = lambda cfg, workers: None
    add_title: Callable[[Any, str, str, Any], None] | None = None

    def preset(self, name: str, **overrides: Any):
        from vidsum.training.config import from_preset

        return from_preset(self.config_cls, self.presets, name, **overrides)

    @property
    def scored(self) -> Stage:
        return self.stages[-1]

    @property
    def scored_epochs(self) -> str:
        """Config field: epochs of the scored stage."""
        return self.scored.epochs

    @property
    def pretrain_epochs(self) -> str | None:
        """Config field: epochs of the stage before the scored one, or None (tuning shortens it)."""
        return self.stages[-2].epochs if len(self.stages) > 1 else None

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages)

    @property
    def epoch_fields(self) -> tuple[str, ...]:
        return tuple(s.epochs for s in self.stages)

    def stage_epochs(self, cfg: Any) -> dict[str, int]:
        """{stage name: its epochs in ``cfg``}, in training order (what a progress display counts to)."""
        return {s.name: int(getattr(cfg, s.epochs)) for s in self.stages}

    def run_fold(self, cfg: Any, dataset: Any, split: Any, **kwargs: Any):
        """:func:`vidsum.training.fold.run_fold` of this method."""
        from vidsum.training.fold import run_fold

        return run_fold(self, cfg, dataset, split, **kwargs)


def fit_stages(method: Method, cfg: Any, train: list[Video], val: list[Video] | None, test: list[Video] | None,
               dataset: str, rt: Runtime, *, report_unscored: bool = True) -> list[StageResult]:
    """Every stage of ``method`` in this process, in order, each on ``rt``; one StageResult per stage.

    report_unscored: False gives the stages before the scored one a Runtime without ``report``
    (a tuning trial reports scored epochs only: every result must carry the objective).
    """
    results: list[StageResult] = []
    inputs: dict[str, nn.Module] = {}
    for stage in method.stages:
        scored = stage is method.scored
        stage_rt = rt if scored or report_unscored else dataclasses.replace(rt, report=None)
        out = stage.train(cfg, train, stage_rt, inputs=dict(inputs), val_videos=val if scored else None,
                          test_videos=test if scored else None, dataset=dataset)
        results.append(out)
        inputs[stage.name] = out[0]
    return results


# --------------------------------------------------------------------------- the methods


def _trsum() -> Method:
    from vidsum.models.trsum import Generator, Summarizer
    from vidsum.training import trsum

    def generator(cfg, videos, rt, *, inputs, val_videos, test_videos, dataset):
        gen, history = trsum.pretrain_generator(cfg, videos, rt)
        return gen, history, {}

    def summarizer(cfg, videos, rt, *, inputs, val_videos, test_videos, dataset):
        return trsum.train_summarizer(cfg, videos, inputs["generator"], rt, val_videos=val_videos,
                                      test_videos=test_videos, dataset=dataset)

    def summary_value(summ, video, cfg, inputs, proportion):
        gen = inputs.get("generator")
        return None if gen is None else trsum.label_free_reward(summ, gen, video, cfg.segment_len, proportion)

    return Method(
        "trsum", trsum.TRSumConfig, trsum.PRESETS,
        (Stage("generator", "trsum-generator", "gen_epochs", "generator.pt", generator, Generator.from_config),
         Stage("summarizer", "trsum-summarizer", "rl_epochs", "summarizer.pt", summarizer, Summarizer)),
        score=lambda summ, video, cfg: trsum.score_video(summ, video, cfg.segment_len),
        summary_value=summary_value,
    )


def _sgvs() -> Method:
    from vidsum.models.sgvs import SGVSGenerator
    from vidsum.training import sgvs

    def train(cfg, videos, rt, *, inputs, val_videos, test_videos, dataset):
        return sgvs.train_sgvs(cfg, videos, rt, val_videos=val_videos, test_videos=test_videos, dataset=dataset)

    def attach(gen, extra):
        gen.texts = dict(extra.get("texts") or {})

    return Method(
        "sgvs", sgvs.SGVSConfig, sgvs.PRESETS,
        (Stage("sgvs", "sgvs-generator", "epochs", "generator.pt", train, SGVSGenerator.from_config,
               export=lambda gen: {"texts": gen.texts}, attach=attach),),
        score=lambda gen, video, cfg: sgvs.score_video(gen, video, segment_len=cfg.segment_len),
        summary_value=lambda gen, video, cfg, inputs, proportion: sgvs.label_free_value(gen, video, proportion),
        add_title=sgvs.add_title,
    )


def _drdsn() -> Method:
    from vidsum.models.drdsn import DSN
    from vidsum.training import drdsn

    def train(cfg, videos, rt, *, inputs, val_videos, test_videos, dataset):
        return drdsn.train_drdsn(cfg, videos, rt, val_videos=val_videos, test_videos=test_videos, dataset=dataset)

    def check_workers(cfg, workers):
        if workers > cfg.batch_videos:
            raise ValueError(f"DR-DSN on {workers} data-parallel workers needs batch_videos >= {workers} (got "
                             f"{cfg.batch_videos}): add --set batch_videos={workers}")

    return Method(
        "drdsn", drdsn.DRDSNConfig, drdsn.PRESETS,
        (Stage("drdsn", "drdsn", "epochs", "dsn.pt", train, DSN.from_config),),
        score=lambda dsn, video, cfg: drdsn.score_video(dsn, video),
        summary_value=lambda dsn, video, cfg, inputs, proportion: drdsn.label_free_value(
            dsn, video, dataclasses.replace(cfg, summary_proportion=proportion)),
        check_workers=check_workers,
    )


_BUILDERS: dict[str, Callable[[], Method]] = {"trsum": _trsum, "sgvs": _sgvs, "drdsn": _drdsn}
_plugins_loaded = False


def register(name: str, build: Callable[[], Method]) -> None:
    """Add a method: ``build()`` returns its :class:`Method` (called on each lookup)."""
    _BUILDERS[name] = build


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for module in filter(None, (m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(","))):
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise ValueError(f"${PLUGINS_ENV} names {module!r}, which cannot be imported: {e}") from e


def method_names() -> tuple[str, ...]:
    """The registered methods' names (the built-in ones first)."""
    _load_plugins()
    return tuple(_BUILDERS)


def get_method(name: str) -> Method:
    """The :class:`Method` called ``name``."""
    _load_plugins()
    if name not in _BUILDERS:
        raise ValueError(f"unknown method {name!r}; expected one of {', '.join(_BUILDERS)}")
    method = _BUILDERS[name]()
    if method.name != name:
        raise ValueError(f"method registered as {name!r} calls itself {method.name!r}")
    return method


def _find(matches: Callable[[Stage], bool], what: str) -> tuple[Method, Stage]:
    for method_name in method_names():
        method = get_method(method_name)
        for stage in method.stages:
            if matches(stage):
                return method, stage
    raise ValueError(what)


def find_stage(name: str) -> tuple[Method, Stage]:
    """(method, stage) of the stage called ``name`` (its loop's ``stage`` value)."""
    return _find(lambda stage: stage.name == name, f"unknown stage {name!r}")


def find_kind(kind: str) -> tuple[Method, Stage]:
    """(method, stage) whose checkpoints are of ``kind``."""
    return _find(lambda stage: stage.kind == kind, f"no registered method writes {kind!r} checkpoints")
