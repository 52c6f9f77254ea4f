"""tools/run_net.py with one extra hook, for torchrun tests: ``KillRankOnce`` SIGKILLs rank 1
in the middle of epoch 2, in the first attempt only (torch elastic's restart count).

    python -m torch.distributed.run ... tests/engine/torchrun_job.py --cfg C.yaml KEY VALUE ...
"""

import os
import signal
import sys

from slowvid.distributed import get_rank
from slowvid.engine import HookBase
from slowvid.registry import HOOKS

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tools"))
import run_net  # noqa: E402


@HOOKS.register()
class KillRankOnce(HookBase):
    """Rank 1 dies without a word after the first batch of epoch 2 (attempt 0 only)."""

    def after_step(self) -> None:
        first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT") == "0"
        if first_attempt and get_rank() == 1 and self.trainer.epoch == 1 and self.trainer.iter == 0:
            open(os.path.join(self.trainer.output_dir, "killed_rank1"), "w").close()
            os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(run_net.main())
