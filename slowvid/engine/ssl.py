"""Self-supervised pre-training (TASK ssl): the model computes its own loss, labels are unused.

:class:`SelfSupervisedTrainer` is the :class:`~slowvid.engine.trainer.Trainer` with two hooks
overridden: the loss is what the model returns (``{"loss": ...}``, see
:class:`~slowvid.models.ssl.SelfSupervisedModel`), and the model may change gradients or skip a
step (SwAV's frozen prototypes, MoCo's warm-up). Checkpoints, resuming, distributed training and
every other hook are the supervised run's. Validation (TRAIN.EVAL_PERIOD) reports the pre-training
loss on the val split, computed without changing the model's state.
"""

from __future__ import annotations

import logging

import torch

from slowvid.distributed import comm
from slowvid.models.ssl import SelfSupervisedModel
from slowvid.utils.logging import log_json_stats

from .inputs import PixelNorm, to_device
from .setup import unwrap_model
from .trainer import Trainer

__all__ = ["SelfSupervisedTrainer", "evaluate_pretext_loss", "self_supervised_model"]

logger = logging.getLogger(__name__)


def self_supervised_model(model: torch.nn.Module) -> SelfSupervisedModel:
    """The (unwrapped) model, checked to be one that trains without labels."""
    inner = unwrap_model(model)
    if not isinstance(inner, SelfSupervisedModel):
        raise TypeError(
            f"TASK ssl trains a model that computes its own loss (MaskedAutoencoder, MaskMViT, "
            f"ContrastiveModel); {type(inner).__name__} needs labels (TASK '')"
        )
    return inner


def _summed(losses: dict[str, torch.Tensor]) -> torch.Tensor:
    terms = [v.float() for k, v in losses.items() if k.startswith("loss")]
    if not terms:
        raise ValueError(f"a self-supervised model returned no 'loss*' entry: {sorted(losses)}")
    return sum(terms)


class SelfSupervisedTrainer(Trainer):
    """Trains a :class:`~slowvid.models.ssl.SelfSupervisedModel`; ``loss_fn`` is unused."""

    def forward_loss(self, batch: dict) -> tuple[torch.Tensor, dict]:
        model = self_supervised_model(self.model)
        model.set_progress(self.epoch + self.iter / max(self.num_iters, 1))
        with self._autocast():
            inputs = to_device(batch["inputs"], self.device, self.pixel_norm)
            losses = self.model(inputs)
        loss = _summed(losses)
        stats = {k: float(v) for k, v in losses.items() if k != "loss"}
        return loss, stats

    def before_optimizer_step(self) -> bool:
        return self_supervised_model(self.model).adjust_gradients()


@torch.no_grad()
def evaluate_pretext_loss(
    model: torch.nn.Module,
    loader,
    device: torch.device,
    pixel_norm: PixelNorm,
    *,
    output_dir: str,
    step: int,
    tensorboard=None,
) -> dict:
    """Mean pre-training loss over ``loader`` (every rank's batches), in eval mode.

    Returns:
        ``{"loss": mean, "num_clips": count}``; logged as a ``val`` json line.
    """
    self_supervised_model(model)
    model.eval()
    total, count = 0.0, 0
    for batch in loader:
        if batch["inputs"] is None:
            continue
        inputs = to_device(batch["inputs"], device, pixel_norm)
        n = inputs[0].shape[0]
        total += float(_summed(model(inputs))) * n
        count += n
    total, count = comm.all_reduce_sum([total, float(count)])
    results = {"loss": total / max(count, 1.0), "num_clips": int(count)}
    if comm.is_main_process():
        log_json_stats({"_type": "val", "epoch": step, **results}, output_dir)
        if tensorboard is not None:
            tensorboard.add_scalars({"val/loss": results["loss"]}, step)
    logger.info("val: pre-training loss %.4f over %d clips", results["loss"], results["num_clips"])
    return results
