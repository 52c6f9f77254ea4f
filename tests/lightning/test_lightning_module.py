"""slowvid.lightning in this process, on one CPU device: the module, the data module, the
trainer arguments. Multi-process runs are in test_examples.py, as subprocesses."""

import os

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

pytest.importorskip("lightning")

import lightning as L  # noqa: E402

from slowvid.checkpoint import load_checkpoint  # noqa: E402
from slowvid.config import load_config  # noqa: E402
from slowvid.data import build_loader  # noqa: E402
from slowvid.data.augment import Mixup  # noqa: E402
from slowvid.engine import evaluate  # noqa: E402
from slowvid.engine.inputs import PixelNorm  # noqa: E402
from slowvid.lightning import (  # noqa: E402
    VideoClassificationModule,
    VideoDataModule,
    trainer_arguments,
)
from slowvid.models import build_model  # noqa: E402
from slowvid.solver import lr_at_epoch  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_CFG = os.path.join(REPO, "configs/Demo/SLOWFAST_DEMO.yaml")
NUM_CLASSES = 4


class _Clips(Dataset):
    """uint8 clips whose class is the brightest channel, as clip datasets send them."""

    def __init__(self, num_videos: int):
        self.num_videos = num_videos

    def __len__(self) -> int:
        return self.num_videos

    def __getitem__(self, index: int) -> dict:
        g = torch.Generator().manual_seed(index)
        clip = torch.randint(0, 128, (NUM_CLASSES, 2, 4, 4), generator=g, dtype=torch.uint8)
        clip[index % NUM_CLASSES] += 120
        return {"inputs": [clip], "label": index % NUM_CLASSES, "video_index": index, "failed": []}


class _MeanNet(nn.Module):
    """Channel means -> linear; records the dtype and mean of what it was given."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(NUM_CLASSES, NUM_CLASSES)
        self.seen: list[tuple[torch.dtype, float]] = []

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        self.seen.append((inputs[0].dtype, inputs[0].mean().item()))
        return self.proj(inputs[0].mean(dim=(2, 3, 4)))


class _RecordLR(L.Callback):
    def __init__(self):
        self.lrs: list[float] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def _trainer(**kwargs) -> L.Trainer:
    return L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        num_sanity_val_steps=0,
        **kwargs,
    )


SCHEDULE = {
    "policy": "cosine",
    "base_lr": 0.4,
    "max_epoch": 3.0,
    "warmup_epochs": 1.0,
    "warmup_start_lr": 0.04,
}


def test_plain_arguments_train_with_slowvid_schedule_and_device_normalisation(tmp_path):
    torch.manual_seed(0)
    model = _MeanNet()
    module = VideoClassificationModule(
        model,
        num_classes=NUM_CLASSES,
        optimizer={"method": "sgd", "base_lr": 0.4, "weight_decay": 0.0},
        lr_schedule=SCHEDULE,
    )
    data = VideoDataModule(
        train=_Clips(32),
        val=_Clips(8),
        batch_size=8,
        pixel_norm=PixelNorm(mean=(0.5,) * NUM_CLASSES, std=(0.25,) * NUM_CLASSES),
    )
    record = _RecordLR()
    trainer = _trainer(max_epochs=3, callbacks=[record])
    trainer.fit(module, data)

    # The rate of every step is slowvid's at the step's fractional epoch (4 steps an epoch).
    expected = [lr_at_epoch(e + i / 4, **SCHEDULE) for e in range(3) for i in range(4)]
    assert record.lrs == pytest.approx(expected)
    # uint8 clips reached the model as float, normalised by the data module's PixelNorm.
    assert {dtype for dtype, _ in model.seen} == {torch.float32}
    assert all(-2.0 < mean < 2.0 for _, mean in model.seen)
    metrics = trainer.callback_metrics
    assert metrics["train/epoch_loss"] < 1.0  # chance is log(4) = 1.39
    assert metrics["val/top1_acc"] == 100.0 and metrics["val/num_videos"] == 8
    # Lightning's checkpoint loads where slowvid checkpoints do (run_net, hub weights=).
    path = str(tmp_path / "module.ckpt")
    trainer.save_checkpoint(path)
    fresh = _MeanNet()
    load_checkpoint(path, fresh)
    torch.testing.assert_close(fresh.state_dict(), model.state_dict())


def test_mixup_targets_train_with_soft_cross_entropy():
    from slowvid.models import build_loss

    module = VideoClassificationModule(
        _MeanNet(),
        num_classes=NUM_CLASSES,
        optimizer={"method": "sgd", "base_lr": 0.1},
        lr_schedule={"policy": "constant", "base_lr": 0.1, "max_epoch": 1.0},
        loss=build_loss("soft_cross_entropy"),
    )
    mixup = Mixup(num_classes=NUM_CLASSES, label_smoothing=0.1)
    data = VideoDataModule(train=_Clips(16), batch_size=8, mixup=mixup)
    batch = next(iter(data.train_dataloader()))
    assert batch["label"].shape == (8, NUM_CLASSES)  # probabilities, mixed in the collate
    torch.testing.assert_close(batch["label"].sum(dim=1), torch.ones(8))
    trainer = _trainer(max_epochs=1)
    trainer.fit(module, data)
    assert torch.isfinite(trainer.callback_metrics["train/epoch_loss"])


@pytest.mark.timeout(240)
def test_test_metrics_equal_the_engines_on_the_same_model_and_views(library_data, tmp_path):
    cfg = load_config(
        DEMO_CFG,
        [
            "DATA.PATH_TO_DATA_DIR",
            library_data,
            "DATA.PATH_PREFIX",
            library_data,
            "DATA.NUM_FRAMES",
            "8",
            "DATA.TEST_CROP_SIZE",
            "32",
            "RESNET.WIDTH_PER_GROUP",
            "4",
            "SLOWFAST.BETA_INV",
            "4",
            "TEST.BATCH_SIZE",
            "4",
            "TEST.NUM_SPATIAL_CROPS",
            "1",
            "DATA_LOADER.NUM_WORKERS",
            "0",
            "TRAIN.ENABLE",
            "False",
            "TENSORBOARD.ENABLE",
            "False",
            "OUTPUT_DIR",
            str(tmp_path),
        ],
    )
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    engine = evaluate(
        model, build_loader(cfg, "test"), torch.device("cpu"), cfg, tag="test", step=0
    )
    kwargs = VideoClassificationModule.from_config(cfg)
    kwargs["model"] = model
    module = VideoClassificationModule(**kwargs)
    data = VideoDataModule(**VideoDataModule.from_config(cfg))
    assert data.train is None and data.val is None  # TRAIN.ENABLE False: test only
    lightning = _trainer().test(module, data)[0]
    assert engine["num_videos"] == 8 and engine["num_missing"] == 0
    for key in ("top1_acc", "top5_acc", "mean_class_acc", "num_videos", "num_missing"):
        assert lightning[f"test/{key}"] == pytest.approx(engine[key]), key


def test_from_config_names_every_engine_feature_it_does_not_run():
    cfg = load_config(
        DEMO_CFG,
        ["MULTIGRID.SHORT_CYCLE", "True", "BN.USE_PRECISE_STATS", "True"],
    )
    with pytest.raises(ValueError, match=r"MULTIGRID\.SHORT_CYCLE, BN\.USE_PRECISE_STATS;"):
        VideoClassificationModule.from_config(cfg)
    with pytest.raises(TypeError, match="optimizer: got an unexpected keyword argument 'lr'"):
        VideoClassificationModule(
            _MeanNet(),
            num_classes=4,
            optimizer={"method": "sgd", "base_lr": 0.1, "lr": 0.1},
            lr_schedule=SCHEDULE,
        )


def test_trainer_arguments_follow_the_config(tmp_path):
    cfg = load_config(
        DEMO_CFG,
        [
            "NUM_CPU_PROCESSES",
            "2",
            "TRAIN.MIXED_PRECISION",
            "True",
            "SOLVER.CLIP_GRAD_L2NORM",
            "1.5",
            "TRAIN.GRAD_ACCUM_STEPS",
            "2",
            "OUTPUT_DIR",
            str(tmp_path),
        ],
    )
    args = trainer_arguments(cfg)
    assert (args["devices"], args["strategy"], args["accelerator"]) == (2, "ddp", "cpu")
    assert args["precision"] == "bf16-mixed"
    assert (args["gradient_clip_val"], args["gradient_clip_algorithm"]) == (1.5, "norm")
    assert args["accumulate_grad_batches"] == 2
    assert (args["max_epochs"], args["check_val_every_n_epoch"]) == (20, 5)
    assert args["use_distributed_sampler"] is False
    assert args["callbacks"][0].dirpath == os.path.join(str(tmp_path), "checkpoints")
    cfg.defrost()
    cfg.SOLVER.CLIP_GRAD_VAL = 0.5
    with pytest.raises(ValueError, match="CLIP_GRAD_VAL and SOLVER.CLIP_GRAD_L2NORM"):
        trainer_arguments(cfg)
