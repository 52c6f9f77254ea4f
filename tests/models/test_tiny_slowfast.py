"""The tiny SlowFast the CPU demo trains: its size, and that it learns a fixed batch."""

import torch

from slowvid.models import build_loss, build_model, count_parameters


def test_tiny_slowfast_trains(make_cfg):
    cfg = make_cfg(
        "SlowFast",
        "slowfast",
        18,
        **{"RESNET.WIDTH_PER_GROUP": 8, "MODEL.NUM_CLASSES": 8, "MODEL.DROPOUT_RATE": 0.0},
    )
    model = build_model(cfg)
    assert count_parameters(model) == 313_820
    clip = [torch.randn(4, 3, 4, 64, 64), torch.randn(4, 3, 16, 64, 64)]
    target = torch.arange(4)
    loss_fn = build_loss(cfg.MODEL.LOSS_FUNC)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(4):
        opt.zero_grad()
        loss = loss_fn(model(clip), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
