"""Consistency checks on a merged config; each error names the key to change."""

from __future__ import annotations

import math

from fvcore.common.config import CfgNode

from .pyslowfast import foreign_value_problems
from .ssl_keys import check_ssl_keys

_CHOICES = {
    "SOLVER.LR_POLICY": ("cosine", "steps_with_relative_lrs", "constant"),
    "SOLVER.OPTIMIZING_METHOD": ("sgd", "adam", "adamw"),
    "DATA.DECODING_BACKEND": ("auto", "torchcodec", "pyav", "torchcodec_cuda", "torchvision"),
    "MODEL.HEAD_ACT": ("", "softmax", "sigmoid", "none"),
    "RESNET.TRANS_FUNC": ("", "bottleneck_transform", "x3d_transform"),
    "TEST.CHECKPOINT_TYPE": ("pytorch", "caffe2"),
    "DATA.VIDEO_FORMAT": ("video", "frames"),
    "BN.NORM_TYPE": ("batchnorm", "sync_batchnorm", "sub_batchnorm"),
    "TEST.ENSEMBLE_METHOD": ("sum", "max"),
    "AUG.INTERPOLATION": ("bilinear", "bicubic", "nearest"),
    "AUG.RE_MODE": ("const", "rand", "pixel"),
    "DIST_BACKEND": ("auto", "nccl", "gloo"),
    "TRAIN.DISTRIBUTED": ("ddp", "fsdp"),
    "FSDP.PARAM_DTYPE": ("", "float32", "bfloat16", "float16"),
    "FSDP.REDUCE_DTYPE": ("", "float32", "bfloat16", "float16"),
    "TRAIN.CHECKPOINT_TYPE": ("pytorch", "caffe2"),
    "SSV2.SAMPLING": ("segments", "clip"),
    "VIT.POS_EMBED": ("sincos", "learned", "separate"),
    "TIMESFORMER.ATTENTION_TYPE": ("divided_space_time", "joint_space_time", "space_only"),
    "DOMSEV.LABEL_TYPE": ("environment", "activity", "attention"),
}


def _get(cfg: CfgNode, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def _fail(key: str, problem: str) -> None:
    raise ValueError(f"config {key}: {problem}")


def world_size_of(cfg: CfgNode) -> int:
    """Processes taking part in the run: per-machine processes times machines."""
    per_machine = cfg.NUM_GPUS if cfg.NUM_GPUS > 0 else cfg.NUM_CPU_PROCESSES
    return per_machine * cfg.NUM_SHARDS


# Keys that one key now does the work of: setting one is an error naming its replacement.
REPLACED_KEYS = {
    "EPICKITCHENS.VIDEO_FORMAT": "DATA.VIDEO_FORMAT ('video' for the .MP4 files, 'frames' for "
    "the rgb_frames folders)",
    "SSV2.VIDEO_FORMAT": "DATA.VIDEO_FORMAT ('video' for the .webm files, 'frames' for frames: "
    "PySlowFast's frame lists, or numbered folders with SSV2.FRAME_LISTS False)",
    "SSV2.FRAME_FPS": "DATA.FRAME_FPS",
    "AVA.FPS": "DATA.FRAME_FPS",
}


def replaced_key_message(key: str) -> str | None:
    """ "'KEY' was replaced by ..." for a replaced key, else None."""
    if key not in REPLACED_KEYS:
        return None
    return f"'{key}' was replaced by {REPLACED_KEYS[key]}"


def infer_and_check(cfg: CfgNode) -> None:
    """Check the settings that must agree with each other. Raises ValueError naming a key.

    PySlowFast features that slowvid lacks are refused first, all of them in one error.
    """
    foreign = foreign_value_problems(cfg)
    if foreign:
        raise ValueError(
            f"config asks for {len(foreign)} PySlowFast feature(s) slowvid does not have:\n  "
            + "\n  ".join(foreign)
        )
    for key in REPLACED_KEYS:
        node, leaf = key.split(".")
        if node in cfg and leaf in cfg[node]:  # set by hand on a config built in code
            _fail(key, replaced_key_message(key))
    for key, choices in _CHOICES.items():
        if _get(cfg, key) not in choices:
            _fail(key, f"'{_get(cfg, key)}' is not one of {list(choices)}")

    if cfg.NUM_GPUS < 0 or cfg.NUM_CPU_PROCESSES < 1 or cfg.NUM_SHARDS < 1:
        _fail("NUM_GPUS/NUM_CPU_PROCESSES/NUM_SHARDS", "must be >= 0, >= 1 and >= 1")
    if not 0 <= cfg.SHARD_ID < cfg.NUM_SHARDS:
        _fail("SHARD_ID", f"{cfg.SHARD_ID} is outside [0, NUM_SHARDS={cfg.NUM_SHARDS})")
    world = world_size_of(cfg)
    for key in ("TRAIN.BATCH_SIZE", "TEST.BATCH_SIZE"):
        if _get(cfg, key) % world:
            _fail(key, f"{_get(cfg, key)} is not divisible by the {world} processes of the run")

    data = cfg.DATA
    if (
        len(data.TRAIN_JITTER_SCALES) != 2
        or data.TRAIN_JITTER_SCALES[0] > data.TRAIN_JITTER_SCALES[1]
    ):
        _fail("DATA.TRAIN_JITTER_SCALES", f"expected [min, max], got {data.TRAIN_JITTER_SCALES}")
    if data.TRAIN_CROP_SIZE > data.TRAIN_JITTER_SCALES[0]:
        _fail(
            "DATA.TRAIN_CROP_SIZE",
            f"{data.TRAIN_CROP_SIZE} exceeds the smallest jitter scale "
            f"DATA.TRAIN_JITTER_SCALES[0]={data.TRAIN_JITTER_SCALES[0]}",
        )
    if len(data.MEAN) != data.INPUT_CHANNEL_NUM[0] or len(data.STD) != data.INPUT_CHANNEL_NUM[0]:
        _fail(
            "DATA.MEAN/DATA.STD", f"need one value per input channel ({data.INPUT_CHANNEL_NUM[0]})"
        )
    _infer_model(cfg)
    if not 0.0 <= data.MAX_FAILED_FRACTION <= 1.0:
        _fail("DATA.MAX_FAILED_FRACTION", "must lie in [0, 1]")
    if not 0.0 <= data.VAL_FRACTION < 1.0:
        _fail("DATA.VAL_FRACTION", f"{data.VAL_FRACTION}; must lie in [0, 1)")
    if data.FRAME_FPS <= 0:
        _fail("DATA.FRAME_FPS", f"must be positive, got {data.FRAME_FPS}")
    _check_frame_template(data.FRAME_TEMPLATE)
    _check_augment(cfg)
    _infer_tasks(cfg)
    check_ssl_keys(cfg)

    _check_model(cfg)
    solver = cfg.SOLVER
    if solver.LR_POLICY == "steps_with_relative_lrs":
        from slowvid.solver.lr_schedule import reached_steps  # solver imports the models

        # As PySlowFast: LRS entries past the last step, and steps at or after MAX_EPOCH,
        # are never reached, and allowed.
        if len(solver.LRS) < reached_steps(solver.STEPS, solver.MAX_EPOCH) or not solver.STEPS:
            _fail(
                "SOLVER.STEPS",
                "needs one SOLVER.LRS entry per step before SOLVER.MAX_EPOCH; got "
                f"STEPS={solver.STEPS}, LRS={solver.LRS}, MAX_EPOCH={solver.MAX_EPOCH}",
            )
    if cfg.MULTIGRID.LONG_CYCLE:
        # PySlowFast's long cycle takes step i's rate as GAMMA ** i, whatever LRS says.
        bad = [
            i
            for i, lr in enumerate(solver.LRS[: len(solver.STEPS)])
            if not math.isclose(lr, solver.GAMMA**i, rel_tol=1e-6)
        ]
        if bad:
            _fail(
                "SOLVER.GAMMA",
                f"{solver.GAMMA}: PySlowFast's MULTIGRID.LONG_CYCLE uses GAMMA ** i as step i's "
                f"rate; SOLVER.LRS {list(solver.LRS)} differs at steps {bad}",
            )
    if cfg.TRAIN.GRAD_ACCUM_STEPS < 1:
        _fail("TRAIN.GRAD_ACCUM_STEPS", f"{cfg.TRAIN.GRAD_ACCUM_STEPS}; must be >= 1")
    if cfg.TRAIN.KILL_LOSS_EXPLOSION_FACTOR < 0:
        _fail("TRAIN.KILL_LOSS_EXPLOSION_FACTOR", "must be >= 0 (0 never stops)")
    clips = cfg.TEST.NUM_TEMPORAL_CLIPS
    if not all(isinstance(n, int) and n >= 1 for n in clips):
        _fail("TEST.NUM_TEMPORAL_CLIPS", f"{list(clips)}; each entry must be an integer >= 1")
    if cfg.TRAIN.DISTRIBUTED == "fsdp" and cfg.TRAIN.MIXED_PRECISION and cfg.NUM_GPUS > 0:
        _fail(
            "TRAIN.MIXED_PRECISION",
            "fp16 autocast with its gradient scaler is not set up for sharded gradients; with "
            "TRAIN.DISTRIBUTED fsdp use FSDP.PARAM_DTYPE bfloat16 instead",
        )
    if not 0 < 2 * cfg.LEASE.RENEW_SECONDS <= cfg.LEASE.TTL_SECONDS:
        _fail(
            "LEASE.RENEW_SECONDS",
            f"{cfg.LEASE.RENEW_SECONDS} must be positive and at most half of "
            f"LEASE.TTL_SECONDS ({cfg.LEASE.TTL_SECONDS}), or a live run could look dead",
        )
    if cfg.TEST.NUM_SPATIAL_CROPS not in (1, 3):
        _fail("TEST.NUM_SPATIAL_CROPS", f"{cfg.TEST.NUM_SPATIAL_CROPS}; use 1 or 3")
    if cfg.MULTIGRID.LONG_CYCLE and solver.LR_POLICY != "steps_with_relative_lrs":
        _fail(
            "SOLVER.LR_POLICY",
            f"{solver.LR_POLICY!r}: MULTIGRID.LONG_CYCLE rescales SOLVER.STEPS and LRS, so it "
            "needs 'steps_with_relative_lrs'",
        )
    if len(cfg.MULTIGRID.SHORT_CYCLE_FACTORS) != 2:
        _fail("MULTIGRID.SHORT_CYCLE_FACTORS", "needs two crop factors")


def _infer_model(cfg: CfgNode) -> None:
    """MODEL.ARCH from MODEL_NAME when empty (checked when given), DATA.INPUT_CHANNEL_NUM and
    DATA.NUM_FRAMES against the pathways the model declares it takes."""
    # The registered model classes declare their architectures and inputs (slowvid.models.base);
    # imported here so that loading a config registers the core's models.
    from slowvid.models import model_class

    try:
        cls = model_class(cfg)
        arch = cls.arch_of(cfg)
        spec = cls.input_spec_from_config(cfg)
    except ValueError as err:  # the model's own check, which names the key
        raise ValueError(f"config {err}") from None
    if cfg.MODEL.ARCH != arch:  # a frozen config that is already complete is left alone
        cfg.MODEL.ARCH = arch
    for stride in spec.frame_strides:
        if cfg.DATA.NUM_FRAMES % stride:
            _fail(
                "DATA.NUM_FRAMES",
                f"{cfg.DATA.NUM_FRAMES} frames cannot be split into the pathway of "
                f"{cfg.MODEL.MODEL_NAME} that keeps every {stride}th frame (SLOWFAST.ALPHA "
                "for SlowFast)",
            )


def head_activation(cfg: CfgNode) -> str:
    """MODEL.HEAD_ACT, with "" resolved: sigmoid for the binary cross entropies, else softmax."""
    if cfg.MODEL.HEAD_ACT:
        return cfg.MODEL.HEAD_ACT
    return "sigmoid" if cfg.MODEL.LOSS_FUNC in ("bce", "bce_logit") else "softmax"


# Datasets (lower case, PyTorchVideo variants included) whose own evaluator scores sigmoids.
_SIGMOID_EVALUATED = ("ava", "charades", "ptvcharades")


def _check_model(cfg: CfgNode) -> None:
    model = cfg.MODEL
    arch = model.ARCH
    single, multi = arch in model.SINGLE_PATHWAY_ARCH, arch in model.MULTI_PATHWAY_ARCH
    if not single and not multi:
        _fail(
            "MODEL.ARCH",
            f"{arch!r} is in neither MODEL.SINGLE_PATHWAY_ARCH {list(model.SINGLE_PATHWAY_ARCH)} "
            f"nor MODEL.MULTI_PATHWAY_ARCH {list(model.MULTI_PATHWAY_ARCH)}; add it to one",
        )
    pathways = 1 if single else 2
    if len(cfg.DATA.INPUT_CHANNEL_NUM) != pathways:
        which = "SINGLE" if single else "MULTI"
        _fail(
            "DATA.INPUT_CHANNEL_NUM",
            f"{list(cfg.DATA.INPUT_CHANNEL_NUM)} lists {len(cfg.DATA.INPUT_CHANNEL_NUM)} "
            f"pathway(s) but MODEL.ARCH {arch!r} is in MODEL.{which}_PATHWAY_ARCH "
            f"({pathways} pathway(s))",
        )
    act = head_activation(cfg)
    if model.LOSS_FUNC == "bce" and act != "sigmoid":
        _fail(
            "MODEL.LOSS_FUNC",
            f"'bce' takes the sigmoid of the logits; MODEL.HEAD_ACT is {model.HEAD_ACT!r}",
        )
    if cfg.DATA.MULTI_LABEL and act != "sigmoid":
        _fail(
            "DATA.MULTI_LABEL",
            f"scores classes independently (mAP); MODEL.HEAD_ACT {model.HEAD_ACT!r} is not sigmoid",
        )
    if model.LOSS_FUNC == "multi_mse" and not cfg.MASK.ENABLE:
        _fail(
            "MODEL.LOSS_FUNC",
            "'multi_mse' compares the several predictions of a masked model (PySlowFast's "
            f"MaskMViT, MASK.ENABLE) with their targets; {model.MODEL_NAME} outputs logits",
        )
    datasets = {cfg.TRAIN.DATASET.lower(), cfg.TEST.DATASET.lower()}
    if datasets & set(_SIGMOID_EVALUATED) and act != "sigmoid":
        _fail(
            "MODEL.HEAD_ACT",
            f"{model.HEAD_ACT!r}: slowvid's AVA and Charades evaluators score each class with a "
            "sigmoid; set MODEL.HEAD_ACT sigmoid",
        )
    if cfg.DATA.REVERSE_INPUT_CHANNEL and any(c != 3 for c in cfg.DATA.INPUT_CHANNEL_NUM):
        _fail(
            "DATA.REVERSE_INPUT_CHANNEL",
            f"reverses RGB to BGR; DATA.INPUT_CHANNEL_NUM is {list(cfg.DATA.INPUT_CHANNEL_NUM)}",
        )
    bn = cfg.BN
    if bn.GLOBAL_SYNC and bn.NUM_SYNC_DEVICES is not None:
        _fail(
            "BN.NUM_SYNC_DEVICES",
            f"{bn.NUM_SYNC_DEVICES} with BN.GLOBAL_SYNC, which pools every process; set it to "
            "None (PySlowFast refuses both too)",
        )
    if not bn.GLOBAL_SYNC and (bn.NUM_SYNC_DEVICES is None or bn.NUM_SYNC_DEVICES < 0):
        _fail("BN.NUM_SYNC_DEVICES", f"{bn.NUM_SYNC_DEVICES}; must be >= 0 without GLOBAL_SYNC")
    for key in ("SOLVER.CLIP_GRAD_VAL", "SOLVER.CLIP_GRAD_L2NORM", "AUG.COLOR_JITTER"):
        if _get(cfg, key) is None:  # PySlowFast writes "off" as None, slowvid as 0
            node, leaf = key.split(".")
            cfg[node][leaf] = 0.0


def _check_frame_template(template: str) -> None:
    """One ``{}`` field formatting the frame number into a file name (not a path)."""
    try:
        names = {template.format(1), template.format(2)}
    except (ValueError, IndexError, KeyError) as err:
        _fail("DATA.FRAME_TEMPLATE", f"{template!r} does not format a frame number: {err}")
    if len(names) != 2 or "/" in template:
        _fail(
            "DATA.FRAME_TEMPLATE",
            f"{template!r} must be a file name with one '{{}}' field for the frame number, "
            "e.g. 'img_{:05d}.jpg'",
        )


def _check_augment(cfg: CfgNode) -> None:
    for key in ("DATA.TRAIN_JITTER_SCALES_RELATIVE", "DATA.TRAIN_JITTER_ASPECT_RELATIVE"):
        value = _get(cfg, key)
        if value and (len(value) != 2 or not 0 < value[0] <= value[1]):
            _fail(key, f"expected [] or [min, max] with 0 < min <= max, got {value}")
    if cfg.AUG.NUM_SAMPLE < 1:
        _fail("AUG.NUM_SAMPLE", f"{cfg.AUG.NUM_SAMPLE}; must be >= 1")
    if cfg.AUG.AA_TYPE and cfg.AUG.AA_TYPE.split("-")[0] not in ("rand", "augmix"):
        _fail("AUG.AA_TYPE", f"{cfg.AUG.AA_TYPE!r} must start with 'rand-' or 'augmix-', or be ''")
    if cfg.MIXUP.ENABLE and cfg.MODEL.LOSS_FUNC not in ("soft_cross_entropy", "bce_logit"):
        _fail(
            "MODEL.LOSS_FUNC",
            f"{cfg.MODEL.LOSS_FUNC!r} cannot take the mixed targets of MIXUP.ENABLE; "
            "use soft_cross_entropy (or bce_logit for multi-label data)",
        )


def _infer_tasks(cfg: CfgNode) -> None:
    tasks = cfg.MODEL.TASK_NUM_CLASSES
    multi_loss = cfg.MODEL.LOSS_FUNC == "multitask_cross_entropy"
    if multi_loss != bool(tasks):
        _fail(
            "MODEL.TASK_NUM_CLASSES",
            f"{list(tasks)} with MODEL.LOSS_FUNC {cfg.MODEL.LOSS_FUNC!r}: per-task classes "
            "go with (and only with) multitask_cross_entropy",
        )
    if any(k < 1 for k in tasks):
        _fail("MODEL.TASK_NUM_CLASSES", f"{list(tasks)}; every task needs >= 1 class")
    if tasks and cfg.MODEL.NUM_CLASSES != sum(tasks):
        # The head's output is the concatenation of the task logits.
        cfg.MODEL.NUM_CLASSES = sum(tasks)
