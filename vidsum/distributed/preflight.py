"""What the Ray cluster offers, checked before tune.py starts a search, so that it never hangs.

Ray waits without end for resources nobody has: a trial asking for a GPU on a cluster without
one stays PENDING forever, ``ray.init(address=...)`` keeps retrying an address where no Ray
head answers, and Tune over Train (``--workers-per-trial >= 1``) on a cluster without Ray's
State API (the dashboard, ``ray[default]``) leaks the placement groups of the trials Tune stops,
so a later fit waits forever on resources that never come back (STACK-NOTES, "Multi-node for
real"). This module turns each of those into one clear message at start.

Two halves:

* pure (no Ray; unit-tested on dicts): :class:`TrialRequest` (one trial's resources, also what
  ``vidsum.distributed.search`` hands to Tune), :func:`trials_that_fit`, :func:`check_cluster`
  (cluster facts + request -> problems, warnings, how many trials fit), :func:`plan_concurrency`;
* Ray-touching: :func:`connect` (``ray.init`` with a deadline), :func:`cluster_facts` (the
  facts dict from the running cluster), :func:`wait_for_room` (a bounded wait for a node that
  can hold one trial, asking the autoscaler for it), :func:`run_preflight` (all of it, for the CLI).

The facts dict::

    {"address": "127.0.0.1:6379",
     "nodes": [{"id": "ab12...", "ip": "10.0.0.5", "alive": True,
                "total": {"CPU": 8.0, "GPU": 2.0, "worker_node": 1.0},   # what the node declares
                "free": {"CPU": 6.0, "GPU": 1.5}}],                     # what is unclaimed now
     "state_api": True | False | None,   # None: not checked (not needed)
     "state_api_error": "..."}          # why it is down

Resources are compared in Ray's own fixed point (1/10000 of a unit), so four 0.25-GPU trials
fill exactly one GPU and ten 0.1-CPU ones one CPU.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Ray stores resource amounts as integers of 1/10000 (fractional GPUs are multiples of it).
RESOURCE_UNIT = 10_000
# Resources every node carries that say nothing about what a trial can use.
_BOOKKEEPING = ("memory", "object_store_memory")
# Without --wait-for-resources, tune.py stops the search when no trial has run for this long
# while trials wait (the State API leak, a node lost for good, a cluster taken by other jobs).
STALL_LIMIT_S = 600.0
# How long the State API probe retries when a dashboard is announced (it may still be starting).
STATE_API_WAIT_S = 15.0


# --------------------------------------------------------------------------------- the request


@dataclass(frozen=True)
class TrialRequest:
    """The resources one trial holds while it runs.

    workers == 0: one process (the trial) holding ``cpus`` CPUs and ``gpus`` GPUs on one node.
    workers >= 1 (Tune over Train): the trial process holds ``cpus`` (a token, it only drives) and
    each of its ``workers`` Ray Train workers ``worker_cpus`` CPUs and ``worker_gpus`` GPUs; each
    worker is placed on its own and may land on another node than the trial.
    GPUs may be fractions below 1 (0.25: four trials share a GPU); Ray refuses fractions above 1.
    """

    cpus: float
    gpus: float = 0.0
    workers: int = 0
    worker_cpus: float = 0.0
    worker_gpus: float = 0.0

    def bundles(self) -> list[dict[str, float]]:
        """Ray resource shapes of one trial: [trial process] + one per Train worker (zeros dropped)."""
        own = {"CPU": self.cpus, "GPU": self.gpus}
        worker = {"CPU": self.worker_cpus, "GPU": self.worker_gpus}
        return [{k: v for k, v in b.items() if v > 0} for b in [own] + [worker] * self.workers]

    def tune_resources(self) -> dict[str, float]:
        """What ``ray.tune.with_resources`` gets for the trial process (Tune's lower-case keys)."""
        return {"cpu": self.cpus, **({"gpu": self.gpus} if self.gpus > 0 else {})}

    def describe(self) -> str:
        """E.g. '1 CPU + 0.25 GPU' or '0.01 CPU (the trial) + 2 Ray Train workers of 0.9 CPU + 0.5 GPU each'."""
        if not self.workers:
            return _amounts({"CPU": self.cpus, "GPU": self.gpus})
        each = _amounts({"CPU": self.worker_cpus, "GPU": self.worker_gpus})
        return (f"{_amounts({'CPU': self.cpus, 'GPU': self.gpus})} (the trial) + {self.workers} Ray Train "
                f"worker{'s' if self.workers > 1 else ''} of {each}{' each' if self.workers > 1 else ''}")


def _num(x: float) -> str:
    return f"{x:g}"


def _amounts(resources: dict[str, float]) -> str:
    """{'CPU': 1.0, 'GPU': 0.25} -> '1 CPU + 0.25 GPU' (zeros left out)."""
    return " + ".join(f"{_num(v)} {k}" for k, v in resources.items() if v > 0) or "nothing"


def _units(resources: dict[str, float]) -> dict[str, int]:
    return {k: round(float(v) * RESOURCE_UNIT) for k, v in resources.items()}


# ------------------------------------------------------------------------------ pure checks


def alive_nodes(facts: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in facts.get("nodes", []) if n.get("alive", True)]


def describe_node(node: dict[str, Any], which: str = "total") -> str:
    """'10.0.0.5: 8 CPU, 2 GPU, worker_node 1' (``which``: 'total' or 'free'); Ray's bookkeeping
    resources (memory, node:<ip>, accelerator_type:...) left out."""
    res = node.get(which) or {}
    cpu_gpu = [f"{_num(res.get(k, 0.0))} {k}" for k in ("CPU", "GPU")]
    custom = [f"{k} {_num(v)}" for k, v in sorted(res.items())
              if k not in ("CPU", "GPU", *_BOOKKEEPING) and not k.startswith(("node:", "accelerator_type:"))]
    return f"{node.get('ip', '?')}: {', '.join(cpu_gpu + custom)}"


def _pack(bundles: list[dict[str, float]], capacities: list[dict[str, int]]) -> bool:
    """Place every bundle on some node (first fit, largest bundle first), taking from ``capacities``
    (integer units, changed in place). False, and capacities partly taken, when one does not fit."""
    for bundle in sorted((_units(b) for b in bundles), key=lambda b: sorted(b.values(), reverse=True), reverse=True):
        for cap in capacities:
            if all(cap.get(k, 0) >= v for k, v in bundle.items()):
                for k, v in bundle.items():
                    cap[k] = cap.get(k, 0) - v
                break
        else:
            return False
    return True


def trials_that_fit(facts: dict[str, Any], request: TrialRequest, which: str = "total", limit: int = 100_000) -> int:
    """How many trials of ``request`` the alive nodes hold at once (``which``: their 'total' or what
    is 'free' now). Greedy packing; exact for in-process trials (one bundle each)."""
    capacities = [_units(n.get(which) or {}) for n in alive_nodes(facts)]
    bundles = request.bundles()
    if not bundles or not any(bundles):
        return limit  # asks for nothing (cannot happen with tune.py: a trial holds > 0 CPU)
    count = 0
    while count < limit and _pack(bundles, capacities):
        count += 1
    return count


def _largest(facts: dict[str, Any], name: str) -> float:
    return max((float((n.get("total") or {}).get(name, 0.0)) for n in alive_nodes(facts)), default=0.0)


@dataclass
class Preflight:
    """What :func:`check_cluster` found. problems: refuse to start (each one sentence, with the
    fix); warnings: start, but say it loudly; fits: trials that fit at once on the nodes' totals;
    fits_now: on what is free now; summary: one line describing the cluster and the request."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fits: int = 0
    fits_now: int = 0
    summary: str = ""


def check_cluster(facts: dict[str, Any], request: TrialRequest, max_concurrent: int | None = None) -> Preflight:
    """Problems and warnings of running trials of ``request`` on the cluster described by ``facts``.

    max_concurrent: --max-concurrent when given (warned about when more than fit at once).
    Problems: no node alive; Tune over Train without the State API; one trial fits on no node (the
    message names the request and what every node has). Warning: it fits, but not in what is
    free now (the trials will wait for other work to end).
    """
    out = Preflight()
    nodes = alive_nodes(facts)
    where = facts.get("address") or "the cluster"
    out.fits = trials_that_fit(facts, request, "total") if nodes else 0
    out.fits_now = trials_that_fit(facts, request, "free") if nodes else 0
    node_list = "; ".join(describe_node(n) for n in nodes)
    out.summary = (f"Ray cluster {where}: {len(nodes)} node{'s' if len(nodes) != 1 else ''} alive ({node_list or 'none'}); "
                   f"one trial holds {request.describe()}: {out.fits} fit at once"
                   + ("" if out.fits_now == out.fits else f", {out.fits_now} in what is free now"))
    if not nodes:
        out.problems.append(f"no alive node in the Ray cluster at {where} (`ray status` lists them); "
                            f"start the head and its worker nodes first")
        return out
    if request.workers and facts.get("state_api") is False:
        why = facts.get("state_api_error") or "it did not answer"
        out.problems.append(
            f"--workers-per-trial {request.workers} needs Ray's State API (the dashboard, from `pip install "
            f"\"ray[default]\"`), and the cluster at {where} has none ({why}). Without it Ray Train never frees "
            f"the resources of a trial that Tune stops early, and the search then waits forever. Start the "
            f"head with the dashboard (`ray start --head --include-dashboard=true`), or use --workers-per-trial 0 "
            f"(each trial trains in its own process).")
    if out.fits == 0:
        gpu_hint = ""
        if request.gpus + request.worker_gpus > 0 and _largest(facts, "GPU") == 0:
            gpu_hint = " No node has a GPU: use --gpus-per-trial 0 (CPU), or add GPU nodes."
        elif request.gpus + request.worker_gpus > 0:
            gpu_hint = " Lower --gpus-per-trial (0.25: four trials share a GPU) or add larger nodes."
        else:
            gpu_hint = " Lower --workers-per-trial or add larger nodes."
        out.problems.append(
            f"one trial holds {request.describe()}, and no alive node can hold it (a trial's process, and each "
            f"Ray Train worker, must fit on one node). The {len(nodes)} node{'s' if len(nodes) != 1 else ''} "
            f"of {where} {'have' if len(nodes) != 1 else 'has'}: {node_list}.{gpu_hint} On an autoscaling cluster (cluster.yaml), "
            f"--wait-for-resources 900 lets the autoscaler add a node first.")
    elif out.fits_now == 0:
        out.warnings.append(
            f"one trial holds {request.describe()}: the cluster has room for {out.fits} in all but none in what is "
            f"free now ({'; '.join(describe_node(n, 'free') for n in nodes)}); trials wait until other work ends "
            f"(the search stops if none runs for {STALL_LIMIT_S:.0f} s; --wait-for-resources raises that)")
    if max_concurrent and 0 < out.fits < max_concurrent:
        out.warnings.append(f"--max-concurrent {max_concurrent}, but only {out.fits} trials fit on the cluster at "
                            f"once ({request.describe()} each); the rest wait their turn, or for the nodes an "
                            f"autoscaler adds for them")
    return out


def plan_concurrency(requested: int | None, preset: int, gpus: float, fits: int) -> int:
    """Trials at once (0: as many as the resources allow, Tune's own limit).

    requested: --max-concurrent (wins when given). Otherwise CPU trials keep the preset's number
    (the quick preset's 2 fits a 2-core machine, and a few trials at once keep TPE informed), and
    GPU trials run as many as fit (``fits``: :func:`trials_that_fit` on the cluster's totals), so
    that --gpus-per-trial 0.25 puts four trials on every GPU; a cluster that fits none yet (an
    autoscaler still adding GPU nodes) gets the preset's number, at least 1.
    """
    if requested is not None:
        return requested
    if gpus > 0:
        return fits if fits > 0 else max(1, preset)
    return preset


# --------------------------------------------------------------------------- the connection


def split_address(address: str) -> tuple[str, int] | None:
    """(host, port) of 'host:port' or 'ray://host:port'; None for 'auto' / 'local' or no port."""
    text = address.split("://", 1)[-1].strip().rstrip("/")
    if text in ("auto", "local", "") or ":" not in text:
        return None
    host, _, port = text.rpartition(":")
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        return None


def probe_address(address: str, timeout_s: float) -> str | None:
    """None if something accepts a TCP connection at ``address`` within ``timeout_s``, else why
    not (one sentence). 'auto' and addresses without a port are left to ``ray.init``."""
    hostport = split_address(address)
    if hostport is None:
        return None
    host, port = hostport
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except ConnectionRefusedError:
        return (f"nothing listens at {host}:{port} (connection refused): is the Ray head running there? "
                f"(`ray start --head --port {port}` starts one; `ray status --address {host}:{port}` checks)")
    except socket.timeout:
        return f"no answer from {host}:{port} within {timeout_s:g} s (a firewall, or the wrong address?)"
    except OSError as e:
        return f"cannot reach {host}:{port}: {e}"


def connect(address: str, timeout_s: float, say: Callable[[str], None] | None = None, **init_kwargs: Any) -> Any:
    """``ray.init(address=address, **init_kwargs)`` that gives up after ``timeout_s``.

    ``ray.init`` retries an address where no Ray head answers for many minutes (measured: still
    retrying after 300 s, for a closed port as for a port held by something else), and cannot be
    interrupted from another thread; so first a TCP probe (an immediate, precise message when
    nothing listens), then a watchdog that prints what it waited for and ends the process (exit
    code 2) if ``ray.init`` has not returned in time. Returns ``ray.init``'s context.
    """
    import ray

    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    why = probe_address(address, min(5.0, timeout_s))
    if why is not None:
        raise ConnectionError(f"cannot join the Ray cluster at {address}: {why}")
    done = threading.Event()

    def watchdog() -> None:
        start = time.monotonic()
        deadline = start + timeout_s
        while not done.wait(max(0.0, min(15.0, deadline - time.monotonic()))):  # a line every 15 s
            if time.monotonic() >= deadline:
                say(f"error: no Ray cluster answered at {address} within {timeout_s:g} s (ray.init still "
                    f"connecting): check the address, that the head is up (`ray status --address {address}`), and "
                    f"its RAY_AUTH_MODE / RAY_AUTH_TOKEN; --connect-timeout sets this limit")
                os._exit(2)  # ray.init cannot be cancelled; nothing of ours started yet
            say(f"still connecting to the Ray cluster at {address} ({time.monotonic() - start:.0f} s of {timeout_s:g} s)")

    threading.Thread(target=watchdog, name="vidsum-connect-watchdog", daemon=True).start()
    try:
        return ray.init(address=address, **init_kwargs)
    finally:
        done.set()


# ------------------------------------------------------------------------------ the facts


def state_api_status(announced: bool, wait_s: float = STATE_API_WAIT_S) -> tuple[bool, str]:
    """(whether Ray's State API answers, why not). ``announced``: the cluster names a dashboard
    (it may still be starting: retried for ``wait_s``); otherwise one try."""
    try:
        from ray.util.state import list_nodes
    except ImportError as e:  # pragma: no cover -- ray[default] is a dependency
        return False, f"ray.util.state cannot be imported: {e}"
    deadline = time.monotonic() + (wait_s if announced else 0.0)
    while True:
        try:
            list_nodes(limit=1, timeout=5, raise_on_missing_output=False)
            return True, ""
        except Exception as e:  # ServerUnavailable, RayStateApiException, ConnectionError, ...
            first = str(e).strip().splitlines()[0].split(". ")[0][:160] if str(e).strip() else "no detail"
            why = f"{type(e).__name__}: {first}"
        if time.monotonic() >= deadline:
            return False, why
        time.sleep(1.0)


def cluster_facts(address: str | None = None, check_state_api: bool = False,
                  dashboard_url: str | None = None) -> dict[str, Any]:
    """The facts dict (module docstring) of the cluster this process is connected to (Ray initialised)."""
    import ray

    try:
        from ray._private.state import available_resources_per_node  # DeveloperAPI, per node
        free = available_resources_per_node()
    except Exception:  # noqa: BLE001 -- older / newer Ray: assume nothing is taken
        free = None
    nodes = []
    for n in ray.nodes():
        total = {k: float(v) for k, v in (n.get("Resources") or {}).items()}
        nodes.append({"id": n.get("NodeID", ""), "ip": n.get("NodeManagerAddress", "?"), "alive": bool(n.get("Alive")),
                      "total": total, "free": dict(total) if free is None else
                      {k: float(v) for k, v in free.get(n.get("NodeID", ""), {}).items()}})
    facts: dict[str, Any] = {"address": address or "", "nodes": nodes, "state_api": None, "state_api_error": ""}
    if check_state_api:
        facts["state_api"], facts["state_api_error"] = state_api_status(bool(dashboard_url))
    return facts


def wait_for_room(request: TrialRequest, wait_s: float, facts: dict[str, Any], say: Callable[[str], None],
                  poll_s: float = 5.0, report_every_s: float = 30.0) -> dict[str, Any]:
    """Wait up to ``wait_s`` for an alive node that can hold one trial; returns the latest facts.

    Asks the autoscaler for the trial's shapes first (``ray.autoscaler.sdk.request_resources``; a
    cluster without one ignores it): a cluster.yaml cluster starts with no GPU worker, and an
    autoscaler adds nodes only for demand it sees. Says what it waits for at once and every
    ``report_every_s``. The request is withdrawn before returning (the trials are the demand then).
    """
    if trials_that_fit(facts, request) > 0 or wait_s <= 0:
        return facts
    from ray.autoscaler.sdk import request_resources

    request_resources(bundles=request.bundles())
    start = last = time.monotonic()
    say(f"waiting up to {wait_s:g} s (--wait-for-resources) for a node that can hold one trial ({request.describe()}); "
        f"asked the autoscaler for one. Nodes now: {'; '.join(describe_node(n) for n in alive_nodes(facts)) or 'none'}")
    try:
        while time.monotonic() - start < wait_s:
            time.sleep(min(poll_s, max(0.0, wait_s - (time.monotonic() - start))))
            facts = {**cluster_facts(facts.get("address")), "state_api": facts.get("state_api"),
                     "state_api_error": facts.get("state_api_error", "")}
            if trials_that_fit(facts, request) > 0:
                say(f"a node that can hold one trial joined after {time.monotonic() - start:.0f} s")
                return facts
            if time.monotonic() - last >= report_every_s:
                last = time.monotonic()
                say(f"still waiting for a node that can hold {request.describe()} ({last - start:.0f} s of {wait_s:g} s)")
        return facts
    finally:
        request_resources(bundles=[])


def run_preflight(address: str | None, request: TrialRequest, *, wait_s: float = 0.0, max_concurrent: int | None = None,
                  dashboard_url: str | None = None, say: Callable[[str], None] | None = None) -> Preflight:
    """Gather the facts, wait (``wait_s``) for a node that can hold a trial if none can, and check
    (:func:`check_cluster`). The State API is probed only when trials run Ray Train workers."""
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    facts = cluster_facts(address, check_state_api=request.workers > 0, dashboard_url=dashboard_url)
    if not (request.workers and facts["state_api"] is False):  # a missing State API does not come by waiting
        facts = wait_for_room(request, wait_s, facts, say)
    return check_cluster(facts, request, max_concurrent)


def stall_limit_s(wait_s: float) -> float:
    """How long the search tolerates trials waiting while none runs: STALL_LIMIT_S, or more with
    --wait-for-resources."""
    return max(STALL_LIMIT_S, float(wait_s))
