"""The ``lightning.Trainer`` arguments a slowvid cfg implies."""

from __future__ import annotations

import os
from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint

from slowvid.distributed.launch import processes_per_machine

__all__ = ["trainer_arguments"]


def trainer_arguments(cfg) -> dict[str, Any]:
    """Keyword arguments for ``lightning.Trainer`` that run ``cfg``'s schedule on its devices.

    Reads SOLVER.MAX_EPOCH, NUM_GPUS / NUM_CPU_PROCESSES / NUM_SHARDS (one process per GPU, or
    CPU processes joined by gloo), TRAIN.MIXED_PRECISION (bf16 on CPU, fp16 on GPU),
    SOLVER.CLIP_GRAD_VAL / CLIP_GRAD_L2NORM, TRAIN.GRAD_ACCUM_STEPS, TRAIN.EVAL_PERIOD,
    TRAIN.CHECKPOINT_PERIOD (a checkpoint every that many epochs, all kept, and last.ckpt, in
    OUTPUT_DIR/checkpoints), BN.NORM_TYPE (sync_batchnorm on GPUs), LOG_PERIOD,
    TENSORBOARD.ENABLE and OUTPUT_DIR. ``use_distributed_sampler`` is False: slowvid's loaders
    shard themselves. Override any entry before building the Trainer.

    Raises:
        ValueError: both gradient clippings are set (Lightning applies one), or synchronised
            batch norm is asked of CPU processes.
    """
    s = cfg.SOLVER
    if s.CLIP_GRAD_VAL and s.CLIP_GRAD_L2NORM:
        raise ValueError(
            "SOLVER.CLIP_GRAD_VAL and SOLVER.CLIP_GRAD_L2NORM are both set; Lightning clips "
            "gradients one way: keep one"
        )
    gpu = cfg.NUM_GPUS > 0
    sync_bn = cfg.BN.NORM_TYPE == "sync_batchnorm"
    devices = processes_per_machine(cfg)
    processes = devices * cfg.NUM_SHARDS
    if sync_bn and not gpu and processes > 1:
        raise ValueError(
            "BN.NORM_TYPE sync_batchnorm runs on GPUs only under Lightning; use batchnorm for "
            "CPU processes (tools/run_net.py all-reduces CPU batch norms instead)"
        )
    precision = "32-true"
    if cfg.TRAIN.MIXED_PRECISION:
        precision = "16-mixed" if gpu else "bf16-mixed"
    checkpoints = ModelCheckpoint(
        dirpath=os.path.join(cfg.OUTPUT_DIR, "checkpoints"),
        every_n_epochs=max(cfg.TRAIN.CHECKPOINT_PERIOD, 1),
        save_top_k=-1,
        save_last=True,  # last.ckpt after every epoch: the end of a run is always kept
        save_on_train_epoch_end=True,  # by epoch, whether or not validation ran
    )
    return {
        "max_epochs": cfg.SOLVER.MAX_EPOCH,
        "accelerator": "gpu" if gpu else "cpu",
        "devices": devices,
        "num_nodes": cfg.NUM_SHARDS,
        "strategy": "ddp" if processes > 1 else "auto",
        "sync_batchnorm": sync_bn and gpu,
        "precision": precision,
        "gradient_clip_val": s.CLIP_GRAD_VAL or s.CLIP_GRAD_L2NORM or None,
        "gradient_clip_algorithm": "value" if s.CLIP_GRAD_VAL else "norm",
        "accumulate_grad_batches": cfg.TRAIN.GRAD_ACCUM_STEPS,
        "check_val_every_n_epoch": max(cfg.TRAIN.EVAL_PERIOD, 1),
        "log_every_n_steps": cfg.LOG_PERIOD,
        "logger": cfg.TENSORBOARD.ENABLE,
        "default_root_dir": cfg.OUTPUT_DIR,
        "callbacks": [checkpoints],
        "use_distributed_sampler": False,
    }
