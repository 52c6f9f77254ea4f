"""Contrastive pre-training: SimCLR's NT-Xent against pytorch-metric-learning, BYOL against
PyTorchVideo's BYOL step for step, MoCo's queue and momentum encoder, SwAV's Sinkhorn codes and
frozen prototypes, the losses over two gloo processes against one process on the whole batch,
and pre-training checkpoints reaching fine-tuning models."""

import copy

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn

from slowvid.checkpoint import load_checkpoint
from slowvid.config import get_cfg
from slowvid.models import build_model
from slowvid.models.ssl.contrastive_losses import nt_xent_loss, sinkhorn, swav_loss


def _cfg(method: str, **keys):
    cfg = get_cfg()
    values = {
        "MODEL.MODEL_NAME": "ContrastiveModel",
        "MODEL.ARCH": "vit",
        "MODEL.LOSS_FUNC": "contrastive_loss",
        "MODEL.NUM_CLASSES": 16,
        "MODEL.DROPOUT_RATE": 0.0,
        "DATA.INPUT_CHANNEL_NUM": [3],
        "DATA.NUM_FRAMES": 4,
        "DATA.TRAIN_CROP_SIZE": 32,
        "DATA.TRAIN_CROP_NUM_TEMPORAL": 2,
        "VIT.DEPTH": 1,
        "VIT.EMBED_DIM": 32,
        "VIT.NUM_HEADS": 2,
        "VIT.PATCH_SIZE": [2, 16, 16],
        "VIT.DROPPATH_RATE": 0.0,
        "CONTRASTIVE.TYPE": method,
        "CONTRASTIVE.DIM": 16,
        "CONTRASTIVE.MLP_DIM": 32,
        "CONTRASTIVE.NUM_MLP_LAYERS": 2,
        "CONTRASTIVE.T": 0.2,
        "CONTRASTIVE.QUEUE_LEN": 6,
        "CONTRASTIVE.MOMENTUM": 0.9,
    }
    if method == "byol":
        values["CONTRASTIVE.PREDICTOR_DEPTHS"] = [2]
    values.update(keys)
    for key, value in values.items():
        node, leaf = key.split(".")
        cfg[node][leaf] = value
    return cfg


def _batch(items: int = 4, views: int = 2, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(items * views, 3, 4, 32, 32, generator=g)]


def _unit(*shape, seed=0) -> torch.Tensor:
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed)), dim=1)


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_nt_xent_equals_pytorch_metric_learning(temperature):
    losses = pytest.importorskip("pytorch_metric_learning.losses")
    q1, q2 = _unit(6, 8, seed=1), _unit(6, 8, seed=2)
    # Each embedding's positive is its other view (the same label), the other 10 its negatives.
    labels = torch.arange(6).repeat(2)
    expected = losses.NTXentLoss(temperature=temperature)(torch.cat([q1, q2]), labels)
    torch.testing.assert_close(nt_xent_loss(q1, q2, temperature), expected)


class _OneClip(nn.Module):
    """PyTorchVideo's BYOL hands the backbone a tensor; slowvid's take pathway lists."""

    def __init__(self, backbone: nn.Module):
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone([x])


def test_byol_steps_equal_pytorchvideo_byol():
    byol = pytest.importorskip("pytorchvideo.models.byol")
    torch.manual_seed(0)
    model = build_model(_cfg("byol", **{"CONTRASTIVE.T": 1.0}))
    reference = byol.BYOL(
        backbone=_OneClip(copy.deepcopy(model.backbone)),
        predictor=copy.deepcopy(model.predictor),
        mmt=0.9,
    )
    # PyTorchVideo halves the sum of the two directions; slowvid (as PySlowFast) sums them, so
    # half its learning rate takes the same steps.
    ours = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05)
    theirs = torch.optim.SGD([p for p in reference.parameters() if p.requires_grad], lr=0.1)
    for step in range(3):
        (clips,) = _batch(seed=step)
        loss = model([clips])["loss"]
        expected = reference(clips[0::2], clips[1::2])
        torch.testing.assert_close(loss, 2 * expected, rtol=1e-5, atol=1e-6)
        for optimizer, value in ((ours, loss), (theirs, expected)):
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
    for a, b in zip(
        model.backbone_hist.parameters(), reference.backbone_mmt.parameters(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not torch.equal(
        next(model.backbone_hist.parameters()), next(model.backbone.parameters())
    )


def test_moco_queue_is_a_ring_and_steps_wait_until_it_is_full():
    torch.manual_seed(0)
    model = build_model(_cfg("moco"))
    initial = model.queue_x.clone()
    model([_batch(seed=0)[0]])  # 4 keys into a queue of 6
    assert int(model.ptr) == 4 and not model.adjust_gradients()
    first_keys = model.queue_x[:4].clone()
    assert torch.equal(model.queue_x[4:], initial[4:])
    torch.testing.assert_close(first_keys.norm(dim=1), torch.ones(4))
    # The keys are the momentum encoder's, equal to the online one at the first step.
    with torch.no_grad():
        expected = model.embed([_batch(seed=0)[0][1::2]])
    torch.testing.assert_close(first_keys, expected)
    model([_batch(seed=1)[0]])  # 4 more: rows 4, 5, then 0, 1 wrap round
    assert int(model.ptr) == 2 and model.adjust_gradients()
    assert torch.equal(model.queue_x[2:4], first_keys[2:4])
    assert not torch.equal(model.queue_x[:2], first_keys[:2])
    # Evaluation changes no state.
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    with torch.no_grad():
        model([_batch(seed=2)[0]])
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_moco_multi_view_queue_and_momentum_annealing():
    model = build_model(
        _cfg(
            "moco",
            **{
                "CONTRASTIVE.MOCO_MULTI_VIEW_QUEUE": True,
                "CONTRASTIVE.SEQUENTIAL": True,
                "CONTRASTIVE.MOMENTUM_ANNEALING": True,
                "CONTRASTIVE.QUEUE_LEN": 16,
                "DATA.TRAIN_CROP_NUM_TEMPORAL": 3,
                "SOLVER.MAX_EPOCH": 10,
            },
        )
    )
    model([_batch(views=3)[0]])
    assert int(model.ptr) == 12  # all three clips of 4 videos entered
    model.set_progress(5.0)  # half way: 1 - (1 - 0.9) * (cos(pi / 2) + 1) / 2
    assert model.momentum == pytest.approx(0.95)
    model.set_progress(10.0)
    assert model.momentum == pytest.approx(1.0)


def test_sinkhorn_codes_share_prototypes_equally():
    # Cosines of 12 embeddings with 5 prototypes; by argmax the prototypes get 0, 2, 4, 0, 6.
    scores = _unit(12, 8, seed=4) @ _unit(5, 8, seed=5).t()
    greedy = scores.argmax(1).bincount(minlength=5).float()
    for iterations, spread in ((3, 1.5), (100, 1e-4)):
        codes = sinkhorn(scores, epsilon=0.05, iterations=iterations)
        torch.testing.assert_close(codes.sum(1), torch.ones(12))
        # Equipartition (12 / 5 each), approached as the iterations grow.
        assert (codes.sum(0) - 12 / 5).abs().max() < spread
    assert (greedy - 12 / 5).abs().max() > 3.5  # what no balancing would give


def test_swav_keeps_prototypes_still_in_the_first_epoch():
    torch.manual_seed(0)
    model = build_model(_cfg("swav"))
    assert model.swav_prototypes.out_features == 1000
    for epoch, frozen in ((0.5, True), (1.5, False)):
        model.zero_grad()
        model.set_progress(epoch)
        model(_batch())["loss"].backward()
        assert model.swav_prototypes.weight.grad is not None
        assert model.adjust_gradients()
        assert (model.swav_prototypes.weight.grad is None) == frozen
    torch.testing.assert_close(model.swav_prototypes.weight.norm(dim=1), torch.ones(1000))


@pytest.mark.parametrize("method", ["simclr", "moco", "byol", "swav"])
def test_each_method_learns_to_match_clips_of_one_video(method):
    # Two noisy copies of each of 4 clips: every method's loss falls as it learns to match them.
    torch.manual_seed(0)
    model = build_model(_cfg(method, **{"CONTRASTIVE.QUEUE_LEN": 4}))
    g = torch.Generator().manual_seed(0)
    clips = torch.randn(4, 3, 4, 32, 32, generator=g)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for step in range(10):
        noisy = clips.repeat_interleave(2, 0) + 0.3 * torch.randn(8, 3, 4, 32, 32, generator=g)
        model.set_progress(2.0 + step)  # past SwAV's frozen first epoch
        loss = model([noisy])["loss"]
        optimizer.zero_grad()
        loss.backward()
        if model.adjust_gradients():
            optimizer.step()
        losses.append(loss.item())
    # MoCo's first loss is against the random initial queue; from the second, real keys.
    first = losses[1] if method == "moco" else losses[0]
    assert losses[-1] < first - 0.1 * abs(first), losses


@pytest.mark.parametrize(
    "keys,message",
    [
        ({"CONTRASTIVE.DIM": 8}, "CONTRASTIVE.DIM"),
        ({"MODEL.LOSS_FUNC": "cross_entropy"}, "LOSS_FUNC"),
        ({"MODEL.ARCH": "resnext"}, "MODEL.ARCH"),
        ({"DATA.TRAIN_CROP_NUM_TEMPORAL": 1}, "TRAIN_CROP_NUM_TEMPORAL"),
        ({"CONTRASTIVE.PREDICTOR_DEPTHS": [2]}, "PREDICTOR_DEPTHS"),
    ],
)
def test_bad_keys_are_named(keys, message):
    with pytest.raises(ValueError, match=message):
        build_model(_cfg("simclr", **keys))


def test_simclr_dist_on_chooses_where_negatives_come_from():
    assert build_model(_cfg("simclr")).spec.gather_negatives
    model = build_model(_cfg("simclr", **{"CONTRASTIVE.SIMCLR_DIST_ON": False}))
    assert not model.spec.gather_negatives  # the two-process test checks both losses


def test_batch_not_divisible_by_the_clips_per_video_is_refused():
    model = build_model(_cfg("simclr", **{"DATA.TRAIN_CROP_NUM_TEMPORAL": 3}))
    with pytest.raises(ValueError, match="TRAIN_CROP_NUM_TEMPORAL"):
        model(_batch(items=2, views=2))  # 4 clips, not a multiple of 3


def test_contrastive_checkpoint_fine_tunes_the_backbone_without_projection(tmp_path):
    torch.manual_seed(0)
    pretrained = build_model(_cfg("moco"))
    pretrained([_batch()[0]])
    torch.save({"model_state": pretrained.state_dict()}, tmp_path / "moco.pyth")
    cfg = _cfg("moco", **{"MODEL.MODEL_NAME": "VisionTransformer", "MODEL.NUM_CLASSES": 5})
    cfg.MODEL.LOSS_FUNC = "cross_entropy"
    vit = build_model(cfg)
    head = vit.head.proj.weight.clone()
    load_checkpoint(str(tmp_path / "moco.pyth"), vit)
    ours = dict(pretrained.backbone.named_parameters())
    for name, param in vit.named_parameters():
        if name.startswith("head.proj."):
            continue
        assert torch.equal(param, ours[name]), name  # the online encoder, not the momentum one
    assert torch.equal(vit.head.proj.weight, head)


# ---------------------------------------------------------------- two processes
def _losses_rank(rank: int, init_file: str, out_file: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    q1, q2 = _unit(8, 6, seed=1), _unit(8, 6, seed=2)
    mine = slice(4 * rank, 4 * rank + 4)
    a, b = q1[mine].clone().requires_grad_(), q2[mine].clone().requires_grad_()
    loss = nt_xent_loss(a, b, 0.2)
    loss.backward()
    scores = torch.randn(8, 5, generator=torch.Generator().manual_seed(3))
    codes = sinkhorn(scores[mine])
    swav = swav_loss([scores[mine], scores[mine].flip(0)], 0.1)
    own = nt_xent_loss(q1[mine], q2[mine], 0.2, gather=False)  # CONTRASTIVE.SIMCLR_DIST_ON False
    out = {"loss": loss.detach(), "grad": torch.cat([a.grad, b.grad]), "codes": codes, "own": own}
    torch.save({**out, "swav": swav.detach()}, f"{out_file}.{rank}")
    dist.destroy_process_group()


@pytest.mark.timeout(120)
def test_two_gloo_ranks_compute_the_whole_batch_losses(tmp_path):
    out = str(tmp_path / "losses")
    mp.spawn(_losses_rank, args=(str(tmp_path / "init"), out), nprocs=2, join=True)
    ranks = [torch.load(f"{out}.{r}", weights_only=True) for r in (0, 1)]
    q1 = _unit(8, 6, seed=1).requires_grad_()
    q2 = _unit(8, 6, seed=2).requires_grad_()
    whole = nt_xent_loss(q1, q2, 0.2)
    whole.backward()
    # The mean of the ranks' losses is the loss over all 16 clips; each rank's gradient is its
    # share of the summed loss (DDP's averaging over 2 ranks then gives the whole batch's).
    torch.testing.assert_close((ranks[0]["loss"] + ranks[1]["loss"]) / 2, whole.detach())
    for r, got in enumerate(ranks):
        mine = slice(4 * r, 4 * r + 4)
        expected = 2 * torch.cat([q1.grad[mine], q2.grad[mine]])
        torch.testing.assert_close(got["grad"], expected, rtol=1e-4, atol=1e-6)
    for r, got in enumerate(ranks):  # without gathering, negatives are the rank's own
        mine = slice(4 * r, 4 * r + 4)
        torch.testing.assert_close(
            got["own"], nt_xent_loss(q1[mine].detach(), q2[mine].detach(), 0.2)
        )
    scores = torch.randn(8, 5, generator=torch.Generator().manual_seed(3))
    codes = sinkhorn(scores)
    torch.testing.assert_close(torch.cat([ranks[0]["codes"], ranks[1]["codes"]]), codes)
    # SwAV's loss with codes over both ranks differs from each rank's codes alone.
    local = swav_loss([scores[:4], scores[:4].flip(0)], 0.1)
    assert not torch.allclose(ranks[0]["swav"], local)
