"""Training and testing jobs, the loop, and its hooks."""

from .hooks import HookBase, PeriodicCheckpoint, PeriodicEval
from .jobs import evaluate, test, train, train_and_test
from .trainer import TooManyFailedVideos, Trainer

__all__ = [
    "HookBase",
    "PeriodicCheckpoint",
    "PeriodicEval",
    "TooManyFailedVideos",
    "Trainer",
    "evaluate",
    "test",
    "train",
    "train_and_test",
]
