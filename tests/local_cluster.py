"""Test helpers: a real multi-node Ray cluster on this machine, and moto's S3 server.

``LocalCluster``: ``ray start --head --num-cpus 0`` (or a head alone, ``start_head``, with CPUs
and declared GPUs) plus worker nodes started with
``ray start --address`` (separate processes and node ids, each under ``setsid`` with its own
``--temp-dir``), every worker node offering the custom resource ``worker_node`` so trials land
on them, not on the head (as on a real cluster whose head has no GPU). Token auth
(``RAY_AUTH_MODE=token`` with a fresh ``RAY_AUTH_TOKEN``) is set for every node and for drivers started with :meth:`LocalCluster.env`; HOME points into the cluster's temp root
(Ray writes the token to ``~/.ray``). ``stop()`` sends TERM, then KILL, to each node's process
group (gcs_server and the monitor ignore TERM) -- never a machine-wide ``ray stop``.

``MotoS3``: moto's ThreadedMotoServer on 127.0.0.1 (a free port) with fake credentials, and a
bucket; :attr:`MotoS3.env` is what a process needs to reach it (AWS_ENDPOINT_URL etc.).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

RAY = str(Path(__import__("sys").executable).with_name("ray"))


# GCS health checks every second, 3 misses: a killed raylet is noticed in ~3 s instead of ~30 s.
FAST_HEALTH_CHECKS = {"RAY_health_check_period_ms": "1000", "RAY_health_check_timeout_ms": "1000",
                      "RAY_health_check_failure_threshold": "3"}
# Worker process titles while they run: a trial (an idle actor left from an earlier trial is just
# "ray::ImplicitFunc"), a final-fit task.
TRIAL_RUNNING = r"^ray::ImplicitFunc\.train"
FINAL_FIT_RUNNING = r"^ray::run_final"


def free_port(above: int = 40000) -> int:
    """A free TCP port above ``above`` (below it lie the nodes' worker port ranges, 20000-33999)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port > above:
            return port


# ----------------------------------------------------------------------------------- S3


@dataclass
class MotoS3:
    bucket: str = "vidsum-test"
    port: int = 0
    server: object = None

    def start(self) -> MotoS3:
        from moto.server import ThreadedMotoServer

        self.port = self.port or free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self.client().create_bucket(Bucket=self.bucket)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="testing",
                            aws_secret_access_key="testing", region_name="us-east-1")

    def keys(self, prefix: str = "") -> list[str]:
        """Object keys under prefix, without the empty "folder/" markers pyarrow writes."""
        out, token = [], None
        while True:
            kw = {"Bucket": self.bucket, "Prefix": prefix, **({"ContinuationToken": token} if token else {})}
            page = self.client().list_objects_v2(**kw)
            out += [o["Key"] for o in page.get("Contents", []) if not o["Key"].endswith("/")]  # no dir markers
            if not page.get("IsTruncated"):
                return out
            token = page["NextContinuationToken"]

    def tune_results(self, prefix: str) -> dict[str, list[dict]]:
        """{trial id: its reported rows} from the result.json files Ray Tune keeps under ``prefix/ray_tune/``."""
        import json

        out: dict[str, list[dict]] = {}
        for key in self.keys(f"{prefix}/ray_tune/"):
            if key.endswith("/result.json"):
                body = self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read().decode()
                for line in body.splitlines():
                    if line.strip():
                        row = json.loads(line)
                        out.setdefault(row["trial_id"], []).append(row)
        return out


@contextmanager
def moto_s3_in_env(bucket: str) -> Iterator[MotoS3]:
    """A started MotoS3 whose ``env`` is set in this process (boto3 and pyarrow read it) while the
    block runs; stopped and the environment restored after it."""
    import pytest

    server = MotoS3(bucket=bucket).start()
    try:
        with pytest.MonkeyPatch.context() as mp:
            for k, v in server.env.items():
                mp.setenv(k, v)
            yield server
    finally:
        server.stop()


# ------------------------------------------------------------------------------ cluster


@dataclass
class Node:
    name: str
    temp_dir: Path
    proc: subprocess.Popen | None = None
    dead: bool = False  # killed by LocalCluster.kill_node

    def raylet_pid(self) -> int | None:
        """Pid of this node's raylet: the raylet binary whose socket lies in this node's temp dir."""
        pattern = f"^[^ ]*/raylet/raylet .*--raylet_socket_name={self.temp_dir}/"
        out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
        return int(out[0]) if out else None


@dataclass
class LocalCluster:
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="vc", dir="/tmp")))
    port: int = 0
    nodes: list[Node] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    token: str = field(default_factory=lambda: __import__("secrets").token_hex(16))

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        (self.root / "home").mkdir(exist_ok=True)
        return {**os.environ, "HOME": str(self.root / "home"), "RAY_AUTH_MODE": "token",
                "RAY_AUTH_TOKEN": self.token, "RAY_USAGE_STATS_ENABLED": "0",
                "OMP_NUM_THREADS": "1", "RAY_TMPDIR": str(self.root), **self.extra_env}

    def _ports(self) -> list[str]:
        return ["--node-manager-port", str(free_port()), "--object-manager-port", str(free_port()),
                "--dashboard-agent-listen-port", str(free_port()), "--dashboard-agent-grpc-port", str(free_port()),
                "--runtime-env-agent-port", str(free_port()), "--metrics-export-port", str(free_port())]

    def _start(self, name: str, args: list[str]) -> Node:
        node = Node(name, self.root / name)
        node.temp_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.root / f"{name}.log", "w")
        node.proc = subprocess.Popen([RAY, "start", *args, "--temp-dir", str(node.temp_dir), "--disable-usage-stats",
                                      "--object-store-memory", str(100 * 2**20), *self._ports()],
                                     env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        # `ray start` prints "Ray runtime started." once the node is up, but here the process itself
        # sometimes lingers for minutes before exiting: wait for the line, not for the exit.
        deadline = time.monotonic() + 180  # generous: node start-up under load is slow
        logfile = self.root / f"{name}.log"
        while "Ray runtime started" not in logfile.read_text():
            rc = node.proc.poll()
            if (rc is not None and rc != 0) or time.monotonic() > deadline:
                self.nodes.append(node)
                raise RuntimeError(f"ray start ({name}) failed (rc {rc}):\n{logfile.read_text()[-3000:]}")
            time.sleep(0.2)
        self.nodes.append(node)
        return node

    def start_head(self, cpus: float = 0, gpus: float | None = None, dashboard: bool = False) -> Node:
        """The head node: ``cpus`` CPUs and ``gpus`` GPUs (None: Ray detects them; a number is
        believed as declared, so ``gpus=2`` gives a machine without GPUs two fake ones). ``dashboard``:
        the head runs the dashboard, whose State API Ray Train needs to free the placement groups of
        trials Tune stops (STACK-NOTES)."""
        self.port = self.port or free_port()
        gpu_args = ["--num-gpus", f"{gpus:g}"] if gpus is not None else []
        return self._start("head", ["--head", "--num-cpus", f"{cpus:g}", *gpu_args, "--port", str(self.port),
                                    "--include-dashboard", str(dashboard).lower(), "--dashboard-port", str(free_port()),
                                    "--ray-client-server-port", str(free_port()), "--min-worker-port", "20000",
                                    "--max-worker-port", "29999"])

    def start(self, workers: int = 2, cpus_per_worker: int = 1, dashboard: bool = False) -> LocalCluster:
        """Head (no CPUs) + ``workers`` worker nodes (``dashboard``: see :meth:`start_head`)."""
        self.start_head(cpus=0, dashboard=dashboard)
        for _ in range(workers):
            self.add_worker(cpus_per_worker)
        return self

    def add_worker(self, cpus: int = 1) -> Node:
        """One more worker node (``w<k>``, k = workers started so far, dead ones included), as an
        autoscaler adds one: its own process group, temp dir and worker port range."""
        i = sum(n.name != "head" for n in self.nodes)
        if i >= 5:  # the ranges 30000 + 2000 i stay below free_port()'s 40000
            raise RuntimeError("LocalCluster: at most 5 worker nodes over a cluster's life")
        return self._start(f"w{i}", ["--address", self.address, "--num-cpus", str(cpus),
                                     "--resources", '{"worker_node": 1}', "--min-worker-port", str(30000 + 2000 * i),
                                     "--max-worker-port", str(31999 + 2000 * i)])

    def node_pgids(self, node: Node) -> set[int]:
        """Process groups of the processes whose command line names this node's temp dir."""
        out = subprocess.run(["pgrep", "-f", str(node.temp_dir)], capture_output=True, text=True).stdout.split()
        pgids = set()
        for pid in out:
            try:
                pgids.add(os.getpgid(int(pid)))
            except ProcessLookupError:
                pass
        if node.proc is not None:
            pgids.add(node.proc.pid)  # setsid: the group id is `ray start`'s pid
        return {g for g in pgids if g != os.getpgid(0)}

    def kill_node(self, node: Node, sig: int = signal.SIGKILL) -> None:
        for g in self.node_pgids(node):
            try:
                os.killpg(g, sig)
            except (ProcessLookupError, PermissionError):
                pass
        node.dead = True

    def worker_running(self, title: str) -> tuple[Node, int] | None:
        """(node, its raylet pid) of a live worker node with a process whose title matches the
        regex ``title`` now (e.g. :data:`TRIAL_RUNNING`): the raylet is that process's parent."""
        raylets = {n.raylet_pid(): n for n in self.nodes if n.name != "head" and not n.dead}
        for pid in subprocess.run(["pgrep", "-f", title], capture_output=True, text=True).stdout.split():
            try:
                ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ValueError, IndexError):
                continue
            if ppid in raylets:
                return raylets[ppid], ppid
        return None

    def stop(self) -> None:
        for node in reversed(self.nodes):
            self.kill_node(node, signal.SIGTERM)
        time.sleep(2)
        for node in reversed(self.nodes):
            self.kill_node(node, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)
