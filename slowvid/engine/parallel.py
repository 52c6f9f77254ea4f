"""Spreading a model over the run's processes, block by block: FSDP2 and activation checkpointing.

A model declares its repeated blocks in ``block_types`` (ResNet bottlenecks, MViT blocks);
those are the units of both:

- activation checkpointing keeps only each block's input in the forward pass and recomputes
  the block's activations in the backward pass (memory for compute);
- FSDP2 (``torch.distributed.fsdp.fully_shard``) shards every block's parameters, gradients
  and optimizer state over the processes and all-gathers one block's parameters just before
  it runs; the root module holds what is left (stem, head, embeddings).

BatchNorm inside a checkpointed block would update its running statistics twice, once in the
forward pass and once in the recomputation; the statistics are therefore put back as they were
after each recomputation, so they match a plain run.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import (
    CheckpointWrapper,
    apply_activation_checkpointing,
    checkpoint_wrapper,
)
from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard
from torch.nn.modules.batchnorm import _BatchNorm

from slowvid.checkpoint import is_sharded_model

__all__ = [
    "FSDPOptions",
    "block_types_of",
    "checkpoint_blocks",
    "gathered",
    "shard_model",
    "sync_buffers",
]

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def block_types_of(model: nn.Module, wanted_by: str) -> tuple[type[nn.Module], ...]:
    """The block classes ``model`` declares; ``wanted_by`` names the setting in the error."""
    try:
        types = tuple(model.block_types)
    except AttributeError:
        types = ()
    if not types:
        raise ValueError(
            f"{wanted_by} works block by block, and {type(model).__name__} declares no "
            "block_types (the classes of its repeated blocks, e.g. (Bottleneck, NonLocal))"
        )
    return types


@contextlib.contextmanager
def _statistics_kept(norms: list[_BatchNorm]) -> Iterator[None]:
    """Undo the running-statistics updates of a recomputation pass.

    The recomputation must run the same operations as the forward pass (the checkpoint checks
    the tensors it saves), so BatchNorm does update; the update is then put back.
    """
    with torch.no_grad():
        saved = [[b.clone() for b in bn.buffers()] for bn in norms]
    try:
        yield
    finally:
        with torch.no_grad():
            for bn, buffers in zip(norms, saved, strict=True):
                for b, old in zip(bn.buffers(), buffers, strict=True):
                    b.copy_(old)


def _contexts(block: nn.Module):
    norms = [m for m in block.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    return contextlib.nullcontext(), _statistics_kept(norms)


def _wrap_block(block: nn.Module) -> nn.Module:
    # Non-reentrant checkpointing: works with DDP and FSDP, keyword inputs and non-tensor
    # outputs (MViT's grid); the RNG state is replayed, so dropout and drop-path repeat.
    return checkpoint_wrapper(block, context_fn=functools.partial(_contexts, block))


def checkpoint_blocks(model: nn.Module) -> int:
    """Checkpoint the activations of every block of ``model`` in place.

    State-dict keys stay those of the plain model (the wrapper hides itself), so checkpoints
    load either way. Returns the number of blocks wrapped.
    """
    types = block_types_of(model, "MODEL.ACT_CHECKPOINT")
    apply_activation_checkpointing(
        model, checkpoint_wrapper_fn=_wrap_block, check_fn=lambda m: isinstance(m, types)
    )
    return sum(1 for m in model.modules() if isinstance(m, CheckpointWrapper))


@dataclass(frozen=True)
class FSDPOptions:
    """How FSDP2 shards and computes.

    Attributes:
        param_dtype: dtype the gathered parameters are computed in (None: their own).
        reduce_dtype: dtype gradients are reduce-scattered in (None: param_dtype).
        reshard_after_forward: free each block's gathered parameters after its forward pass
            and gather them again for the backward pass (less memory, more communication).
    """

    param_dtype: torch.dtype | None = None
    reduce_dtype: torch.dtype | None = None
    reshard_after_forward: bool = True

    @classmethod
    def from_config(cls, cfg) -> FSDPOptions:
        """Reads FSDP.PARAM_DTYPE, FSDP.REDUCE_DTYPE and FSDP.RESHARD_AFTER_FORWARD."""
        f = cfg.FSDP
        return cls(
            param_dtype=DTYPES[f.PARAM_DTYPE] if f.PARAM_DTYPE else None,
            reduce_dtype=DTYPES[f.REDUCE_DTYPE] if f.REDUCE_DTYPE else None,
            reshard_after_forward=f.RESHARD_AFTER_FORWARD,
        )


def shard_model(model: nn.Module, options: FSDPOptions, device: torch.device) -> nn.Module:
    """Shard ``model`` (already on ``device``) over the default process group, per block.

    Every rank builds the whole model first (ranks draw different initial weights: each is
    seeded by its rank), and each keeps its shard of rank 0's values, as DDP starts from
    rank 0's copy.

    Returns:
        The same module, now an ``FSDPModule`` whose parameters are DTensor shards; build the
        optimizer on it afterwards.
    """
    from torch.distributed.device_mesh import init_device_mesh

    types = block_types_of(model, "TRAIN.DISTRIBUTED fsdp")
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            dist.broadcast(tensor, 0)
    mesh = init_device_mesh(device.type, (dist.get_world_size(),))
    policy = MixedPrecisionPolicy(
        param_dtype=options.param_dtype, reduce_dtype=options.reduce_dtype
    )
    # BatchNorm's running statistics stay float32, which CPU kernels cannot mix with a
    # low-precision input; each BN layer is then a unit that computes in float32 and hands
    # its output on in the low precision.
    low_precision = options.param_dtype not in (None, torch.float32)
    norm_policy = MixedPrecisionPolicy(
        param_dtype=torch.float32,
        reduce_dtype=options.reduce_dtype or torch.float32,
        output_dtype=options.param_dtype,
    )
    # Innermost first: a block's parameters must belong to the block's own group, not the
    # root's. The root keeps FSDP's default: its parameters stay gathered from the forward
    # pass to the backward pass, which starts with them.
    for module in reversed(list(model.modules())):
        if low_precision and isinstance(module, _BatchNorm):
            fully_shard(module, mesh=mesh, mp_policy=norm_policy)
        elif isinstance(module, types):
            fully_shard(
                module,
                mesh=mesh,
                mp_policy=policy,
                reshard_after_forward=options.reshard_after_forward,
            )
    fully_shard(model, mesh=mesh, mp_policy=policy)
    return model


@torch.no_grad()
def sync_buffers(model: nn.Module, src: int = 0) -> None:
    """Give every rank rank ``src``'s buffers (BatchNorm statistics), as DDP does.

    FSDP leaves buffers unsharded and never synchronises them; each rank's running statistics
    follow its own batches. Called before evaluating and before saving, where they matter.
    """
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for buf in model.buffers():
        by_dtype.setdefault(buf.dtype, []).append(buf)
    for bufs in by_dtype.values():
        flat = torch.cat([b.reshape(-1) for b in bufs])
        dist.broadcast(flat, src)
        offset = 0
        for b in bufs:
            b.copy_(flat[offset : offset + b.numel()].view_as(b))
            offset += b.numel()


@contextlib.contextmanager
def gathered(model: nn.Module, reshard_after_forward: bool = True) -> Iterator[nn.Module]:
    """Within the block, an FSDP model holds its full parameters on every rank and runs
    forward passes without any collective, so ranks may run different numbers of batches
    (evaluation shards differ by one). Other models pass through unchanged.

    Args:
        model: the model, sharded by :func:`shard_model` or not.
        reshard_after_forward: the blocks' setting to restore afterwards
            (FSDP.RESHARD_AFTER_FORWARD).
    """
    if not is_sharded_model(model):
        yield model
        return
    units = [m for m in model.modules() if isinstance(m, FSDPModule)]
    sync_buffers(model)
    for unit in units:
        unit.unshard()
        unit.set_reshard_after_forward(False, recurse=False)
    try:
        yield model
    finally:
        for unit in units:
            unit.reshard()
            # The root never reshards after its forward pass (see shard_model).
            unit.set_reshard_after_forward(reshard_after_forward and unit is not model, False)
