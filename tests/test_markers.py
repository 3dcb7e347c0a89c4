"""The `slow` / `ray` markers set in conftest.py (mark_tests, read_node_ids)."""

from conftest import RAY_FIXTURES, SLOW_TESTS, mark_tests, read_node_ids


class FakeItem:
    def __init__(self, nodeid, fixturenames=()):
        self.nodeid, self.fixturenames, self.marks = nodeid, list(fixturenames), set()

    def add_marker(self, mark):
        self.marks.add(mark.name)


def test_ray_fixture_gives_ray_and_slow_a_listed_id_gives_slow():
    ray = FakeItem("tests/test_tune.py::test_search", ["ray_root", "tmp_path"])
    ray_through = FakeItem("tests/test_distributed.py::test_load[x]", ["spec", "ray_root"])  # closure holds ray_root
    listed = FakeItem("tests/test_models.py::test_big[2-cpu]", ["tmp_path"])
    quick = FakeItem("tests/test_models.py::test_big[1-cpu]", ["tmp_path"])
    in_module = FakeItem("tests/test_all_ray.py::test_one")
    mark_tests([ray, ray_through, listed, quick, in_module],
               {"tests/test_models.py::test_big[2-cpu]", "tests/test_gone.py::test_removed"},
               ray_modules={"tests/test_all_ray.py"})
    assert ray.marks == ray_through.marks == in_module.marks == {"ray", "slow"}
    assert listed.marks == {"slow"} and quick.marks == set()
    assert "ray_root" in RAY_FIXTURES


def test_slow_list_reads_ids_skips_comments_and_may_be_missing(tmp_path):
    path = tmp_path / "slow.txt"
    path.write_text("# header\n\ntests/test_a.py::test_x[1-2]  # 3.1 s\n  tests/test_b.py::test_y\n")
    assert read_node_ids(path) == {"tests/test_a.py::test_x[1-2]", "tests/test_b.py::test_y"}
    assert read_node_ids(tmp_path / "missing.txt") == frozenset()
    shipped = read_node_ids(SLOW_TESTS)
    assert shipped and all(i.startswith("tests/test_") and "::" in i for i in shipped)


def test_refresh_script_sums_setup_and_call_over_the_threshold():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "slow_tests.py"
    spec = importlib.util.spec_from_file_location("slow_tests_script", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    lines = ["1.50s setup    tests/test_a.py::test_x[params: {a: 1}]",
             "0.70s call     tests/test_a.py::test_x[params: {a: 1}]",
             "9.00s teardown tests/test_a.py::test_y", "1.90s call     tests/test_a.py::test_y",
             "3.00s call     tests/test_b.py::test_z", "= 3 passed in 9.0s ="]
    assert script.slow_ids(lines, 2.0) == [("tests/test_b.py::test_z", 3.0),
                                          ("tests/test_a.py::test_x[params: {a: 1}]", 2.2)]
