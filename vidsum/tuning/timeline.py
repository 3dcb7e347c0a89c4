"""Where a search run's wall time went (Ray-free, so it is testable without a cluster).

A run is: start-up (data, stand-in build), then per fold a search (its trials) and a final fit
that runs as a task while later folds are searched. The final fits are the long pole; what a
run can lose is the *tail*: after the last search only final fits remain, and CPUs no fit
holds sit idle. :func:`breakdown` measures each part from the driver's clock, and
:func:`format_breakdown` prints it at the end of ``tune.py``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """One piece of work on the driver's clock (seconds since the run started); cpus it held."""

    start: float
    end: float
    cpus: float = 1.0

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)


def busy_cpus(spans: list[Span], t: float) -> float:
    """CPUs held at time ``t`` by the spans running then (start <= t < end)."""
    return sum(s.cpus for s in spans if s.start <= t < s.end)


def idle_cpu_seconds(spans: list[Span], start: float, end: float, cpus: float) -> float:
    """CPU-seconds in [start, end) that no span held, out of ``cpus`` CPUs (piecewise exact)."""
    cuts = sorted({start, end, *(s.start for s in spans if start < s.start < end), *(s.end for s in spans if start < s.end < end)})
    idle = 0.0
    for a, b in zip(cuts, cuts[1:]):
        idle += max(0.0, cpus - busy_cpus(spans, a)) * (b - a)
    return idle


def breakdown(wall: float, cpus: float, first_fold_start: float, searches: list[Span], trial_cpu_s: float,
              fits: list[Span]) -> dict[str, float]:
    """Seconds per part of a run.

    wall: the run's wall time; cpus: CPUs of the cluster; first_fold_start: when the first search
    began; searches: one span per fold search; trial_cpu_s: the trials' summed wall time (one CPU
    each); fits: one span per final fit (its time inside the task, ending when it returned).
    Returns start-up, searching (wall time while some search ran), tail (after the last search),
    the final fits' CPU-seconds, the idle CPU-seconds of the tail and of the whole run (what no
    trial or fit held), and the share of the run's CPU-seconds the work used.
    """
    last_search_end = max((s.end for s in searches), default=first_fold_start)
    fit_cpu_s = sum(f.seconds * f.cpus for f in fits)
    capacity = wall * cpus
    return {
        "wall_s": wall,
        "cpus": cpus,
        "startup_s": first_fold_start,
        "searching_s": last_search_end - first_fold_start,
        "tail_s": max(0.0, wall - last_search_end),
        "trial_cpu_s": trial_cpu_s,
        "fit_cpu_s": fit_cpu_s,
        "n_fits": float(len(fits)),
        "tail_idle_cpu_s": idle_cpu_seconds(fits, last_search_end, wall, cpus),
        "busy_share": (trial_cpu_s + fit_cpu_s) / capacity if capacity > 0 else float("nan"),
    }


def format_breakdown(b: dict[str, float]) -> str:
    """The breakdown as a few aligned lines for the end of a run."""
    n_fits = int(b["n_fits"])
    lines = [
        f"where the time went ({b['wall_s']:.0f} s wall, {b['cpus']:g} CPUs, "
        f"{100 * b['busy_share']:.0f}% of their CPU-seconds used by trials and final fits):",
        f"  start-up before the first search   {b['startup_s']:6.0f} s",
        f"  searching (final fits alongside)   {b['searching_s']:6.0f} s   trials {b['trial_cpu_s']:.0f} CPU-s",
        f"  after the last search (fits only)  {b['tail_s']:6.0f} s   idle there {b['tail_idle_cpu_s']:.0f} CPU-s",
        f"  final fits                         {n_fits:6d}     {b['fit_cpu_s']:.0f} CPU-s"
        + (f", {b['fit_cpu_s'] / n_fits:.0f} s each" if n_fits else ""),
    ]
    return "\n".join(lines)
