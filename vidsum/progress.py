"""Progress of long work, on stderr: a live tqdm bar on a terminal, plain lines anywhere else.

Every entry point (the ``vidsum`` subcommands, ``tune.py``, the benchmarks) reports through this
module, so one switch silences all of it: ``--quiet`` (:func:`quiet`) or ``VIDSUM_PROGRESS=0``
in the environment. Results (tables, JSON) stay on stdout, so ``--json`` output stays parseable.

On a terminal (stderr is a TTY) a :class:`Progress` is a tqdm bar redrawn in place: count /
total, elapsed, rate, ETA. Anywhere else (CI, ``2> log``, a Ray worker's log file) it writes plain
lines, never a carriage return, e.g.

    train trsum, generator (stage 1/2): epoch 3/120  loss 0.951 | 00:12 elapsed, ETA 07:40

one per update, or at most one every ``every_s`` seconds for counters that move many times a
second (bytes, frames), and always the last state. Work that ends within ``delay_s`` shows nothing.

The loops stay free of this module: the training loops report through ``Runtime.report``
(:class:`EpochProgress` is such a callback), KTS through a callback argument.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO

ENV_VAR = "VIDSUM_PROGRESS"
_OFF = ("0", "false", "no", "off")
_quiet = False  # set by quiet(); module state so that library code deep down needs no flag passed in


def enabled() -> bool:
    """False under :func:`quiet` or when ``VIDSUM_PROGRESS`` is 0 / false / no / off."""
    return not _quiet and os.environ.get(ENV_VAR, "1").strip().lower() not in _OFF


@contextmanager
def quiet(on: bool = True) -> Iterator[None]:
    """Silence every progress display inside the block when ``on`` (``--quiet``); nests."""
    global _quiet
    previous = _quiet
    _quiet = previous or bool(on)
    try:
        yield
    finally:
        _quiet = previous


def format_stats(stats: Mapping[str, Any]) -> str:
    """'loss 0.951 label_free 0.612': floats to 4 significant digits, None / NaN left out."""
    parts = []
    for name, value in stats.items():
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        parts.append(f"{name} {value:.4g}" if isinstance(value, float) else f"{name} {value}")
    return " ".join(parts)


def _interval(seconds: float) -> str:
    """'00:12', '07:40', '1:02:05' (tqdm's format, so bars and lines read alike)."""
    from tqdm import tqdm

    return tqdm.format_interval(max(0.0, seconds))


def _size(n: float) -> str:
    """'118MB' style byte counts (binary prefixes, as tqdm's bar with unit_divisor=1024)."""
    from tqdm import tqdm

    return tqdm.format_sizeof(n, "B", 1024)


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Progress:
    """One piece of long work: ``total`` items (None: unknown) of ``unit`` each.

    desc:        what is running ('train trsum, generator (stage 1/2)')
    unit:        the item's name ('epoch', 'video', 'frame', 'B' with byte_counts)
    initial:     items already done (a resumed run): the rate and ETA count from here
    every_s:     plain lines at most this often (0: one line per update)
    delay_s:     show nothing until the work has run this long (short inputs stay silent)
    show_rate:   plain lines also give items per second (frames/s, MB/s)
    byte_counts: counts are bytes: shown as KB / MB / GB
    stream:      where to write (default: sys.stderr at construction)

    Disabled (:func:`enabled` false at construction), every method does nothing. Use it as a
    context manager, or call :meth:`close`, so the last state is written and a bar ends its line.
    """

    def __init__(self, desc: str, total: int | None = None, *, unit: str = "it", initial: int = 0,
                 every_s: float = 0.0, delay_s: float = 0.0, show_rate: bool = False, byte_counts: bool = False,
                 stream: TextIO | None = None):
        self.desc, self.total, self.unit = desc, total, unit
        self.n = self.initial = int(initial)
        self.every_s, self.delay_s, self.show_rate, self.byte_counts = every_s, delay_s, show_rate, byte_counts
        self.enabled = enabled()
        self.stream = stream if stream is not None else sys.stderr
        self.stats = ""
        self._start = time.monotonic()
        self._last_line_at = -math.inf
        self._line_n: int | None = None  # count shown by the last plain line
        self._closed = False
        self._bar = None
        if self.enabled and _isatty(self.stream):
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, initial=initial, file=self.stream, delay=delay_s,
                             unit_scale=byte_counts, unit_divisor=1024 if byte_counts else 1000,
                             dynamic_ncols=True, leave=True)

    @property
    def live(self) -> bool:
        """True when this is a live tqdm bar (enabled, and the stream is a terminal)."""
        return self._bar is not None

    def update(self, n: int = 1, **stats: Any) -> None:
        """``n`` more items done; ``stats`` (loss=..., ...) are shown beside the count."""
        self.update_to(self.n + n, **stats)

    def update_to(self, done: int, total: int | None = None, **stats: Any) -> None:
        """``done`` items in all (and a new ``total`` when the work's size became better known)."""
        if not self.enabled or self._closed:
            return
        if total is not None and total != self.total:
            self.total = total
            if self._bar is not None:
                self._bar.total = total
        if stats:
            self.stats = format_stats(stats)
            if self._bar is not None:
                self._bar.set_postfix_str(self.stats, refresh=False)
        step, self.n = done - self.n, done
        if self._bar is not None:
            self._bar.update(step)
            return
        now = time.monotonic()
        if now - self._start < self.delay_s:
            return  # short work stays silent (a bar: tqdm's own delay)
        finished = self.total is not None and self.n >= self.total
        if self.every_s and not finished and now - self._last_line_at < self.every_s:
            return
        self._write_line(now)

    def write(self, text: str, file: TextIO | None = None) -> None:
        """Print a line of results (to stdout by default) without tearing a live bar; prints
        when progress is off too: results are not progress."""
        file = file if file is not None else sys.stdout
        if self._bar is not None and not self._closed:
            from tqdm import tqdm

            tqdm.write(text, file=file)
            file.flush()
        else:
            print(text, file=file, flush=True)

    def skip_to(self, done: int) -> None:
        """Before any update: ``done`` items were finished earlier (a resumed run), so the rate
        and ETA count from here."""
        if not self.enabled or self._closed:
            return
        self.n = self.initial = int(done)
        if self._bar is not None:
            self._bar.n = self._bar.initial = self.n
            self._bar.refresh()

    def close(self) -> None:
        """End the display: a bar closes its line; plain output writes the last state if not yet shown."""
        if not self.enabled or self._closed:
            return
        self._closed = True
        if self._bar is not None:
            self._bar.close()
            return
        now = time.monotonic()
        if self.n != self._line_n and self.n > self.initial and now - self._start >= self.delay_s:
            self._write_line(now)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def line(self, now: float | None = None) -> str:
        """The plain line of the current state."""
        elapsed = (time.monotonic() if now is None else now) - self._start
        if self.byte_counts:
            count = _size(self.n) + ("" if self.total is None else f"/{_size(self.total)}")
        else:
            count = f"{self.unit} {self.n}" + ("" if self.total is None else f"/{self.total}")
        text = f"{self.desc}: {count}" + (f"  {self.stats}" if self.stats else "") + f" | {_interval(elapsed)} elapsed"
        done_here = self.n - self.initial
        if self.show_rate and elapsed > 0 and done_here > 0:
            rate = done_here / elapsed
            text += f", {_size(rate)}/s" if self.byte_counts else f", {rate:.1f} {self.unit}/s"
        if self.total is not None and 0 < done_here and self.n < self.total:
            text += f", ETA {_interval(elapsed / done_here * (self.total - self.n))}"
        return text

    def _write_line(self, now: float) -> None:
        print(self.line(now), file=self.stream, flush=True)
        self._last_line_at, self._line_n = now, self.n


class EpochProgress:
    """A ``Runtime.report`` callback that shows training: one :class:`Progress` per stage, advanced
    once per epoch, with the epoch's loss and selection values.

    label:        what is trained ('train trsum')
    stage_epochs: {stage name, as the loops write it in their rows: epochs of that stage}, in
                  training order (``Method.stage_epochs``); a stage not listed gets no total.

    The first stage's clock starts when this is made and each next one's when the stage before
    it ends, so elapsed time and ETA include a stage's set-up, not only its epochs. A run that
    resumes mid-stage counts its rate from the first epoch it reports. Selection values shown:
    label_free and validation (held-out training videos); the oracle value, which reads the
    test videos, is left out on purpose: it is not for choosing.
    """

    SHOWN = {"loss": "loss", "sel_label_free": "label_free", "sel_validation": "validation"}

    def __init__(self, label: str, stage_epochs: Mapping[str, int]):
        self.label, self.stage_epochs = label, dict(stage_epochs)
        self._stages = list(self.stage_epochs)
        self._stage: str | None = None
        self._progress: Progress | None = None
        self._fresh = False  # the open stage has seen no row yet
        if self._stages:
            self._open(self._stages[0])

    def __call__(self, row: Mapping[str, Any], state: Any = None) -> None:
        stage, epoch = str(row.get("stage", "")), int(row["epoch"])
        if stage != self._stage or self._progress is None:
            self._open(stage)
        if self._fresh and epoch > self._progress.n:
            self._progress.skip_to(epoch)  # resumed from a checkpoint: those epochs were done before
        self._fresh = False
        stats = {name: row[key] for key, name in self.SHOWN.items() if key in row}
        self._progress.update_to(epoch + 1, **stats)
        total = self.stage_epochs.get(stage)
        at = self._stages.index(stage) if stage in self._stages else -1
        if total is not None and epoch + 1 >= total and 0 <= at < len(self._stages) - 1:
            self._open(self._stages[at + 1])  # the next stage's clock starts now

    def close(self) -> None:
        if self._progress is not None:
            self._progress.close()
            self._progress = None

    def _open(self, stage: str) -> None:
        self.close()
        self._stage, self._fresh = stage, True
        self._progress = Progress(self._desc(stage), self.stage_epochs.get(stage), unit="epoch")

    def _desc(self, stage: str) -> str:
        if stage not in self._stages:
            return f"{self.label}, {stage}" if stage else self.label
        if len(self._stages) == 1:
            return self.label
        return f"{self.label}, {stage} (stage {self._stages.index(stage) + 1}/{len(self._stages)})"
