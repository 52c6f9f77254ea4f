"""A stop signal mid-epoch: checkpoint at the step boundary, resume to identical weights."""

import os
import signal

import pytest
import torch
from demo_config import DEMO_CFG

from slowvid import engine
from slowvid.checkpoint import find_latest_checkpoint, list_checkpoints, read_checkpoint
from slowvid.config import load_config
from slowvid.distributed import preemption
from slowvid.engine import HookBase
from slowvid.registry import HOOKS


@HOOKS.register()
class SignalAtSecondStep(HookBase):
    """Stands in for SLURM: sends this process USR2 after the second step of the first epoch."""

    def after_step(self):
        if self.trainer.epoch == 0 and self.trainer.iter == 1:
            os.kill(os.getpid(), signal.SIGUSR2)


@pytest.fixture
def armed():
    previous = preemption.arm()
    yield
    preemption.disarm(previous)


def _final_state(output_dir) -> dict:
    return read_checkpoint(find_latest_checkpoint(str(output_dir)))["model_state"]


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("workers", [0, 2])
def test_mid_epoch_stop_resumes_to_the_uninterrupted_weights(tiny_opts, tmp_path, armed, workers):
    # dropout makes the model's own RNG stream matter too, not only the data's
    opts = {"DATA_LOADER.NUM_WORKERS": workers, "MODEL.DROPOUT_RATE": 0.5}
    straight = str(tmp_path / "a")
    engine.train(load_config(DEMO_CFG, tiny_opts(OUTPUT_DIR=straight, **opts)))

    out = str(tmp_path / "b")
    cfg = tiny_opts(OUTPUT_DIR=out, **opts)
    with pytest.raises(preemption.Preempted) as stopped:
        engine.train(load_config(DEMO_CFG, cfg + ["TRAIN.HOOKS", "['SignalAtSecondStep']"]))
    assert stopped.value.signum == signal.SIGUSR2
    # 24 videos in batches of 8: stopped after 2 of the 3 batches of epoch 1
    assert [os.path.basename(p) for p in list_checkpoints(out)] == [
        "checkpoint_epoch_00000_iter_000002.pyth"
    ]
    mid = read_checkpoint(list_checkpoints(out)[0])
    assert mid["epoch"] == 0 and mid["iter"] == 2 and len(mid["rng_states"]) == 1

    preemption.arm()  # the requeued job: no signal this time
    engine.train(load_config(DEMO_CFG, cfg))
    a, b = _final_state(straight), _final_state(out)
    assert find_latest_checkpoint(out).endswith("checkpoint_epoch_00002.pyth")
    assert a.keys() == b.keys()
    diff = max((a[k].double() - b[k].double()).abs().max().item() for k in a)
    assert diff == 0.0
    # the two steps before the stop changed the weights: equality is not trivial
    assert any(not torch.equal(mid["model_state"][k], a[k]) for k in a if a[k].is_floating_point())
