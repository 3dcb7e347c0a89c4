"""cluster.yaml against Ray's own autoscaler schema, offline (no AWS, no network, no boto3).

Ray validates a *prepared* config (defaults merged in); validating the raw YAML fails with a
misleading `cluster_synced_files` error, so every check goes through prepare_config first.
"""

import copy
from pathlib import Path

import pytest
import yaml

jsonschema = pytest.importorskip("jsonschema")  # Ray's validate_config needs it (ray[default] brings it)
from ray.autoscaler._private.util import prepare_config, validate_config  # noqa: E402

SchemaError = jsonschema.ValidationError
CLUSTER_YAML = Path(__file__).resolve().parents[1] / "cluster.yaml"


@pytest.fixture(scope="module")
def raw_config() -> dict:
    with open(CLUSTER_YAML) as f:
        return yaml.safe_load(f)


def prepared(config: dict) -> dict:
    return prepare_config(copy.deepcopy(config))


def test_cluster_yaml_passes_rays_schema(raw_config):
    validate_config(prepared(raw_config))


def test_provider_and_node_types(raw_config):
    config = prepared(raw_config)
    assert config["provider"]["type"] == "aws" and config["provider"]["region"] == "us-west-2"
    node_types = config["available_node_types"]
    head = node_types[config["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0 and head["resources"]["CPU"] >= 1
    assert head["max_workers"] == 0  # prepare_config pins the head type to the one head node

    gpu_types = [
        name
        for name, t in node_types.items()
        if name != config["head_node_type"] and t["resources"].get("GPU", 0) >= 1
    ]
    assert gpu_types, "no autoscaling GPU worker type"
    for name in gpu_types:
        worker = node_types[name]
        assert worker["min_workers"] == 0 and worker["max_workers"] >= 1
        assert worker["resources"]["CPU"] >= 1
        assert worker["max_workers"] <= config["max_workers"]
        assert worker["node_config"]["InstanceType"].startswith(("g", "p"))  # a GPU instance family


def test_every_node_may_write_the_storage_and_the_documented_run_uses_it(raw_config):
    """Trials and final fits run on the workers: they and the head need the bucket's role, and
    the documented command passes --storage (Ray does not copy files between nodes)."""
    config = prepared(raw_config)
    for name, node in config["available_node_types"].items():
        assert node["node_config"]["IamInstanceProfile"]["Name"] == "vidsum-storage", name
    text = CLUSTER_YAML.read_text()
    run = next(line for line in text.splitlines() if "ray exec" in line and "tune.py" in line)
    assert "--storage s3://" in run and "--address auto" in run


def test_project_and_data_are_mounted_and_installed(raw_config):
    config = prepared(raw_config)
    mounts = config["file_mounts"]
    assert mounts["/home/ubuntu/vidsum"] == "."
    assert mounts["/home/ubuntu/vidsum-data"] == "~/vidsum-data"
    assert not config.get("docker"), "the setup is docker-less"
    # prepare_config merges setup_commands into both head and worker setup.
    for key in ("head_setup_commands", "worker_setup_commands"):
        assert any("pip install" in c and "-e /home/ubuntu/vidsum" in c for c in config[key]), key
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        start = [c for c in config[key] if "ray start" in c]
        assert len(start) == 1 and "VIDSUM_DATA=/home/ubuntu/vidsum-data" in start[0], key
    assert "--head" in next(c for c in config["head_start_ray_commands"] if "ray start" in c)
    assert "$RAY_HEAD_IP" in next(c for c in config["worker_start_ray_commands"] if "ray start" in c)


@pytest.mark.parametrize(
    "break_it, error, message",
    [
        (lambda c: c.update(head_node_type="no_such_type"), ValueError, "head_node_type"),
        # sum of min_workers > global max_workers
        (lambda c: c["available_node_types"]["worker_gpu"].update(min_workers=9), ValueError, "min_workers"),
        # a typo'd top-level key
        (lambda c: c.update(head_start_commands=["ray start"]), SchemaError, "head_start_commands"),
        (lambda c: c["available_node_types"]["worker_gpu"].pop("node_config"), SchemaError, "node_config"),
    ],
)
def test_broken_copies_are_rejected(raw_config, break_it, error, message):
    broken = copy.deepcopy(raw_config)
    break_it(broken)
    with pytest.raises(error, match=message):
        validate_config(prepared(broken))


def test_config_without_defaults_gets_the_misleading_error(raw_config):
    # The STACK-NOTES pitfall: a config that skipped prepare_config (here: no
    # cluster_synced_files) is refused with a "Ray version mismatch" story, not a schema error.
    broken = copy.deepcopy(raw_config)
    broken.pop("cluster_synced_files")
    with pytest.raises(RuntimeError, match="cluster_synced_files"):
        validate_config(broken)
