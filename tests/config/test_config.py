import glob
import os

import pytest
import yaml

from slowvid.config import ConfigKeyError, get_cfg, infer_and_check, load_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _write(tmp_path, name, tree):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(tree))
    return str(path)


def test_base_chain_merges_every_level(tmp_path):
    _write(tmp_path, "grand.yaml", {"TRAIN": {"BATCH_SIZE": 32, "EVAL_PERIOD": 3}, "RNG_SEED": 7})
    _write(tmp_path, "parent.yaml", {"_BASE_": "grand.yaml", "TRAIN": {"BATCH_SIZE": 16}})
    child = _write(tmp_path, "child.yaml", {"_BASE_": "parent.yaml", "SOLVER": {"BASE_LR": 0.5}})
    cfg = load_config(child)
    assert cfg.TRAIN.BATCH_SIZE == 16  # parent overrides grandparent
    assert cfg.TRAIN.EVAL_PERIOD == 3  # inherited from the grandparent
    assert cfg.RNG_SEED == 7
    assert cfg.SOLVER.BASE_LR == 0.5
    assert cfg.TEST.BATCH_SIZE == get_cfg().TEST.BATCH_SIZE  # untouched default


def test_shipped_kinetics_chain():
    cfg = load_config(os.path.join(REPO, "configs/Kinetics/SLOWFAST_8x8_R50.yaml"))
    assert (cfg.MODEL.MODEL_NAME, cfg.SLOWFAST.ALPHA, cfg.DATA.NUM_FRAMES) == ("SlowFast", 4, 32)
    assert cfg.MODEL.NUM_CLASSES == 400 and cfg.SOLVER.WARMUP_EPOCHS == 34.0


def test_command_line_overrides_win(tmp_path):
    path = _write(tmp_path, "a.yaml", {"TRAIN": {"BATCH_SIZE": 16}})
    cfg = load_config(
        path,
        [
            "TRAIN.BATCH_SIZE",
            "8",
            "DATA.TRAIN_JITTER_SCALES",
            "[128, 160]",
            "DATA.TRAIN_CROP_SIZE",
            "112",
            "OUTPUT_DIR",
            "/tmp/x",
        ],
    )
    assert cfg.TRAIN.BATCH_SIZE == 8
    assert cfg.DATA.TRAIN_JITTER_SCALES == [128, 160]
    assert cfg.OUTPUT_DIR == "/tmp/x"
    assert cfg.is_frozen()


def test_unknown_yaml_key_names_file_and_nearest_key(tmp_path):
    base = _write(tmp_path, "base.yaml", {"SOLVER": {"BASE_LRR": 0.1}})
    child = _write(tmp_path, "child.yaml", {"_BASE_": "base.yaml"})
    with pytest.raises(ConfigKeyError) as err:
        load_config(child)
    message = str(err.value)
    assert (
        base in message
        and "SOLVER.BASE_LRR" in message
        and "did you mean 'SOLVER.BASE_LR'" in message
    )


@pytest.mark.parametrize(
    "key, nearest",
    [
        ("TRAIN.BATCHSIZE", "TRAIN.BATCH_SIZE"),
        ("TRIAN.BATCH_SIZE", "TRAIN.BATCH_SIZE"),
        ("DATA.NUM_FRAME", "DATA.NUM_FRAMES"),
        ("SLOWFAST.BETA", "SLOWFAST.BETA_INV"),
    ],
)
def test_unknown_override_names_nearest_key(key, nearest):
    with pytest.raises(
        ConfigKeyError, match=f"command line: unknown config key '{key}'; did you mean '{nearest}'"
    ):
        load_config([], [key, "1"])


def test_odd_override_count_is_an_error():
    with pytest.raises(ValueError, match="KEY VALUE pairs"):
        load_config([], ["TRAIN.BATCH_SIZE"])


def test_type_mismatch_is_an_error():
    with pytest.raises(ValueError):
        load_config([], ["TRAIN.BATCH_SIZE", "'sixteen'"])


@pytest.mark.parametrize(
    "opts, key",
    [
        (["TRAIN.BATCH_SIZE", "3", "NUM_GPUS", "0", "NUM_CPU_PROCESSES", "2"], "TRAIN.BATCH_SIZE"),
        (["SOLVER.LR_POLICY", "'linear'"], "SOLVER.LR_POLICY"),
        (["DATA.NUM_FRAMES", "6"], "DATA.NUM_FRAMES"),
        (
            [
                "SOLVER.LR_POLICY",
                "steps_with_relative_lrs",
                "SOLVER.STEPS",
                "[0, 10]",
                "SOLVER.LRS",
                "[1]",
            ],
            "SOLVER.STEPS",
        ),
        (["DATA.TRAIN_CROP_SIZE", "400"], "DATA.TRAIN_CROP_SIZE"),
    ],
)
def test_inconsistent_settings_name_the_key(opts, key):
    with pytest.raises(ValueError, match=f"config {key}"):
        load_config([], opts)


def test_every_shipped_yaml_loads():
    files = glob.glob(os.path.join(REPO, "configs/**/*.yaml"), recursive=True)
    files += glob.glob(os.path.join(REPO, "projects/*/configs/**/*.yaml"), recursive=True)
    assert len(files) >= 8
    for path in files:
        cfg = load_config(path)
        infer_and_check(cfg)


def test_project_is_part_of_the_run_spec(tmp_path):
    tsm_demo = os.path.join(REPO, "projects/tsm/configs/TSM_DEMO.yaml")
    cfg = load_config(tsm_demo, ["TSM.SHIFT_DIV", "4"])
    assert cfg.PROJECT == "tsm" and cfg.TSM.SHIFT_DIV == 4
    # The dumped config names its project, so it reloads from anywhere with the project's keys.
    dumped = tmp_path / "config.yaml"
    dumped.write_text(cfg.dump())
    again = load_config(str(dumped))
    assert again.PROJECT == "tsm" and again.TSM.SHIFT_DIV == 4
    # PROJECT on the command line does the same as --project.
    base = _write(tmp_path, "c2d.yaml", {"TSM": {"SHIFT_DIV": 2}})
    assert load_config(base, ["PROJECT", "tsm"]).TSM.SHIFT_DIV == 2
    with pytest.raises(ValueError, match="more than one project.*efficient_x3d.*tsm"):
        load_config(tsm_demo, [], project="efficient_x3d")
    with pytest.raises(ValueError, match="unknown project 'nope'"):
        load_config([], ["PROJECT", "nope"])
