"""The training loop: epochs of steps, nothing else (checkpoints and evaluation are hooks).

Assumptions: batches are dicts from ``slowvid.data.build_loader`` (``inputs`` a list of
pathway tensors, ``extra_inputs`` a list of per-batch tensors such as detection boxes, ``label``,
``failed``); the model maps ``(inputs, *extra_inputs)`` to logits that ``loss_fn`` compares
with ``label``; what else a step logs is the dataset's ``train_metrics``. Subclass and override
``run_step`` for another kind of step instead of adding branches here.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence

import torch
from torch.distributed.tensor import DTensor
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from slowvid.checkpoint import set_rng_state
from slowvid.data import shuffle_loader
from slowvid.distributed import comm
from slowvid.evaluation import ScalarMeter, format_eta
from slowvid.solver import set_lr
from slowvid.utils.logging import log_json_stats

from .cpu_amp import guard_short_clip_conv3d
from .hooks import HookBase
from .inputs import PixelNorm, to_device
from .setup import epoch_seed, seed_everything

logger = logging.getLogger(__name__)


class TooManyFailedVideos(RuntimeError):
    """More videos failed to decode in one epoch than DATA.MAX_FAILED_FRACTION allows."""


class Trainer:
    """Runs epochs ``start_epoch .. max_epoch - 1`` of training.

    Args:
        model: the (possibly DDP-wrapped) network, already on ``device``.
        optimizer: optimizer over the model's parameters.
        loss_fn: ``loss_fn(logits, labels) -> scalar``.
        loader: training loader; reshuffled deterministically per epoch.
        lr_schedule: maps a fractional epoch to a learning rate.
        device: where the inputs go.
        max_epoch: epochs in the whole run.
        start_epoch: first epoch to run (the number of epochs already done when resuming).
        rng_seed: base seed; each epoch reseeds from (seed, epoch, rank), so a resumed run
            draws the same augmentations as an uninterrupted one.
        log_period: iterations between progress lines.
        max_failed_fraction: share of the dataset that may fail to decode per epoch.
        output_dir: where json stats go.
        hooks: called around epochs and steps.
        tensorboard: object with ``add_scalars(dict, step)`` or None.
        mixed_precision: autocast the forward pass (bf16 on CPU; fp16 and a gradient scaler
            on CUDA).
        grad_accum_steps: mini-batches per optimizer step; the loss is divided by it, and an
            epoch whose length it does not divide ends with a shorter group.
        clip_grad_val: clip gradient elements to [-v, v] (0 disables).
        clip_grad_l2norm: rescale gradients to at most this global L2 norm (0 disables).
        start_iter: batches of ``start_epoch`` already trained (resuming a mid-epoch
            checkpoint); they are loaded again and dropped, not trained on.
        resume_rng_state: RNG states (``get_rng_state()``) restored after those batches.
        pixel_norm: normalises uint8 clips on ``device`` (needed when the loader sends them,
            see DATA.NORMALIZE_ON_DEVICE).
        train_metrics: ``(logits, labels) -> {name: value}`` logged beside the loss (the
            dataset's ``train_metrics``: top-k error for class indices); None logs the loss only.
    """

    def __init__(
        self,
        *,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        loader: DataLoader,
        lr_schedule: Callable[[float], float],
        device: torch.device,
        max_epoch: int,
        start_epoch: int = 0,
        rng_seed: int = 0,
        log_period: int = 10,
        max_failed_fraction: float = 0.1,
        output_dir: str = ".",
        hooks: Sequence[HookBase] = (),
        tensorboard=None,
        mixed_precision: bool = False,
        grad_accum_steps: int = 1,
        clip_grad_val: float = 0.0,
        clip_grad_l2norm: float = 0.0,
        start_iter: int = 0,
        resume_rng_state: dict | None = None,
        pixel_norm: PixelNorm | None = None,
        train_metrics: Callable[[torch.Tensor, torch.Tensor], dict] | None = None,
    ):
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.loader = loader
        self.lr_schedule = lr_schedule
        self.device = device
        self.max_epoch = max_epoch
        self.start_epoch = start_epoch
        self.rng_seed = rng_seed
        self.log_period = log_period
        self.max_failed_fraction = max_failed_fraction
        self.output_dir = output_dir
        self.hooks = list(hooks)
        self.tensorboard = tensorboard
        self.mixed_precision = mixed_precision
        self.grad_accum_steps = grad_accum_steps
        self.clip_grad_val = clip_grad_val
        self.clip_grad_l2norm = clip_grad_l2norm
        self.start_iter = start_iter
        self.resume_rng_state = resume_rng_state
        self.pixel_norm = pixel_norm
        self.train_metrics = train_metrics
        if mixed_precision and device.type == "cpu":
            guard_short_clip_conv3d(model)
        # fp16 needs loss scaling; bf16 (the CPU's autocast type) has fp32's range and does not.
        self.scaler = torch.amp.GradScaler(
            "cuda", enabled=mixed_precision and device.type == "cuda"
        )
        self.num_iters = 0
        for hook in self.hooks:
            hook.trainer = self
        self.epoch = start_epoch
        self.iter = 0
        self.epoch_stats: dict = {}

    def _call_hooks(self, stage: str) -> None:
        for hook in self.hooks:
            getattr(hook, stage)()

    def train(self) -> None:
        self._call_hooks("before_train")
        self._run_start = time.perf_counter()
        for epoch in range(self.start_epoch, self.max_epoch):
            self.epoch = epoch  # hooks read the current epoch from the trainer
            seed_everything(epoch_seed(self.rng_seed, self.epoch, comm.get_rank()))
            shuffle_loader(self.loader, self.epoch)
            self._call_hooks("before_epoch")
            self.train_epoch()
            self._call_hooks("after_epoch")
        self._call_hooks("after_train")

    def _autocast(self):
        dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        return torch.autocast(self.device.type, dtype=dtype, enabled=self.mixed_precision)

    def forward_loss(self, batch: dict) -> tuple[torch.Tensor, dict]:
        """The loss of one mini-batch, and other numbers to log (override for another task,
        e.g. a model computing its own loss).

        Returns:
            ``(loss, stats)``: a scalar tensor, and floats (here the dataset's train_metrics).
        """
        labels = batch["label"].to(self.device, non_blocking=True)
        # Tensors beyond the clips (e.g. AVA's boxes) are passed on positionally.
        extra = to_device(batch.get("extra_inputs", []), self.device)
        with self._autocast():
            inputs = to_device(batch["inputs"], self.device, self.pixel_norm)
            logits = self.model(inputs, *extra)
        loss = self.loss_fn(logits.float(), labels)
        stats = {}
        if self.train_metrics is not None:
            stats = self.train_metrics(logits.detach(), labels)
        return loss, stats

    def before_optimizer_step(self) -> bool:
        """Called with the gradients of a complete group, before clipping and the step; may
        change them. Returns False to skip this step (override for e.g. MoCo's warm-up)."""
        return True

    def run_step(self, batch: dict) -> dict:
        """One mini-batch: forward, backward, and an optimizer step when a group is complete.

        Returns numbers to log.
        """
        closes_group = (
            self.iter + 1
        ) % self.grad_accum_steps == 0 or self.iter + 1 == self.num_iters
        # DDP would all-reduce after every backward; inside a group only the last one needs to.
        sync = contextlib.nullcontext()
        if not closes_group and isinstance(self.model, DistributedDataParallel):
            sync = self.model.no_sync()
        with sync:
            loss, extra_stats = self.forward_loss(batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"loss is {loss.item()} at epoch {self.epoch + 1}, iteration {self.iter + 1}; "
                    "try a lower SOLVER.BASE_LR or a longer SOLVER.WARMUP_EPOCHS"
                )
            self.scaler.scale(loss / self.grad_accum_steps).backward()
        stats = {"loss": loss.item()}
        if closes_group:
            stats.update(self._clip_and_step())
        stats.update(extra_stats)
        return stats

    def _clip_and_step(self) -> dict:
        stats = {}
        if not self.before_optimizer_step():
            self.optimizer.zero_grad(set_to_none=True)
            return {"skipped_steps": 1.0}
        if self.clip_grad_val or self.clip_grad_l2norm:
            self.scaler.unscale_(self.optimizer)  # clip the true gradients, not scaled ones
            params = [p for group in self.optimizer.param_groups for p in group["params"]]
            if self.clip_grad_val:
                torch.nn.utils.clip_grad_value_(params, self.clip_grad_val)
            if self.clip_grad_l2norm:
                norm = torch.nn.utils.clip_grad_norm_(params, self.clip_grad_l2norm)
                if isinstance(norm, DTensor):  # FSDP's sharded gradients: the global norm
                    norm = norm.full_tensor()
                if not torch.isfinite(norm) and not self.scaler.is_enabled():
                    # The fp16 scaler skips such steps itself; do the same for bf16 and fp32.
                    logger.warning(
                        "non-finite gradient norm at epoch %d, iteration %d: step skipped",
                        self.epoch + 1,
                        self.iter + 1,
                    )
                    self.optimizer.zero_grad(set_to_none=True)
                    return {"skipped_steps": 1.0}
                stats["grad_norm"] = norm.item()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        return stats

    def train_epoch(self) -> None:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        num_iters = self.num_iters = len(self.loader)
        meters: dict[str, ScalarMeter] = {}
        failed: list[str] = []
        samples = 0
        epoch_start = data_start = time.perf_counter()
        data_time = 0.0
        skip = self.start_iter if self.epoch == self.start_epoch else 0
        for iteration, batch in enumerate(self.loader):
            if iteration < skip:
                # Loading the done batches again (not just skipping indices) leaves every
                # worker's random stream where the interrupted run had it.
                if iteration == skip - 1 and self.resume_rng_state is not None:
                    set_rng_state(self.resume_rng_state)
                data_start = time.perf_counter()
                continue
            self.iter = iteration  # run_step and hooks read it
            self.batch = batch  # hooks may look at what the model was fed
            data_time += time.perf_counter() - data_start
            failed.extend(batch["failed"])
            lr = self.lr_schedule(self.epoch + self.iter / num_iters)
            set_lr(self.optimizer, lr)
            stats = self.step_stats = self.run_step(batch)  # hooks read the step's numbers
            batch_size = batch["label"].shape[0]
            samples += batch_size
            for name, value in stats.items():
                meter = meters.setdefault(name, ScalarMeter(window_size=self.log_period))
                meter.add_value(value, n=batch_size)
            self._call_hooks("after_step")
            if (self.iter + 1) % self.log_period == 0 or self.iter + 1 == num_iters:
                self._log_progress(meters, lr, num_iters, epoch_start)
            data_start = time.perf_counter()
        self._finish_epoch(
            meters, failed, samples, lr, time.perf_counter() - epoch_start, data_time
        )

    def _log_progress(self, meters: dict, lr: float, num_iters: int, epoch_start: float) -> None:
        done_iters = (self.epoch - self.start_epoch) * num_iters + self.iter + 1
        left_iters = (self.max_epoch - self.start_epoch) * num_iters - done_iters
        elapsed = time.perf_counter() - self._run_start
        eta = elapsed / done_iters * left_iters
        values = "  ".join(f"{k} {m.get_win_median():.4g}" for k, m in meters.items())
        logger.info(
            "epoch %d/%d  iter %d/%d  %s  lr %.4g  %.2fs/it  eta %s",
            self.epoch + 1,
            self.max_epoch,
            self.iter + 1,
            num_iters,
            values,
            lr,
            (time.perf_counter() - epoch_start) / (self.iter + 1),
            format_eta(eta),
        )

    def _finish_epoch(self, meters, failed, samples, lr, epoch_time, data_time) -> None:
        names = sorted(meters)
        totals = comm.all_reduce_sum(
            [meters[n].get_global_avg() * meters[n].count for n in names]
            + [meters[n].count for n in names]
            + [float(len(failed)), float(samples)]
        )
        n = len(names)
        stats = {
            "_type": "train_epoch",
            "epoch": self.epoch + 1,
            "lr": lr,
            "time_s": round(epoch_time, 2),
            "data_time_s": round(data_time, 2),
        }
        for i, name in enumerate(names):
            stats[name] = totals[i] / max(totals[n + i], 1)
        stats["failed_videos"] = int(totals[2 * n])
        stats["samples"] = int(totals[2 * n + 1])
        stats["max_rss_gb"] = _max_rss_gb()
        if torch.cuda.is_available() and self.device.type == "cuda":
            stats["gpu_mem_gb"] = torch.cuda.max_memory_allocated(self.device) / 2**30
        self.epoch_stats = stats
        if comm.is_main_process():
            log_json_stats(stats, self.output_dir)
            if self.tensorboard is not None:
                scalars = {f"train/{k}": v for k, v in stats.items() if not k.startswith("_")}
                self.tensorboard.add_scalars(scalars, self.epoch + 1)
        self._check_failures(failed, stats["failed_videos"])

    def _check_failures(self, failed: list[str], num_failed: int) -> None:
        if num_failed:  # the same on every rank: a sum over all of them
            check_failed_videos(
                failed,
                epoch=self.epoch,
                dataset_size=len(self.loader.dataset),
                max_failed_fraction=self.max_failed_fraction,
            )


def check_failed_videos(
    failed: list[str], *, epoch: int, dataset_size: int, max_failed_fraction: float
) -> None:
    """Warns about this epoch's failed decodes over all ranks; stops a run that has too many.

    A collective: every rank calls it with its own ``failed`` paths.

    Args:
        failed: paths that failed to decode on this rank in ``epoch`` (0-based).
        epoch: the epoch, for messages.
        dataset_size: training videos.
        max_failed_fraction: share of them that may fail (DATA.MAX_FAILED_FRACTION).

    Raises:
        TooManyFailedVideos: more distinct videos failed than the fraction allows.
    """
    all_failed = sorted({p for part in comm.all_gather_object(failed) for p in part})
    if not all_failed:
        return
    logger.warning(
        "epoch %d: %d clip decodes failed and were replaced (%d distinct videos): %s",
        epoch + 1,
        int(comm.all_reduce_sum([float(len(failed))])[0]),
        len(all_failed),
        ", ".join(all_failed[:10]),
    )
    if len(all_failed) > max_failed_fraction * dataset_size:
        raise TooManyFailedVideos(
            f"{len(all_failed)} of {dataset_size} training videos failed to decode in epoch "
            f"{epoch + 1}, more than DATA.MAX_FAILED_FRACTION={max_failed_fraction}; "
            f"first ones: {all_failed[:10]}. Fix or remove those files from the split."
        )


def _max_rss_gb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
