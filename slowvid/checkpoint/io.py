"""Write, find and read checkpoints.

Format (key names as PySlowFast's, so its tools read our files and we read its)::

    {
        "epoch": int,                  # epochs completed; also the number in the file name
        "iter": int,                   # only mid-epoch (preemption): batches done in the next epoch
        "model_state": state_dict,     # of the unwrapped model (no "module." prefix)
        "optimizer_state": dict,       # optional
        "cfg": str,                    # optional, the config as yaml
        ...                            # optional extras, e.g. "rng_state", "scaler_state"
    }

Everything that is not a tensor is a plain python value, so files load with
``torch.load(weights_only=True)``, which cannot run code hidden in a malicious pickle.

Files are written to a hidden temporary file in the same directory and renamed into place:
a crash mid-write leaves no ``checkpoint_epoch_*.pyth`` behind, and a restarted job resumes
from the newest complete one. Only rank 0 should call :func:`save_checkpoint`, except for an
FSDP model, whose checkpoint every rank writes its part of: a ``checkpoint_epoch_*.dcp``
directory (:mod:`slowvid.checkpoint.sharded`) that every function here also reads.
"""

import logging
import os
import re
import shutil
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import torch
import torch.distributed as dist
from iopath.common.file_io import g_pathmgr
from torch import nn

from .converters import convert_checkpoint, read_caffe2_pickle
from .model_state import (
    MODEL_STATE_KEYS,
    CheckpointMismatchError,
    diff_state_dicts,
    extract_model_state,
    is_head_key,
)
from .sharded import (
    SHARDED_SUFFIX,
    STATE_FILE,
    is_sharded_checkpoint,
    is_sharded_model,
    load_full_state_into,
    load_sharded_checkpoint,
    read_sharded_checkpoint,
    save_shards,
)

__all__ = [
    "CheckpointReadError",
    "FitsPositionEmbeddings",
    "checkpoint_dir",
    "checkpoint_path",
    "find_latest_checkpoint",
    "inflate_2d_kernels",
    "list_checkpoints",
    "load_checkpoint",
    "read_checkpoint",
    "save_checkpoint",
]

logger = logging.getLogger(__name__)

# A mid-epoch checkpoint (``_iter_K``) sorts after its epoch's and before the next epoch's.
_NAME_RE = re.compile(r"^checkpoint_epoch_(\d+)(?:_iter_(\d+))?\.(pyth|dcp)$")
_RESERVED_KEYS = ("epoch", "iter", "model_state", "optimizer_state", "cfg")
# Types torch's weights_only unpickler accepts besides tensors and containers.
_PLAIN_TYPES = (int, float, bool, str, bytes, type(None), torch.dtype, torch.device)


@runtime_checkable
class FitsPositionEmbeddings(Protocol):
    """A model that can adapt a checkpoint's position embeddings to its own clip size (the
    transformers: fine-tuning at another resolution or frame count loads without a mismatch)."""

    def fit_position_embeddings(self, state: dict) -> list[str]:
        """Interpolates the embeddings of ``state`` in place; returns what it resized."""
        ...


class CheckpointReadError(RuntimeError):
    """A checkpoint file exists but cannot be read (truncated, corrupt or not weights-only)."""


def _unwrap(model: nn.Module) -> nn.Module:
    if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        model = model.module
    # torch.compile wraps the model and prefixes its state-dict keys with "_orig_mod.".
    return getattr(model, "_orig_mod", model)


def _is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def checkpoint_dir(output_dir: str) -> str:
    """Directory holding the checkpoints of a run: ``{output_dir}/checkpoints``."""
    return os.path.join(output_dir, "checkpoints")


def checkpoint_path(output_dir: str, epoch: int, iteration: int = 0, sharded: bool = False) -> str:
    """Path of the checkpoint written after ``epoch`` epochs and ``iteration`` more batches
    (a ``.dcp`` directory when ``sharded``)."""
    suffix = f"_iter_{iteration:06d}" if iteration else ""
    ext = SHARDED_SUFFIX if sharded else ".pyth"
    return os.path.join(checkpoint_dir(output_dir), f"checkpoint_epoch_{epoch:05d}{suffix}{ext}")


def _check_plain(obj: Any, where: str) -> None:
    """Raise if ``obj`` holds anything weights-only loading would refuse."""
    if isinstance(obj, torch.Tensor) or type(obj) in _PLAIN_TYPES or isinstance(obj, torch.Size):
        return
    if type(obj) in (dict, OrderedDict):
        for key, value in obj.items():
            if type(key) not in _PLAIN_TYPES:
                raise TypeError(f"Checkpoint entry {where} has a key of type {type(key).__name__}")
            _check_plain(value, f"{where}[{key!r}]")
        return
    if type(obj) in (list, tuple):
        for i, value in enumerate(obj):
            _check_plain(value, f"{where}[{i}]")
        return
    raise TypeError(
        f"Checkpoint entry {where} is a {type(obj).__module__}.{type(obj).__qualname__}; only "
        "tensors and plain python values (int, float, bool, str, None, list, tuple, dict) can be "
        "loaded with weights_only=True"
    )


def _replace(src: str, dst: str) -> None:
    if _is_local(src):
        # os.replace is atomic on POSIX and overwrites, unlike PathManager.mv.
        os.replace(g_pathmgr.get_local_path(src), g_pathmgr.get_local_path(dst))
        return
    if g_pathmgr.exists(dst):
        g_pathmgr.rm(dst)
    if not g_pathmgr.mv(src, dst):
        raise OSError(f"Could not move {src} to {dst}")


def save_checkpoint(
    output_dir: str,
    epoch: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    cfg: Any = None,
    extra: Mapping[str, Any] | None = None,
    *,
    iteration: int = 0,
) -> str:
    """Write ``{output_dir}/checkpoints/checkpoint_epoch_{epoch:05d}.pyth`` atomically.

    For an FSDP model this is a collective call that writes the sharded directory
    ``checkpoint_epoch_{epoch:05d}.dcp`` instead (local file systems only).

    Args:
        output_dir (str): the run's output directory (any iopath path).
        epoch (int): epochs completed; a resumed run starts at this epoch (0-based).
        model (nn.Module): the model, possibly wrapped in DistributedDataParallel or sharded.
        optimizer (Optimizer | None): saved as "optimizer_state" when given.
        cfg (CfgNode | str | None): saved as a yaml string under "cfg".
        extra (Mapping | None): further top-level entries (e.g. "rng_state", "scaler_state",
            "extra"); tensors and plain python values only.
        iteration (int): batches of epoch ``epoch`` (0-based) already trained, for a mid-epoch
            checkpoint (saved as "iter" and in the name, ``..._iter_{iteration:06d}.pyth``).

    Returns:
        str: the path written.

    Raises:
        ValueError: when ``extra`` reuses a reserved key.
        TypeError: when an entry could not be loaded back with weights_only=True.
    """
    sharded = is_sharded_model(model)
    checkpoint: dict[str, Any] = {"epoch": int(epoch)}
    if not sharded:
        checkpoint["model_state"] = _unwrap(model).state_dict()
    if iteration:
        checkpoint["iter"] = int(iteration)
    if optimizer is not None and not sharded:
        checkpoint["optimizer_state"] = optimizer.state_dict()
    if cfg is not None:
        checkpoint["cfg"] = cfg if isinstance(cfg, str) else cfg.dump()
    for key, value in (extra or {}).items():
        if key in _RESERVED_KEYS:
            raise ValueError(f"save_checkpoint: extra key {key!r} is reserved ({_RESERVED_KEYS})")
        checkpoint[key] = value
    # Checked before writing: a file that only fails when resuming would lose the run.
    for key, value in checkpoint.items():
        _check_plain(value, key)

    g_pathmgr.mkdirs(checkpoint_dir(output_dir))
    path = checkpoint_path(output_dir, epoch, iteration, sharded=sharded)
    if sharded:
        _save_sharded(path, model, optimizer, checkpoint)
    else:
        write_checkpoint_file(path, checkpoint)
    logger.info("Saved checkpoint %s", path)
    return path


def write_checkpoint_file(path: str, checkpoint: Mapping[str, Any]) -> None:
    """``torch.save`` ``checkpoint`` to ``path`` through a hidden temporary file and a rename."""
    directory = os.path.dirname(path)
    # Hidden name in the same directory: the rename stays on one file system, and the name
    # never matches the checkpoint pattern, so a leftover is never mistaken for a checkpoint.
    tmp_path = os.path.join(directory, f".{os.path.basename(path)}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        with g_pathmgr.open(tmp_path, "wb") as f:
            torch.save(dict(checkpoint), f)
            f.flush()
            if hasattr(f, "fileno"):
                # The data must be on disk before the rename makes it visible.
                os.fsync(f.fileno())
        _replace(tmp_path, path)
    except BaseException:
        try:
            if g_pathmgr.exists(tmp_path):
                g_pathmgr.rm(tmp_path)
        except OSError:
            logger.warning("Could not remove temporary checkpoint file %s", tmp_path)
        raise


def _save_sharded(path: str, model: nn.Module, optimizer, checkpoint: dict[str, Any]) -> None:
    """Every rank writes its shards into a hidden directory that rank 0 renames into place."""
    if not _is_local(path):
        raise ValueError(
            f"sharded (FSDP) checkpoints are written to a file system; OUTPUT_DIR gives {path}"
        )
    path = g_pathmgr.get_local_path(path)
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")
    rank = dist.get_rank()
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)  # left by a crash during an earlier save
    dist.barrier()
    save_shards(tmp, model, optimizer)
    dist.barrier()
    if rank == 0:
        write_checkpoint_file(os.path.join(tmp, STATE_FILE), checkpoint)
        if os.path.exists(path):  # the same epoch saved again
            shutil.rmtree(path)
        os.replace(tmp, path)
    dist.barrier()


def list_checkpoints(output_dir: str) -> list[str]:
    """Paths of the checkpoints in ``{output_dir}/checkpoints``, oldest (epoch, iteration) first.

    Temporary files from interrupted saves are not listed.
    """
    directory = checkpoint_dir(output_dir)
    if not g_pathmgr.exists(directory):
        return []
    found = []
    for name in g_pathmgr.ls(directory):
        match = _NAME_RE.match(name)
        if match:
            key = (int(match.group(1)), int(match.group(2) or 0))
            found.append((key, os.path.join(directory, name)))
    return [path for _, path in sorted(found)]


# TRAIN.CHECKPOINT_TYPE values, as PySlowFast names them: a torch file or a Caffe2 blob pickle.
CHECKPOINT_TYPES = ("pytorch", "caffe2")


def read_checkpoint(
    path: str, *, mmap: bool = False, checkpoint_type: str | None = None
) -> dict[str, Any]:
    """Load a checkpoint file onto the CPU with ``weights_only=True``.

    A Caffe2 file (PySlowFast's older model zoo) is read with an unpickler that only builds
    numpy arrays, giving ``{"blobs": {name: array}, ...}``. A sharded ``.dcp`` directory is
    read whole, as full tensors (:func:`read_sharded_checkpoint`).

    Args:
        path (str): any iopath path.
        mmap (bool): map tensors lazily instead of reading them (local zip files only); used
            to check that a file is complete without paying for reading it. Of a sharded
            directory only the non-tensor entries are read then.
        checkpoint_type (str | None): "caffe2" reads a Caffe2 blob pickle whatever its name,
            "pytorch" a torch file (PySlowFast's TRAIN.CHECKPOINT_TYPE); None decides by the
            name, ``.pkl`` being Caffe2.

    Returns:
        dict: the checkpoint as stored (a plain state dict for some foreign files).

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        CheckpointReadError: when the file is truncated, corrupt or not weights-only loadable.
    """
    if checkpoint_type not in (None, *CHECKPOINT_TYPES):
        raise ValueError(f"checkpoint type {checkpoint_type!r} is not one of {CHECKPOINT_TYPES}")
    if not g_pathmgr.exists(path):
        raise FileNotFoundError(f"Checkpoint not found: {path}")
    caffe2 = checkpoint_type == "caffe2" or (checkpoint_type is None and path.endswith(".pkl"))
    try:
        checkpoint = None
        if caffe2:
            checkpoint = read_caffe2_pickle(path)
        elif _is_local(path) and is_sharded_checkpoint(g_pathmgr.get_local_path(path)):
            local = g_pathmgr.get_local_path(path)
            checkpoint = (
                torch.load(os.path.join(local, STATE_FILE), map_location="cpu", weights_only=True)
                if mmap
                else read_sharded_checkpoint(local)
            )
        elif mmap:
            local = g_pathmgr.get_local_path(path)
            try:
                checkpoint = torch.load(local, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError:
                # Files in torch's legacy (pre-zip) format cannot be mapped; read them fully.
                checkpoint = None
        if checkpoint is None:
            with g_pathmgr.open(path, "rb") as f:
                checkpoint = torch.load(f, map_location="cpu", weights_only=True)
    except Exception as e:
        hint = ""
        if checkpoint_type == "pytorch" and path.endswith(".pkl"):
            hint = "; a Caffe2 .pkl is read with TRAIN.CHECKPOINT_TYPE caffe2"
        raise CheckpointReadError(
            f"Could not read checkpoint {path}: it is truncated, corrupt, or holds objects other "
            f"than tensors and plain python values ({type(e).__name__}: {e}){hint}"
        ) from e
    if not isinstance(checkpoint, Mapping):
        raise CheckpointReadError(
            f"Checkpoint {path} holds a {type(checkpoint).__name__}, expected a dict"
        )
    return checkpoint


def find_latest_checkpoint(output_dir: str) -> str | None:
    """Path of the newest readable checkpoint in ``{output_dir}/checkpoints``, or None.

    A checkpoint that fails to load is skipped with a warning naming it, and the next older
    one is tried.
    """
    for path in reversed(list_checkpoints(output_dir)):
        try:
            read_checkpoint(path, mmap=_is_local(path))
        except (CheckpointReadError, FileNotFoundError) as e:
            logger.warning("Skipping unreadable checkpoint %s: %s", path, e)
            continue
        return path
    return None


def load_checkpoint(
    path: str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    strict_head: bool = False,
    checkpoint_type: str | None = None,
    inflate: bool = False,
    clear_name_pattern: Sequence[str] = (),
) -> dict[str, Any]:
    """Load weights (and optionally optimizer state) from a checkpoint into ``model``.

    Accepts slowvid files (``{"model_state": ...}``), ``{"state_dict": ...}`` files and plain
    state dicts; a leading ``module.`` is stripped from parameter names. Foreign formats
    (PySlowFast ``.pyth`` and Caffe2 ``.pkl``, PyTorchVideo, MMAction2, torchvision ImageNet
    ResNets) are detected from their keys and converted (:mod:`slowvid.checkpoint.converters`);
    the optimizer state of a converted checkpoint is never loaded.

    Sharded (``.dcp``) and file checkpoints load into sharded (FSDP) and plain models alike;
    a sharded checkpoint with its optimizer into a sharded model is a collective call in which
    every rank reads only its own shards.

    Args:
        path (str): the checkpoint file (any iopath path).
        model (nn.Module): the model, possibly wrapped in DistributedDataParallel or sharded.
        optimizer (Optimizer | None): restored from "optimizer_state" when given. Left alone,
            with a warning, when the checkpoint has none or when head weights were skipped.
        strict_head (bool): treat head differences as errors too, instead of skipping head
            tensors whose shape differs (fine-tuning to another class count).
        checkpoint_type (str | None): "caffe2" reads and converts a Caffe2 blob pickle whatever
            its name, "pytorch" reads a torch file and detects its format from the keys; None
            treats ``.pkl`` files as Caffe2 (see :func:`read_checkpoint`).
        inflate (bool): fill the model's 3-D convolutions from the checkpoint's 2-D (4-D
            tensor) ones, repeated over time and divided by its length
            (TRAIN.CHECKPOINT_INFLATE).
        clear_name_pattern (Sequence[str]): substrings removed (first occurrence) from the
            checkpoint's parameter names before anything else, e.g. ``["backbone."]``
            (TRAIN.CHECKPOINT_CLEAR_NAME_PATTERN).

    Returns:
        dict: the loaded checkpoint ("epoch", "cfg", extras, ...); a plain state dict comes
        back as ``{"model_state": state}``. ``"format"`` names the layout it was read in
        ("slowvid", "pyslowfast", "caffe2", ...).

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        CheckpointReadError: when the file cannot be read.
        CheckpointMismatchError: listing every mismatched, missing and unexpected key by name
            (with both shapes) when the weights do not fit outside the head.
    """
    sharded = is_sharded_model(model)
    # Resuming an FSDP run: each rank reads its own shards. Weights alone (fine-tuning, maybe
    # to another head) go through the full tensors below, which skip a mismatched head.
    local = g_pathmgr.get_local_path(path) if _is_local(path) else ""
    if sharded and optimizer is not None and local and is_sharded_checkpoint(local):
        return load_sharded_checkpoint(local, model, optimizer)
    checkpoint = read_checkpoint(path, checkpoint_type=checkpoint_type)
    if clear_name_pattern:
        checkpoint = _clear_names(checkpoint, clear_name_pattern, path)
    target = _unwrap(model)
    # The one place foreign formats enter: everything below sees slowvid names.
    source = "caffe2" if checkpoint_type == "caffe2" else None
    conversion = convert_checkpoint(checkpoint, target, path=path, source=source)
    state = conversion.state
    if isinstance(target, FitsPositionEmbeddings):
        resized = target.fit_position_embeddings(state)
        if resized:
            logger.info("Checkpoint %s: position embeddings interpolated: %s", path, resized)
    model_state = target.state_dict()
    if inflate:
        inflated = inflate_2d_kernels(state, model_state)
        logger.info("Checkpoint %s: inflated %d 2-D kernels to 3-D", path, len(inflated))
    diff = diff_state_dicts(state, model_state)
    # Left at their initialisation on purpose by the converter, which warned about them.
    diff.missing = [k for k in diff.missing if k not in set(conversion.skipped)]

    if diff and (strict_head or not all(is_head_key(k) for k in diff.all_keys())):
        source = "" if conversion.source == "slowvid" else f" (converted from {conversion.source})"
        raise CheckpointMismatchError(
            f"Checkpoint {path}{source} does not fit {type(target).__name__}:\n"
            f"{diff.describe(conversion.origin)}"
        )
    if diff:
        logger.warning(
            "Checkpoint %s: head differs from the model; keeping the model's own values for "
            "these keys (expected when fine-tuning to another class count):\n%s",
            path,
            diff.describe(conversion.origin),
        )
    skipped = {k for k, _, _ in diff.mismatched}
    loadable = {k: v for k, v in state.items() if k in model_state and k not in skipped}
    optim_state = checkpoint.get("optimizer_state")
    by_name = isinstance(optim_state, Mapping) and any(
        isinstance(k, str) for k in optim_state.get("state", {})
    )
    if sharded:
        load_full_state_into(target, loadable)
    else:
        target.load_state_dict(loadable, strict=False)

    if optimizer is not None:
        if conversion.source != "slowvid":
            logger.warning(
                "Checkpoint %s was converted from %s; optimizer left as is",
                path,
                conversion.source,
            )
        elif "optimizer_state" not in checkpoint:
            logger.warning("Checkpoint %s has no optimizer state; optimizer left as is", path)
        elif diff:
            # Momentum buffers of the old head would have the wrong shapes.
            logger.warning(
                "Checkpoint %s: head was skipped, so optimizer state is not loaded", path
            )
        else:
            try:
                if sharded or by_name:  # DCP keys optimizer states by parameter name
                    load_full_state_into(target, {}, optimizer, optim_state)
                else:
                    optimizer.load_state_dict(optim_state)
            except (ValueError, KeyError) as e:
                raise CheckpointMismatchError(
                    f"Optimizer state in checkpoint {path} does not fit the optimizer: {e}"
                ) from e

    wrapped = any(isinstance(checkpoint.get(k), Mapping) for k in MODEL_STATE_KEYS)
    loaded = dict(checkpoint) if wrapped else {"model_state": state}
    loaded["format"] = conversion.source
    return loaded


def _clear_names(checkpoint: Mapping[str, Any], patterns: Sequence[str], path: str) -> dict:
    """The checkpoint with each pattern removed once from every model parameter name."""
    state = extract_model_state(checkpoint, path=path)
    for pattern in patterns:
        state = {k.replace(pattern, "", 1): v for k, v in state.items()}
    rest = {k: v for k, v in checkpoint.items() if k not in MODEL_STATE_KEYS}
    return {**rest, "model_state": state}


def inflate_2d_kernels(
    state: dict[str, torch.Tensor], model_state: Mapping[str, torch.Tensor]
) -> list[str]:
    """Replaces, in place, each 4-D (2-D conv) tensor whose 5-D model counterpart has the same
    channels and spatial size by its inflation: repeated ``T`` times over time and divided by
    ``T``, so a static clip gives the 2-D network's activations (I3D, arXiv:1705.07750).

    Returns:
        The inflated keys.
    """
    inflated = []
    for key, value in state.items():
        target = model_state.get(key)
        if target is None or value.dim() != 4 or target.dim() != 5:
            continue
        if value.shape[:2] != target.shape[:2] or value.shape[2:] != target.shape[3:]:
            continue
        t = target.shape[2]
        state[key] = value.unsqueeze(2).repeat(1, 1, t, 1, 1) / t
        inflated.append(key)
    return inflated
