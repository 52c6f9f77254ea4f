"""``VideoDataModule``: slowvid datasets served to Lightning by slowvid's own loaders.

The loaders are :func:`slowvid.data.make_loader`'s: seeded per-epoch shuffling (a
``DistributedSampler`` over several processes), evaluation shards that cover every view exactly
once with no padding, the datasets' collate functions, and mixup in the collate. Clip datasets
send uint8 pixels; they are normalised after Lightning moved the batch to the device
(:meth:`VideoDataModule.on_after_batch_transfer`), as the engine does.

Lightning must leave the samplers alone: build its ``Trainer`` with
``use_distributed_sampler=False`` (``trainer_arguments`` does), or evaluation over several
processes would pad and count some views twice.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from torch.utils.data import DataLoader, Dataset

from slowvid.data import build_dataset, make_loader
from slowvid.data.augment import Mixup
from slowvid.engine.inputs import PixelNorm, to_device

__all__ = ["VideoDataModule"]


class VideoDataModule(L.LightningDataModule):
    """Training, validation and test loaders over slowvid datasets.

    Args:
        train: the training dataset (None: no ``fit``).
        val: the validation dataset (None: no validation).
        test: the test dataset, usually with several views per video (None: no ``test``).
        batch_size: training clips per step over all processes (TRAIN.BATCH_SIZE).
        test_batch_size: validation and test views per step over all processes
            (TEST.BATCH_SIZE); default ``batch_size``.
        num_workers: loader worker processes.
        seed: base seed of shuffling and of the workers' augmentation streams (RNG_SEED).
        mixup: mixes training batches (targets become probabilities).
        pixel_norm: mean and std that normalise uint8 clips on the device (DATA.MEAN/STD).
        pin_memory: pin batches when CUDA is available.
    """

    def __init__(
        self,
        *,
        train: Dataset | None = None,
        val: Dataset | None = None,
        test: Dataset | None = None,
        batch_size: int,
        test_batch_size: int | None = None,
        num_workers: int = 0,
        seed: int = 0,
        mixup: Mixup | None = None,
        pixel_norm: PixelNorm | None = None,
        pin_memory: bool = False,
    ):
        super().__init__()
        self.train = train
        self.val = val
        self.test = test
        self.batch_size = batch_size
        self.test_batch_size = test_batch_size or batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.mixup = mixup
        self.pixel_norm = pixel_norm
        self.pin_memory = pin_memory

    @classmethod
    def from_config(cls, cfg) -> dict[str, Any]:
        """Constructor arguments from a slowvid cfg: the datasets ``build_dataset`` makes for
        the jobs the cfg enables (train with TRAIN.ENABLE, val when TRAIN.EVAL_PERIOD > 0 too,
        test with TEST.ENABLE), TRAIN/TEST.BATCH_SIZE, DATA_LOADER.*, RNG_SEED, MIXUP.* and
        DATA.MEAN/STD.

        Raises:
            ValueError: MULTIGRID.SHORT_CYCLE, whose batch sizes vary per step.
        """
        if cfg.MULTIGRID.SHORT_CYCLE:
            raise ValueError("VideoDataModule does not run MULTIGRID.SHORT_CYCLE")
        train = cfg.TRAIN.ENABLE
        return {
            "train": build_dataset(cfg, "train") if train else None,
            "val": build_dataset(cfg, "val") if train and cfg.TRAIN.EVAL_PERIOD > 0 else None,
            "test": build_dataset(cfg, "test") if cfg.TEST.ENABLE else None,
            "batch_size": cfg.TRAIN.BATCH_SIZE,
            "test_batch_size": cfg.TEST.BATCH_SIZE,
            "num_workers": cfg.DATA_LOADER.NUM_WORKERS,
            "seed": cfg.RNG_SEED,
            "mixup": None,  # build_dataset's training set mixes in its collate_fn (MIXUP.*)
            "pixel_norm": PixelNorm.from_config(cfg),
            "pin_memory": cfg.DATA_LOADER.PIN_MEMORY,
        }

    def setup(self, stage: str) -> None:
        trainer = self.trainer
        # Lightning keeps no public flag for it; without the check a mistake only shows as
        # slightly wrong multi-process metrics.
        connector = getattr(trainer, "_accelerator_connector", None)
        if trainer is not None and trainer.world_size > 1 and connector.use_distributed_sampler:
            raise ValueError(
                "VideoDataModule shards its loaders itself: build the lightning.Trainer with "
                "use_distributed_sampler=False (slowvid.lightning.trainer_arguments sets it)"
            )
        needed = {"fit": ("train",), "validate": ("val",), "test": ("test",)}.get(stage, ())
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"VideoDataModule has no {missing[0]} dataset for {stage!r}")

    def _loader(self, dataset: Dataset | None, training: bool) -> DataLoader | list:
        if dataset is None:
            return []  # Lightning runs no loop over an empty list
        return make_loader(
            dataset,
            training=training,
            batch_size=self.batch_size if training else self.test_batch_size,
            num_workers=self.num_workers,
            seed=self.seed,
            mixup=self.mixup if training else None,
            pin_memory=self.pin_memory,
            batch_size_key="batch_size" if training else "test_batch_size",
        )

    def train_dataloader(self) -> DataLoader | list:
        return self._loader(self.train, training=True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader(self.val, training=False)

    def test_dataloader(self) -> DataLoader | list:
        return self._loader(self.test, training=False)

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        """uint8 clips (already on the device) become normalised float clips there."""
        inputs = batch.get("inputs")
        if inputs is not None:
            batch["inputs"] = to_device(inputs, inputs[0].device, self.pixel_norm)
        return batch
