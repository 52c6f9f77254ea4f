"""Where the demo config lives.

A module of its own, not conftest.py: processes spawned by multi-process tests re-import the test
module, and there a bare ``conftest`` can resolve to another directory's conftest.
"""

import os

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO_CFG = os.path.join(REPO, "configs/Demo/SLOWFAST_DEMO.yaml")
