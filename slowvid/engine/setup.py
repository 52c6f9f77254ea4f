"""What every job does first: seeds, logging, the merged config on disk, the device."""

from __future__ import annotations

import logging
import os
import random

import numpy as np
import torch
from fvcore.common.config import CfgNode
from torch._dynamo.eval_frame import OptimizedModule

from slowvid.config import dump_config
from slowvid.distributed import comm
from slowvid.layers import convert_all_reduce_batchnorm
from slowvid.models.folding import fold_batchnorm
from slowvid.utils.logging import setup_logging

from .parallel import FSDPOptions, checkpoint_blocks, shard_model

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


def sync_batchnorm_group_size(cfg: CfgNode) -> int:
    """Processes whose batch-norm statistics are pooled (BN.GLOBAL_SYNC, BN.NUM_SYNC_DEVICES):
    all of them; or consecutive groups of NUM_SYNC_DEVICES within a machine (0: the whole
    machine), as PySlowFast's NaiveSyncBatchNorm."""
    world = comm.get_world_size()
    if cfg.BN.GLOBAL_SYNC:
        return world
    per_machine = world // cfg.NUM_SHARDS
    size = cfg.BN.NUM_SYNC_DEVICES or per_machine
    if per_machine % size:
        raise ValueError(
            f"BN.NUM_SYNC_DEVICES {size} does not divide the {per_machine} processes of a machine"
        )
    return size


def wrap_model(model: torch.nn.Module, cfg: CfgNode, device: torch.device) -> torch.nn.Module:
    """Place the model on its device and wrap it for data-parallel training when needed.

    MODEL.ACT_CHECKPOINT checkpoints each block's activations; with several processes the
    model is then wrapped in DDP, or sharded per block by FSDP2 (TRAIN.DISTRIBUTED fsdp), in
    which case the optimizer must be built on the returned model.
    """
    if cfg.MODEL.ACT_CHECKPOINT:
        logger.info("activation checkpointing: %d blocks", checkpoint_blocks(model))
    if comm.get_world_size() > 1 and cfg.BN.NORM_TYPE == "sync_batchnorm":
        size = sync_batchnorm_group_size(cfg)
        group = comm.consecutive_subgroup(size) if size > 1 else None
        # PyTorch's SyncBatchNorm runs only on GPUs; CPU processes (gloo) all-reduce instead.
        if size == 1:
            logger.info("BN.NUM_SYNC_DEVICES 1: each process keeps its own statistics")
        elif device.type == "cuda":
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model, group)
        else:
            model = convert_all_reduce_batchnorm(model, group)
    model = model.to(device)
    fsdp = cfg.TRAIN.DISTRIBUTED == "fsdp"
    sharded = fsdp and comm.get_world_size() > 1
    if sharded and cfg.MODEL.CHANNELS_LAST:
        raise ValueError(
            "MODEL.CHANNELS_LAST True cannot be combined with TRAIN.DISTRIBUTED fsdp: FSDP2 "
            "shards only contiguous parameters; leave MODEL.CHANNELS_LAST at None or False"
        )
    if not sharded and use_channels_last(model, cfg.MODEL.CHANNELS_LAST, device):
        # Convolutions then run in NDHWC; 5-D activations follow the weights' layout.
        model = model.to(memory_format=torch.channels_last_3d)
    if sharded:
        model = shard_model(model, FSDPOptions.from_config(cfg), device)  # in place, per block
    if cfg.MODEL.COMPILE:
        # Inside DDP, so checkpoints (which unwrap DDP, then the compiled module) keep their keys.
        model = torch.compile(model)
    if comm.get_world_size() > 1 and not fsdp:
        device_ids = [device.index] if device.type == "cuda" else None
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    elif fsdp:
        logger.warning("TRAIN.DISTRIBUTED fsdp with one process: nothing to shard, plain model")
    return model


def use_channels_last(model: torch.nn.Module, choice: bool | None, device: torch.device) -> bool:
    """MODEL.CHANNELS_LAST: forced by True/False; None takes the devices on which the model's
    class measured faster in channels-last-3D (its ``channels_last_devices``; none if unset)."""
    if choice is not None:
        return bool(choice)
    return device.type in type(model).channels_last_devices


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The bare model inside DDP and torch.compile wrappers."""
    if isinstance(model, torch.nn.parallel.DistributedDataParallel):
        model = model.module
    if isinstance(model, OptimizedModule):
        model = model._orig_mod
    return model


def fold_for_inference(model: torch.nn.Module, cfg: CfgNode) -> int:
    """Fold the batch norms of a model about to be tested into its convolutions (exact in eval
    mode, one pass over memory less per norm); returns how many were folded.

    The model is traced once on zero clips of the test view's shape, on its device. A detector's
    backbone is folded on its own (its forward takes boxes too); models with extra pathways
    (audio) are left as they are.
    """
    spec = model.input_spec
    if spec.extra_pathways:
        logger.info(
            "batch norm not folded: the model takes %s beside its clips", spec.extra_pathways
        )
        return 0
    target = model.backbone if spec.extra_args else model
    d = cfg.DATA
    device = next(model.parameters()).device
    clips = [
        torch.zeros(1, c, t, d.TEST_CROP_SIZE, d.TEST_CROP_SIZE, device=device)
        for c, t in zip(spec.channels, spec.pathway_frames(d.NUM_FRAMES))
    ]
    return fold_batchnorm(target, [clips])
