"""vidsum.distributed.resume without Ray: a TR-SUM fit checkpointed every epoch of every stage
(FitProgress, on a local folder and on moto's S3) and stopped after an epoch continues after its
last checkpoint and lands on the models of an uninterrupted fit; FitProgress keeps one complete
checkpoint and never resumes from an incomplete one or from another fit's."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import make_video
from vidsum.distributed.resume import (FIT_FILE, EpochCheckpointer, FitProgress, Resume, resumed_from,
                                       train_stages)
from vidsum.distributed.storage import Storage
from vidsum.training import trsum
from vidsum.training.methods import get_method

TINY = dict(d_model=32, n_heads=4, n_layers=1, d_ff=64, segment_len=16, batch_segments=8,
            gen_epochs=2, rl_epochs=3, gen_lr=1e-3, rl_lr=1e-3)
METHOD = get_method("trsum")
FIT = {"method": "trsum", "cfg": TINY, "train_keys": ["video_1", "video_2", "video_3"]}


class Stopped(Exception):
    """Stands in for the process dying right after an epoch's checkpoint."""


@pytest.fixture(scope="module")
def videos():
    all_videos = [make_video(key=f"video_{i + 1}", n_frames=600, dim=12, seed=i) for i in range(5)]
    return all_videos[:3], all_videos[3:4], all_videos[4:]  # train, validation, test


@pytest.fixture(scope="module")
def s3():
    pytest.importorskip("moto")
    from local_cluster import moto_s3_in_env

    with moto_s3_in_env("resume") as server:
        yield server


def _fit(videos, progress: FitProgress, stop_after: tuple[str, int] | None = None):
    """(stage results, reported rows) of one attempt, continuing ``progress``; raises Stopped after
    the checkpoint of epoch ``stop_after`` = (stage, epoch)."""
    train, val, test = videos
    resume = progress.latest(METHOD)

    def save(row, folder):
        progress.save(row["stage"], row["epoch"], folder)
        if (row["stage"], row["epoch"]) == stop_after:
            raise Stopped

    report = EpochCheckpointer(save, resume, {"resumed_from": resume.epoch, "resumed_stage": resume.stage})
    results = train_stages(METHOD, trsum.TRSumConfig.from_dict(TINY), train, val, test, "summe", torch.device("cpu"),
                           resume, report)
    return results, report.history


@pytest.fixture(scope="module")
def uninterrupted(videos, tmp_path_factory):
    return _fit(videos, FitProgress(Storage.parse(tmp_path_factory.mktemp("full")), FIT))


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("where, stop_after", [
    ("local", ("generator", 0)), ("local", ("summarizer", 0)), ("local", ("summarizer", 2)), ("s3", ("summarizer", 0))],
    ids=["mid-pretraining", "mid-scored-stage", "after-the-last-epoch", "mid-scored-stage-s3"])
def test_a_stopped_fit_continues_after_its_last_checkpoint(videos, uninterrupted, tmp_path, request, where, stop_after):
    storage = (Storage.parse(f"s3://{request.getfixturevalue('s3').bucket}/{tmp_path.name}") if where == "s3"
               else Storage.parse(tmp_path / "progress"))
    progress = FitProgress(storage, FIT)
    with pytest.raises(Stopped):
        _fit(videos, progress, stop_after)
    stage, epoch = stop_after
    assert {f.split("/")[0] for f in storage.files()} == {f"{stage}-epoch{epoch:04d}"}  # one checkpoint kept
    results, rows = _fit(videos, progress)
    (gen, _, _), (summ, history, best) = results
    (full_gen, _, _), (full_summ, full_history, full_best) = uninterrupted[0]
    assert _same(gen, full_gen) and _same(summ, full_summ)
    assert [r["reward"] for r in history] == [r["reward"] for r in full_history]
    assert {rule: b["epoch"] for rule, b in best.items()} == {rule: b["epoch"] for rule, b in full_best.items()}
    # every epoch reported once: those up to the checkpoint by the first attempt, the rest by the second
    full_rows = [(r["stage"], r["epoch"]) for r in uninterrupted[1]]
    cut = full_rows.index(stop_after) + 1
    assert [(r["stage"], r["epoch"], r["resumed_from"]) for r in rows] == [
        (s, e, -1) for s, e in full_rows[:cut]] + [(s, e, epoch) for s, e in full_rows[cut:]]
    assert resumed_from(rows) == (None if cut == len(full_rows) else {"stage": stage, "epoch": epoch})
    assert progress.clear() and storage.files() == [] and progress.latest(METHOD).stage is None


def test_resumed_from_names_the_checkpoint_a_run_continued_from():
    assert resumed_from([{"stage": "generator", "epoch": 0, "resumed_from": -1}]) is None
    rows = [{"stage": "summarizer", "epoch": 0, "resumed_from": -1, "resumed_stage": None},
            {"stage": "summarizer", "epoch": 1, "resumed_from": 0, "resumed_stage": "summarizer"}]
    assert resumed_from(rows) == {"stage": "summarizer", "epoch": 0}
    assert resumed_from([{"stage": "summarizer", "epoch": 3, "resumed_from": 2}]) == {"stage": "summarizer", "epoch": 2}


def test_incomplete_and_foreign_checkpoints_are_not_resumed_from(videos, tmp_path, capsys):
    storage = Storage.parse(tmp_path / "progress")
    progress = FitProgress(storage, FIT)
    with pytest.raises(Stopped):
        _fit(videos, progress, ("summarizer", 1))
    done = tmp_path / "progress" / "summarizer-epoch0001"
    assert json.loads((done / FIT_FILE).read_text()) == FIT
    assert progress.latest(METHOD).epoch == 1
    # a later epoch whose upload died before its FIT_FILE: not complete, not used
    partial = tmp_path / "progress" / "summarizer-epoch0002"
    partial.mkdir()
    (partial / "state.pt").write_bytes(b"half")
    found = progress.latest(METHOD)
    assert (found.stage, found.epoch, sorted(found.inputs)) == ("summarizer", 1, ["generator"])
    # another config (a --resume whose search chose other parameters): start afresh, say why
    other = FitProgress(storage, {**FIT, "cfg": {**TINY, "rl_lr": 0.5}})
    assert other.latest(METHOD) == Resume()
    assert "a checkpoint of another fit" in capsys.readouterr().err
