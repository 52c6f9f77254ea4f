"""classnames.json: the two forms read, which file is found, and Kinetics naming its classes."""

import json

import pytest
from synthetic import data_cfg

from slowvid.data import build_dataset
from slowvid.data.class_names import find_class_names, read_class_names
from slowvid.data.demo import CLASSNAMES


def test_list_and_pyslowfast_dict(tmp_path):
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps(["b", "a"]))
    assert read_class_names(str(listed)) == ["b", "a"]
    mapping = tmp_path / "classids.json"  # PySlowFast's {name: id}
    mapping.write_text(json.dumps({"abseiling": 1, "air drumming": 0, "zumba": 2}))
    assert read_class_names(str(mapping)) == ["air drumming", "abseiling", "zumba"]
    mapping.write_text(json.dumps({"a": 0, "b": 2}))
    with pytest.raises(ValueError, match=r"classids.json: class indices must be 0..1"):
        read_class_names(str(mapping))
    mapping.write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a json list of names"):
        read_class_names(str(mapping))


def test_found_only_with_the_right_count(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "run" / "classnames.json").write_text(json.dumps(["x", "y"]))
    (tmp_path / "data" / "classnames.json").write_text(json.dumps(["p", "q", "r"]))
    dirs = [str(tmp_path / "run"), str(tmp_path / "data")]
    assert find_class_names(dirs, 2) == ["x", "y"]
    assert find_class_names(dirs, 3) == ["p", "q", "r"]
    assert find_class_names(dirs, 4) is None


def test_kinetics_reads_the_names_beside_its_split_file(demo_dir, tmp_path):
    assert build_dataset(data_cfg(demo_dir), "train").class_names == CLASSNAMES
    (tmp_path / "train.csv").write_text("videos/train/left_slow/000.mp4 0\n")
    cfg = data_cfg(str(tmp_path), **{"DATA.PATH_PREFIX": demo_dir})
    assert build_dataset(cfg, "train").class_names is None
