"""PySlowFast's config keys that slowvid has no feature behind, as data.

Every key of PySlowFast's ``slowfast/config/defaults.py`` (facebookresearch/SlowFast at 287ec00)
is either a key of slowvid's own defaults (same name, same meaning), an alias of one
(:data:`ALIASES`), or listed in :data:`FOREIGN_KEYS` below with PySlowFast's default and what
it does there. :mod:`slowvid.config.pyslowfast` adds the listed keys to the config tree, so a
PySlowFast yaml loads unmodified, and refuses a value that would switch on a feature slowvid
does not have, naming the key and what it does in PySlowFast. Nothing is accepted and ignored:

- a key with no ``gate`` must keep a value that leaves its feature off (``off``, by default
  PySlowFast's own default);
- a key with a ``gate`` is read by PySlowFast only while that other feature is on; the gate is
  itself refused when on, so any value of the key is as inert here as it is there;
- a key PySlowFast defines but never reads (``gate=NEVER_READ``) takes any value.

A feature that lands in slowvid moves its keys from here to ``defaults.py``; a test holds the
two apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ALIASES",
    "DATASET_NAMES",
    "DEFAULTS_DIFFER",
    "DEFAULTS_SAME_MEANING",
    "FOREIGN_KEYS",
    "FOREIGN_VALUES",
    "NEVER_READ",
    "ForeignKey",
]

# The gate of keys PySlowFast defines in defaults.py but reads nowhere.
NEVER_READ = "never read by PySlowFast"

_UNSET = object()


@dataclass(frozen=True)
class ForeignKey:
    """A PySlowFast key without a slowvid feature behind it.

    Attributes:
        default: PySlowFast's default value.
        does: what the key does in PySlowFast (the refusal message quotes it).
        off: the values that leave the feature off; by default only ``default``.
        gate: the feature that must be on for PySlowFast to read the key ("" = always read).
    """

    default: Any
    does: str
    off: tuple = _UNSET  # type: ignore[assignment]
    gate: str = ""

    def off_values(self) -> tuple:
        return (self.default,) if self.off is _UNSET else tuple(self.off)


def _f(default, does: str, off=_UNSET) -> ForeignKey:
    return ForeignKey(default, does, off)


def _g(default, does: str, gate: str) -> ForeignKey:
    return ForeignKey(default, does, gate=gate)


_CONTRASTIVE = "MODEL.MODEL_NAME ContrastiveModel"
_MASKED = "MASK.ENABLE"
_DEMO = "DEMO.ENABLE"
_VIS = "TENSORBOARD.MODEL_VIS.ENABLE"
_REV = "MVIT.REV.ENABLE"

FOREIGN_KEYS: dict[str, ForeignKey] = {
    # ---- Self-supervised contrastive learning (MoCo, SimCLR, BYOL, SwAV) -------------------
    "CONTRASTIVE.LENGTH": _g(239975, "training samples held by the kNN memory bank", _CONTRASTIVE),
    "CONTRASTIVE.INTERP_MEMORY": _g(False, "interpolates the memory bank in time", _CONTRASTIVE),
    "CONTRASTIVE.MEM_TYPE": _g("1d", "1-D or 2-D (+time) memory bank", _CONTRASTIVE),
    "CONTRASTIVE.BN_SYNC_MLP": _g(False, "synchronised batch norm in that MLP", _CONTRASTIVE),
    "CONTRASTIVE.LOCAL_SHUFFLE_BN": _g(
        True, "shuffles batch norm within a machine, not across machines", _CONTRASTIVE
    ),
    "CONTRASTIVE.DELTA_CLIPS_MIN": _g(
        -math.inf,
        "least distance in frames between the clips drawn from one video",
        "DATA.TRAIN_CROP_NUM_TEMPORAL > 1",
    ),
    "CONTRASTIVE.DELTA_CLIPS_MAX": _g(
        math.inf,
        "largest distance in frames between the clips drawn from one video",
        "DATA.TRAIN_CROP_NUM_TEMPORAL > 1",
    ),
    "CONTRASTIVE.SWAV_QEUE_LEN": _g(0, "length of SwAV's queue", _CONTRASTIVE),
    # ---- Masked pre-training (MaskFeat, MAE) ------------------------------------------------
    "MASK.PER_FRAME_MASKING": _g(False, "masks each frame separately in MAE", _MASKED),
    "MASK.SCALE_INIT_BY_DEPTH": _g(False, "scales the initial weights by 1 / depth", _MASKED),
    "MASK.DEC_KV_KERNEL": _g([], "key/value pooling kernel of the decoder", _MASKED),
    "MASK.DEC_KV_STRIDE": _g([], "key/value pooling stride of the decoder", _MASKED),
    "AUG.MAX_MASK_PATCHES_PER_BLOCK": _g(
        None, "largest masked block of image MaskFeat", "AUG.GEN_MASK_LOADER"
    ),
    "VIS_MASK.ENABLE": _f(False, "visualises the masks and reconstructions of MaskMViT"),
    # ---- Reversible MViT / ViT (issue: transformers) ----------------------------------------
    # ---- MViT options slowvid's MViT does not have ------------------------------------------
    "MVIT.POOL_FIRST": _f(False, "pools queries, keys and values before their projections"),
    "MVIT.NORM_STEM": _f(False, "layer norm after the patch embedding"),
    "MVIT.DROPOUT_RATE": _f(0.0, "dropout inside the attention and MLP layers"),
    "MVIT.REL_POS_ZERO_INIT": _f(False, "starts the relative-position tables at zero"),
    "MVIT.USE_FIXED_SINCOS_POS": _f(False, "fixed sine-cosine position embeddings"),
    # ---- Solver switches of the transformer recipes -----------------------------------------
    "SOLVER.STEP_SIZE": _g(1, "step size of an 'exp' policy PySlowFast does not have", NEVER_READ),
    "SOLVER.WARMUP_FACTOR": _g(0.1, "a warm-up factor PySlowFast does not use", NEVER_READ),
    # ---- Batch norm ----------------------------------------------------------------------------
    # ---- Training ------------------------------------------------------------------------------
    "TRAIN.CHECKPOINT_IN_INIT": _f(
        False, "initialises a video transformer's embeddings from an image checkpoint"
    ),
    # ---- Augmentation --------------------------------------------------------------------------
    "AUG.RE_SPLIT": _g(False, "keeps the first augmented split unerased (unused)", NEVER_READ),
    # ---- ResNet / model ------------------------------------------------------------------------
    "RESNET.ZERO_INIT_FINAL_CONV": _f(False, "starts each residual branch's last conv at zero"),
    "MODEL.DROPCONNECT_RATE": _f(0.0, "drop-connect (stochastic depth) of the residual blocks"),
    "MODEL.FROZEN_BN": _f(False, "freezes the batch-norm statistics while training"),
    "MODEL.FP16_ALLREDUCE": _f(False, "compresses the gradient all-reduce to fp16"),
    # ---- Data ----------------------------------------------------------------------------------
    "DATA.TRAIN_JITTER_MOTION_SHIFT": _f(False, "shifts the crop over time (motion jitter)"),
    "DATA.TRAIN_JITTER_FPS": _f(0.0, "jitters TARGET_FPS upwards by up to this much"),
    "DATA.DECODING_SHORT_SIZE": _g(256, "a decoding resize PySlowFast does not use", NEVER_READ),
    "DATA.LOADER_CHUNK_SIZE": _f(0, "reads the training csv in chunks of this many rows"),
    "DATA.LOADER_CHUNK_OVERALL_SIZE": _g(
        0, "rows of the chunked csv", "DATA.LOADER_CHUNK_SIZE > 0"
    ),
    "DATA.SKIP_ROWS": _f(0, "skips this many rows of the training csv"),
    "DATA.TIME_DIFF_PROB": _f(0.0, "probability of feeding grey temporal differences"),
    "DATA.SSL_BLUR_SIGMA_MIN": _g([0.0, 0.1], "least blur sigma", "DATA.SSL_MOCOV2_AUG"),
    "DATA.SSL_BLUR_SIGMA_MAX": _g([0.0, 2.0], "largest blur sigma", "DATA.SSL_MOCOV2_AUG"),
    "DATA.IN22K_TRAINVAL": _g(False, "trains ImageNet-21k on train + val (unused)", NEVER_READ),
    "DATA.IN22k_VAL_IN1K": _f("", "validates an ImageNet-21k run on ImageNet-1k"),
    "DATA.DUMMY_LOAD": _f(False, "feeds random clips instead of decoding (benchmarking)"),
    # ---- Loader, detection, AVA ----------------------------------------------------------------
    "DATA_LOADER.ENABLE_MULTI_THREAD_DECODE": _f(False, "multi-threaded PyAV decoding"),
    "AVA.BGR": _f(False, "AVA frames are read as BGR"),
    "AVA.TRAIN_USE_COLOR_AUGMENTATION": _f(False, "colour and PCA lighting jitter on AVA"),
    "AVA.TRAIN_PCA_JITTER_ONLY": _g(
        True, "only the PCA jitter of that augmentation", "AVA.TRAIN_USE_COLOR_AUGMENTATION"
    ),
    "AVA.TEST_FORCE_FLIP": _f(False, "flips every AVA test clip"),
    "AVA.FULL_TEST_ON_VAL": _f(False, "evaluates the full AVA validation set during training"),
    "AVA.IMG_PROC_BACKEND": _f(
        "cv2",
        "cv2 or pytorch for AVA's resizing and colour jitter (slowvid resizes with torch for "
        "either value)",
        off=("cv2", "pytorch"),
    ),
    # ---- Multigrid -----------------------------------------------------------------------------
    "MULTIGRID.LONG_CYCLE_SAMPLING_RATE": _g(
        0, "set by PySlowFast itself while it runs", "PySlowFast's own multigrid state"
    ),
    "MULTIGRID.DEFAULT_B": _g(0, "set by PySlowFast itself", "PySlowFast's own multigrid state"),
    "MULTIGRID.DEFAULT_T": _g(0, "set by PySlowFast itself", "PySlowFast's own multigrid state"),
    # ---- Benchmark tool ------------------------------------------------------------------------
    "BENCHMARK.NUM_EPOCHS": _g(5, "epochs of PySlowFast's loader benchmark", "tools/benchmark.py"),
    "BENCHMARK.LOG_PERIOD": _g(100, "log period of that benchmark", "tools/benchmark.py"),
    "BENCHMARK.SHUFFLE": _g(True, "shuffles the loader in that benchmark", "tools/benchmark.py"),
    # ---- TensorBoard visualisation -------------------------------------------------------------
    "TENSORBOARD.PREDICTIONS_PATH": _g(
        "", "predictions pickle plotted by tools/visualization.py", "tools/visualization.py"
    ),
    "TENSORBOARD.CATEGORIES_PATH": _f("", "parent categories of those plots"),
    "TENSORBOARD.CONFUSION_MATRIX.ENABLE": _f(False, "plots confusion matrices while training"),
    "TENSORBOARD.CONFUSION_MATRIX.FIGSIZE": _g(
        [8, 8], "their figure size", "TENSORBOARD.CONFUSION_MATRIX.ENABLE"
    ),
    "TENSORBOARD.CONFUSION_MATRIX.SUBSET_PATH": _g(
        "", "classes they show", "TENSORBOARD.CONFUSION_MATRIX.ENABLE"
    ),
    "TENSORBOARD.HISTOGRAM.ENABLE": _f(False, "plots per-class prediction histograms"),
    "TENSORBOARD.HISTOGRAM.SUBSET_PATH": _g("", "classes plotted", "TENSORBOARD.HISTOGRAM.ENABLE"),
    "TENSORBOARD.HISTOGRAM.TOPK": _g(10, "top-k classes plotted", "TENSORBOARD.HISTOGRAM.ENABLE"),
    "TENSORBOARD.HISTOGRAM.FIGSIZE": _g([8, 8], "figure size", "TENSORBOARD.HISTOGRAM.ENABLE"),
    "TENSORBOARD.MODEL_VIS.MODEL_WEIGHTS": _g(False, "plots the weights", _VIS),
    "TENSORBOARD.MODEL_VIS.ACTIVATIONS": _g(False, "plots the activations", _VIS),
    "TENSORBOARD.MODEL_VIS.LAYER_LIST": _g([], "layers visualised", _VIS),
    "TENSORBOARD.MODEL_VIS.TOPK_PREDS": _g(1, "predictions drawn on the clips", _VIS),
    "TENSORBOARD.MODEL_VIS.COLORMAP": _g("Pastel2", "colours of the drawn boxes", _VIS),
    "TENSORBOARD.WRONG_PRED_VIS.SUBSET_PATH": _g(
        "", "labels they are drawn from", "TENSORBOARD.WRONG_PRED_VIS.ENABLE"
    ),
    # ---- run_net's demo mode (slowvid's demo is tools/demo_net.py) -------------------------
    "DEMO.ENABLE": _f(False, "runs the webcam / video demo from run_net"),
    "DEMO.LABEL_FILE_PATH": _g("", "class-name json of the demo", _DEMO),
    "DEMO.WEBCAM": _g(-1, "camera read by the demo", _DEMO),
    "DEMO.INPUT_VIDEO": _g("", "video read by the demo", _DEMO),
    "DEMO.DISPLAY_WIDTH": _g(0, "width the demo reads frames at", _DEMO),
    "DEMO.DISPLAY_HEIGHT": _g(0, "height the demo reads frames at", _DEMO),
    "DEMO.DETECTRON2_CFG": _g(
        "COCO-Detection/faster_rcnn_R_50_FPN_3x.yaml", "person detector config", _DEMO
    ),
    "DEMO.DETECTRON2_WEIGHTS": _g(
        "detectron2://COCO-Detection/faster_rcnn_R_50_FPN_3x/137849458/model_final_280758.pkl",
        "person detector weights",
        _DEMO,
    ),
    "DEMO.DETECTRON2_THRESH": _g(0.9, "person detector threshold", _DEMO),
    "DEMO.BUFFER_SIZE": _g(0, "frames shared by consecutive demo clips", _DEMO),
    "DEMO.OUTPUT_FILE": _g("", "video the demo writes", _DEMO),
    "DEMO.OUTPUT_FPS": _g(-1, "frame rate of that video", _DEMO),
    "DEMO.INPUT_FORMAT": _g("BGR", "channel order the demo reads", _DEMO),
    "DEMO.CLIP_VIS_SIZE": _g(10, "frames drawn around each keyframe", _DEMO),
    "DEMO.NUM_VIS_INSTANCES": _g(2, "drawing processes", _DEMO),
    "DEMO.PREDS_BOXES": _g("", "precomputed person boxes", _DEMO),
    "DEMO.THREAD_ENABLE": _g(False, "threaded video reading", _DEMO),
    "DEMO.NUM_CLIPS_SKIP": _g(0, "clips skipped between predictions", _DEMO),
    "DEMO.GT_BOXES": _g("", "ground-truth boxes to draw", _DEMO),
    "DEMO.STARTING_SECOND": _g(900, "second of the first frame (AVA)", _DEMO),
    "DEMO.FPS": _g(30, "frame rate of the input", _DEMO),
    "DEMO.VIS_MODE": _g("thres", "thres or top-k labels", _DEMO),
    "DEMO.COMMON_CLASS_THRES": _g(0.7, "threshold of common classes", _DEMO),
    "DEMO.UNCOMMON_CLASS_THRES": _g(0.3, "threshold of uncommon classes", _DEMO),
    "DEMO.COMMON_CLASS_NAMES": _g(
        [
            "watch (a person)",
            "talk to (e.g., self, a person, a group)",
            "listen to (a person)",
            "touch (an object)",
            "carry/hold (an object)",
            "walk",
            "sit",
            "lie/sleep",
            "bend/bow (at the waist)",
        ],
        "the common AVA classes",
        _DEMO,
    ),
    "DEMO.SLOWMO": _g(1, "slow-motion factor of the drawn video", _DEMO),
}

# Values of keys slowvid has that name a PySlowFast feature it lacks: (key, value) -> (what the
# value selects in PySlowFast, a key of the feature that lands with it). The value is refused
# while that key is still one this table adds ("" = never lands).
FOREIGN_VALUES: dict[tuple[str, str], tuple[str, str]] = {
    ("SOLVER.OPTIMIZING_METHOD", "mt_adamw"): ("the multi-tensor AdamW of old torch versions", ""),
}

# PySlowFast spellings of slowvid keys: the loader moves their values to the slowvid key.
ALIASES: dict[str, str] = {
    "DATA.ENSEMBLE_METHOD": "TEST.ENSEMBLE_METHOD",
}

# PySlowFast dataset names (its registry capitalises them) -> slowvid's dataset class. Other
# names match a registered class case-insensitively ("kinetics" -> Kinetics).
DATASET_NAMES: dict[str, str] = {
    # PySlowFast's PyTorchVideo-based readers of the same annotation layouts.
    "ptvkinetics": "Kinetics",
    "ptvcharades": "Charades",
    "ptvssv2": "SSv2",
}

# Keys both codebases have whose defaults differ: key -> (PySlowFast's default, why slowvid's
# differs). A PySlowFast yaml that leaves such a key unset runs with slowvid's default.
DEFAULTS_DIFFER: dict[str, tuple[Any, str]] = {
    "OUTPUT_DIR": (".", "slowvid writes into ./output, not the working directory"),
    "DIST_BACKEND": ("nccl", "'auto' picks nccl with GPUs and gloo on the CPU"),
    "MODEL.ARCH": (
        "slowfast",
        "'' takes MODEL_NAME's first architecture (ResNet: slow, the kernels PySlowFast's "
        "'slowfast' gives a ResNet; SlowFast: slowfast)",
    ),
    "TENSORBOARD.ENABLE": (False, "slowvid writes TensorBoard scalars unless told not to"),
    "DATA.DECODING_BACKEND": (
        "torchvision",
        "'auto' picks torchcodec (else PyAV); torchvision's video decoding is deprecated",
    ),
    "DATA.USE_OFFSET_SAMPLING": (
        False,
        "test clips span the whole video, first to last (PySlowFast's offset sampling); "
        "PySlowFast's default starts clip k of n at k/n of the free range, never at its end",
    ),
    "RESNET.ZERO_INIT_FINAL_BN": (False, "residual blocks start as identities"),
    "RESNET.TRANS_FUNC": (
        "bottleneck_transform",
        "'' builds each model's own block (X3D: x3d_transform); PySlowFast's X3D yamls set it",
    ),
    "CONTRASTIVE.TYPE": (
        "mem",
        "slowvid has no memory bank ('mem'); its contrastive yamls set the method they train",
    ),
    "AUG.MASK_RATIO": (0.0, "the share VideoMAE masks; PySlowFast's masked yamls set theirs"),
    "NONLOCAL.INSTANTIATION": ("dot_product", "the paper's embedded Gaussian (softmax)"),
    "SLOWFAST.ALPHA": (8, "the released SlowFast 8x8 / 4x16 models use 4"),
    "TRAIN.DATASET": ("kinetics", "registered class names; lower-case names are matched too"),
    "TEST.DATASET": ("kinetics", "registered class names; lower-case names are matched too"),
    "TRAIN.CHECKPOINT_EPOCH_RESET": (
        False,
        "a checkpoint given to initialise training starts at epoch 0; PySlowFast continues "
        "from the epoch (and optimizer state) stored in it",
    ),
    "AVA.FRAME_DIR": ("/mnt/fair-flash3-east/ava_trainval_frames.img/", "no cluster paths"),
    "AVA.FRAME_LIST_DIR": (
        "/mnt/vol/gfsai-flash3-east/ai-group/users/haoqifan/ava/frame_list/",
        "no cluster paths",
    ),
    "AVA.ANNOTATION_DIR": (
        "/mnt/vol/gfsai-flash3-east/ai-group/users/haoqifan/ava/frame_list/",
        "no cluster paths",
    ),
    "MODEL.HEAD_ACT": (
        "softmax",
        "'' follows the loss (sigmoid for bce / bce_logit); PySlowFast's yamls with a binary "
        "loss set sigmoid",
    ),
    "DETECTION.SPATIAL_SCALE_FACTOR": (
        16,
        "0 takes the backbone's stride (16 for the AVA recipes' dilated res5)",
    ),
    "MODEL.SINGLE_PATHWAY_ARCH": (
        ["2d", "c2d", "i3d", "slow", "x3d", "mvit", "maskmvit"],
        "slowvid's other single-pathway architectures are listed too",
    ),
    "BN.NUM_SYNC_DEVICES": (
        1,
        "0 pools sync_batchnorm over the whole machine; PySlowFast's 1 pools nothing",
    ),
}

# Keys whose defaults are written differently in the two codebases but mean the same.
DEFAULTS_SAME_MEANING: dict[str, str] = {
    "RESNET.SPATIAL_STRIDES": "[1, 2, 2, 2] is [[1], [2], [2], [2]]; both spellings are read",
    "RESNET.SPATIAL_DILATIONS": "[1, 1, 1, 1] is [[1], [1], [1], [1]]",
    "NONLOCAL.LOCATION": "[] is no non-local block anywhere",
    "NONLOCAL.POOL": "[] pools 1x2x2 everywhere, PySlowFast's default",
    "NONLOCAL.GROUP": "[] is one group everywhere",
    "SOLVER.CLIP_GRAD_VAL": "0.0 and None both leave clipping off",
    "SOLVER.CLIP_GRAD_L2NORM": "0.0 and None both leave clipping off",
    "MVIT.POOL_KVQ_KERNEL": "None and [] both take stride + 1 on the strided axes",
    "MVIT.POOL_KV_STRIDE_ADAPTIVE": "None and [] both leave adaptive key/value strides off",
}
