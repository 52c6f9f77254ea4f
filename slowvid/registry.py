"""The registries through which configs name the parts of a run.

Registered name = class name. Projects register into these same objects from their own
packages; importing ``slowvid.models`` / ``slowvid.data`` / ``slowvid.checkpoint`` registers
everything in the core.
"""

from fvcore.common.registry import Registry

MODELS = Registry("MODELS")
MODELS.__doc__ = "Whole networks; cfg.MODEL.MODEL_NAME selects one."

HEADS = Registry("HEADS")
HEADS.__doc__ = "Output heads (classification, ROI detection); cfg.MODEL.HEAD_NAME selects one."

DATASETS = Registry("DATASETS")
DATASETS.__doc__ = "Datasets; cfg.TRAIN.DATASET and cfg.TEST.DATASET select them."

HOOKS = Registry("HOOKS")
HOOKS.__doc__ = "Training-loop hooks that projects add without editing the loop."

CHECKPOINT_FORMATS = Registry("CHECKPOINT_FORMATS")
CHECKPOINT_FORMATS.__doc__ = (
    "Foreign checkpoint layouts (CheckpointFormat subclasses), detected from their keys."
)
