"""parse_overrides: the one ``--set KEY=VALUE`` reader (vidsum train, tune.py, benchmarks)."""

import math
import subprocess
import sys
from pathlib import Path

import pytest

from vidsum.cli import main
from vidsum.training.config import parse_overrides

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("item, value", [
    ("rl_epochs=10", 10),
    ("delta=-2", -2),
    ("gen_lr=1e-3", 0.001),  # a float (PyYAML would read it as the string '1e-3')
    ("gen_lr=0.001", 0.001),
    ("mask_ratio=.5", 0.5),  # numbers JSON refuses but Python reads
    ("delta=+1", 1),
    ("gen_epochs=1_000", 1000),
    ("seed=007", 7),  # decimal (YAML 1.1 would read 017 as octal 15)
    ("split=1:30", "1:30"),  # YAML 1.1 would read 90
    ("tag=-", "-"),
    ("amp=true", True),
    ("amp=false", False),
    ("amp=True", True),  # bools in any case, so False is never the truthy string 'False'
    ("amp=FALSE", False),
    ("seed=null", None),
    ("sizes=[1,2]", [1, 2]),
    ("sizes=[1, 2.5]", [1, 2.5]),
    ('names=["a", "b"]', ["a", "b"]),
    ('opts={"a": 1}', {"a": 1}),
    ("mask_mode=fixed", "fixed"),
    ("rl_baseline=moving_average", "moving_average"),
    ('mask_mode="fixed"', "fixed"),
    ('tag="12"', "12"),  # quoting keeps a number a string
    ("tag=a=b", "a=b"),  # only the first = splits
    ("tag=", ""),
    (" mask_mode = fixed ", "fixed"),  # key and value are stripped
])
def test_values(item, value):
    assert parse_overrides([item]) == {item.partition("=")[0].strip(): value}


def test_nan_is_a_float_and_later_items_win():
    assert math.isnan(parse_overrides(["delta=NaN"])["delta"])
    assert parse_overrides(["a=1", "b=x", "a=2"]) == {"a": 2, "b": "x"}
    assert parse_overrides([]) == {}


@pytest.mark.parametrize("item, message", [
    ("rl_epochs", "expects KEY=VALUE.*'rl_epochs'"),
    ("=3", "expects KEY=VALUE.*'=3'"),
    ("  =3", "expects KEY=VALUE"),
    ("sizes=[1,2", r"'sizes=\[1,2'.*not valid JSON"),
    ("opts={a: 1}", "not valid JSON"),
    ('name="abc', "not valid JSON"),
])
def test_errors_name_the_item(item, message):
    with pytest.raises(ValueError, match=message):
        parse_overrides(["ok=1", item])


def test_vidsum_train_reports_a_bad_set_item(capsys):
    assert main(["train", "trsum", "--dataset", "summe", "--set", "gen_epochs"]) == 2
    assert "--set expects KEY=VALUE" in capsys.readouterr().err


def test_tune_py_reports_a_bad_set_item_before_starting_ray():
    out = subprocess.run([sys.executable, str(REPO / "tune.py"), "--dataset", "summe", "--set", "gen_epochs"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--set expects KEY=VALUE" in out.stderr and "'gen_epochs'" in out.stderr
