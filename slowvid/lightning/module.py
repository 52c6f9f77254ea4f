"""``VideoClassificationModule``: any slowvid model trained and tested by Lightning.

The module reuses the engine's parts rather than restating them: the optimizer with its
separate norm weight decay (``slowvid.solver.make_optimizer``), the per-iteration learning rate
(``lr_at_epoch``, set before every step as ``slowvid.engine.Trainer`` does), the per-epoch
seeding that makes runs repeatable, the failed-video accounting, the losses, and multi-view
evaluation through :mod:`slowvid.lightning.evaluation`. Mixup, CutMix and label smoothing mix
the batch in the loader's collate (:class:`~slowvid.lightning.VideoDataModule`), so their
targets arrive as probabilities for ``soft_cross_entropy``.

Assumptions: batches are slowvid batches (``inputs``, ``label``, ``video_index``, ``failed``,
optionally ``extra_inputs`` such as boxes), and the model maps ``(inputs, *extra_inputs)`` to
logits.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any

import lightning as L
import torch
from torch import nn

from slowvid.checkpoint import load_checkpoint
from slowvid.data import shuffle_loader
from slowvid.data.datasets import VideoDataset
from slowvid.data.shards import StreamingDataset
from slowvid.distributed import comm
from slowvid.engine.cpu_amp import guard_short_clip_conv3d
from slowvid.engine.setup import epoch_seed, seed_everything
from slowvid.engine.trainer import check_failed_videos
from slowvid.evaluation import topk_correct
from slowvid.models import build_loss, build_model
from slowvid.models.losses import scores_of
from slowvid.solver import lr_at_epoch, make_optimizer, set_lr

from .evaluation import make_evaluator

__all__ = ["VideoClassificationModule"]

logger = logging.getLogger(__name__)


class VideoClassificationModule(L.LightningModule):
    """Trains ``model`` with slowvid's solver and scores it with slowvid's evaluators.

    Logged: per step ``train/loss``, ``train/top1_err``, ``train/top5_err`` (class-index
    labels) and ``train/lr``; per epoch their means over every rank's clips,
    ``train/epoch_loss``, ...; after validation and testing every number the evaluator
    returns, as ``val/top1_acc``, ``test/top1_acc``, ``test/mean_class_acc``, ... and
    ``{val,test}/failed_views``.

    Args:
        model: maps ``(inputs, *extra_inputs)`` to ``(B, num_classes)`` logits.
        num_classes: width of the logits.
        optimizer: keyword arguments of :func:`slowvid.solver.make_optimizer` (``method``,
            ``base_lr``, ``momentum``, ``weight_decay``, ``bn_weight_decay``, ...).
        lr_schedule: keyword arguments of :func:`slowvid.solver.lr_at_epoch` (``policy``,
            ``base_lr``, ``max_epoch``, ``warmup_epochs``, ...), evaluated every step at the
            fractional epoch.
        loss: ``loss(logits, labels)``; default cross entropy.
        multi_label: sigmoid scores in evaluation (multi-label sets); otherwise softmax.
        ensemble_method: "sum" or "max" over a video's views.
        rng_seed: base of the per-epoch, per-rank seeds.
        max_failed_fraction: share of the training videos that may fail to decode per epoch.
        output_dir: where datasets with their own evaluator (AVA) write detections.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        num_classes: int,
        optimizer: Mapping[str, Any],
        lr_schedule: Mapping[str, Any],
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        multi_label: bool = False,
        ensemble_method: str = "sum",
        rng_seed: int = 0,
        max_failed_fraction: float = 0.1,
        output_dir: str = ".",
    ):
        super().__init__()
        # Bad solver settings fail here, naming the argument, not after the data has loaded.
        try:
            inspect.signature(make_optimizer).bind(model, **optimizer)
        except TypeError as exc:
            raise TypeError(f"optimizer: {exc} (make_optimizer's arguments)") from None
        lr_at_epoch(0.0, **lr_schedule)
        self.model = model
        self.num_classes = num_classes
        self.optimizer_kwargs = dict(optimizer)
        self.lr_schedule_kwargs = dict(lr_schedule)
        self.loss_fn = loss if loss is not None else nn.CrossEntropyLoss()
        self.multi_label = multi_label
        self.ensemble_method = ensemble_method
        self.rng_seed = rng_seed
        self.max_failed_fraction = max_failed_fraction
        self.output_dir = output_dir
        self.save_hyperparameters(ignore=["model", "loss"])
        # Lightning validates inside the training epoch: the two keep separate failure lists.
        self._train_failed: list[str] = []
        self._train_sums: dict[str, tuple[float, int]] = {}  # name -> (sum over clips, clips)
        self._eval_failed: list[str] = []
        self._evaluator = None

    @classmethod
    def from_config(cls, cfg) -> dict[str, Any]:
        """Constructor arguments from a slowvid cfg: ``build_model(cfg)`` (initialised from
        TRAIN.CHECKPOINT_FILE_PATH when set), MODEL.LOSS_FUNC, SOLVER.*, BN.WEIGHT_DECAY,
        TEST.ENSEMBLE_METHOD, RNG_SEED, DATA.MAX_FAILED_FRACTION and OUTPUT_DIR.

        Raises:
            ValueError: the cfg turns on an engine feature this module does not run
                (multigrid, precise BN, TRAIN.HOOKS), naming every such key.
        """
        unsupported = [
            key
            for key, on in (
                ("MULTIGRID.LONG_CYCLE", cfg.MULTIGRID.LONG_CYCLE),
                ("MULTIGRID.SHORT_CYCLE", cfg.MULTIGRID.SHORT_CYCLE),
                ("BN.USE_PRECISE_STATS", cfg.BN.USE_PRECISE_STATS),
                ("TRAIN.HOOKS", bool(cfg.TRAIN.HOOKS)),
            )
            if on
        ]
        if unsupported:
            raise ValueError(
                f"VideoClassificationModule does not run {', '.join(unsupported)}; turn them "
                "off or train with tools/run_net.py"
            )
        model = build_model(cfg)
        if cfg.TRAIN.CHECKPOINT_FILE_PATH:
            load_checkpoint(cfg.TRAIN.CHECKPOINT_FILE_PATH, model)
        if cfg.MODEL.CHANNELS_LAST:
            model = model.to(memory_format=torch.channels_last_3d)
        if cfg.TRAIN.MIXED_PRECISION and cfg.NUM_GPUS == 0:
            guard_short_clip_conv3d(model)  # Lightning's bf16-mixed on CPU has the bug too
        s = cfg.SOLVER
        return {
            "model": model,
            "num_classes": cfg.MODEL.NUM_CLASSES,
            "optimizer": {
                "method": s.OPTIMIZING_METHOD,
                "base_lr": s.BASE_LR,
                "momentum": s.MOMENTUM,
                "weight_decay": s.WEIGHT_DECAY,
                "bn_weight_decay": cfg.BN.WEIGHT_DECAY,
                "nesterov": s.NESTEROV,
                "dampening": s.DAMPENING,
                "betas": tuple(s.BETAS),
            },
            "lr_schedule": {
                "policy": s.LR_POLICY,
                "base_lr": float(s.BASE_LR),
                "max_epoch": float(s.MAX_EPOCH),
                "cosine_end_lr": float(s.COSINE_END_LR),
                "steps": tuple(float(x) for x in s.STEPS),
                "lrs": tuple(float(x) for x in s.LRS),
                "warmup_epochs": float(s.WARMUP_EPOCHS),
                "warmup_start_lr": float(s.WARMUP_START_LR),
            },
            "loss": build_loss(cfg.MODEL.LOSS_FUNC, cfg.MODEL.TASK_NUM_CLASSES),
            "multi_label": scores_of(cfg.MODEL.LOSS_FUNC) == "sigmoid",
            "ensemble_method": cfg.TEST.ENSEMBLE_METHOD,
            "rng_seed": cfg.RNG_SEED,
            "max_failed_fraction": cfg.DATA.MAX_FAILED_FRACTION,
            "output_dir": cfg.OUTPUT_DIR,
        }

    def forward(self, inputs: list[torch.Tensor], *extra: torch.Tensor) -> torch.Tensor:
        return self.model(inputs, *extra)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # No Lightning scheduler: the rate is a function of the fractional epoch, set per step.
        return make_optimizer(self.model, **self.optimizer_kwargs)

    # ---- training ---------------------------------------------------------------------------

    def on_train_epoch_start(self) -> None:
        # As the engine does: epoch e draws the same clips and augmentations in any run.
        epoch = self.current_epoch
        seed_everything(epoch_seed(self.rng_seed, epoch, self.global_rank))
        shuffle_loader(self.trainer.train_dataloader, epoch)
        self._train_failed = []
        self._train_sums = {}

    def _train_metrics(self, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        """The training dataset's ``train_metrics`` (VideoDataset protocol); a plain dataset
        outside it gets top-k errors when its labels are class indices."""
        dataset = self.trainer.train_dataloader.dataset
        if isinstance(dataset, VideoDataset | StreamingDataset):
            return dataset.train_metrics(logits, labels)
        if labels.dim() != 1:  # mixed or multi-hot targets: top-k errors are not defined
            return {}
        top1, top5 = topk_correct(logits, labels, (1, 5))
        size = labels.numel()
        return {"top1_err": 100.0 * (1 - top1 / size), "top5_err": 100.0 * (1 - top5 / size)}

    def on_train_batch_start(self, batch: dict, batch_idx: int) -> None:
        epoch = self.current_epoch + batch_idx / max(self.trainer.num_training_batches, 1)
        for optimizer in self.trainer.optimizers:
            set_lr(optimizer, lr_at_epoch(epoch, **self.lr_schedule_kwargs))

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        self._train_failed.extend(batch["failed"])
        labels = batch["label"]
        logits = self(batch["inputs"], *batch.get("extra_inputs", []))
        loss = self.loss_fn(logits.float(), labels)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"loss is {loss.item()} at epoch {self.current_epoch + 1}, batch {batch_idx + 1}; "
                "try a lower base_lr (SOLVER.BASE_LR) or a longer warm-up"
            )
        size = labels.shape[0]
        stats = {"loss": loss.item()}
        stats.update(self._train_metrics(logits.detach(), labels))
        for name, value in stats.items():
            total, count = self._train_sums.get(name, (0.0, 0))
            self._train_sums[name] = (total + value * size, count + size)
        # Per-rank step values; the epoch means are reduced over ranks in on_train_epoch_end.
        self.log_dict({f"train/{k}": v for k, v in stats.items()}, batch_size=size)
        lr = self.trainer.optimizers[0].param_groups[0]["lr"]
        self.log("train/lr", lr, batch_size=size)
        return loss

    def on_train_epoch_end(self) -> None:
        # Collectives live here and in the evaluation hooks only, and no epoch value is synced
        # lazily: Lightning's progress bar reads metrics on rank 0 alone, and a lazy sync there
        # would pair with another collective on the other ranks.
        names = sorted(self._train_sums)
        sums = comm.all_reduce_sum(
            [self._train_sums[n][0] for n in names] + [self._train_sums[n][1] for n in names]
        )
        means = {
            f"train/epoch_{n}": sums[i] / max(sums[len(names) + i], 1) for i, n in enumerate(names)
        }
        self.log_dict(means, sync_dist=True, reduce_fx="max")  # the same on every rank
        if self.global_rank == 0:
            logger.info(
                "epoch %d/%d  %s",
                self.current_epoch + 1,
                self.trainer.max_epochs,
                "  ".join(f"{k} {v:.4g}" for k, v in means.items()),
            )
        self._train_sums = {}
        check_failed_videos(
            self._train_failed,
            epoch=self.current_epoch,
            dataset_size=len(self.trainer.train_dataloader.dataset),
            max_failed_fraction=self.max_failed_fraction,
        )

    # ---- evaluation -------------------------------------------------------------------------

    def _start_evaluation(self, loader, tag: str) -> None:
        self._eval_failed = []
        self._evaluator = make_evaluator(
            loader.dataset,
            num_classes=self.num_classes,
            method=self.ensemble_method,
            multi_label=self.multi_label,
            output_dir=self.output_dir,
            tag=f"{tag}_{self.current_epoch}",
        )

    def _evaluation_step(self, batch: dict) -> None:
        self._eval_failed.extend(batch["failed"])
        if batch["inputs"] is None:  # every view of the batch failed to decode
            return
        logits = self(batch["inputs"], *batch.get("extra_inputs", []))
        self._evaluator.process(batch, logits.float())

    def _finish_evaluation(self, tag: str) -> dict:
        results = self._evaluator.finalize()
        failed = [p for part in comm.all_gather_object(self._eval_failed) for p in part]
        results["failed_views"] = len(failed)
        if failed:
            logger.warning(
                "%s: %d views could not be decoded and were left out; videos: %s",
                tag,
                len(failed),
                ", ".join(sorted(set(failed))[:10]),
            )
        # Every rank holds the gathered figures; "max" syncs them without changing them.
        numbers = {
            f"{tag}/{k}": float(v)
            for k, v in results.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
        self.log_dict(numbers, sync_dist=True, reduce_fx="max")
        if self.global_rank == 0:
            logger.info("%s  %s", tag, "  ".join(f"{k} {v:.4g}" for k, v in numbers.items()))
        self._evaluator = None
        return results

    def on_validation_epoch_start(self) -> None:
        self._start_evaluation(self.trainer.val_dataloaders, "val")

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluation_step(batch)

    def on_validation_epoch_end(self) -> None:
        self._finish_evaluation("val")

    def on_test_epoch_start(self) -> None:
        self._start_evaluation(self.trainer.test_dataloaders, "test")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        self._evaluation_step(batch)

    def on_test_epoch_end(self) -> None:
        self._finish_evaluation("test")
