"""PySlowFast's model keys: the network each selects, checked by parameter counts PySlowFast's
own code gives (``../shared/pyslowfast_reference_params.json`` holds them for its yamls) and by
the outputs each switch changes."""

import copy
import logging

import pytest
import torch
from torch import nn

from slowvid.config import get_cfg, infer_and_check
from slowvid.engine.jobs import log_model_info
from slowvid.engine.setup import wrap_model
from slowvid.models import build_loss, build_model, count_parameters
from slowvid.models.blocks.nonlocal_block import NonLocal
from slowvid.models.detector import ActionDetector
from slowvid.models.heads import ROIHead, X3DHead
from slowvid.utils.memory import SavedTensorBytes


def _meta_params(cfg) -> int:
    with torch.device("meta"):
        return count_parameters(build_model(cfg))


def _x3d_m(**overrides):
    cfg = get_cfg()
    cfg.MODEL.MODEL_NAME, cfg.MODEL.ARCH = "X3D", "x3d"
    cfg.DATA.INPUT_CHANNEL_NUM = [3]
    cfg.X3D.WIDTH_FACTOR, cfg.X3D.DEPTH_FACTOR, cfg.X3D.BOTTLENECK_FACTOR = 2.0, 2.2, 2.25
    for key, value in overrides.items():
        node, leaf = key.split(".")
        cfg[node][leaf] = value
    return cfg


def test_x3d_takes_its_head_from_the_architecture():
    # PySlowFast's X3D-M: 3,794,322 parameters (its configs/Kinetics/X3D_M.yaml, unmodified).
    cfg = _x3d_m(**{"RESNET.TRANS_FUNC": "x3d_transform"})
    infer_and_check(cfg)
    with torch.device("meta"):
        model = build_model(cfg)
    assert isinstance(model.head, X3DHead)
    assert count_parameters(model) == 3_794_322


def test_x3d_refuses_a_block_it_is_not_built_of():
    with pytest.raises(ValueError, match="RESNET.TRANS_FUNC 'bottleneck_transform'.*x3d"):
        build_model(_x3d_m(**{"RESNET.TRANS_FUNC": "bottleneck_transform"}))


def test_ptv_x3d_is_pytorchvideo_s_x3d():
    # PySlowFast's PTVX3D-M (configs/Kinetics/pytorchvideo/X3D_M.yaml): 3,794,274, 48 fewer:
    # PyTorchVideo's res2 shortcut has no norm.
    assert _meta_params(_x3d_m(**{"MODEL.MODEL_NAME": "PTVX3D"})) == 3_794_274


def _slowfast_ava(**overrides):
    """PySlowFast's AVA SlowFast 32x2 R50 (configs/AVA/SLOWFAST_32x2_R50_SHORT.yaml)."""
    cfg = get_cfg()
    cfg.MODEL.MODEL_NAME, cfg.MODEL.ARCH, cfg.MODEL.NUM_CLASSES = "SlowFast", "slowfast", 80
    cfg.DETECTION.ENABLE = True
    cfg.SLOWFAST.ALPHA, cfg.SLOWFAST.FUSION_KERNEL_SZ = 4, 7
    cfg.RESNET.SPATIAL_STRIDES = [[1, 1], [2, 2], [2, 2], [1, 1]]
    cfg.RESNET.SPATIAL_DILATIONS = [[1, 1], [1, 1], [1, 1], [2, 2]]
    for key, value in overrides.items():
        node, leaf = key.split(".")
        cfg[node][leaf] = value
    return cfg


def test_detection_enable_wraps_the_model_in_a_detector():
    cfg = _slowfast_ava()
    with torch.device("meta"):
        model = build_model(cfg)
    assert isinstance(model, ActionDetector) and isinstance(model.head, ROIHead)
    assert type(model.backbone).__name__ == "SlowFast"
    assert model.head.spatial_scale == 1 / 16  # the dilated res5 keeps stride 16
    assert count_parameters(model) == 33_828_888  # PySlowFast's count for that yaml
    cfg.DETECTION.ENABLE = False
    assert _meta_params(cfg) == 34_566_488 - 400 * 2305 + 80 * 2305  # a classifier instead


def test_spatial_scale_factor_sets_the_roi_scale():
    cfg = _slowfast_ava(**{"DETECTION.SPATIAL_SCALE_FACTOR": 32})
    with torch.device("meta"):
        assert build_model(cfg).head.spatial_scale == 1 / 32


def test_ptv_resnet_refuses_what_pytorchvideo_s_builder_ignores():
    cfg = get_cfg()
    cfg.MODEL.MODEL_NAME, cfg.MODEL.ARCH, cfg.DATA.INPUT_CHANNEL_NUM = "PTVResNet", "slow", [3]
    cfg.NONLOCAL.LOCATION = [[[]], [[1]], [[]], [[]]]
    with pytest.raises(ValueError, match="NONLOCAL.LOCATION.*no non-local"):
        build_model(cfg)
    cfg.NONLOCAL.LOCATION = []
    cfg.RESNET.NUM_BLOCK_TEMP_KERNEL = [[3], [4], [2], [3]]
    with pytest.raises(ValueError, match="NUM_BLOCK_TEMP_KERNEL"):
        build_model(cfg)


def test_nonlocal_group_attends_within_chunks_of_time():
    torch.manual_seed(0)
    grouped = NonLocal(8, 4, pool_size=(1, 1, 1), group=2).eval()
    whole = NonLocal(8, 4, pool_size=(1, 1, 1)).eval()
    whole.load_state_dict(grouped.state_dict())
    x = torch.randn(2, 8, 4, 3, 3)
    y = grouped(x)
    # Each half of time attends only to itself: the model on each half alone.
    expected = torch.cat([whole(x[:, :, :2]), whole(x[:, :, 2:])], dim=2)
    torch.testing.assert_close(y, expected)
    assert not torch.allclose(y, whole(x), atol=1e-4)


def _tiny_resnet(**overrides):
    cfg = get_cfg()
    cfg.MODEL.MODEL_NAME, cfg.MODEL.ARCH, cfg.DATA.INPUT_CHANNEL_NUM = "ResNet", "2d", [3]
    cfg.RESNET.DEPTH, cfg.RESNET.WIDTH_PER_GROUP, cfg.MODEL.NUM_CLASSES = 18, 8, 5
    for key, value in overrides.items():
        node, leaf = key.split(".")
        cfg[node][leaf] = value
    return cfg


def test_fc_init_std_and_inplace_relu_reach_the_model():
    torch.manual_seed(0)
    wide = build_model(_tiny_resnet(**{"MODEL.FC_INIT_STD": 0.5, "RESNET.INPLACE_RELU": False}))
    narrow = build_model(_tiny_resnet())
    assert 0.4 < wide.head.proj.weight.std() < 0.6 and narrow.head.proj.weight.std() < 0.02
    relus = [m for m in narrow.modules() if isinstance(m, nn.ReLU)]
    assert relus and all(m.inplace for m in relus)
    assert not any(m.inplace for m in wide.modules() if isinstance(m, nn.ReLU))


def test_a_2d_resnet_classifies_images_as_one_frame_clips():
    # PySlowFast's ImageNet ResNet-50 (configs/ImageNet/RES_R50.yaml): 25,557,032 parameters,
    # torchvision's resnet50 count.
    cfg = _tiny_resnet(**{"RESNET.DEPTH": 50, "RESNET.WIDTH_PER_GROUP": 64})
    cfg.MODEL.NUM_CLASSES = 1000
    assert _meta_params(cfg) == 25_557_032
    model = build_model(_tiny_resnet()).eval()
    image = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model([image]), model([image.unsqueeze(2)]))


def test_arch_lists_decide_the_pathways():
    cfg = _tiny_resnet(**{"MODEL.ARCH": "slow"})
    infer_and_check(cfg.clone())
    cfg.MODEL.SINGLE_PATHWAY_ARCH = ["c2d"]
    with pytest.raises(ValueError, match="MODEL.ARCH: 'slow' is in neither"):
        infer_and_check(cfg.clone())
    cfg.MODEL.MULTI_PATHWAY_ARCH = ["slowfast", "slow"]
    with pytest.raises(ValueError, match="DATA.INPUT_CHANNEL_NUM"):
        infer_and_check(cfg)


def test_bce_is_binary_cross_entropy_of_the_sigmoid():
    logits, target = torch.randn(6, 4), (torch.rand(6, 4) > 0.5).float()
    expected = nn.BCELoss()(logits.sigmoid(), target)
    torch.testing.assert_close(build_loss("bce")(logits, target), expected)
    cfg = get_cfg()
    cfg.MODEL.LOSS_FUNC, cfg.MODEL.HEAD_ACT = "bce", "softmax"
    with pytest.raises(ValueError, match="'bce' takes the sigmoid"):
        infer_and_check(cfg)


def test_multi_mse_sums_weighted_mses_and_needs_a_masked_model():
    preds = [torch.zeros(2, 3), torch.ones(4)]
    targets = [(torch.ones(2, 3), 0.5), torch.zeros(4)]
    assert build_loss("multi_mse")(preds, targets).item() == pytest.approx(0.5 * 1 + 1.0)
    with pytest.raises(ValueError, match="sequence of predictions"):
        build_loss("multi_mse")(torch.zeros(2, 3), torch.zeros(2))
    cfg = get_cfg()
    cfg.MODEL.LOSS_FUNC = "multi_mse"
    cfg.TASK, cfg.TEST.ENABLE = "ssl", False  # a pre-training loss: TASK ssl, no test
    with pytest.raises(ValueError, match="MASK.ENABLE"):
        infer_and_check(cfg)


def test_head_act_follows_the_loss_unless_set():
    from slowvid.config import head_activation

    cfg = get_cfg()
    assert head_activation(cfg) == "softmax"
    cfg.MODEL.LOSS_FUNC = "bce_logit"
    assert head_activation(cfg) == "sigmoid"
    cfg.MODEL.HEAD_ACT = "none"
    assert head_activation(cfg) == "none"
    cfg.TEST.DATASET = "charades"
    with pytest.raises(ValueError, match="Charades evaluators score each class with a sigmoid"):
        infer_and_check(cfg)


def test_log_model_info_logs_modules_and_gflops_only_when_asked(caplog):
    cfg = _tiny_resnet(**{"MODEL.ARCH": "slow", "DATA.NUM_FRAMES": 4, "DATA.TEST_CROP_SIZE": 32})
    model = build_model(cfg)
    with caplog.at_level(logging.INFO, logger="slowvid.engine.jobs"):
        log_model_info(model, cfg)
    assert "GFLOPs of one test view [(1, 3, 4, 32, 32)]" in caplog.text and "Model:" in caplog.text
    caplog.clear()
    cfg.LOG_MODEL_INFO = False
    with caplog.at_level(logging.INFO, logger="slowvid.engine.jobs"):
        log_model_info(model, cfg)
    assert "M parameters" in caplog.text and "GFLOPs" not in caplog.text


def _saved_bytes(model, clip) -> tuple[torch.Tensor, int]:
    with SavedTensorBytes() as saved:
        out = model(clip)
    return out, saved.bytes


def test_act_checkpoint_trains_the_same_keeping_fewer_activations():
    cfg = _tiny_resnet(**{"MODEL.ARCH": "slow", "MODEL.DROPOUT_RATE": 0.0})
    torch.manual_seed(0)
    plain = build_model(cfg)
    cfg.MODEL.ACT_CHECKPOINT = True  # applied where the run wraps its model
    lean = wrap_model(copy.deepcopy(plain), cfg, torch.device("cpu"))
    assert plain.state_dict().keys() == lean.state_dict().keys()
    clip = [torch.randn(2, 3, 4, 32, 32)]
    out_a, kept_a = _saved_bytes(plain, clip)
    out_b, kept_b = _saved_bytes(lean, clip)
    out_a.square().sum().backward()
    out_b.square().sum().backward()
    torch.testing.assert_close(out_a, out_b, rtol=0, atol=0)
    for (name, p), q in zip(plain.named_parameters(), lean.parameters()):
        torch.testing.assert_close(p.grad, q.grad, msg=name)
    for key, value in plain.state_dict().items():  # batch norm counted once per step
        if value.is_floating_point():
            torch.testing.assert_close(value, lean.state_dict()[key], rtol=0, atol=0)
    assert kept_b < kept_a / 3, (kept_a, kept_b)
