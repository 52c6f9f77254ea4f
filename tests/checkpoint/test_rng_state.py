import random

import numpy as np
import torch

from slowvid.checkpoint import get_rng_state, read_checkpoint, save_checkpoint, set_rng_state


def draw():
    return (random.random(), float(np.random.rand()), float(torch.rand(1)))


def test_rng_state_survives_a_weights_only_checkpoint(tmp_path):
    random.seed(3)
    np.random.seed(3)
    torch.manual_seed(3)
    draw()
    state = get_rng_state()
    expected = [draw() for _ in range(3)]

    path = save_checkpoint(str(tmp_path), 1, torch.nn.Linear(2, 2), extra={"rng_state": state})
    loaded = read_checkpoint(path)["rng_state"]

    random.seed(99)
    np.random.seed(99)
    torch.manual_seed(99)
    set_rng_state(loaded)
    assert [draw() for _ in range(3)] == expected


def test_numpy_gaussian_cache_is_restored():
    np.random.seed(0)
    np.random.randn()  # leaves a cached second gaussian
    state = get_rng_state()
    expected = np.random.randn(3)
    np.random.seed(1)
    set_rng_state(state)
    assert np.array_equal(np.random.randn(3), expected)
