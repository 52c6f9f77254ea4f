"""slowvid in a PyTorch Lightning workflow (optional: ``pip install slowvid[lightning]``).

    cfg = load_config("configs/Demo/SLOWFAST_DEMO.yaml")
    module = VideoClassificationModule(**VideoClassificationModule.from_config(cfg))
    data = VideoDataModule(**VideoDataModule.from_config(cfg))
    trainer = lightning.Trainer(**trainer_arguments(cfg))
    trainer.fit(module, data)
    trainer.test(module, data)

Both classes also take plain arguments (a model, datasets, solver settings), no cfg needed.
"""

try:
    import lightning  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "slowvid.lightning needs the lightning package: pip install 'slowvid[lightning]'"
    ) from exc

from .datamodule import VideoDataModule
from .evaluation import ViewEnsembleEvaluator, make_evaluator
from .module import VideoClassificationModule
from .trainer import trainer_arguments

__all__ = [
    "VideoClassificationModule",
    "VideoDataModule",
    "ViewEnsembleEvaluator",
    "make_evaluator",
    "trainer_arguments",
]
