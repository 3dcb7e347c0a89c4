"""Checkpoint every epoch of an in-process run and continue after the last checkpoint.

What a tuning trial (``--workers-per-trial 0``; its checkpoints are Ray Tune's) and a final fit
(its checkpoints are files in the run's storage, :class:`FitProgress`) share:

- a checkpoint folder (:func:`write_checkpoint_dir`): ``state.pt`` and ``history.json``, the
  loop state of the stage being trained and the rows reported so far
  (``train.write_state_dir``), plus ``input-<stage>.pt``, the model of every stage finished
  before it (a model-only state, ``Stage.model_state``);
- :class:`EpochCheckpointer`, the ``Runtime.report`` that writes one after every epoch and tags
  each row with where this attempt started (``resumed_from``: the checkpoint's epoch, -1 fresh);
- :func:`train_stages`, the stages of a method in this process, which on a restart loads the
  finished stages from the checkpoint (no pretraining again) and continues the interrupted one at
  the epoch after it.

No Ray call here: the caller says where a checkpoint goes (``EpochCheckpointer.save``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vidsum.data.eccv16 import Video
from vidsum.distributed.storage import Storage
from vidsum.distributed.train import crash_once_after, read_state_dir, write_state_dir
from vidsum.training.checkpoint import load_checkpoint, save_checkpoint
from vidsum.training.loop import Runtime
from vidsum.training.methods import Method, StageResult

# A final fit's checkpoints, below its models' folder (checkpoints/<run_id>/fold<k>/).
PROGRESS_DIR = "progress"
# Written last into a final fit's checkpoint folder: it marks the folder complete and names the
# fit it belongs to (a folder without it, or of another fit, is never resumed from).
FIT_FILE = "fit.json"


def input_file(stage_name: str) -> str:
    """The file of an earlier stage's model (TR-SUM's generator) in a checkpoint folder."""
    return f"input-{stage_name}.pt"


def write_checkpoint_dir(folder: Path, state: dict[str, Any], history: list[dict[str, Any]],
                         inputs: dict[str, dict[str, Any]]) -> None:
    """One epoch's checkpoint folder: the loop ``state``, the reported rows and the earlier stages' models."""
    write_state_dir(folder, state, history)
    for name, model_state in inputs.items():
        save_checkpoint(folder / input_file(name), model_state)


@dataclass
class Resume:
    """Where an in-process run continues: nothing (a fresh start) or a checkpoint folder's content.

    stage:   the stage ``state`` belongs to (None: fresh)
    state:   its loop state at the checkpoint's epoch
    history: the rows reported up to that epoch (every stage's)
    inputs:  {stage finished before it: model state}
    """

    stage: str | None = None
    state: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def epoch(self) -> int:
        """The checkpoint's epoch (its stage's count from 0); -1 for a fresh start."""
        return -1 if self.state is None else int(self.state["epoch"])


def read_checkpoint_dir(folder: Path, method: Method, stage_name: str) -> Resume:
    """The :class:`Resume` of a folder written by :func:`write_checkpoint_dir` for ``stage_name``."""
    stages = {s.name: s for s in method.stages}
    if stage_name not in stages:
        raise ValueError(f"checkpoint {folder}: {stage_name!r} is not a stage of {method.name} "
                         f"({', '.join(stages)})")
    state, history = read_state_dir(folder, stages[stage_name].kind)
    inputs = {}
    for earlier in method.stages[:method.stage_names.index(stage_name)]:
        path = folder / input_file(earlier.name)
        if not path.exists():  # resuming would pair the stage with a model it was not trained on
            raise ValueError(f"checkpoint {folder} of {stage_name} lacks the {earlier.name} model ({path.name})")
        inputs[earlier.name] = load_checkpoint(path, expect_kind=earlier.kind)
    return Resume(stage_name, state, history, inputs)


# ------------------------------------------------------------------------ reporting and stages


# save(row, folder): persist one epoch: ``folder`` (a temporary checkpoint folder, gone after the
# call) or None when the loop gave no state for this epoch.
SaveEpoch = Callable[[dict[str, Any], "Path | None"], None]


class EpochCheckpointer:
    """``Runtime.report`` of an in-process run: a checkpoint folder after every epoch, via ``save``.

    Each row gets ``tags`` (``resumed_from`` ...) and, with ``annotate(row, earlier rows)``, what
    that adds (a trial's running objective); ``history`` holds the rows so far, the restored
    ones first. ``inputs`` ({finished stage: model state}) goes into every checkpoint;
    :func:`train_stages` adds each stage as it finishes. ``show(row)``: a progress display.
    ``crash_once``: fault injection for tests (``train.crash_once_after``), after ``save``.
    """

    def __init__(self, save: SaveEpoch, resume: Resume, tags: dict[str, Any], *,
                 annotate: Callable[[dict[str, Any], list[dict[str, Any]]], dict[str, Any]] | None = None,
                 show: Callable[[dict[str, Any]], None] | None = None, crash_once: dict[str, Any] | None = None):
        self.save, self.tags, self.annotate, self.show, self.crash_once = save, dict(tags), annotate, show, crash_once
        self.history: list[dict[str, Any]] = list(resume.history)
        self.inputs: dict[str, dict[str, Any]] = dict(resume.inputs)

    def __call__(self, row: dict[str, Any], state: dict[str, Any] | None) -> None:
        tagged = {**row, **self.tags}
        if self.annotate is not None:
            tagged = self.annotate(tagged, self.history)
        self.history.append(tagged)
        if self.show is not None:
            self.show(tagged)
        if state is None:
            self.save(tagged, None)
        else:
            with tempfile.TemporaryDirectory(prefix="vidsum-epoch-") as tmp:
                write_checkpoint_dir(Path(tmp), state, self.history, self.inputs)
                self.save(tagged, Path(tmp))
        crash_once_after(self.crash_once, int(row["epoch"]), row.get("stage"))


def train_stages(method: Method, cfg: Any, train: list[Video], val: list[Video] | None, test: list[Video] | None,
                 dataset: str, device: torch.device, resume: Resume, report: EpochCheckpointer, *,
                 report_unscored: bool = True) -> list[StageResult]:
    """Every stage of ``method`` in this process, continuing ``resume``; one StageResult per stage.

    Stages in ``resume.inputs`` are loaded, not trained; ``resume.stage`` restarts from its state at
    the epoch after it; the rest train from the start. ``report`` gets every epoch of every stage
    (``report_unscored`` False: of the scored stage only; a trial's Tune results must carry the
    objective) and, as each earlier stage finishes, its model for the later checkpoints.
    """
    results: list[StageResult] = []
    models: dict[str, Any] = {}
    for stage in method.stages:
        scored = stage is method.scored
        if stage.name in resume.inputs:  # finished before the restart: its model, not its training again
            state = resume.inputs[stage.name]
            out: StageResult = (stage.load(state).to(device), list(state["history"]), {})
        else:
            rt = Runtime(device=device, report=report if scored or report_unscored else None,
                         resume=resume.state if stage.name == resume.stage else None)
            out = stage.train(cfg, train, rt, inputs=dict(models), val_videos=val if scored else None,
                              test_videos=test if scored else None, dataset=dataset)
        results.append(out)
        models[stage.name] = out[0]
        if not scored and stage.name not in report.inputs:
            report.inputs[stage.name] = stage.model_state(out[0], getattr(cfg, stage.epochs) - 1, out[1])
    return results


def resumed_from(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """{'stage', 'epoch'} of the checkpoint a run's rows say it continued from, or None (it never restarted)."""
    for row in history:
        if int(row.get("resumed_from", -1)) >= 0:
            return {"stage": row.get("resumed_stage", row.get("stage")), "epoch": int(row["resumed_from"])}
    return None


# ----------------------------------------------------------------- a final fit's checkpoints


@dataclass(frozen=True)
class FitProgress:
    """A final fit's last epoch checkpoint, kept in a :class:`Storage` folder (local or s3/gs).

    One folder per checkpoint, ``<stage>-epoch<NNNN>/`` (:func:`write_checkpoint_dir` plus
    ``FIT_FILE`` last); after a new one is complete every other entry is deleted, so at most one
    complete checkpoint is kept. ``fit``: what the checkpoints belong to (method, data, keys,
    config): a checkpoint of another fit -- a --resume whose search chose other parameters -- is
    ignored and replaced.
    """

    storage: Storage
    fit: dict[str, Any]

    def save(self, stage: str, epoch: int, folder: Path) -> str:
        """Store the checkpoint folder ``folder`` of ``stage``'s epoch ``epoch``; returns its name."""
        name = f"{stage}-epoch{int(epoch):04d}"
        fit = json.dumps(self.fit, sort_keys=True, default=list)
        if self.storage.is_local:
            # whole or not at all: built beside its place, then renamed into it
            root = self.storage.local_path
            root.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
            shutil.copytree(folder, staging, dirs_exist_ok=True)
            (staging / FIT_FILE).write_text(fit)
            if (root / name).exists():  # an earlier attempt's copy of the same epoch
                shutil.rmtree(root / name)
            os.rename(staging, root / name)
        else:
            # object stores write each file whole; FIT_FILE, uploaded last, marks the folder complete
            self.storage.delete(name)
            self.storage.upload(folder, name)
            with tempfile.TemporaryDirectory(prefix="vidsum-fit-") as tmp:
                (Path(tmp) / FIT_FILE).write_text(fit)
                self.storage.upload(Path(tmp) / FIT_FILE, name, FIT_FILE)
        for other in self._entries() - {name}:
            self.storage.delete(other)
        return name

    def latest(self, method: Method) -> Resume:
        """The newest complete checkpoint of this fit (latest stage, then epoch), or a fresh :class:`Resume`."""
        order = {s.name: i for i, s in enumerate(method.stages)}
        found = []
        for name in self._entries():
            stage, _, epoch = name.rpartition("-epoch")
            if stage in order and epoch.isdigit() and self.storage.exists(name, FIT_FILE):
                found.append((order[stage], int(epoch), stage, name))
        if not found:
            return Resume()
        _, _, stage, name = max(found)
        with tempfile.TemporaryDirectory(prefix="vidsum-progress-") as tmp:
            local = Path(tmp) / name
            if not self.storage.download(local, name):
                return Resume()  # deleted meanwhile: start afresh
            if json.loads((local / FIT_FILE).read_text()) != json.loads(json.dumps(self.fit, default=list)):
                print(f"{self.storage.url(name)}: a checkpoint of another fit (other config or keys); "
                      f"not resumed from", file=sys.stderr, flush=True)
                return Resume()
            return read_checkpoint_dir(local, method, stage)

    def clear(self) -> bool:
        """Delete every checkpoint (the fit's rows are written); False when there was none."""
        return self.storage.delete()

    def _entries(self) -> set[str]:
        """The top-level names below the folder (checkpoints, and staging folders of dead attempts)."""
        return {f.split("/", 1)[0] for f in self.storage.files()}
