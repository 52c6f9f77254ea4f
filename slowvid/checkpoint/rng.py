"""Save and restore the random number generators, so a resumed run draws the same numbers.

The state is made of tensors and plain python values only, so it survives
``torch.load(..., weights_only=True)`` (a numpy array would not).
"""

import random
from typing import Any

import numpy as np
import torch

__all__ = ["get_rng_state", "set_rng_state"]


def get_rng_state() -> dict[str, Any]:
    """Capture the state of python's ``random``, numpy's global RNG and torch's RNGs.

    Returns:
        dict: ``{"python": tuple, "numpy": dict, "torch": ByteTensor, "cuda": list[ByteTensor]}``;
        "cuda" is an empty list when CUDA is not initialised.
    """
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    cuda_states: list[torch.Tensor] = []
    # Querying the CUDA RNG would initialise CUDA in a CPU-only process; skip it there.
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        cuda_states = list(torch.cuda.get_rng_state_all())
    return {
        "python": random.getstate(),
        "numpy": {
            "name": str(np_name),
            "keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "cached_gaussian": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
        "cuda": cuda_states,
    }


def _as_tuple(value: Any) -> Any:
    # Pickling round trips may turn tuples into lists; random.setstate insists on tuples.
    if isinstance(value, list):
        return tuple(_as_tuple(v) for v in value)
    return value


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore generators captured by :func:`get_rng_state`.

    Entries that are absent are left alone, and CUDA states are restored only when the number
    of devices matches (a run resumed on different hardware keeps its fresh CUDA seeds).

    Args:
        state (dict): the output of :func:`get_rng_state`, possibly after a save/load cycle.
    """
    if "python" in state:
        random.setstate(_as_tuple(state["python"]))
    if "numpy" in state:
        s = state["numpy"]
        keys = s["keys"]
        keys = keys.numpy() if isinstance(keys, torch.Tensor) else np.asarray(keys)
        np.random.set_state(
            (s["name"], keys.astype(np.uint32), s["pos"], s["has_gauss"], s["cached_gaussian"])
        )
    if "torch" in state:
        torch.set_rng_state(state["torch"].cpu().to(torch.uint8))
    cuda_states = state.get("cuda") or []
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])
