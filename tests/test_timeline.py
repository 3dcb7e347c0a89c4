import pytest

from vidsum.tuning.timeline import Span, breakdown, busy_cpus, format_breakdown, idle_cpu_seconds


def test_busy_and_idle_cpus():
    spans = [Span(0, 10), Span(5, 20)]
    assert busy_cpus(spans, 0) == 1 and busy_cpus(spans, 7) == 2 and busy_cpus(spans, 10) == 1 and busy_cpus(spans, 20) == 0
    # 2 CPUs over [0, 30): held 10 + 15 CPU-s, idle 60 - 25
    assert idle_cpu_seconds(spans, 0, 30, 2) == pytest.approx(35)
    assert idle_cpu_seconds(spans, 10, 20, 2) == pytest.approx(10)  # one fit alone: one CPU idle
    assert idle_cpu_seconds([Span(0, 10, cpus=2)], 0, 10, 2) == 0


def test_breakdown_of_a_run_whose_last_fit_runs_alone():
    # start-up 5 s; two searches; fit 0 overlaps search 1, fit 1 runs alone after it
    searches = [Span(5, 25), Span(25, 45)]
    fits = [Span(25, 65), Span(45, 85)]
    b = breakdown(90, 2, 5, searches, trial_cpu_s=60, fits=fits)
    assert b["startup_s"] == 5 and b["searching_s"] == 40 and b["tail_s"] == 45
    assert b["fit_cpu_s"] == 80 and b["n_fits"] == 2
    # after 45 s: [45, 65) two fits, [65, 85) one, [85, 90) none -> 0 + 20 + 10 idle CPU-s
    assert b["tail_idle_cpu_s"] == pytest.approx(30)
    assert b["busy_share"] == pytest.approx(140 / 180)
    text = format_breakdown(b)
    assert "90 s wall" in text and "78%" in text and "idle there 30 CPU-s" in text and "40 s each" in text
