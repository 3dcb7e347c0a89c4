import hashlib
import json
from importlib import resources
from pathlib import Path

import pytest

from vidsum.data import splits as S
from vidsum.data.splits import (
    Split,
    check_keys,
    coverage,
    get_split,
    kfold_partition,
    load_splits,
    read_dsnet_yaml,
    read_json_splits,
    validation_holdout,
)

SHARED = Path("/work/shared/data/splits")
SHIPPED = Path(str(resources.files("vidsum.data") / "splits"))


def all_keys(dataset):
    return [f"video_{i}" for i in range(1, S.N_VIDEOS[dataset] + 1)]


# --- shipped files ---------------------------------------------------------------------------


def test_shipped_files_match_sources_json():
    sources = json.loads((SHIPPED / "SOURCES.json").read_text())["files"]
    assert len(sources) == 6
    for name, info in sources.items():
        data = (SHIPPED / name).read_bytes()
        assert len(data) == info["bytes"], name
        assert hashlib.sha256(data).hexdigest() == info["sha256"], name
        assert info["repo"] and info["path"]


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared data not present")
def test_shipped_files_are_byte_copies_of_shared():
    sources = json.loads((SHIPPED / "SOURCES.json").read_text())["files"]
    for name, info in sources.items():
        shared = SHARED.parent / info["shared_path"]
        assert (SHIPPED / name).read_bytes() == shared.read_bytes(), name
    # the README's published digest for the standard SumMe file
    assert sources["standard_summe_splits.json"]["sha256"].startswith("8fb470a0f966")


def test_shipped_split_path_rejects_kfold_and_unknown():
    assert S.shipped_split_path("summe", "dsnet").name == "dsnet_summe.yml"
    with pytest.raises(ValueError, match="built, not shipped"):
        S.shipped_split_path("summe", "kfold")
    with pytest.raises(ValueError, match="summe, tvsum"):
        S.shipped_split_path("ovp", "standard")


# --- Split -----------------------------------------------------------------------------------


def test_split_coerces_to_tuples():
    s = Split(["video_1", "video_2"], ["video_3"])
    assert s.train_keys == ("video_1", "video_2") and s.test_keys == ("video_3",)
    with pytest.raises(AttributeError):
        s.train_keys = ("x",)  # frozen


@pytest.mark.parametrize(
    "train, test, match",
    [
        ((), ("video_1",), "train_keys is empty"),
        (("video_1",), (), "test_keys is empty"),
        (("video_1", "video_2"), ("video_2",), "overlap: \\['video_2'\\]"),
        (("video_1", "video_1"), ("video_2",), "repeats keys"),
        (("video_1", 3), ("video_2",), "non-string"),
        ("video_1", ("video_2",), "sequence of keys"),
    ],
)
def test_split_rejects_bad_keys(train, test, match):
    with pytest.raises(ValueError, match=match):
        Split(train, test)


# --- readers ---------------------------------------------------------------------------------


def test_read_json_splits_standard():
    splits = read_json_splits(SHIPPED / "standard_summe_splits.json")
    assert len(splits) == 5
    assert all(len(s.train_keys) == 20 and len(s.test_keys) == 5 for s in splits)
    assert splits[0].test_keys == ("video_16", "video_21", "video_25", "video_4", "video_9")


@pytest.mark.parametrize(
    "content, match",
    [
        ("{not json", "not valid JSON"),
        ('{"train_keys": []}', "non-empty list"),
        ("[]", "non-empty list"),
        ('[["video_1"]]', "split 0 is a list"),
        ('[{"train_keys": ["video_1"]}]', "split 0 has no 'test_keys'"),
        ('[{"train_keys": "video_1", "test_keys": ["video_2"]}]', "must be a list of strings"),
        ('[{"train_keys": ["video_1"], "test_keys": ["video_1"]}]', "split 0: Split train_keys and test_keys overlap"),
    ],
)
def test_read_json_splits_bad_format(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=match) as e:
        read_json_splits(path)
    assert str(path) in str(e.value)


def test_readers_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        read_json_splits(tmp_path / "nope.json")
    with pytest.raises(FileNotFoundError, match="nope.yml"):
        read_dsnet_yaml(tmp_path / "nope.yml")


def test_read_dsnet_yaml_single_h5_normalizes_keys():
    splits = read_dsnet_yaml(SHIPPED / "dsnet_tvsum.yml")
    assert len(splits) == 5
    assert all(len(s.train_keys) == 40 and len(s.test_keys) == 10 for s in splits)
    keys = {k for s in splits for k in s.train_keys + s.test_keys}
    assert keys == set(all_keys("tvsum"))
    assert read_dsnet_yaml(SHIPPED / "dsnet_summe.yml")[0].test_keys[0] == "video_22"


def test_read_dsnet_yaml_mixed_h5_keeps_stem(tmp_path):
    path = tmp_path / "mix.yml"
    path.write_text(
        "- train_keys:\n"
        "  - ../datasets/eccv16_dataset_tvsum_google_pool5.h5/video_3\n"
        "  - ../datasets/eccv16_dataset_summe_google_pool5.h5/video_2\n"
        "  test_keys:\n"
        "  - ../datasets/eccv16_dataset_summe_google_pool5.h5/video_3\n"
    )
    (split,) = read_dsnet_yaml(path)
    assert split.train_keys == ("eccv16_dataset_tvsum_google_pool5/video_3",
                                "eccv16_dataset_summe_google_pool5/video_2")
    assert split.test_keys == ("eccv16_dataset_summe_google_pool5/video_3",)


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared data not present")
def test_read_dsnet_yaml_aug_file_from_shared():
    splits = read_dsnet_yaml(SHARED / "dsnet" / "summe_aug.yml")
    assert [len(s.train_keys) for s in splits] == [159] * 5
    assert all(k.startswith("eccv16_dataset_summe_google_pool5/") for s in splits for k in s.test_keys)


@pytest.mark.parametrize(
    "content, match",
    [
        ("- [unclosed", "not valid YAML"),
        ("- train_keys: [video_1]\n  test_keys: [video_2]\n", "is not '<h5 path>/<video group>'"),
        ("- train_keys: [a.h5/video_1]\n", "has no 'test_keys'"),
        ("train_keys: [a.h5/video_1]\n", "non-empty list"),
        ("- train_keys: [a.h5/video_1]\n  test_keys: [b.h5/video_1, a.h5/video_1]\n", "overlap"),
    ],
)
def test_read_dsnet_yaml_bad_format(tmp_path, content, match):
    path = tmp_path / "bad.yml"
    path.write_text(content)
    with pytest.raises(ValueError, match=match) as e:
        read_dsnet_yaml(path)
    assert str(path) in str(e.value)


def test_read_dsnet_yaml_normalization_collision_is_an_error(tmp_path):
    # one h5 under two folders: normalized keys collide -> reported, not silently merged
    path = tmp_path / "dup.yml"
    path.write_text("- train_keys: [x/a.h5/video_1, y/a.h5/video_2]\n  test_keys: [y/a.h5/video_1]\n")
    with pytest.raises(ValueError, match="overlap"):
        read_dsnet_yaml(path)


# --- kfold -----------------------------------------------------------------------------------


@pytest.mark.parametrize("n, k", [(25, 5), (50, 5), (23, 5), (7, 3), (10, 10)])
def test_kfold_partition_tests_every_key_once(n, k):
    keys = [f"video_{i}" for i in range(1, n + 1)]
    splits = kfold_partition(keys, k=k, seed=3)
    assert len(splits) == k
    tested = [key for s in splits for key in s.test_keys]
    assert sorted(tested) == sorted(keys)
    sizes = [len(s.test_keys) for s in splits]
    assert max(sizes) - min(sizes) <= 1
    for s in splits:
        assert set(s.train_keys) | set(s.test_keys) == set(keys)


def test_kfold_partition_seeded_and_order_independent():
    keys = [f"video_{i}" for i in range(1, 26)]
    a = kfold_partition(keys, seed=0)
    assert a == kfold_partition(list(reversed(keys)), seed=0)
    assert a != kfold_partition(keys, seed=1)
    assert list(a[0].test_keys) == sorted(a[0].test_keys, key=S.natural_key)


@pytest.mark.parametrize(
    "keys, k, match",
    [
        (["video_1", "video_2"], 1, "k must be an integer >= 2"),
        (["video_1", "video_2"], 2.5, "k must be an integer"),
        (["video_1", "video_2"], 3, "need at least 3 keys"),
        (["video_1", "video_1", "video_2"], 2, "repeated keys"),
        (["video_1", ""], 2, "non-empty strings"),
    ],
)
def test_kfold_partition_errors(keys, k, match):
    with pytest.raises(ValueError, match=match):
        kfold_partition(keys, k=k)


# --- load / get / check ----------------------------------------------------------------------


@pytest.mark.parametrize("dataset", ["summe", "tvsum"])
@pytest.mark.parametrize("split_set", ["standard", "vasnet", "dsnet", "kfold"])
def test_load_splits_every_set(dataset, split_set):
    n = S.N_VIDEOS[dataset]
    splits = load_splits(dataset, split_set, keys=all_keys(dataset))
    assert len(splits) == 5
    for s in splits:
        assert len(s.test_keys) == n // 5 and len(s.train_keys) == n - n // 5
        assert set(s.train_keys) | set(s.test_keys) == set(all_keys(dataset))


def test_load_splits_kfold_with_custom_keys_and_k():
    splits = load_splits("summe", "kfold", k=3, seed=2, keys=["a_1", "a_2", "a_3", "a_4"])
    assert len(splits) == 3
    assert sorted(k for s in splits for k in s.test_keys) == ["a_1", "a_2", "a_3", "a_4"]


def test_load_splits_unknown_names():
    with pytest.raises(ValueError, match="unknown dataset 'ovp'; expected one of summe, tvsum"):
        load_splits("ovp", "standard")
    with pytest.raises(ValueError, match="standard, vasnet, dsnet, kfold"):
        load_splits("summe", "random")


def test_load_splits_checks_given_keys():
    with pytest.raises(KeyError, match="video_25"):
        load_splits("summe", "standard", keys=all_keys("summe")[:-1])


def test_get_split():
    s = get_split("tvsum", "standard", 4)
    assert s == load_splits("tvsum", "standard")[4]
    assert get_split("summe", "kfold", 1, seed=5) == kfold_partition(all_keys("summe"), seed=5)[1]
    for bad in (5, -1):
        with pytest.raises(IndexError, match=r"summe/standard: valid 0\.\.4"):
            get_split("summe", "standard", bad)


def test_check_keys():
    split = Split(("video_1", "video_2"), ("video_10",))
    check_keys(split, ["video_1", "video_2", "video_10", "video_11"])  # no error
    with pytest.raises(KeyError, match=r"\['video_2', 'video_10'\]"):
        check_keys(split, ["video_1"])


# --- validation holdout ----------------------------------------------------------------------


def test_validation_holdout_partitions_train_keys():
    split = get_split("summe", "standard", 0)
    train, val = validation_holdout(split.train_keys, fraction=0.2, seed=0)
    assert len(val) == 4 and len(train) == 16
    assert set(train) | set(val) == set(split.train_keys)
    assert not set(train) & set(val)
    assert not (set(val) | set(train)) & set(split.test_keys)
    assert (train, val) == validation_holdout(list(reversed(split.train_keys)), 0.2, seed=0)
    assert val != validation_holdout(split.train_keys, 0.2, seed=1)[1]


def test_validation_holdout_keeps_one_in_each_part():
    assert tuple(map(len, validation_holdout(["a", "b"], fraction=0.01))) == (1, 1)
    assert tuple(map(len, validation_holdout(["a", "b", "c"], fraction=0.99))) == (1, 2)


@pytest.mark.parametrize(
    "keys, fraction, match",
    [
        (["video_1"], 0.2, "at least 2 train keys"),
        (["video_1", "video_2"], 0.0, "fraction must be in"),
        (["video_1", "video_2"], 1.0, "fraction must be in"),
        (["video_1", "video_1", "video_2"], 0.2, "repeated keys"),
    ],
)
def test_validation_holdout_errors(keys, fraction, match):
    with pytest.raises(ValueError, match=match):
        validation_holdout(keys, fraction)


# --- coverage --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dataset, split_set, untested",
    [("summe", "standard", 7), ("tvsum", "standard", 16), ("summe", "kfold", 0), ("tvsum", "kfold", 0)],
)
def test_coverage_of_split_sets(dataset, split_set, untested):
    counts = coverage(load_splits(dataset, split_set), all_keys(dataset))
    assert len(counts) == S.N_VIDEOS[dataset]
    assert sum(c == 0 for c in counts.values()) == untested
    assert sum(counts.values()) == 5 * (S.N_VIDEOS[dataset] // 5)
    if split_set == "kfold":
        assert set(counts.values()) == {1}


def test_coverage_rejects_foreign_test_keys():
    with pytest.raises(KeyError, match="split 0 tests keys not in all_keys: \\['video_26'\\]"):
        coverage([Split(("video_1",), ("video_26",))], all_keys("summe"))
