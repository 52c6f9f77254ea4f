"""Config keys of self-supervised pre-training and its evaluation, added to the defaults.

Names and meanings are PySlowFast's (``TASK``, ``MASK.*``, ``CONTRASTIVE.*``, the multi-clip and
SSL colour keys of ``DATA``, the masking keys of ``AUG``), so its ``configs/masked_ssl`` and
``configs/contrastive_ssl`` read the same here; only the keys slowvid implements exist. Kept
beside ``defaults.py`` so that file stays readable; :func:`add_ssl_keys` runs once when the
defaults are built.
"""

from fvcore.common.config import CfgNode

__all__ = ["CONTRASTIVE_TYPES", "TASKS", "add_ssl_keys", "check_ssl_eval_start", "check_ssl_keys"]

# TASK values: supervised training, self-supervised pre-training, and evaluating a pre-trained
# backbone (PySlowFast also writes "ssl_eval_k400", "ssl_eval_ucf", ...: any "ssl_eval" prefix).
TASKS = ("", "ssl", "ssl_eval")
CONTRASTIVE_TYPES = ("simclr", "moco", "byol", "swav")


def add_ssl_keys(cfg: CfgNode) -> None:
    """Adds the self-supervised keys to ``cfg`` (the defaults), in place."""
    # "" trains on labels; "ssl" pre-trains without labels, the model computing its own loss
    # (MaskedAutoencoder, MaskMViT, ContrastiveModel); "ssl_eval..." fine-tunes or linear-probes a
    # backbone initialised from TRAIN.CHECKPOINT_FILE_PATH, a pre-training checkpoint.
    cfg.TASK = ""

    # Linear probe: every parameter but the head's final linear layer is frozen.
    cfg.MODEL.DETACH_FINAL_FC = False

    # Clips decoded per training video at independent random times (positives of contrastive
    # learning; repeated sampling otherwise, the batch growing by this factor).
    cfg.DATA.TRAIN_CROP_NUM_TEMPORAL = 1
    # Augmented crops taken of each of those clips.
    cfg.DATA.TRAIN_CROP_NUM_SPATIAL = 1
    # SimCLR / MoCo colour augmentation of training clips: jitter, random grayscale.
    cfg.DATA.SSL_COLOR_JITTER = False
    # Brightness, contrast and saturation strengths of that jitter (factors in [1 - s, 1 + s]).
    cfg.DATA.SSL_COLOR_BRI_CON_SAT = [0.4, 0.4, 0.4]
    # Hue strength of that jitter (shift in [-h, h] of a turn).
    cfg.DATA.SSL_COLOR_HUE = 0.1
    # Probability that an SSL-jittered clip is turned grayscale.
    cfg.DATA.COLOR_RND_GRAYSCALE = 0.0
    # MoCo v2's recipe: jitter with probability 0.8, then grayscale, then a Gaussian blur (sigma
    # in [0.1, 2.0]) with probability 0.5.
    cfg.DATA.SSL_MOCOV2_AUG = False

    # Fraction of the tokens masked in masked pre-training.
    cfg.AUG.MASK_RATIO = 0.9
    # Tube masking (VideoMAE): the same spatial positions are masked in every frame; False draws
    # positions over space and time independently (MAE-ST).
    cfg.AUG.MASK_TUBE = False
    # Loader masks only: mask whole frames of MASK_WINDOW_SIZE instead of space-time cubes.
    cfg.AUG.MASK_FRAMES = False
    # (t, h, w) grid of the masks the loader draws (MaskFeat: the token grid, 8x7x7 for 16x224
    # clips with MViT's 2x4x4 patches pooled to 2x32x32).
    cfg.AUG.MASK_WINDOW_SIZE = [8, 7, 7]
    # The loader draws MaskFeat's block-wise cube masks and passes them to the model with the
    # clip; False lets the model draw random token masks itself (MASK.MAE_RND_MASK).
    cfg.AUG.GEN_MASK_LOADER = False

    cfg.MASK = CfgNode()
    # Masked pre-training (MaskMViT); the model's input then carries a loader mask when
    # AUG.GEN_MASK_LOADER.
    cfg.MASK.ENABLE = False
    # MAE: the encoder sees only the visible tokens and a decoder reconstructs the masked ones;
    # False is MaskFeat (mask tokens replace the masked ones in the encoder).
    cfg.MASK.MAE_ON = False
    # Draw random token masks in the model (AUG.MASK_RATIO, AUG.MASK_TUBE) instead of using the
    # loader's.
    cfg.MASK.MAE_RND_MASK = False
    # Pixel targets: one frame per tubelet (every MVIT.PATCH_STRIDE[0]-th) instead of all of them.
    cfg.MASK.TIME_STRIDE_LOSS = True
    # Pixel targets are normalised by the mean and standard deviation of their patch.
    cfg.MASK.NORM_PRED_PIXEL = True
    # Channels of the MAE decoder.
    cfg.MASK.DECODER_EMBED_DIM = 512
    # The MAE decoder adds separate spatial and temporal (and class) position embeddings instead
    # of one per token.
    cfg.MASK.DECODER_SEP_POS_EMBED = False
    # Blocks whose outputs are decoded into predictions (the encoder is cut after the last).
    cfg.MASK.PRETRAIN_DEPTH = [15]
    # "separate": a norm and a linear layer per PRETRAIN_DEPTH; "separate_xformer": transformer
    # decoder blocks (MASK.DECODER_DEPTH) before them (MAE).
    cfg.MASK.HEAD_TYPE = "separate"
    # Transformer blocks of the MAE decoder.
    cfg.MASK.DECODER_DEPTH = 0
    # Predict HOG features of the masked regions (MaskFeat) instead of pixels.
    cfg.MASK.PRED_HOG = False

    cfg.CONTRASTIVE = CfgNode()
    # Method: "simclr", "moco", "byol" or "swav".
    cfg.CONTRASTIVE.TYPE = "simclr"
    # Softmax temperature of the similarities.
    cfg.CONTRASTIVE.T = 0.07
    # Width of the embeddings compared (= MODEL.NUM_CLASSES, the projection's output).
    cfg.CONTRASTIVE.DIM = 128
    # Negative keys kept in MoCo's queue.
    cfg.CONTRASTIVE.QUEUE_LEN = 65536
    # Momentum of the target (key) encoder of MoCo and BYOL.
    cfg.CONTRASTIVE.MOMENTUM = 0.5
    # Raise that momentum to 1 along a cosine over SOLVER.MAX_EPOCH.
    cfg.CONTRASTIVE.MOMENTUM_ANNEALING = False
    # Layers of the projection MLP replacing the backbone's classifier (1: a linear layer).
    cfg.CONTRASTIVE.NUM_MLP_LAYERS = 1
    # Hidden width of the projection and prediction MLPs.
    cfg.CONTRASTIVE.MLP_DIM = 2048
    # Batch norm between the layers of those MLPs (their inner linear layers then lose bias).
    cfg.CONTRASTIVE.BN_MLP = False
    # MoCo: every key clip of the batch enters the queue, not only the first one's.
    cfg.CONTRASTIVE.MOCO_MULTI_VIEW_QUEUE = False
    # Layers of each BYOL prediction MLP after the projection ([] none; BYOL: [2]).
    cfg.CONTRASTIVE.PREDICTOR_DEPTHS = []
    # Every clip serves as the query in turn against the others (PySlowFast's sequential loss;
    # one backward here, the same gradients); False: the first clip(s) against the rest.
    cfg.CONTRASTIVE.SEQUENTIAL = False
    # SimCLR: negatives are gathered from every process, not only this one's batch.
    cfg.CONTRASTIVE.SIMCLR_DIST_ON = True
    # ContrastiveModel's test (TEST.ENABLE) and its evaluation every TRAIN.EVAL_PERIOD classify
    # clips by weighted kNN votes of the training videos' embeddings and labels (PySlowFast's
    # kNN evaluation); False: no test, and the evaluation reports the pretext loss.
    cfg.CONTRASTIVE.KNN_ON = True
    # Classes of the labels those kNN votes go to (e.g. 400 for Kinetics-400).
    cfg.CONTRASTIVE.NUM_CLASSES_DOWNSTREAM = 400


def check_ssl_keys(cfg: CfgNode) -> None:
    """Consistency of the self-supervised keys; raises ValueError naming the key to change.

    PySlowFast pre-trains a masked model whenever MASK.ENABLE is on, whatever TASK says (one of
    its MaskFeat yamls leaves TASK empty): TASK '' with MASK.ENABLE becomes TASK ssl here."""
    if cfg.TASK == "" and cfg.MASK.ENABLE:
        cfg.TASK = "ssl"
    task = cfg.TASK
    if task not in TASKS and not task.startswith("ssl_eval"):
        raise ValueError(f"config TASK: {task!r} is not '', 'ssl' or 'ssl_eval[...]'")
    own_loss = ("multi_mse", "contrastive_loss")
    if task == "ssl":
        if cfg.TEST.ENABLE and cfg.MODEL.MODEL_NAME != "ContrastiveModel":
            raise ValueError(
                "config TEST.ENABLE: TASK ssl pre-trains without labels and has no test (only "
                "ContrastiveModel's kNN test, CONTRASTIVE.KNN_ON); set it False and evaluate the "
                "backbone with TASK ssl_eval"
            )
        if cfg.MIXUP.ENABLE:
            raise ValueError("config MIXUP.ENABLE: mixup blends labels; TASK ssl has none")
        if cfg.MODEL.LOSS_FUNC not in own_loss:
            raise ValueError(
                f"config MODEL.LOSS_FUNC: {cfg.MODEL.LOSS_FUNC!r}; TASK ssl trains with the "
                f"model's own loss, one of {own_loss}"
            )
    elif cfg.MODEL.LOSS_FUNC in own_loss:
        raise ValueError(
            f"config TASK: MODEL.LOSS_FUNC {cfg.MODEL.LOSS_FUNC!r} is a pre-training loss; set "
            "TASK ssl"
        )
    a = cfg.AUG
    if not 0.0 <= a.MASK_RATIO < 1.0:
        raise ValueError(f"config AUG.MASK_RATIO: {a.MASK_RATIO} must lie in [0, 1)")
    if a.MASK_TUBE and a.MASK_FRAMES:
        raise ValueError("config AUG.MASK_FRAMES: masks are tubes or frames, not both")
    if cfg.CONTRASTIVE.TYPE not in CONTRASTIVE_TYPES:
        raise ValueError(
            f"config CONTRASTIVE.TYPE: {cfg.CONTRASTIVE.TYPE!r} is not one of {CONTRASTIVE_TYPES}"
        )
    if cfg.CONTRASTIVE.NUM_CLASSES_DOWNSTREAM < 1:
        raise ValueError(
            "config CONTRASTIVE.NUM_CLASSES_DOWNSTREAM: "
            f"{cfg.CONTRASTIVE.NUM_CLASSES_DOWNSTREAM} must be >= 1"
        )
    for key in ("TRAIN_CROP_NUM_TEMPORAL", "TRAIN_CROP_NUM_SPATIAL"):
        if cfg.DATA[key] < 1:
            raise ValueError(f"config DATA.{key}: {cfg.DATA[key]} must be >= 1")


def check_ssl_eval_start(cfg: CfgNode) -> None:
    """TASK ssl_eval starts from a pre-trained backbone: a new training run must name one.
    Checked when the run starts, not when the config loads, so that shipped configs leave the
    checkpoint to the command line."""
    if cfg.TASK.startswith("ssl_eval") and not cfg.TRAIN.CHECKPOINT_FILE_PATH:
        raise ValueError(
            "config TRAIN.CHECKPOINT_FILE_PATH: TASK ssl_eval starts from a pre-trained backbone; "
            "name the pre-training checkpoint"
        )
