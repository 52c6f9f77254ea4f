"""MultiTaskHead on the backbones ClassificationHead serves, and the multi-task loss."""

import pytest
import torch
import torch.nn.functional as F

from slowvid.config.validation import infer_and_check
from slowvid.models import build_loss, build_model

TASKS = [5, 7]


@pytest.mark.parametrize("model, arch", [("SlowFast", "slowfast"), ("ResNet", "slow")])
def test_two_heads_forward_backward(make_cfg, model, arch):
    cfg = make_cfg(model, arch, 18)
    cfg.RESNET.WIDTH_PER_GROUP = 4
    cfg.SLOWFAST.BETA_INV = 4
    cfg.MODEL.HEAD_NAME = "MultiTaskHead"
    cfg.MODEL.TASK_NUM_CLASSES = TASKS
    cfg.MODEL.LOSS_FUNC = "multitask_cross_entropy"
    cfg.DATA.NUM_FRAMES = 8
    infer_and_check(cfg)
    assert cfg.MODEL.NUM_CLASSES == 12  # the concatenated logits
    net = build_model(cfg)
    clips = [torch.randn(2, 3, 8, 32, 32)]
    if model == "SlowFast":
        clips = [torch.randn(2, 3, 2, 32, 32), torch.randn(2, 3, 8, 32, 32)]
    logits = net(clips)
    assert logits.shape == (2, 12) and torch.isfinite(logits).all()
    labels = torch.tensor([[0, 6], [4, 1]])
    loss = build_loss(cfg.MODEL.LOSS_FUNC, cfg.MODEL.TASK_NUM_CLASSES)(logits, labels)
    loss.backward()
    for proj, k in zip(net.head.projs, TASKS):
        assert proj.weight.shape[0] == k and proj.weight.grad.abs().sum() > 0


def test_loss_is_sum_of_task_cross_entropies():
    logits, labels = torch.randn(4, 12), torch.tensor([[0, 6], [4, 1], [2, 2], [1, 0]])
    verb, noun = logits[:, :5], logits[:, 5:]
    expected = F.cross_entropy(verb, labels[:, 0]) + F.cross_entropy(noun, labels[:, 1])
    assert torch.allclose(build_loss("multitask_cross_entropy", TASKS)(logits, labels), expected)
    with pytest.raises(ValueError, match=r"\(B, 2\)"):
        build_loss("multitask_cross_entropy", TASKS)(logits, labels[:, 0])


def test_task_classes_and_loss_must_agree(make_cfg):
    cfg = make_cfg()
    cfg.MODEL.TASK_NUM_CLASSES = TASKS  # with plain cross_entropy
    with pytest.raises(ValueError, match="MODEL.TASK_NUM_CLASSES"):
        infer_and_check(cfg)
