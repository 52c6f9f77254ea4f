"""Reading the key lists of ``foreign_keys/`` (how they were made: foreign_keys/README.md)."""

import os

import torch

KEY_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "foreign_keys")


def read_key_list(name: str, folder: str = KEY_DIR) -> dict[str, torch.Tensor]:
    """``<folder>/<name>.txt`` (``foreign_keys/`` by default) as a state dict of empty meta
    tensors of the listed shapes."""
    state = {}
    with open(os.path.join(folder, f"{name}.txt"), encoding="utf-8") as f:
        for line in f:
            key, shape = line.split()
            dims = [] if shape == "-" else [int(d) for d in shape.split("x")]
            state[key] = torch.empty(dims, device="meta")
    return state
