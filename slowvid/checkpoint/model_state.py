"""Find the model weights inside a loaded checkpoint and check them against a model.

Every shape mismatch, missing key and unexpected key is reported by name at once, so a wrong
``MODEL.ARCH`` or depth is diagnosed in one run rather than one key at a time. Differences
confined to the head (parameter names containing ``head``) are expected when fine-tuning to a
different class count; they are skipped with a single warning instead.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

__all__ = [
    "MODEL_STATE_KEYS",
    "CheckpointMismatchError",
    "StateDiff",
    "diff_state_dicts",
    "extract_model_state",
    "is_head_key",
]

logger = logging.getLogger(__name__)

# Top-level keys under which known formats keep the model weights, in the order tried:
# slowvid / PySlowFast (.pyth), Lightning and many research repos, DeiT/MAE style, DeepSpeed
# (VideoMAE's released checkpoints).
MODEL_STATE_KEYS = ("model_state", "state_dict", "model", "module")


class CheckpointMismatchError(RuntimeError):
    """The checkpoint's weights do not fit the model outside the head."""


@dataclass
class StateDiff:
    """Differences between a checkpoint's state dict and a model's.

    Attributes:
        mismatched: ``(key, checkpoint_shape, model_shape)`` for keys present in both.
        missing: keys the model has and the checkpoint lacks.
        unexpected: keys the checkpoint has and the model lacks.
    """

    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def all_keys(self) -> list[str]:
        """All keys involved in any difference."""
        return [k for k, _, _ in self.mismatched] + self.missing + self.unexpected

    def describe(self, origin: Mapping[str, str] | None = None) -> str:
        """One line per difference, naming the key and both shapes where they exist.

        Args:
            origin: converted key -> the key in the source file, named alongside.
        """
        origin = origin or {}

        def name(k: str) -> str:
            return f"{k} (from {origin[k]})" if k in origin and origin[k] != k else k

        lines = [
            f"  shape mismatch: {name(k)}: checkpoint {list(c)} vs model {list(m)}"
            for k, c, m in self.mismatched
        ]
        lines += [f"  missing in checkpoint: {k}" for k in self.missing]
        lines += [f"  unexpected in checkpoint: {name(k)}" for k in self.unexpected]
        return "\n".join(lines)

    def __bool__(self) -> bool:
        return bool(self.mismatched or self.missing or self.unexpected)


def _strip_prefix(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k.removeprefix(prefix): v for k, v in state.items()}


def extract_model_state(checkpoint: Mapping, *, path: str = "") -> dict[str, torch.Tensor]:
    """Return the model weights of a loaded checkpoint, with any ``module.`` prefix removed.

    Args:
        checkpoint (Mapping): a plain state dict, or a dict holding one under "model_state",
            "state_dict" or "model" (a Lightning checkpoint of ``slowvid.lightning``'s module:
            its ``model.`` weights).
        path (str): where the checkpoint came from, used in error messages.

    Returns:
        dict[str, Tensor]: the state dict, keys as the unwrapped model names them.

    Raises:
        ValueError: when no state dict can be found, listing the top-level keys.
    """
    state = None
    for key in MODEL_STATE_KEYS:
        if isinstance(checkpoint.get(key), Mapping):
            state = checkpoint[key]
            break
    if (
        state is None
        and checkpoint
        and all(isinstance(v, torch.Tensor) for v in checkpoint.values())
    ):
        state = checkpoint
    if state is None:
        raise ValueError(
            f"Checkpoint {path} holds no model weights: expected a state dict or one under "
            f"{', '.join(MODEL_STATE_KEYS)}; top-level keys are {sorted(map(str, checkpoint))}"
        )
    if "pytorch-lightning_version" in checkpoint:
        # A slowvid.lightning.VideoClassificationModule checkpoint: the model is its ``model``.
        state = {k[6:]: v for k, v in state.items() if k.startswith("model.")}
    # Saved from a DDP/DataParallel model by code that did not unwrap it.
    return _strip_prefix(state, "module.")


def diff_state_dicts(
    checkpoint_state: Mapping[str, torch.Tensor], model_state: Mapping[str, torch.Tensor]
) -> StateDiff:
    """Compare two state dicts by key and shape.

    ``num_batches_tracked`` buffers missing from the checkpoint are ignored: weights converted
    from Caffe2 never had them, and BatchNorm works without them.
    """
    diff = StateDiff()
    for key, value in checkpoint_state.items():
        if key not in model_state:
            diff.unexpected.append(key)
        elif tuple(value.shape) != tuple(model_state[key].shape):
            diff.mismatched.append((key, tuple(value.shape), tuple(model_state[key].shape)))
    diff.missing = [
        k
        for k in model_state
        if k not in checkpoint_state and not k.endswith("num_batches_tracked")
    ]
    return diff


def is_head_key(key: str) -> bool:
    """Whether a parameter name belongs to a classification/detection head."""
    return "head" in key
