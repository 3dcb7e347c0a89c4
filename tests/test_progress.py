"""vidsum.progress: plain lines off a terminal, a tqdm bar on one, and the switches that silence both."""

import io

import pytest

from vidsum import progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_plain_lines_one_per_update_with_stats_and_eta():
    out = io.StringIO()
    with progress.Progress("train x", 3, unit="epoch", stream=out) as p:
        for loss in (0.5, 0.25, 0.125):
            p.update(loss=loss, label_free=float("nan"))
    lines = _lines(out)
    assert [line.split(" | ")[0] for line in lines] == [
        "train x: epoch 1/3  loss 0.5", "train x: epoch 2/3  loss 0.25", "train x: epoch 3/3  loss 0.125"]
    assert all("elapsed" in line for line in lines) and "\r" not in out.getvalue()
    assert "ETA" in lines[0] and "ETA" not in lines[-1]  # nothing left at the end
    assert not p.live


def test_throttled_counter_writes_first_and_last_state_only():
    out = io.StringIO()
    p = progress.Progress("downloading f.zip", 100 * 2**20, unit="B", byte_counts=True, show_rate=True,
                          every_s=3600, stream=out)
    for _ in range(100):
        p.update(2**20)
    p.close()
    lines = _lines(out)
    assert len(lines) == 2
    assert lines[0].startswith("downloading f.zip: 1.00MB/100MB") and lines[-1].startswith("downloading f.zip: 100MB/100MB")
    assert "B/s" in lines[-1]


def test_unknown_total_is_reached_on_close_and_short_work_stays_silent():
    out = io.StringIO()
    with progress.Progress("frames", None, unit="frame", every_s=3600, stream=out) as p:
        for i in range(1, 51):
            p.update_to(i)
    assert [line.split(" | ")[0] for line in _lines(out)] == ["frames: frame 1", "frames: frame 50"]
    silent = io.StringIO()
    with progress.Progress("KTS", 10, unit="round", delay_s=3600, stream=silent) as p:
        p.update_to(10)
    assert silent.getvalue() == ""


def test_quiet_and_the_environment_switch_silence_everything(monkeypatch):
    out = io.StringIO()
    with progress.quiet():
        with progress.quiet(False):  # nested: an inner "not quiet" does not undo the outer one
            assert not progress.enabled()
            with progress.Progress("x", 2, stream=out) as p:
                p.update(2)
    assert progress.enabled() and out.getvalue() == ""
    monkeypatch.setenv(progress.ENV_VAR, "0")
    assert not progress.enabled()
    with progress.Progress("x", 2, stream=out) as p:
        p.update(2)
        p.write("a result", file=out)  # results are not progress: they still print
    assert out.getvalue() == "a result\n"


def test_terminal_gets_a_live_bar():
    tty = _Terminal()
    with progress.Progress("train x", 3, unit="epoch", stream=tty) as p:
        assert p.live
        for _ in range(3):
            p.update(loss=0.5)
    text = tty.getvalue()
    assert "\r" in text and "3/3" in text and "loss 0.5" in text


def test_epoch_progress_counts_each_stage_and_hides_the_oracle(capsys):
    shown = progress.EpochProgress("train trsum", {"generator": 2, "summarizer": 3})
    for epoch in range(2):
        shown({"stage": "generator", "epoch": epoch, "loss": 1.0 - epoch / 10})
    for epoch in range(3):
        shown({"stage": "summarizer", "epoch": epoch, "loss": 0.01, "sel_label_free": 0.6, "sel_validation": 0.3,
               "sel_oracle": 0.777})
    shown.close()
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert captured.out == ""
    assert [line.split(":")[0] for line in lines] == ["train trsum, generator (stage 1/2)"] * 2 + \
        ["train trsum, summarizer (stage 2/2)"] * 3
    assert [line.split(": ")[1].split("  ")[0] for line in lines] == ["epoch 1/2", "epoch 2/2", "epoch 1/3",
                                                                       "epoch 2/3", "epoch 3/3"]
    assert "label_free 0.6 validation 0.3" in lines[-1] and "oracle" not in captured.err and "0.777" not in captured.err


def test_epoch_progress_of_a_resumed_stage_counts_from_its_first_epoch(capsys):
    shown = progress.EpochProgress("ray train sgvs", {"sgvs": 10})
    shown({"stage": "sgvs", "epoch": 6, "loss": 0.1})  # resumed from the checkpoint of epoch 5
    shown({"stage": "sgvs", "epoch": 7, "loss": 0.1})
    lines = capsys.readouterr().err.splitlines()
    assert [line.split("  ")[0] for line in lines] == ["ray train sgvs: epoch 7/10", "ray train sgvs: epoch 8/10"]
    assert shown._progress.initial == 6


@pytest.mark.parametrize("stats, text", [({"loss": 0.123456}, "loss 0.1235"), ({"n": 3, "x": None}, "n 3"),
                                         ({"a": float("nan")}, "")])
def test_format_stats(stats, text):
    assert progress.format_stats(stats) == text
