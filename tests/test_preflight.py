"""The cluster checks of tune.py (vidsum.distributed.preflight), on facts dicts: no Ray started.

The same checks against real Ray heads (no dashboard; fake GPUs) are in test_cluster_guard.py.
"""

from __future__ import annotations

import socket

import pytest

from vidsum.distributed.preflight import (TrialRequest, check_cluster, describe_node, plan_concurrency, probe_address,
                                          split_address, stall_limit_s, trials_that_fit)
from vidsum.tuning.plan import check_gpus


def node(ip: str, free: dict | None = None, alive: bool = True, **total: float) -> dict:
    total = {"memory": 8e9, "object_store_memory": 1e8, f"node:{ip}": 1.0, **total}
    return {"id": ip, "ip": ip, "alive": alive, "total": total, "free": dict(total) if free is None else free}


def facts(*nodes: dict, state_api: bool | None = None, error: str = "") -> dict:
    return {"address": "10.0.0.1:6379", "nodes": list(nodes), "state_api": state_api, "state_api_error": error}


CPU_TRIAL = TrialRequest(cpus=1.0)
QUARTER_GPU = TrialRequest(cpus=1.0, gpus=0.25)
TRAIN_1 = TrialRequest(cpus=0.01, workers=1, worker_cpus=0.9)


# ---------------------------------------------------------------------------- the request


def test_request_shapes_and_what_tune_gets():
    assert QUARTER_GPU.bundles() == [{"CPU": 1.0, "GPU": 0.25}]
    assert QUARTER_GPU.tune_resources() == {"cpu": 1.0, "gpu": 0.25} and CPU_TRIAL.tune_resources() == {"cpu": 1.0}
    two = TrialRequest(cpus=0.01, workers=2, worker_cpus=0.9, worker_gpus=0.5)
    assert two.bundles() == [{"CPU": 0.01}, {"CPU": 0.9, "GPU": 0.5}, {"CPU": 0.9, "GPU": 0.5}]
    assert two.tune_resources() == {"cpu": 0.01}  # the workers ask Ray Train, not Tune
    assert QUARTER_GPU.describe() == "1 CPU + 0.25 GPU"
    assert two.describe() == "0.01 CPU (the trial) + 2 Ray Train workers of 0.9 CPU + 0.5 GPU each"
    assert TRAIN_1.describe() == "0.01 CPU (the trial) + 1 Ray Train worker of 0.9 CPU"


def test_search_hands_tune_the_request_the_checks_test():
    """search.trial_request is the one place both read (skipped where Ray is not installed)."""
    pytest.importorskip("ray")
    from vidsum.distributed.search import DRIVER_CPU, trial_request
    from vidsum.distributed.train import DEFAULT_CPUS_PER_WORKER

    assert trial_request(0, 0.25) == QUARTER_GPU
    assert trial_request(2, 1.0) == TrialRequest(cpus=DRIVER_CPU, workers=2, worker_cpus=DEFAULT_CPUS_PER_WORKER,
                                                 worker_gpus=0.5)


# ---------------------------------------------------------------------------- packing


def test_quarter_gpus_pack_four_per_gpu_limited_by_cpus_too():
    assert trials_that_fit(facts(node("a", CPU=8, GPU=2)), QUARTER_GPU) == 8
    assert trials_that_fit(facts(node("a", CPU=3, GPU=2)), QUARTER_GPU) == 3  # CPUs bind first
    assert trials_that_fit(facts(node("a", CPU=8, GPU=1), node("b", CPU=4, GPU=1)), QUARTER_GPU) == 8
    assert trials_that_fit(facts(node("a", CPU=8, GPU=1), node("b", CPU=4, GPU=1, alive=False)), QUARTER_GPU) == 4
    # fixed point: ten 0.1-GPU trials fill one GPU (0.1 * 10 is 0.9999999999999999 in floats)
    assert trials_that_fit(facts(node("a", CPU=16, GPU=1)), TrialRequest(cpus=1, gpus=0.1)) == 10
    assert trials_that_fit(facts(node("a", CPU=16, GPU=1)), TrialRequest(cpus=1, gpus=0.3)) == 3


def test_train_workers_may_spread_but_each_must_fit_a_node():
    two = TrialRequest(cpus=0.01, workers=2, worker_cpus=0.9)
    assert trials_that_fit(facts(node("a", CPU=1), node("b", CPU=1)), two) == 1  # one worker per node
    assert trials_that_fit(facts(node("a", CPU=2)), two) == 1  # 0.01 + 2 x 0.9 of 2 CPUs
    assert trials_that_fit(facts(node("a", CPU=0.5), node("b", CPU=0.5)), two) == 0


def test_free_resources_count_separately_from_totals():
    f = facts(node("a", free={"CPU": 0.5, "GPU": 2.0}, CPU=8, GPU=2))
    assert trials_that_fit(f, QUARTER_GPU) == 8 and trials_that_fit(f, QUARTER_GPU, "free") == 0


# ---------------------------------------------------------------------------- the checks


def test_a_cluster_that_fits_passes_with_a_summary_line():
    found = check_cluster(facts(node("10.0.0.5", CPU=8, GPU=2, worker_node=1)), QUARTER_GPU)
    assert not found.problems and not found.warnings and found.fits == found.fits_now == 8
    assert found.summary == ("Ray cluster 10.0.0.1:6379: 1 node alive (10.0.0.5: 8 CPU, 2 GPU, worker_node 1); "
                             "one trial holds 1 CPU + 0.25 GPU: 8 fit at once")


def test_train_trials_without_the_state_api_are_refused_with_the_fix():
    found = check_cluster(facts(node("a", CPU=2), state_api=False, error="ServerUnavailable: Failed to connect"), TRAIN_1)
    (problem,) = found.problems
    assert problem.startswith("--workers-per-trial 1 needs Ray's State API")
    for part in ("ServerUnavailable", "waits forever", "--include-dashboard=true", "--workers-per-trial 0"):
        assert part in problem, part
    # in-process trials do not need it; nor do Train trials where it answers
    assert not check_cluster(facts(node("a", CPU=2), state_api=False), CPU_TRIAL).problems
    assert not check_cluster(facts(node("a", CPU=2), state_api=True), TRAIN_1).problems


def test_a_trial_no_node_can_hold_names_the_request_and_the_nodes():
    f = facts(node("10.0.0.5", CPU=2), node("10.0.0.6", CPU=4, worker_node=1))
    (problem,) = check_cluster(f, TrialRequest(cpus=1, gpus=1)).problems
    assert "one trial holds 1 CPU + 1 GPU, and no alive node can hold it" in problem
    assert "10.0.0.5: 2 CPU, 0 GPU; 10.0.0.6: 4 CPU, 0 GPU, worker_node 1" in problem
    assert "No node has a GPU: use --gpus-per-trial 0" in problem
    (problem,) = check_cluster(facts(node("a", CPU=8, GPU=1)), TrialRequest(cpus=1, gpus=2)).problems
    assert "Lower --gpus-per-trial" in problem
    (problem,) = check_cluster(facts(node("a", CPU=1)), TrialRequest(cpus=0.01, workers=2, worker_cpus=0.9)).problems
    assert "2 Ray Train workers" in problem and "Lower --workers-per-trial" in problem


def test_no_alive_node_is_a_problem():
    (problem,) = check_cluster(facts(node("a", CPU=2, alive=False)), CPU_TRIAL).problems
    assert problem.startswith("no alive node in the Ray cluster at 10.0.0.1:6379")


def test_busy_cluster_and_too_many_concurrent_are_warnings():
    busy = facts(node("a", free={"CPU": 0.0}, CPU=2))
    found = check_cluster(busy, CPU_TRIAL)
    assert not found.problems and found.fits == 2 and found.fits_now == 0
    (warning,) = found.warnings
    assert "none in what is free now" in warning and "a: 0 CPU, 0 GPU" in warning
    (warning,) = check_cluster(facts(node("a", CPU=8, GPU=1)), QUARTER_GPU, max_concurrent=6).warnings
    assert warning.startswith("--max-concurrent 6, but only 4 trials fit")


def test_describe_node_leaves_out_ray_bookkeeping():
    n = node("10.0.0.7", CPU=4, GPU=1, **{"accelerator_type:A10G": 1.0, "worker_node": 1.0})
    assert describe_node(n) == "10.0.0.7: 4 CPU, 1 GPU, worker_node 1"
    assert describe_node({**n, "free": {"CPU": 1.5}}, "free") == "10.0.0.7: 1.5 CPU, 0 GPU"


# ----------------------------------------------------------------------------- concurrency


def test_gpu_trials_run_as_many_as_fit_cpu_trials_keep_the_preset():
    assert plan_concurrency(None, 2, 0.25, 8) == 8  # --gpus-per-trial 0.25 on 2 GPUs: all eight at once
    assert plan_concurrency(None, 2, 0.0, 8) == 2  # CPU trials: the quick preset's 2
    assert plan_concurrency(None, 0, 0.0, 8) == 0  # paper preset: as resources allow
    assert plan_concurrency(3, 2, 0.25, 8) == 3  # --max-concurrent wins
    assert plan_concurrency(None, 2, 0.25, 0) == 2  # nothing fits yet (autoscaling): the preset's
    assert plan_concurrency(None, 0, 1.0, 0) == 1


def test_stall_limit_is_at_least_ten_minutes():
    assert stall_limit_s(0) == 600 and stall_limit_s(1800) == 1800


# ------------------------------------------------------------------------------ addresses


def test_split_address():
    assert split_address("127.0.0.1:6379") == ("127.0.0.1", 6379)
    assert split_address("ray://head.example:10001") == ("head.example", 10001)
    assert split_address("auto") is None and split_address("10.0.0.1") is None and split_address("h:x") is None


def test_probe_says_nothing_listens_at_a_closed_port_and_passes_an_open_one():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends
    why = probe_address(f"127.0.0.1:{port}", 2.0)
    assert why.startswith(f"nothing listens at 127.0.0.1:{port} (connection refused)") and "ray start --head" in why
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert probe_address(f"127.0.0.1:{s.getsockname()[1]}", 2.0) is None
    assert probe_address("auto", 2.0) is None


# ------------------------------------------------------------------------------ GPU options


@pytest.mark.parametrize("gpus, workers, message", [
    (-0.5, 0, "must be >= 0"), (float("nan"), 0, "must be >= 0"), (1.5, 0, "a trial would get 1.5 GPU"),
    (3.0, 2, "each of the 2 Ray Train workers would get 1.5 GPU"), (0.00001, 0, "smallest GPU share"),
])
def test_gpu_shares_ray_cannot_place_are_refused(gpus, workers, message):
    with pytest.raises(ValueError, match=message):
        check_gpus(gpus, workers)


@pytest.mark.parametrize("gpus, workers", [(0.0, 0), (0.25, 0), (1.0, 0), (2.0, 0), (1.0, 4), (4.0, 2)])
def test_gpu_shares_ray_places(gpus, workers):
    check_gpus(gpus, workers)


# ------------------------------------------------------- in the search (imports Ray, starts none)


def test_stall_guard_stops_a_search_whose_trials_wait_while_none_runs(monkeypatch):
    pytest.importorskip("ray")
    from types import SimpleNamespace

    from vidsum.distributed import search

    clock = [1000.0]
    monkeypatch.setattr(search.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(search.preflight, "cluster_facts", lambda: facts(node("10.0.0.5", free={"CPU": 0.0}, CPU=2)))
    busy = [False]
    guard = search._StallGuard(3, QUARTER_GPU, 600, busy=lambda: busy[0])
    pending, running = SimpleNamespace(status="PENDING"), SimpleNamespace(status="RUNNING")

    def step(*trials, after: float = 0.0):
        clock[0] += after
        guard.on_step_end(0, list(trials))

    step(pending)
    step(pending, running, after=700)  # one runs: waiting is fine
    step(pending, after=1)
    busy[0] = True
    step(pending, after=900)  # a final fit of ours holds the resources: not a stall
    busy[0] = False
    step(pending, after=1)
    step(pending, after=599)
    with pytest.raises(RuntimeError) as err:
        step(pending, after=1)
    message = str(err.value)
    assert message.startswith("fold 3: no trial has run for 600 s while 1 wait(s) for 1 CPU + 0.25 GPU")
    assert "free now: 10.0.0.5: 0 CPU, 0 GPU" in message and "State API" in message


def test_a_trial_holding_a_gpu_torch_cannot_see_trains_on_cpu_and_says_so(monkeypatch, capsys):
    pytest.importorskip("ray")
    from vidsum.distributed import search

    monkeypatch.setattr(search, "_gpu_ids", lambda: "1")
    monkeypatch.setattr(search.torch.cuda, "is_available", lambda: False)
    assert search.pick_device(0.0, "trial t1").type == "cpu" and capsys.readouterr().err == ""
    assert search.pick_device(0.25, "trial t1").type == "cpu"
    note = capsys.readouterr().err
    assert note.startswith("trial t1: holds 0.25 GPU (Ray GPU id(s) 1, CUDA_VISIBLE_DEVICES=")
    assert "sees no CUDA device" in note and note.rstrip().endswith("training on CPU")
    monkeypatch.setattr(search.torch.cuda, "is_available", lambda: True)
    assert search.pick_device(0.25, "trial t1").type == "cuda" and capsys.readouterr().err == ""


def test_waiting_for_resources_asks_the_autoscaler_and_gives_up_in_time(monkeypatch):
    """--wait-for-resources: ask the autoscaler for one trial's shapes, poll until a node that can
    hold it joins (or the time is up), say what it waits for, and withdraw the request."""
    sdk = pytest.importorskip("ray.autoscaler.sdk")
    from vidsum.distributed import preflight

    asked, lines, clock = [], [], [0.0]
    monkeypatch.setattr(sdk, "request_resources", lambda bundles: asked.append(bundles))
    monkeypatch.setattr(preflight.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(preflight.time, "sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    cpu_only = facts(node("10.0.0.1", CPU=8), state_api=True)
    later = iter([cpu_only, cpu_only, facts(node("10.0.0.1", CPU=8), node("10.0.0.9", CPU=4, GPU=1))])
    monkeypatch.setattr(preflight, "cluster_facts", lambda address=None, *a, **k: next(later))
    got = preflight.wait_for_room(QUARTER_GPU, 900, cpu_only, lines.append, poll_s=5)
    assert trials_that_fit(got, QUARTER_GPU) == 4 and got["state_api"] is True  # kept from the first probe
    assert asked == [[{"CPU": 1.0, "GPU": 0.25}], []]
    assert lines[0].startswith("waiting up to 900 s (--wait-for-resources) for a node that can hold one trial "
                               "(1 CPU + 0.25 GPU); asked the autoscaler for one. Nodes now: 10.0.0.1: 8 CPU, 0 GPU")
    assert lines[-1] == "a node that can hold one trial joined after 15 s"

    asked.clear(), lines.clear()
    monkeypatch.setattr(preflight, "cluster_facts", lambda address=None, *a, **k: cpu_only)
    got = preflight.wait_for_room(QUARTER_GPU, 60, cpu_only, lines.append, poll_s=5, report_every_s=30)
    assert trials_that_fit(got, QUARTER_GPU) == 0 and asked[-1] == []  # withdrawn after giving up
    assert [line.split(" (")[0] for line in lines[1:]] == ["still waiting for a node that can hold 1 CPU + 0.25 GPU"] * 2
    assert check_cluster(got, QUARTER_GPU).problems  # then refused, naming the nodes
    # nothing to wait for: no request, no line
    asked.clear()
    assert preflight.wait_for_room(QUARTER_GPU, 900, facts(node("a", CPU=8, GPU=1)), lines.append) and asked == []
