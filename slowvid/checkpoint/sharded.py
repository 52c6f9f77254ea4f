"""Sharded checkpoints of FSDP runs: every rank writes its own shards, nobody gathers the model.

A sharded checkpoint is a directory named like a file checkpoint, with ``.dcp`` for ``.pyth``::

    checkpoint_epoch_00003.dcp/
        .metadata, __0_0.distcp, __1_0.distcp, ...   torch.distributed.checkpoint (DCP) files:
                                                     "model_state" and "optimizer_state", keyed
                                                     by parameter name
        state.pyth                                   the rest ("epoch", "iter", "cfg", RNG
                                                     states, ...), a weights-only torch file

It is written into a hidden directory that rank 0 renames into place once every rank is done
(:func:`slowvid.checkpoint.save_checkpoint`), so a crash leaves no partial ``*.dcp``. DCP
records each tensor's full shape and where each shard lies, so the files load back

- into a sharded model over any number of processes (:func:`load_sharded_checkpoint`), and
- into one process as full tensors, without a process group (:func:`read_sharded_checkpoint`),
  which is how a plain model, a test on one process or ``tools/consolidate_checkpoint.py``
  reads it.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.default_planner import _EmptyStateDictLoadPlanner
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)
from torch.distributed.checkpoint.state_dict_loader import _load_state_dict
from torch.distributed.fsdp import FSDPModule

__all__ = [
    "SHARDED_SUFFIX",
    "STATE_FILE",
    "is_sharded_checkpoint",
    "is_sharded_model",
    "load_full_state_into",
    "load_sharded_checkpoint",
    "optimizer_state_by_name",
    "read_sharded_checkpoint",
    "save_shards",
]

SHARDED_SUFFIX = ".dcp"
STATE_FILE = "state.pyth"
# Names wrappers insert into parameter names; checkpoints use the plain model's names.
_WRAPPER_PARTS = ("_checkpoint_wrapped_module.", "_orig_mod.", "module.")


def is_sharded_model(model: nn.Module) -> bool:
    """Whether ``model`` is (or holds) an FSDP2 module, whose state is sharded."""
    return any(isinstance(m, FSDPModule) for m in model.modules())


def is_sharded_checkpoint(path: str) -> bool:
    """Whether ``path`` is a sharded checkpoint directory (local file systems only)."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, ".metadata"))


def save_shards(directory: str, model: nn.Module, optimizer: torch.optim.Optimizer | None):
    """Every rank writes its shards of the model (and optimizer) state into ``directory``.

    A collective call. The optimizer state is keyed by parameter name, so it loads into any
    sharding of the same model.
    """
    if optimizer is None:
        state = {"model_state": get_model_state_dict(model)}
    else:
        model_state, optim_state = get_state_dict(model, optimizer)
        state = {"model_state": model_state, "optimizer_state": optim_state}
    dcp.save(state, checkpoint_id=directory)


def read_sharded_checkpoint(path: str) -> dict[str, Any]:
    """The whole checkpoint in this process, as full tensors; no process group needed.

    Returns:
        ``state.pyth``'s entries plus "model_state" (name -> tensor) and, if saved,
        "optimizer_state" (keyed by parameter name, see :func:`optimizer_state_by_name`).
    """
    checkpoint = torch.load(os.path.join(path, STATE_FILE), map_location="cpu", weights_only=True)
    tensors: dict[str, Any] = {}
    # What torch's dcp_to_torch_save does, in memory: the planner rebuilds the saved
    # structure from the metadata into the empty dict.
    _load_state_dict(
        tensors,
        storage_reader=dcp.FileSystemReader(path),
        planner=_EmptyStateDictLoadPlanner(),
        no_dist=True,
    )
    checkpoint.update(tensors)
    return checkpoint


def load_sharded_checkpoint(
    path: str, model: nn.Module, optimizer: torch.optim.Optimizer | None = None
) -> dict[str, Any]:
    """Load a sharded checkpoint into a sharded model (each rank reads its own shards).

    A collective call. Returns the checkpoint's other entries ("epoch", "iter", ...).
    """
    if optimizer is None:
        state = {"model_state": get_model_state_dict(model)}
    else:
        model_state, optim_state = get_state_dict(model, optimizer)
        state = {"model_state": model_state, "optimizer_state": optim_state}
    dcp.load(state, checkpoint_id=path)
    set_model_state_dict(model, state["model_state"])
    if optimizer is not None:
        set_optimizer_state_dict(model, optimizer, state["optimizer_state"])
    return torch.load(os.path.join(path, STATE_FILE), map_location="cpu", weights_only=True)


def _plain_name(name: str) -> str:
    for part in _WRAPPER_PARTS:
        name = name.replace(part, "")
    return name


def optimizer_state_by_name(
    optim_state: dict, model: nn.Module, optimizer: torch.optim.Optimizer
) -> dict:
    """``optim_state`` keyed by parameter name, as DCP saves it.

    A ``torch.optim`` state dict numbers parameters in the order of ``optimizer``'s groups;
    the names come from ``model``, so ``optimizer`` must be built as the saving one was.
    Name-keyed states come back unchanged.
    """
    if all(isinstance(k, str) for k in optim_state.get("state", {})) and all(
        isinstance(p, str) for g in optim_state["param_groups"] for p in g["params"]
    ):
        return optim_state
    names = {id(p): _plain_name(n) for n, p in model.named_parameters()}
    order = [names[id(p)] for group in optimizer.param_groups for p in group["params"]]
    saved_ids = [i for g in optim_state["param_groups"] for i in g["params"]]
    if len(saved_ids) != len(order):
        raise ValueError(
            f"the saved optimizer state has {len(saved_ids)} parameters, this optimizer "
            f"{len(order)}"
        )
    by_id = dict(zip(saved_ids, order, strict=True))
    return {
        "state": {by_id[i]: s for i, s in optim_state["state"].items()},
        "param_groups": [
            {**g, "params": [by_id[i] for i in g["params"]]} for g in optim_state["param_groups"]
        ],
    }


def load_full_state_into(
    model: nn.Module,
    model_state: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer | None = None,
    optim_state: dict | None = None,
) -> None:
    """Load full (unsharded) states into ``model``, sharded or not, and its optimizer.

    Every rank passes the same full tensors; a sharded model keeps its own shard of each.
    ``model_state`` may lack keys (a skipped head); ``optim_state`` may be keyed by index or
    by name.
    """
    options = StateDictOptions(full_state_dict=True, strict=False)
    set_model_state_dict(model, model_state, options=options)
    if optimizer is not None and optim_state is not None:
        by_name = optimizer_state_by_name(optim_state, model, optimizer)
        set_optimizer_state_dict(model, optimizer, by_name, options=options)
