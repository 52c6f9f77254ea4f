"""Checkpoints: atomic saving (sharded for FSDP), finding the newest complete one, tolerant
loading, RNG state."""

from .io import (
    CheckpointReadError,
    checkpoint_dir,
    checkpoint_path,
    find_latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
    write_checkpoint_file,
)
from .model_state import CheckpointMismatchError, diff_state_dicts, extract_model_state
from .rng import get_rng_state, set_rng_state
from .sharded import is_sharded_checkpoint, is_sharded_model

__all__ = [
    "CheckpointMismatchError",
    "CheckpointReadError",
    "checkpoint_dir",
    "checkpoint_path",
    "diff_state_dicts",
    "extract_model_state",
    "find_latest_checkpoint",
    "get_rng_state",
    "is_sharded_checkpoint",
    "is_sharded_model",
    "list_checkpoints",
    "load_checkpoint",
    "read_checkpoint",
    "save_checkpoint",
    "set_rng_state",
    "write_checkpoint_file",
]
