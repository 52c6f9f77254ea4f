"""What every job does first: seeds, logging, the merged config on disk, the device."""

from __future__ import annotations

import logging
import os
import random

import numpy as np
import torch
from fvcore.common.config import CfgNode

from slowvid.config import dump_config
from slowvid.distributed import comm
from slowvid.layers import convert_all_reduce_batchnorm
from slowvid.utils.logging import setup_logging

logger = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def epoch_seed(base_seed: int, epoch: int, rank: int) -> int:
    """The seed of one epoch on one rank: a resumed run redraws exactly what it would have."""
    return base_seed + 100_003 * epoch + 1_009 * rank


def setup_job(cfg: CfgNode, job: str) -> torch.device:
    """Prepare this process for ``job`` ("train" or "test") and return its device."""
    rank = comm.get_rank()
    os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
    setup_logging(cfg.OUTPUT_DIR, rank)
    seed_everything(epoch_seed(cfg.RNG_SEED, 0, rank))
    if comm.is_main_process():
        path = dump_config(cfg, cfg.OUTPUT_DIR, f"config_{job}.yaml")
        logger.info("%s with config written to %s", job, path)
    if cfg.NUM_GPUS > 0:
        device = torch.device("cuda", comm.get_local_rank())
        torch.backends.cudnn.benchmark = True
    else:
        device = torch.device("cpu")
    logger.info("world size %d, rank %d, device %s", comm.get_world_size(), rank, device)
    return device


def wrap_model(model: torch.nn.Module, cfg: CfgNode, device: torch.device) -> torch.nn.Module:
    """Place the model on its device and wrap it for data-parallel training when needed."""
    if comm.get_world_size() > 1 and cfg.BN.NORM_TYPE == "sync_batchnorm":
        # PyTorch's SyncBatchNorm runs only on GPUs; CPU processes (gloo) all-reduce instead.
        if device.type == "cuda":
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        else:
            model = convert_all_reduce_batchnorm(model)
    model = model.to(device)
    if cfg.MODEL.CHANNELS_LAST:
        # Convolutions then run in NDHWC; 5-D activations follow the weights' layout.
        model = model.to(memory_format=torch.channels_last_3d)
    if comm.get_world_size() > 1:
        device_ids = [device.index] if device.type == "cuda" else None
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    return model


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside a DistributedDataParallel wrapper, else the model itself."""
    if isinstance(model, torch.nn.parallel.DistributedDataParallel):
        return model.module
    return model
