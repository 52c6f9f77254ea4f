"""Every config key the core uses, each with a one-line meaning.

Keys follow PySlowFast where the concept is the same, so a PySlowFast yaml reads the same here.
PySlowFast's keys that slowvid has no feature behind are added at the end from the table in
``pyslowfast_keys.py`` (a value that switches such a feature on is refused), and defaults that
differ from PySlowFast's are listed there too. Research projects add their own nodes through
``add_config(cfg)`` (see ``projects/``); they never add keys to this file.
"""

from fvcore.common.config import CfgNode

from .model_keys import add_model_keys
from .pyslowfast import IN_TREE, add_foreign_keys
from .ssl_keys import add_ssl_keys

_C = CfgNode()

# ---------------------------------------------------------------------------- #
# Run
# ---------------------------------------------------------------------------- #
# Number of GPUs per machine (shard); 0 runs on the CPU.
_C.NUM_GPUS = 1
# With NUM_GPUS 0: number of CPU processes on this machine, joined by a gloo process group.
_C.NUM_CPU_PROCESSES = 1
# Number of machines (shards) taking part in the run.
_C.NUM_SHARDS = 1
# Index of this machine among NUM_SHARDS.
_C.SHARD_ID = 0
# Distributed backend: "auto" picks nccl with GPUs and gloo on the CPU.
_C.DIST_BACKEND = "auto"
# Minutes (fractions allowed, e.g. 0.5) a collective or the rendezvous may wait before failing.
_C.DIST_TIMEOUT_MINUTES = 30.0
# Directory for checkpoints, logs, the merged config and TensorBoard events.
_C.OUTPUT_DIR = "./output"
# Seed for python, numpy and torch; each rank and data worker derives its own from it.
_C.RNG_SEED = 1
# Iterations between two console/json log lines.
_C.LOG_PERIOD = 10
# Log the model's modules, parameter count and GFLOPs of one training view before each job.
_C.LOG_MODEL_INFO = True
# Folder under projects/ whose package every process of the run imports (registering its parts)
# before building anything; "" for none. Set by --project, by this key in a yaml, or by the
# yaml's own place under projects/<name>/.
_C.PROJECT = ""

# ---------------------------------------------------------------------------- #
# One run per OUTPUT_DIR (a lease file the run renews; see slowvid/distributed/lease.py)
# ---------------------------------------------------------------------------- #
_C.LEASE = CfgNode()
# Hold OUTPUT_DIR while running, so a second launch into it is refused.
_C.LEASE.ENABLE = True
# Seconds without a heartbeat after which a holder counts as dead and its lease is taken over.
_C.LEASE.TTL_SECONDS = 120.0
# Seconds between two heartbeats of the holder; at most half of TTL_SECONDS.
_C.LEASE.RENEW_SECONDS = 15.0

# ---------------------------------------------------------------------------- #
# Training
# ---------------------------------------------------------------------------- #
_C.TRAIN = CfgNode()
# Run the training loop.
_C.TRAIN.ENABLE = True
# Dataset class name in DATASETS (e.g. Kinetics).
_C.TRAIN.DATASET = "Kinetics"
# Total mini-batch size over all processes.
_C.TRAIN.BATCH_SIZE = 64
# Evaluate on the validation split every this many epochs (0 disables).
_C.TRAIN.EVAL_PERIOD = 10
# Save a checkpoint every this many epochs (the last epoch is always saved).
_C.TRAIN.CHECKPOINT_PERIOD = 10
# Resume from the newest complete checkpoint in OUTPUT_DIR/checkpoints if there is one.
_C.TRAIN.AUTO_RESUME = True
# Checkpoint to initialise the model from when there is nothing to resume ("" for none).
_C.TRAIN.CHECKPOINT_FILE_PATH = ""
# Format of TRAIN.CHECKPOINT_FILE_PATH, as in PySlowFast: "pytorch" (a torch file: slowvid,
# PySlowFast .pyth, PyTorchVideo, MMAction2, torchvision; the layout is detected from its keys)
# or "caffe2" (a Caffe2 blob pickle, PySlowFast's .pkl model zoo, whatever the file's name).
_C.TRAIN.CHECKPOINT_TYPE = "pytorch"
# Start from epoch 0 with a fresh optimizer when initialising from CHECKPOINT_FILE_PATH; False
# continues from the epoch (and optimizer state) stored in it, as PySlowFast's default does.
_C.TRAIN.CHECKPOINT_EPOCH_RESET = True
# Inflate 2-D (4-D tensor) convolutions of CHECKPOINT_FILE_PATH to the model's 3-D kernels:
# repeated over time and divided by its length (I3D's inflation).
_C.TRAIN.CHECKPOINT_INFLATE = False
# Substrings removed (first occurrence) from every name of CHECKPOINT_FILE_PATH, and of resumed
# checkpoints, before loading, e.g. ["backbone."].
_C.TRAIN.CHECKPOINT_CLEAR_NAME_PATTERN = []
# Extra training hooks by class name in HOOKS (projects add theirs this way).
_C.TRAIN.HOOKS = []
# Autocast the forward pass: bf16 on the CPU, fp16 with a gradient scaler on CUDA.
_C.TRAIN.MIXED_PRECISION = False
# Mini-batches whose gradients are summed before each optimizer step.
_C.TRAIN.GRAD_ACCUM_STEPS = 1
# Stop training when a step's loss exceeds this multiple of the mean of the 5 before it
# (checked once the last LOG_PERIOD steps of the epoch hold 7 losses, as PySlowFast); 0: never.
_C.TRAIN.KILL_LOSS_EXPLOSION_FACTOR = 0.0
# Data parallelism over several processes: "ddp" (a full model copy per process) or "fsdp"
# (FSDP2: parameters, gradients and optimizer state sharded per block; sharded checkpoints).
_C.TRAIN.DISTRIBUTED = "ddp"

# ---------------------------------------------------------------------------- #
# FSDP (TRAIN.DISTRIBUTED fsdp)
# ---------------------------------------------------------------------------- #
_C.FSDP = CfgNode()
# Dtype the gathered parameters compute in: "" (their own, float32), "bfloat16" or "float16".
_C.FSDP.PARAM_DTYPE = ""
# Dtype gradients are reduce-scattered in: "" (PARAM_DTYPE), "float32", "bfloat16", "float16".
_C.FSDP.REDUCE_DTYPE = ""
# Free each block's gathered parameters after its forward pass (less memory, one more gather).
_C.FSDP.RESHARD_AFTER_FORWARD = True

# ---------------------------------------------------------------------------- #
# Testing
# ---------------------------------------------------------------------------- #
_C.TEST = CfgNode()
# Run multi-view testing after training (or alone when TRAIN.ENABLE is False).
_C.TEST.ENABLE = True
# Dataset class name in DATASETS.
_C.TEST.DATASET = "Kinetics"
# Total mini-batch size over all processes.
_C.TEST.BATCH_SIZE = 8
# Checkpoint to test; "" uses the newest one in OUTPUT_DIR, else the model as trained.
_C.TEST.CHECKPOINT_FILE_PATH = ""
# Format of TEST.CHECKPOINT_FILE_PATH: "pytorch" or "caffe2" (as TRAIN.CHECKPOINT_TYPE).
_C.TEST.CHECKPOINT_TYPE = "pytorch"
# Temporal clips per video, uniformly spaced.
_C.TEST.NUM_ENSEMBLE_VIEWS = 10
# Test once per listed number of temporal clips (each replaces NUM_ENSEMBLE_VIEWS); [] = once.
_C.TEST.NUM_TEMPORAL_CLIPS = []
# Spatial crops per clip (1: centre; 3: left/top, centre, right/bottom).
_C.TEST.NUM_SPATIAL_CROPS = 3
# How view predictions are combined into a video prediction: "sum" or "max".
_C.TEST.ENSEMBLE_METHOD = "sum"
# File (relative to OUTPUT_DIR) to save per-video predictions and labels to ("" to skip); with
# several TEST.NUM_TEMPORAL_CLIPS, one file each, "_<n>clips" added before the extension.
_C.TEST.SAVE_RESULTS_PATH = ""

# ---------------------------------------------------------------------------- #
# Data
# ---------------------------------------------------------------------------- #
_C.DATA = CfgNode()
# Directory holding the split files (train.csv, val.csv, test.csv); for VideoShards the shard
# indexes ({split}.json), as a path or a URL (s3://, https://, ...).
_C.DATA.PATH_TO_DATA_DIR = ""
# Prefix joined to every video path read from the split files.
_C.DATA.PATH_PREFIX = ""
# Separator between path and label in the split files.
_C.DATA.PATH_LABEL_SEPARATOR = " "
# Official train/test split (1, 2 or 3) read by UCF101 and HMDB51.
_C.DATA.SPLIT = 1
# VideoFolder without split files: share of each class's videos held out for val and test.
_C.DATA.VAL_FRACTION = 0.2
# Frames per clip fed to the network (the fast pathway for SlowFast).
_C.DATA.NUM_FRAMES = 8
# Temporal stride between sampled frames, counted at TARGET_FPS.
_C.DATA.SAMPLING_RATE = 8
# Frame rate the clip is sampled at; videos at other rates are resampled in time.
_C.DATA.TARGET_FPS = 30
# Test clip k of n starts at k * floor(free / (n - 1)) frames (the centre for n = 1), so the
# clips reach both ends of the video; False starts it at free * k / n (never at the end).
_C.DATA.USE_OFFSET_SAMPLING = True
# Range of the random shorter-side size in training, [min, max] pixels.
_C.DATA.TRAIN_JITTER_SCALES = [256, 320]
# Draw that size as 1 / uniform(1 / max, 1 / min) (more small scales) instead of uniformly.
_C.DATA.INV_UNIFORM_SAMPLE = False
# Side of the square random crop in training.
_C.DATA.TRAIN_CROP_SIZE = 224
# Side of the square crops in testing; the shorter side is resized to it first.
_C.DATA.TEST_CROP_SIZE = 256
# Per-channel mean (RGB, on [0, 1] pixels) subtracted before the network.
_C.DATA.MEAN = [0.45, 0.45, 0.45]
# Per-channel standard deviation (RGB, on [0, 1] pixels).
_C.DATA.STD = [0.225, 0.225, 0.225]
# Loader workers send uint8 clips, which the engine normalises on the model's device: a quarter
# of the bytes between processes and to the GPU, and no float work in the workers. Pipelines
# with float steps (AUG.*, relative jitter, mixup) send normalised float clips regardless.
_C.DATA.NORMALIZE_ON_DEVICE = True
# Input channels of each pathway; must list as many pathways as MODEL_NAME takes (SlowFast 2,
# the others 1), which the data side reads from the model.
_C.DATA.INPUT_CHANNEL_NUM = [3, 3]
# Feed the network BGR: the channels of the normalised clip are reversed (Caffe2 models).
_C.DATA.REVERSE_INPUT_CHANNEL = False
# Several labels per video: evaluation scores views with MODEL.HEAD_ACT and reports mAP.
_C.DATA.MULTI_LABEL = False
# ImageNet evaluation: the shorter side is resized to TEST_CROP_SIZE / IN_VAL_CROP_RATIO first.
_C.DATA.IN_VAL_CROP_RATIO = 0.875
# ImageNet: a folder of {split}.json lists ({"im_path", "class"}) read instead of the folders.
_C.DATA.PATH_TO_PRELOAD_IMDB = ""
# Eigenvalues of the RGB covariance for PCA lighting noise (ImageNet training without AUG).
_C.DATA.TRAIN_PCA_EIGVAL = [0.225, 0.224, 0.229]
# Its eigenvectors, one per column.
_C.DATA.TRAIN_PCA_EIGVEC = [
    [-0.5675, 0.7192, 0.4009],
    [-0.5808, -0.0045, -0.814],
    [-0.5836, -0.6948, 0.4203],
]
# Random horizontal flip in training.
_C.DATA.RANDOM_FLIP = True
# [min, max] area fraction of an inception-style random resized crop in training, e.g.
# [0.08, 1.0]; [] keeps the TRAIN_JITTER_SCALES short-side jitter.
_C.DATA.TRAIN_JITTER_SCALES_RELATIVE = []
# [min, max] width / height of that random resized crop; [] means [0.75, 1.3333].
_C.DATA.TRAIN_JITTER_ASPECT_RELATIVE = []
# Video decoder: "auto" ($SLOWVID_DECODING_BACKEND if set, else torchcodec when it loads, else
# PyAV), "torchcodec", "pyav", or "torchcodec_cuda" (clip datasets: NVDEC on the GPU with the
# transforms batched there; falls back to CPU decoding with one message); PySlowFast's
# "torchvision" (deprecated there) decodes with torchcodec, with one warning.
_C.DATA.DECODING_BACKEND = "auto"
# Fraction of videos in an epoch that may fail to decode before the run stops.
_C.DATA.MAX_FAILED_FRACTION = 0.1
# Tries to draw a decodable replacement for a failed training video.
_C.DATA.NUM_RETRIES = 10
# "video": each video is a file decoded by DECODING_BACKEND; "frames": each video is a folder of
# extracted frames: the listed path with its video extension (.mp4, .avi, .webm, .mkv, ...)
# stripped (numbered by FRAME_TEMPLATE), EPIC-Kitchens' rgb_frames, or SSv2's frame lists
# (SSV2.FRAME_LISTS). AVA and Charades always read PySlowFast's frame lists.
_C.DATA.VIDEO_FORMAT = "video"
# File name of frame n (1-based) in a "frames" folder, as FRAME_TEMPLATE.format(n); frames are
# found by number, not by listing *.jpg (a gap is an error, flow_x_* files are ignored).
_C.DATA.FRAME_TEMPLATE = "img_{:05d}.jpg"
# Rate (frames per second) extracted frames were written at (frame folders, SSv2 and AVA frame
# lists); TARGET_FPS resamples from it. EPIC-Kitchens reads its rates off its annotations.
_C.DATA.FRAME_FPS = 30.0
# Samples each loader worker shuffles among when streaming tar shards in training
# (TRAIN.DATASET VideoShards); 1 reads them in shard order.
_C.DATA.SHARD_SHUFFLE_BUFFER = 64

# ---------------------------------------------------------------------------- #
# Augmentation (training only; the same op, magnitude, crop and box for every frame of a clip)
# ---------------------------------------------------------------------------- #
_C.AUG = CfgNode()
# Master switch of RandAugment / AugMix / colour jitter, random erasing and NUM_SAMPLE.
_C.AUG.ENABLE = False
# Augmented copies of each decoded training clip (repeated augmentation); batches grow by it.
_C.AUG.NUM_SAMPLE = 1
# Colour jitter strength (brightness, contrast, saturation); used only when AA_TYPE is "".
_C.AUG.COLOR_JITTER = 0.4
# Policy: "rand-m{mag}-n{ops}-mstd{std}-inc{0|1}" (RandAugment), "augmix-m{severity}-w{width}
# -d{depth}-a{alpha}" (AugMix) or "" (neither).
_C.AUG.AA_TYPE = "rand-m9-mstd0.5-inc1"
# Resampling of the random resized crop and geometric ops: "bilinear", "bicubic" or "nearest".
_C.AUG.INTERPOLATION = "bicubic"
# Probability that random erasing erases a training clip (0 disables).
_C.AUG.RE_PROB = 0.25
# Fill of erased boxes: "const" (zeros), "rand" (one normal colour) or "pixel" (normal noise).
_C.AUG.RE_MODE = "pixel"
# Boxes erased per clip.
_C.AUG.RE_COUNT = 1

# ---------------------------------------------------------------------------- #
# Mixup / CutMix on training batches (targets become probabilities)
# ---------------------------------------------------------------------------- #
_C.MIXUP = CfgNode()
# Mix training batches; needs MODEL.LOSS_FUNC soft_cross_entropy (or bce_logit, multi-label).
_C.MIXUP.ENABLE = False
# Beta parameter of the mixup lambda (0 disables mixup).
_C.MIXUP.ALPHA = 0.8
# Beta parameter of the cutmix lambda (0 disables cutmix).
_C.MIXUP.CUTMIX_ALPHA = 1.0
# Probability that a batch is mixed (else only label smoothing applies).
_C.MIXUP.PROB = 1.0
# Probability of cutmix rather than mixup when both alphas are positive.
_C.MIXUP.SWITCH_PROB = 0.5
# Label smoothing: this mass is spread evenly over all classes.
_C.MIXUP.LABEL_SMOOTH_VALUE = 0.1

# ---------------------------------------------------------------------------- #
# Data loader
# ---------------------------------------------------------------------------- #
_C.DATA_LOADER = CfgNode()
# Worker processes per data loader.
_C.DATA_LOADER.NUM_WORKERS = 8
# Pin host memory for faster copies to the GPU.
_C.DATA_LOADER.PIN_MEMORY = True

# MODEL and the model families' keys (model_keys.py).
add_model_keys(_C)

# ---------------------------------------------------------------------------- #
# AVA (frames, boxes and labels laid out as PySlowFast's AVA data)
# ---------------------------------------------------------------------------- #
_C.AVA = CfgNode()
# Directory of the extracted frames; frame-list paths are relative to it.
_C.AVA.FRAME_DIR = ""
# Directory of the frame lists (original_vido_id video_idx frame_id path labels).
_C.AVA.FRAME_LIST_DIR = ""
# Directory of the box csv files, the label map and the exclusions.
_C.AVA.ANNOTATION_DIR = ""
# Frame lists (in FRAME_LIST_DIR) of the training split.
_C.AVA.TRAIN_LISTS = ["train.csv"]
# Frame lists (in FRAME_LIST_DIR) of the validation and test splits.
_C.AVA.TEST_LISTS = ["val.csv"]
# Ground-truth box files (in ANNOTATION_DIR) used in training.
_C.AVA.TRAIN_GT_BOX_LISTS = ["ava_train_v2.2.csv"]
# Detected-person box files (with a score column) also used in training.
_C.AVA.TRAIN_PREDICT_BOX_LISTS = []
# Detected-person box files whose boxes are classified in validation and testing.
_C.AVA.TEST_PREDICT_BOX_LISTS = ["ava_val_predicted_boxes.csv"]
# Detected boxes scoring below this are dropped.
_C.AVA.DETECTION_SCORE_THRESH = 0.9
# Ground truth (in ANNOTATION_DIR) the detections are evaluated against.
_C.AVA.GROUNDTRUTH_FILE = "ava_val_v2.2.csv"
# Label map (in ANNOTATION_DIR) listing the evaluated classes.
_C.AVA.LABEL_MAP_FILE = "ava_action_list_v2.2_for_activitynet_2019.pbtxt"
# Timestamps (video_id,second; in ANNOTATION_DIR) left out of evaluation ("" for none).
_C.AVA.EXCLUSION_FILE = "ava_val_excluded_timestamps_v2.2.csv"
# First and last annotated keyframe second (inclusive); AVA v2.2 annotates 902..1798.
_C.AVA.KEYFRAME_SECONDS = [902, 1798]
# Movie second of the first extracted frame (frame 1 of each frame list).
_C.AVA.FIRST_FRAME_SECOND = 900

# ---------------------------------------------------------------------------- #
# EPIC-Kitchens-55/100 (official annotation csvs; under DATA.PATH_PREFIX the videos
# {participant}/videos/{video_id}.MP4, or with DATA.VIDEO_FORMAT frames the
# {participant}/rgb_frames/{video_id}/ folders)
# ---------------------------------------------------------------------------- #
_C.EPICKITCHENS = CfgNode()
# Annotation csv (in DATA.PATH_TO_DATA_DIR) of the training split.
_C.EPICKITCHENS.TRAIN_LIST = "EPIC_100_train.csv"
# Annotation csv of the validation split.
_C.EPICKITCHENS.VAL_LIST = "EPIC_100_validation.csv"
# Annotation csv of the test split (the public test set has no labels).
_C.EPICKITCHENS.TEST_LIST = "EPIC_100_validation.csv"

# ---------------------------------------------------------------------------- #
# Something-Something V2 (json annotations in DATA.PATH_TO_DATA_DIR; videos or frames under
# DATA.PATH_PREFIX)
# ---------------------------------------------------------------------------- #
_C.SSV2 = CfgNode()
# With DATA.VIDEO_FORMAT frames: True reads PySlowFast's frame lists train.csv / val.csv (in
# DATA.PATH_TO_DATA_DIR; {id}/{id}_{:06d}.jpg at 30 fps), False the numbered {id}/ folders of
# DATA.FRAME_TEMPLATE (MMAction2's rawframes). DATA.VIDEO_FORMAT video reads {id}.webm.
_C.SSV2.FRAME_LISTS = True
# "segments": one frame from each of DATA.NUM_FRAMES equal segments of the whole video (random
# in training, middle in testing; SAMPLING_RATE unused); "clip": Kinetics-like clips.
_C.SSV2.SAMPLING = "segments"

# ---------------------------------------------------------------------------- #
# DoMSEV (PyTorchVideo's csv layout in DATA.PATH_TO_DATA_DIR; see data/datasets/domsev.py)
# ---------------------------------------------------------------------------- #
_C.DOMSEV = CfgNode()
# Label family of the segments, read from {LABEL_TYPE}_labels.csv: "environment" (5 classes),
# "activity" (13) or "attention" (3).
_C.DOMSEV.LABEL_TYPE = "activity"

# ---------------------------------------------------------------------------- #
# Batch norm
# ---------------------------------------------------------------------------- #
_C.BN = CfgNode()
# Normalization: "batchnorm", "sync_batchnorm" (statistics over processes; see below) or
# "sub_batchnorm" (statistics of NUM_SPLITS splits of each process's batch, apart).
_C.BN.NORM_TYPE = "batchnorm"
# sub_batchnorm: splits of the batch normalised apart (sample i in split i % NUM_SPLITS).
_C.BN.NUM_SPLITS = 1
# sync_batchnorm: processes of one machine whose statistics are pooled, in consecutive groups
# of this many (1 = no pooling); 0 = all of the machine's. None with GLOBAL_SYNC.
_C.BN.NUM_SYNC_DEVICES = 0
# sync_batchnorm: pool the statistics of every process on every machine (NUM_SYNC_DEVICES None).
_C.BN.GLOBAL_SYNC = False
# Epsilon of BatchNorm.
_C.BN.EPSILON = 1e-5
# Momentum of BatchNorm's running statistics.
_C.BN.MOMENTUM = 0.1
# Weight decay of BN scale/shift parameters (usually 0).
_C.BN.WEIGHT_DECAY = 0.0
# Recompute BN statistics over training batches (weights fixed) before each evaluation.
_C.BN.USE_PRECISE_STATS = False
# Training batches per process used by precise BN.
_C.BN.NUM_BATCHES_PRECISE = 200

# ---------------------------------------------------------------------------- #
# Multigrid training (arXiv:1912.00998); schedules in slowvid/engine/multigrid.py
# ---------------------------------------------------------------------------- #
_C.MULTIGRID = CfgNode()
# Long cycle: stages of smaller (frames, crop) with larger batches over the epochs; needs
# SOLVER.LR_POLICY steps_with_relative_lrs (its STEPS, LRS and MAX_EPOCH are rescaled).
_C.MULTIGRID.LONG_CYCLE = False
# Short cycle: per-iteration smaller crops with larger batches (clip datasets).
_C.MULTIGRID.SHORT_CYCLE = False
# [[frames factor, crop factor], ...] of the long-cycle shapes, smallest first, ending (1, 1).
_C.MULTIGRID.LONG_CYCLE_FACTORS = [[0.25, 0.5**0.5], [0.5, 0.5**0.5], [0.5, 1.0], [1.0, 1.0]]
# The two short-cycle crop factors, multiplying MULTIGRID.DEFAULT_S.
_C.MULTIGRID.SHORT_CYCLE_FACTORS = [0.5, 0.5**0.5]
# The multigrid run lasts SOLVER.MAX_EPOCH x EPOCH_FACTOR epochs.
_C.MULTIGRID.EPOCH_FACTOR = 1.5
# Crop the short-cycle factors multiply; 0 means DATA.TRAIN_CROP_SIZE.
_C.MULTIGRID.DEFAULT_S = 0
# Long cycle: each stage's batch norm covers about this many clips per process, by normalising
# splits of a larger batch apart or pooling processes with smaller ones.
_C.MULTIGRID.BN_BASE_SIZE = 8
# Long cycle: evaluations per stage (the last at its end), replacing TRAIN.EVAL_PERIOD.
_C.MULTIGRID.EVAL_FREQ = 3

# ---------------------------------------------------------------------------- #
# Solver
# ---------------------------------------------------------------------------- #
_C.SOLVER = CfgNode()
# Optimizer: "sgd", "adam" or "adamw".
_C.SOLVER.OPTIMIZING_METHOD = "sgd"
# Learning rate for the whole batch TRAIN.BATCH_SIZE (scaled only by BASE_LR_SCALE_NUM_SHARDS).
_C.SOLVER.BASE_LR = 0.1
# Multiply BASE_LR, WARMUP_START_LR and COSINE_END_LR by NUM_SHARDS (recipes written for one
# machine whose batch grows with the machines).
_C.SOLVER.BASE_LR_SCALE_NUM_SHARDS = False
# Schedule: "cosine", "steps_with_relative_lrs" or "constant".
_C.SOLVER.LR_POLICY = "cosine"
# Final learning rate of the cosine schedule.
_C.SOLVER.COSINE_END_LR = 0.0
# Epochs where the steps schedule changes rate (the first entry is 0).
_C.SOLVER.STEPS = []
# Multipliers of BASE_LR for each interval of STEPS (entries past len(STEPS) are not reached).
_C.SOLVER.LRS = []
# MULTIGRID.LONG_CYCLE: PySlowFast takes step i's multiplier as GAMMA ** i; LRS must agree.
_C.SOLVER.GAMMA = 0.1
# Epochs to train.
_C.SOLVER.MAX_EPOCH = 300
# SGD momentum.
_C.SOLVER.MOMENTUM = 0.9
# SGD dampening.
_C.SOLVER.DAMPENING = 0.0
# Nesterov momentum.
_C.SOLVER.NESTEROV = True
# L2 weight decay (non-BN parameters).
_C.SOLVER.WEIGHT_DECAY = 1e-4
# Epochs of linear warm-up from WARMUP_START_LR (fractions allowed).
_C.SOLVER.WARMUP_EPOCHS = 0.0
# Learning rate at the start of warm-up.
_C.SOLVER.WARMUP_START_LR = 0.01
# Adam betas (adamw only).
_C.SOLVER.BETAS = [0.9, 0.999]
# LARS: each weight's update scaled by 0.001 |w| / (|grad| + WEIGHT_DECAY |w|), norm layers and
# biases excepted (PySlowFast's contrastive recipes; slowvid/solver/lars.py).
_C.SOLVER.LARS_ON = False
# Clip each gradient element to [-v, v] before the step (0 disables).
_C.SOLVER.CLIP_GRAD_VAL = 0.0
# Rescale gradients whose global L2 norm exceeds this (0 disables).
_C.SOLVER.CLIP_GRAD_L2NORM = 0.0
# Start the cosine at its peak when warm-up ends (it then spans WARMUP_EPOCHS..MAX_EPOCH), instead
# of following the cosine over 0..MAX_EPOCH and warming up to its value at WARMUP_EPOCHS.
_C.SOLVER.COSINE_AFTER_WARMUP = False
# No weight decay on 1-D parameters (biases, norm scales, layer scales) and biases.
_C.SOLVER.ZERO_WD_1D_PARAM = False
# Layer-wise LR decay of transformers, in (0, 1]: block i of L trains at LAYER_DECAY ** (L - i)
# times the rate, the embeddings at LAYER_DECAY ** (L + 1), the head at 1; 1.0 disables it.
_C.SOLVER.LAYER_DECAY = 1.0

# ---------------------------------------------------------------------------- #
# TensorBoard
# ---------------------------------------------------------------------------- #
_C.TENSORBOARD = CfgNode()
# Write TensorBoard scalars.
_C.TENSORBOARD.ENABLE = True
# Event directory; "" means OUTPUT_DIR/tensorboard.
_C.TENSORBOARD.LOG_DIR = ""
# Class names for galleries and charts: a json list, or a json {name: index} (PySlowFast's);
# "" reads classnames.json in DATA.PATH_TO_DATA_DIR or OUTPUT_DIR, else "class 0", "class 1", ...
_C.TENSORBOARD.CLASS_NAMES_PATH = ""
# Clips written per gallery (misclassified clips, Grad-CAM maps, first training batch).
_C.TENSORBOARD.MAX_CLIPS = 8
# Looking inside the model at test time (and at the first training batch).
_C.TENSORBOARD.MODEL_VIS = CfgNode()
# Master switch of MODEL_VIS.INPUT_VIDEO and MODEL_VIS.GRAD_CAM.
_C.TENSORBOARD.MODEL_VIS.ENABLE = False
# Write the clips of the first training batch, after augmentation, as videos.
_C.TENSORBOARD.MODEL_VIS.INPUT_VIDEO = False
_C.TENSORBOARD.MODEL_VIS.GRAD_CAM = CfgNode()
# Write Grad-CAM heat maps of the first test clips as videos, one per pathway.
_C.TENSORBOARD.MODEL_VIS.GRAD_CAM.ENABLE = True
# Target layer per pathway (module names, e.g. ["slow_stages.3", "fast_stages.3"]); [] = the
# last stage of each pathway.
_C.TENSORBOARD.MODEL_VIS.GRAD_CAM.LAYER_LIST = []
# Maps of the true class instead of the top predicted one.
_C.TENSORBOARD.MODEL_VIS.GRAD_CAM.USE_TRUE_LABEL = False
# OpenCV colormap of the heat maps (viridis, jet, inferno, turbo, ...).
_C.TENSORBOARD.MODEL_VIS.GRAD_CAM.COLORMAP = "viridis"
# Misclassified test clips as videos titled with true and predicted names (single-label sets).
_C.TENSORBOARD.WRONG_PRED_VIS = CfgNode()
# Collect and write them.
_C.TENSORBOARD.WRONG_PRED_VIS.ENABLE = False
# TensorBoard folder (tag prefix) of those clips.
_C.TENSORBOARD.WRONG_PRED_VIS.TAG = "Incorrectly classified videos."


# TASK, MASK, CONTRASTIVE and the self-supervised DATA / AUG / MODEL keys (ssl_keys.py).
add_ssl_keys(_C)

# PySlowFast's keys whose features slowvid lacks (refused when switched on); after every key
# slowvid has, so that a landed feature's keys are its own.
IN_TREE.update(add_foreign_keys(_C))


def get_cfg() -> CfgNode:
    """A fresh copy of the defaults, safe to modify."""
    return _C.clone()
