"""Config keys of the model families (MODEL and each family's node: RESNET, NONLOCAL, SLOWFAST,
MVIT, VIT, TIMESFORMER, DETECTION), added to the defaults.

Kept beside ``defaults.py`` so each file stays readable; :func:`add_model_keys` runs once, in
order, when the defaults are built. Names and meanings are PySlowFast's wherever it has the key.
"""

from fvcore.common.config import CfgNode

__all__ = ["add_model_keys"]


def add_model_keys(cfg: CfgNode) -> None:
    """Adds the model keys to ``cfg`` (the defaults), in place."""
    # ---------------------------------------------------------------------------- #
    # Model
    # ---------------------------------------------------------------------------- #
    cfg.MODEL = CfgNode()
    # Architecture within the family (its temporal kernels): c2d, c2d_nopool, i3d, i3d_nopool, slow
    # or 2d (ResNet), slowfast, x3d, csn, r2plus1d, mvit; "" takes the first MODEL_NAME declares
    # (ResNet: slow, the kernels PySlowFast's default 'slowfast' gives ResNet), and a given value is
    # checked against it.
    cfg.MODEL.ARCH = ""
    # Model class name in MODELS (e.g. ResNet, SlowFast).
    cfg.MODEL.MODEL_NAME = "SlowFast"
    # Number of output classes.
    cfg.MODEL.NUM_CLASSES = 400
    # Loss: "cross_entropy", "bce_logit" (multi-label), "soft_cross_entropy" (mixed targets) or
    # "multitask_cross_entropy" (sum over MODEL.TASK_NUM_CLASSES; labels (B, num_tasks)).
    cfg.MODEL.LOSS_FUNC = "cross_entropy"
    # Dropout before the final projection.
    cfg.MODEL.DROPOUT_RATE = 0.5
    # Head class name in HEADS; "" = the architecture's own (X3DHead for X3D, ROIHead for
    # detection, else ClassificationHead).
    cfg.MODEL.HEAD_NAME = ""
    # Activation turning the head's logits into scores for evaluation: "softmax", "sigmoid" or
    # "none"; "" = sigmoid with LOSS_FUNC bce / bce_logit, else softmax. LOSS_FUNC "bce" trains on
    # the sigmoid (PySlowFast's detection head applies HEAD_ACT in training too).
    cfg.MODEL.HEAD_ACT = ""
    # Standard deviation of the classifier's initial weights.
    cfg.MODEL.FC_INIT_STD = 0.01
    # Architectures fed one pathway; MODEL.ARCH must be in one of these two lists.
    cfg.MODEL.SINGLE_PATHWAY_ARCH = [
        "2d", "c2d", "c2d_nopool", "i3d", "i3d_nopool", "slow", "x3d", "mvit", "maskmvit", "vit",
        "csn", "r2plus1d",
    ]  # fmt: skip
    # Architectures fed two pathways (slow, fast).
    cfg.MODEL.MULTI_PATHWAY_ARCH = ["slowfast"]
    # Classes of each task of a multi-task head, e.g. [97, 300] (EPIC verb, noun); [] = one task.
    # When set, NUM_CLASSES becomes their sum (the width of the concatenated logits).
    cfg.MODEL.TASK_NUM_CLASSES = []
    # Channels-last-3D weights and activations: None = the model's measured choice for the device
    # (its class's channels_last_devices: SlowFast on CPU and GPU, X3D on CPU; BENCHMARKS.md);
    # True or False forces it.
    cfg.MODEL.CHANNELS_LAST = None
    # torch.compile the model for training and testing (inductor; the first steps pay the compile).
    cfg.MODEL.COMPILE = False
    # Activation checkpointing (PySlowFast's key): each block (the model's block_types) keeps only
    # its input and recomputes its activations in the backward pass; less memory, ~1/3 more compute.
    cfg.MODEL.ACT_CHECKPOINT = False

    # ---------------------------------------------------------------------------- #
    # ResNet family
    # ---------------------------------------------------------------------------- #
    cfg.RESNET = CfgNode()
    # Depth: 18, 50, 101 or 152 (bottleneck blocks throughout, as PySlowFast).
    cfg.RESNET.DEPTH = 50
    # Residual block: "bottleneck_transform" (ResNet, SlowFast), "x3d_transform" (X3D), or "" for
    # the model's own.
    cfg.RESNET.TRANS_FUNC = ""
    # In-place ReLUs (less memory, same results).
    cfg.RESNET.INPLACE_RELU = True
    # Groups of the 3x3 convolution (1 for ResNet, 32 for ResNeXt).
    cfg.RESNET.NUM_GROUPS = 1
    # Channels per group in the first stage; the bottleneck width is NUM_GROUPS * WIDTH_PER_GROUP.
    cfg.RESNET.WIDTH_PER_GROUP = 64
    # Put the spatial stride on the 1x1 convolution instead of the 3x3 (Caffe2 MSRA style).
    cfg.RESNET.STRIDE_1X1 = False
    # Start each residual branch's last BN at zero so blocks begin as identities.
    cfg.RESNET.ZERO_INIT_FINAL_BN = True
    # Spatial stride of the first block of stages 2..5.
    cfg.RESNET.SPATIAL_STRIDES = [1, 2, 2, 2]
    # Spatial dilation of stages 2..5.
    cfg.RESNET.SPATIAL_DILATIONS = [1, 1, 1, 1]
    # Per stage res2..res5 (per pathway): blocks that use the arch's temporal kernels, later ones
    # use 1; [] = all blocks. PySlowFast's default: R50's block counts (R101's res4 keeps 6 of 23).
    cfg.RESNET.NUM_BLOCK_TEMP_KERNEL = [[3], [4], [6], [3]]

    # ---------------------------------------------------------------------------- #
    # Non-local blocks (ResNet and SlowFast; "Non-local Neural Networks", arXiv:1711.07971)
    # ---------------------------------------------------------------------------- #
    cfg.NONLOCAL = CfgNode()
    # Per stage res2..res5, per pathway: indices of the blocks followed by a non-local block, e.g.
    # [[[]], [[1, 3]], [[1, 3, 5]], [[]]] (PySlowFast's I3D NLN); [] = none anywhere.
    cfg.NONLOCAL.LOCATION = []
    # Per stage, per pathway: (t, h, w) max-pool of keys and values, e.g. [[[1, 2, 2]], ...];
    # [] pools 1x2x2 everywhere.
    cfg.NONLOCAL.POOL = []
    # "softmax" (embedded Gaussian) or "dot_product".
    cfg.NONLOCAL.INSTANTIATION = "softmax"
    # Per stage, per pathway: the non-local blocks attend within this many equal chunks of time,
    # e.g. [[1], [1], [2], [1]]; [] = 1 everywhere.
    cfg.NONLOCAL.GROUP = []

    # ---------------------------------------------------------------------------- #
    # SlowFast
    # ---------------------------------------------------------------------------- #
    cfg.SLOWFAST = CfgNode()
    # Frame-rate ratio of the fast to the slow pathway (alpha).
    cfg.SLOWFAST.ALPHA = 4
    # Channel ratio of the slow to the fast pathway (1 / beta).
    cfg.SLOWFAST.BETA_INV = 8
    # Lateral connection output channels, as a multiple of the fast pathway's channels.
    cfg.SLOWFAST.FUSION_CONV_CHANNEL_RATIO = 2
    # Temporal kernel of the lateral connection.
    cfg.SLOWFAST.FUSION_KERNEL_SZ = 5

    # ---------------------------------------------------------------------------- #
    # X3D
    # ---------------------------------------------------------------------------- #
    cfg.X3D = CfgNode()
    # Width expansion gamma_w: multiplies every channel count (rounded to multiples of 8).
    cfg.X3D.WIDTH_FACTOR = 1.0
    # Depth expansion gamma_d: multiplies the block count of res2..res5 (1, 2, 5, 3), rounded up.
    cfg.X3D.DEPTH_FACTOR = 1.0
    # Bottleneck expansion gamma_b: inner width of each block as a multiple of its output width.
    cfg.X3D.BOTTLENECK_FACTOR = 1.0
    # Channels of the head's fc layer after global pooling (fc1 of X3D Table 1).
    cfg.X3D.DIM_C5 = 2048
    # Base channels of conv1 (the stem), before WIDTH_FACTOR.
    cfg.X3D.DIM_C1 = 12
    # Make res2 twice as wide as conv1 instead of equally wide.
    cfg.X3D.SCALE_RES2 = False
    # Batch norm after the head's fc layer (off in the released models).
    cfg.X3D.BN_LIN5 = False
    # Channelwise (depthwise) 3x3x3 convolutions in the blocks; False makes them dense.
    cfg.X3D.CHANNELWISE_3x3x3 = True

    # ---------------------------------------------------------------------------- #
    # MViT (Multiscale Vision Transformers), also PySlowFast's plain ViT (an empty schedule) and
    # its reversible Rev-ViT / Rev-MViT. Defaults are PySlowFast's, so its yamls build the same
    # networks; the shipped MViT yamls set the MViT-B schedule.
    # ---------------------------------------------------------------------------- #
    cfg.MVIT = CfgNode()
    # Number of transformer blocks.
    cfg.MVIT.DEPTH = 16
    # Channels of the patch embedding and of the first block.
    cfg.MVIT.EMBED_DIM = 96
    # Attention heads of the first block.
    cfg.MVIT.NUM_HEADS = 1
    # MLP hidden width as a multiple of the block width.
    cfg.MVIT.MLP_RATIO = 4.0
    # Bias on the q, k, v projections.
    cfg.MVIT.QKV_BIAS = True
    # Stochastic-depth rate of the last block (rising linearly from 0 at the first).
    cfg.MVIT.DROPPATH_RATE = 0.1
    # Normalisation of the blocks; only "layernorm" (eps 1e-6), as in PySlowFast.
    cfg.MVIT.NORM = "layernorm"
    # Kernel (t, h, w) of the cube patch-embedding convolution ((h, w) with PATCH_2D).
    cfg.MVIT.PATCH_KERNEL = [3, 7, 7]
    # Stride (t, h, w) of the patch embedding; the token grid is the clip size divided by it.
    cfg.MVIT.PATCH_STRIDE = [2, 4, 4]
    # Padding (t, h, w) of the patch embedding.
    cfg.MVIT.PATCH_PADDING = [2, 4, 4]
    # Image model: PATCH_KERNEL / STRIDE / PADDING give (h, w), inputs may be (B, C, H, W) images.
    cfg.MVIT.PATCH_2D = False
    # [[block, factor], ...]: the channel width is multiplied by factor from that block on.
    cfg.MVIT.DIM_MUL = []
    # [[block, factor], ...]: the head count is multiplied by factor from that block on.
    cfg.MVIT.HEAD_MUL = []
    # Pooling kernel (t, h, w) of queries, keys and values; [] uses stride + 1 on strided axes.
    cfg.MVIT.POOL_KVQ_KERNEL = []
    # Key/value stride (t, h, w) of block 0, divided by each query stride after it; [] = off.
    cfg.MVIT.POOL_KV_STRIDE_ADAPTIVE = []
    # [[block, s_t, s_h, s_w], ...]: key/value strides of the listed blocks (unused when
    # POOL_KV_STRIDE_ADAPTIVE is set, which replaces it).
    cfg.MVIT.POOL_KV_STRIDE = []
    # [[block, s_t, s_h, s_w], ...]: query pooling strides, which shrink the token grid.
    cfg.MVIT.POOL_Q_STRIDE = []
    # Pooling operator of attention: "conv" (depthwise conv + LayerNorm), "avg" or "max".
    cfg.MVIT.MODE = "conv"
    # One linear layer per q, k and v (PyTorchVideo's layout) instead of one fused qkv layer
    # (faster); checkpoints of either layout load into either.
    cfg.MVIT.SEPARATE_QKV = False
    # Separate spatial and temporal positional embeddings (summed) instead of one per token.
    cfg.MVIT.SEP_POS_EMBED = False
    # Prepend a class token and classify from it; False averages the output tokens.
    cfg.MVIT.CLS_EMBED_ON = True
    # Classify from the mean of the patch tokens, normalised after pooling (MAE-ST fine-tuning).
    cfg.MVIT.USE_MEAN_POOLING = False
    # The classifier's initial weights are multiplied by this.
    cfg.MVIT.HEAD_INIT_SCALE = 1.0
    # Initial value of per-channel scales on each block's two residual branches; 0.0 disables them.
    cfg.MVIT.LAYER_SCALE_INIT_VALUE = 0.0
    # No weight decay on positional embeddings (absolute and relative) and the class token.
    cfg.MVIT.ZERO_DECAY_POS_CLS = True
    # Add an absolute positional embedding to the tokens (MViT v1); MViTv2 turns it off.
    cfg.MVIT.USE_ABS_POS = True
    # MViTv2: decomposed relative-position bias over height and width in every attention.
    cfg.MVIT.REL_POS_SPATIAL = False
    # MViTv2: decomposed relative-position bias over time.
    cfg.MVIT.REL_POS_TEMPORAL = False
    # MViTv2: add the pooled queries to the attention output (residual pooling connection).
    cfg.MVIT.RESIDUAL_POOLING = False
    # MViTv2: widen in the attention of the block at a DIM_MUL index, not in the MLP before it.
    cfg.MVIT.DIM_MUL_IN_ATT = False
    # Reversible MViT / ViT (arXiv "Reversible Vision Transformers", CVPR 2022).
    cfg.MVIT.REV = CfgNode()
    # Build the reversible form: activations are recomputed in the backward pass, not stored.
    cfg.MVIT.REV.ENABLE = False
    # Fusion of the two streams before the head: "concat", "add", "max", "min", "avg",
    # "concat_linear[_mult[_drop]]" or "ln+concat_linear..." (PySlowFast's TwoStreamFusion).
    cfg.MVIT.REV.RESPATH_FUSE = "concat"
    # Non-reversible stage-transition layers; every layer that pools queries or widens is one.
    cfg.MVIT.REV.BUFFER_LAYERS = []
    # Skip path of a transition layer: "conv" (pooled with the queries' conv) or "max".
    cfg.MVIT.REV.RES_PATH = "conv"
    # Fusion of the two streams entering a transition layer (modes as RESPATH_FUSE).
    cfg.MVIT.REV.PRE_Q_FUSION = "avg"

    # ---------------------------------------------------------------------------- #
    # Video ViT (VideoMAE / MAE-ST backbones; defaults are VideoMAE ViT-B) and TimeSformer, which
    # takes its widths from here too. Names follow PySlowFast's MVIT keys where the concept is one.
    # ---------------------------------------------------------------------------- #
    cfg.VIT = CfgNode()
    # Transformer blocks.
    cfg.VIT.DEPTH = 12
    # Token channels.
    cfg.VIT.EMBED_DIM = 768
    # Attention heads.
    cfg.VIT.NUM_HEADS = 12
    # MLP hidden width as a multiple of EMBED_DIM.
    cfg.VIT.MLP_RATIO = 4.0
    # (t, h, w) tubelet size, the kernel and stride of the patch embedding; TimeSformer needs t = 1.
    cfg.VIT.PATCH_SIZE = [2, 16, 16]
    # Bias on the q, k, v projections.
    cfg.VIT.QKV_BIAS = True
    # With QKV_BIAS, a bias on the keys too; VideoMAE has none (softmax ignores it).
    cfg.VIT.K_BIAS = False
    # Position embedding: "sincos" (VideoMAE's fixed 1-D table), "learned" (one vector per token) or
    # "separate" (learned space + time (+ class) vectors summed; MAE-ST, TimeSformer).
    cfg.VIT.POS_EMBED = "sincos"
    # Prepend a class token.
    cfg.VIT.CLS_EMBED_ON = False
    # Classify from the mean patch token, normalised after pooling; False reads the class token.
    cfg.VIT.USE_MEAN_POOLING = True
    # Stochastic-depth rate of the last block (rising linearly from 0 at the first).
    cfg.VIT.DROPPATH_RATE = 0.1
    # Initial value of the per-channel layer scales of each block; 0.0 disables layer scale.
    cfg.VIT.LAYER_SCALE_INIT_VALUE = 0.0
    # The classifier's initial weights are multiplied by this (VideoMAE fine-tuning: 0.001).
    cfg.VIT.HEAD_INIT_SCALE = 1.0
    # No weight decay on position embeddings and the class token (as MVIT.ZERO_DECAY_POS_CLS).
    cfg.VIT.ZERO_DECAY_POS_CLS = True

    # ---------------------------------------------------------------------------- #
    # TimeSformer (arXiv:2102.05095); widths, depth and patch come from VIT
    # ---------------------------------------------------------------------------- #
    cfg.TIMESFORMER = CfgNode()
    # "divided_space_time" (temporal then spatial attention in each block), "joint_space_time" or
    # "space_only" (frames attend separately; the class tokens are averaged), as TimeSformer's repo.
    cfg.TIMESFORMER.ATTENTION_TYPE = "divided_space_time"

    # ---------------------------------------------------------------------------- #
    # Action detection (a backbone + an ROI head over person boxes, e.g. AVA)
    # ---------------------------------------------------------------------------- #
    cfg.DETECTION = CfgNode()
    # Backbone class name in MODELS that ActionDetector wraps (ResNet or SlowFast).
    cfg.DETECTION.BACKBONE = "SlowFast"
    # Detect: MODEL.MODEL_NAME becomes the backbone of an ActionDetector (boxes + ROIHead), as
    # PySlowFast's AVA yamls ask; with MODEL_NAME ActionDetector, DETECTION.BACKBONE names it.
    cfg.DETECTION.ENABLE = False
    # The ROIAlign scale is 1 / this (input pixels per feature pixel); 0: the backbone's stride.
    cfg.DETECTION.SPATIAL_SCALE_FACTOR = 0
    # Output side (pixels of the feature map) of the ROIAlign per box.
    cfg.DETECTION.ROI_XFORM_RESOLUTION = 7
    # ROIAlign samples per bin side; 0 = adaptive, ceil(box side / resolution), as detectron2.
    cfg.DETECTION.ROI_SAMPLING_RATIO = 0
    # ROIAlign with the half-pixel offset (Detectron2 / torchvision aligned=True).
    cfg.DETECTION.ALIGNED = True
