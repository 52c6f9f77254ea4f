"""int8 ExecuTorch: tools/export.py quantizes a trained-shape efficient X3D with XNNPACK's PT2E
quantizer, calibrated on real decoded clips, and the ExecuTorch runtime's int8 logits agree with
eager float ones."""

import importlib.util
import os

import pytest
import torch
from test_executorch import TINY, _efficient_x3d

from slowvid.checkpoint import save_checkpoint
from slowvid.config import load_config
from slowvid.data.demo import DemoSpec, make_demo_data
from slowvid.deploy import max_abs_error

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CFG = os.path.join(REPO, "projects/efficient_x3d/configs/EFFICIENT_X3D_XS.yaml")
spec = importlib.util.spec_from_file_location("export_tool", os.path.join(REPO, "tools/export.py"))
export_tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(export_tool)


def test_quantize_flags_are_checked_together(capsys):
    argv = ["--cfg", CFG, "--format", "onnx", "--output", "x.onnx", "--quantize", "int8"]
    with pytest.raises(SystemExit):
        export_tool.parse_args(argv + ["--calibration-clips", "0"])
    err = capsys.readouterr().err
    assert "--quantize int8 is for --format executorch only" in err
    assert "--calibration-clips must be >= 1, got 0" in err


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_int8_export_calibrated_on_real_clips_agrees_with_eager(tmp_path):
    pytest.importorskip("executorch", reason="needs the executorch extra (setup.py)")
    from slowvid.deploy import run_executorch

    data = str(tmp_path / "data")
    make_demo_data(data, DemoSpec(1, 1, 2, size=40, num_frames=16), num_workers=1)
    model = _efficient_x3d()
    checkpoint = save_checkpoint(str(tmp_path / "run"), 1, model)
    opts = TINY + ["DATA.PATH_TO_DATA_DIR", data, "DATA.PATH_PREFIX", data]
    opts += ["DATA.SAMPLING_RATE", "2", "TEST.NUM_ENSEMBLE_VIEWS", "1"]
    opts += ["TEST.NUM_SPATIAL_CROPS", "1", "TEST.BATCH_SIZE", "2"]
    opts += ["DATA_LOADER.NUM_WORKERS", "0", "NUM_GPUS", "0"]
    pte = str(tmp_path / "x3d_int8.pte")
    argv = ["--cfg", CFG, "--checkpoint", checkpoint, "--format", "executorch"]
    argv += ["--quantize", "int8", "--calibration", "dataset", "--calibration-clips", "6"]
    assert export_tool.main(argv + ["--output", pte] + opts) == 0

    # The tool's own check, redone here on the 16 test videos' clips.
    cfg = load_config(CFG, opts)
    shape = export_tool.input_shape(cfg)
    clips = export_tool.calibration_clips(cfg, "dataset", 16, shape)
    assert len(clips) == 16 and clips[0][0].shape == (1, 3, 4, 32, 32)
    cosines, agree, error = [], 0, 0.0
    with torch.no_grad():
        for clip in clips:
            got, expected = run_executorch(pte, clip), model(clip)
            cosines.append(torch.nn.functional.cosine_similarity(got, expected).item())
            agree += int(got.argmax() == expected.argmax())
            error = max(error, max_abs_error(got, expected))
    assert min(cosines) > 0.99
    assert agree >= 15  # one near-tie may flip under int8 rounding
    assert error > 1e-3  # int8 indeed: the float program matches eager to 1e-4
