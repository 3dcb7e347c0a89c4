import h5py
import numpy as np
import pytest

from vidsum.cli import main
from vidsum.data.eccv16 import SchemaError, natural_key, read_attrs, read_file, validate_file, write_file


def _write(tmp_path, video_factory, n=3, **kw):
    vids = [video_factory(key=f"video_{i + 1}", seed=i, **kw) for i in range(n)]
    return write_file(tmp_path / "d.h5", vids, attrs={"features": "generated"}), vids


def test_round_trip(tmp_path, video_factory):
    path, vids = _write(tmp_path, video_factory)
    back = read_file(path)
    assert list(back) == ["video_1", "video_2", "video_3"]
    for v in vids:
        b = back[v.key]
        np.testing.assert_array_equal(b.features, v.features)
        np.testing.assert_array_equal(b.user_summary, v.user_summary)
        np.testing.assert_array_equal(b.change_points, v.change_points)
        np.testing.assert_array_equal(b.picks, v.picks)
        assert b.n_frames == v.n_frames and b.n_steps == v.n_steps and b.video_name == v.video_name
    assert read_attrs(path)["features"] == "generated"
    assert validate_file(path) == []


def test_read_subset_and_unknown_key(tmp_path, video_factory):
    path, _ = _write(tmp_path, video_factory)
    assert list(read_file(path, ["video_2"])) == ["video_2"]
    with pytest.raises(KeyError, match="video_9"):
        read_file(path, ["video_9"])


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_file(tmp_path / "nope.h5")
    assert "not found" in validate_file(tmp_path / "nope.h5")[0]


def _corrupt(path, key, name, value):
    with h5py.File(path, "a") as f:
        del f[key][name]
        if value is not None:
            f[key][name] = value


@pytest.mark.parametrize(
    "name,value,expect",
    [
        ("features", None, "missing key(s) features"),
        ("picks", np.array([0, 15, 99999]), "picks"),
        ("change_points", np.array([[0, 49], [50, 99], [100, 149], [150, 199], [200, 249], [260, 309]]), "do not cover"),
        ("user_summary", np.zeros((3, 7)), "user_summary"),
        ("gtscore", np.zeros(3), "gtscore"),
        ("n_steps", np.int32(5), "n_steps"),
    ],
)
def test_each_problem_is_named(tmp_path, video_factory, name, value, expect):
    path, _ = _write(tmp_path, video_factory)
    _corrupt(path, "video_2", name, value)
    problems = validate_file(path)
    assert len(problems) == 1 and "video_2" in problems[0] and expect in problems[0], problems
    with pytest.raises(SchemaError, match="video_2"):
        read_file(path)


def test_nan_features_and_dim_mismatch(tmp_path, video_factory):
    path, vids = _write(tmp_path, video_factory)
    feats = vids[0].features.copy()
    feats[3, 2] = np.nan
    _corrupt(path, "video_1", "features", feats)
    _corrupt(path, "video_3", "features", np.zeros((vids[2].n_steps, 5), np.float32))
    problems = validate_file(path)
    assert any("video_1/features: 1 NaN/inf" in p for p in problems)
    assert any("feature dimension differs" in p for p in problems)


def test_write_refuses_invalid_and_leaves_nothing(tmp_path, video_factory):
    bad = video_factory()
    bad.picks = bad.picks[::-1].copy()
    with pytest.raises(SchemaError, match="picks"):
        write_file(tmp_path / "x.h5", [bad])
    assert list(tmp_path.iterdir()) == []


def test_not_hdf5(tmp_path):
    p = tmp_path / "junk.h5"
    p.write_bytes(b"not an hdf5 file")
    assert "not a readable HDF5" in validate_file(p)[0]


def test_cli_check(tmp_path, video_factory, capsys):
    path, _ = _write(tmp_path, video_factory)
    assert main(["data", "check", str(path)]) == 0
    assert capsys.readouterr().out.startswith("OK")
    _corrupt(path, "video_1", "picks", np.array([-1, 2, 3]))
    assert main(["data", "check", str(path)]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("FAIL video_1/picks")


def test_natural_key():
    assert sorted(["video_10", "video_2", "video_1"], key=natural_key) == ["video_1", "video_2", "video_10"]
