"""The clip-classification dataset every video-level data set here builds on.

:class:`ClipDataset` turns a list of ``(video path, label)`` pairs into items: it decodes,
samples, transforms and packs clips into the pathways the model takes; the failure handling is
:class:`~slowvid.data.datasets.base.VideoDataset`'s. A data set (Kinetics, SSv2, UCF101, HMDB51,
Charades, EPIC-Kitchens) subclasses it to read its own annotation files into that list, and
reads the config in ``from_config``, which extends :meth:`ClipDataset.from_config`. Three hooks
change how a clip is read without copying the rest:

- :meth:`ClipDataset.video_at`: what "video" ``i`` is (frame lists instead of files, as Charades
  and SSv2 frames; a segment of a longer video, as EPIC-Kitchens);
- :meth:`ClipDataset.frame_indices`: which frames a clip takes (Charades', SSv2's sampling);
- :meth:`ClipDataset.extra_inputs`: tensors read from the same video and window that follow
  the clip pathways (projects/audiovisual's spectrogram).

Every clip dataset can also read its videos as folders of numbered frames instead of files
(DATA.VIDEO_FORMAT "frames", :class:`~slowvid.data.frames.FrameFolders`): each listed path,
its video extension stripped, names a folder, so Kinetics, UCF101 and HMDB51 read MMAction2's
rawframes with their usual split files.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Sequence
from typing import Any

import torch

from slowvid.config import head_activation
from slowvid.data.augment import (
    Mixup,
    MixupCollate,
    build_mixup,
)
from slowvid.data.collate import collate_clips
from slowvid.data.decoding import DecodeError, Video, open_video, resolve_backend
from slowvid.data.device_decoding import (
    EncodedClip,
    EncodedVideo,
    draw_geometry,
    resolve_device_decoding,
)
from slowvid.data.frames import FrameFolders
from slowvid.data.sampling import ClipSpec, random_clip_indices, uniform_clip_indices
from slowvid.data.transforms import (
    ClipTransform,
    scale_frames,
    spatial_args,
    split_pathways,
)
from slowvid.evaluation import (
    ClassificationEvaluator,
    Evaluator,
    MultiLabelEvaluator,
    topk_correct,
)
from slowvid.models import input_spec_of
from slowvid.models.base import InputSpec

from .base import VideoDataset
from .clip_views import ClipViews, augment_kwargs, clip_views, stack_views

__all__ = ["ClipDataset", "ClipViews"]

logger = logging.getLogger(__name__)


class ClipDataset(VideoDataset):
    """Video classification from a list of video paths and labels.

    Training yields one random clip per video. Evaluation yields
    ``num_temporal_views * num_spatial_crops`` items per video, item ``i`` being video
    ``i // views``, temporal clip ``(i % views) // num_spatial_crops`` and spatial crop
    ``i % num_spatial_crops`` (the PySlowFast order).

    A video that fails to decode is logged and listed in the item's ``"failed"`` entry (its
    path). In training it is replaced by a randomly drawn video (up to ``num_retries`` times);
    in evaluation the item comes back with ``"inputs": None`` (see :class:`VideoDataset`).
    Not registered: it is built through its subclasses.

    With ``frame_folders``, ``paths`` become the frame folders (video extensions stripped),
    so logs, ``failed`` and dataset checks name folders. A folder's frame count is found from
    its listing the first time the video is read and cached (per loader worker): a folder
    changed during a run is not listed again. Subclasses that read their own frame layout or
    need the files themselves set ``frame_folders_supported`` False.

    Args:
        paths: one video file per video (or its frame folder).
        labels: the label of each video: a class index, or a tensor (multi-hot, per task).
        training: random clips (True) or evenly spaced views (False).
        clip: frames per clip, stride and target frame rate.
        transform: spatial pipeline (its ``training`` must match ``training``).
        input_spec: what the model takes: the clip is split into its pathways
            (``frame_strides``), and the extra pathways must be those this class's
            :meth:`extra_inputs` gives; None is one pathway of RGB clips.
        num_temporal_views: evenly spaced clips per video when evaluating.
        num_spatial_crops: 1 (centre) or 3 (left/top, centre, right/bottom) when evaluating.
        num_retries: replacement videos tried after a failure in training.
        decoding_backend: "auto", "pyav" or "torchcodec".
        frame_folders: read each video from the frame folder its path names instead of
            decoding the file (None: decode the files); from DATA.VIDEO_FORMAT "frames",
            DATA.FRAME_TEMPLATE and DATA.FRAME_FPS.
        offset_sampling: where evaluation clips start (DATA.USE_OFFSET_SAMPLING, see
            :func:`~slowvid.data.sampling.clip_start`).
        views: clips and crops per training item, and loader masks; with more than one clip
            or crop an item's pathways are ``(N, C, T, H, W)``, clip-major (clip ``i``'s crops
            first), and the collate function makes them rows ``i * N ... i * N + N - 1``.
        mixup: mixes training batches (MIXUP.*) in :attr:`collate_fn`; None leaves them.
        num_classes: classes of the labels, for evaluation (MODEL.NUM_CLASSES).
        ensemble_method: "sum" or "max" pooling of a video's view scores in evaluation.
        view_scores: "softmax", "sigmoid" or "none" (the logits themselves): the scores
            pooled in evaluation (MODEL.HEAD_ACT, ``slowvid.config.head_activation``).
        multi_label: multi-hot labels, scored by mAP in evaluation (DATA.MULTI_LABEL).
        decode_on_device: items carry the file's bytes, frame indices and crop geometry
            (:class:`~slowvid.data.device_decoding.EncodedClip`) and the consumer decodes and
            transforms them on its device (DATA.DECODING_BACKEND torchcodec_cuda); needs
            video files, a pipeline without float steps, and torchcodec.

    Raises:
        ValueError: inconsistent arguments, ``frame_folders`` given to a subclass whose
            ``frame_folders_supported`` is False, or a model whose extra inputs this dataset
            does not give.
    """

    frame_folders_supported = True
    supports_crop_override = True
    # Evaluation items hold every view of a video, decoded once (views_per_item); False where
    # views are read one by one (extra inputs per view, segments sampled their own way).
    stacks_views = True

    def __init__(
        self,
        *,
        paths: Sequence[str],
        labels: Sequence[Any],
        training: bool,
        clip: ClipSpec,
        transform: ClipTransform,
        input_spec: InputSpec | None = None,
        num_temporal_views: int = 1,
        num_spatial_crops: int = 1,
        num_retries: int = 10,
        decoding_backend: str = "auto",
        frame_folders: FrameFolders | None = None,
        offset_sampling: bool = True,
        views: ClipViews = ClipViews(),
        mixup: Mixup | None = None,
        num_classes: int = 0,
        ensemble_method: str = "sum",
        view_scores: str = "softmax",
        multi_label: bool = False,
        decode_on_device: bool = False,
    ):
        if decode_on_device:
            reasons = []
            if frame_folders is not None:
                reasons.append("it reads frame folders (DATA.VIDEO_FORMAT frames)")
            if type(self).video_at is not ClipDataset.video_at:
                reasons.append(f"{type(self).__name__} opens its videos its own way")
            if transform.has_float_steps:
                reasons.append("its transform has float steps (augmentations, random erasing)")
            if transform.reverse_channels:
                reasons.append("DATA.REVERSE_INPUT_CHANNEL reverses channels, which it does not")
            if views.num_clips * views.num_crops > 1 or views.masks is not None:
                reasons.append(
                    "its items hold several clips or crops, or loader masks "
                    "(DATA.TRAIN_CROP_NUM_TEMPORAL / _SPATIAL, AUG.GEN_MASK_LOADER)"
                )
            if reasons:
                raise ValueError("cannot decode on the device: " + "; ".join(reasons))
        if frame_folders is not None and not self.frame_folders_supported:
            raise ValueError(
                f"{type(self).__name__} cannot read frame folders (DATA.VIDEO_FORMAT 'frames'); "
                "it reads its own frame layout or needs the video files"
            )
        if transform.training != training:
            raise ValueError(f"transform.training={transform.training} but training={training}")
        if num_spatial_crops not in (1, 3):
            raise ValueError(f"num_spatial_crops must be 1 or 3, got {num_spatial_crops}")
        if num_temporal_views < 1:
            raise ValueError(f"num_temporal_views must be >= 1, got {num_temporal_views}")
        if len(paths) != len(labels):
            raise ValueError(f"{len(paths)} paths but {len(labels)} labels")
        if multi_label and not all(isinstance(label, torch.Tensor) for label in labels):
            raise ValueError(
                f"DATA.MULTI_LABEL: {type(self).__name__} has one class index per video; "
                "multi-label evaluation (mAP) needs a multi-hot label vector per video"
            )
        input_spec = input_spec or InputSpec()
        self.check_input_spec(input_spec)
        self.frame_folders = frame_folders
        if frame_folders is not None:
            paths = [frame_folders.folder_of(p) for p in paths]
        self.paths = list(paths)
        # Video index -> frame count of its folder, filled as videos are first read.
        self._frame_counts: dict[int, int] = {}
        self.labels = list(labels)
        self.training = training
        self.clip = clip
        self.transform = transform
        self.input_spec = input_spec
        self.num_temporal_views = 1 if training else num_temporal_views
        self.num_spatial_crops = 1 if training else num_spatial_crops
        self.num_retries = num_retries
        self.offset_sampling = offset_sampling
        self.views = views
        # Resolved here, in the main process, so the probe and its log line happen once.
        self.decoding_backend = resolve_backend(decoding_backend)
        self.mixup = mixup if training else None
        self.num_classes = num_classes
        self.ensemble_method = ensemble_method
        self.view_scores = view_scores
        self.multi_label = multi_label
        self.decode_on_device = decode_on_device
        self.views_per_item = self.views_per_video if self.stacks_views and not training else 1

    @classmethod
    def from_config(cls, cfg, split: str) -> dict[str, Any]:
        """The arguments every clip dataset shares, for ``split`` ("train", "val" or "test").

        Subclasses add the arguments that locate their annotation files. Validation takes one
        centre view per video, so it is cheap and deterministic; testing takes
        TEST.NUM_ENSEMBLE_VIEWS x TEST.NUM_SPATIAL_CROPS views. The pathways come from the
        model MODEL.MODEL_NAME names (its declared input spec). In pre-training (TASK ssl)
        validation samples as training does: its loss is the pretext loss of held-out videos,
        whose random clips and crops are that loss's input (the loader's seed fixes them).
        """
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be train, val or test, got {split!r}")
        d = cfg.DATA
        training = split == "train" or (split == "val" and cfg.TASK == "ssl")
        transform = ClipTransform(
            **spatial_args(cfg, training),
            inverse_uniform_scale=d.INV_UNIFORM_SAMPLE,
            **(augment_kwargs(cfg) if training else {}),
        )
        mixup = build_mixup(cfg) if training else None  # blends float clips in the collate
        if d.NORMALIZE_ON_DEVICE and not transform.has_float_steps and mixup is None:
            transform = dataclasses.replace(transform, uint8_output=True)
        backend, on_device = resolve_device_decoding(d.DECODING_BACKEND, cfg.NUM_GPUS)
        if on_device and mixup is not None:
            raise ValueError(
                "DATA.DECODING_BACKEND torchcodec_cuda cannot be used with MIXUP.ENABLE: mixup "
                "blends decoded clips in the loader workers"
            )
        return {
            "training": training,
            "clip": ClipSpec(d.NUM_FRAMES, d.SAMPLING_RATE, float(d.TARGET_FPS)),
            "transform": transform,
            "input_spec": input_spec_of(cfg),
            "num_temporal_views": cfg.TEST.NUM_ENSEMBLE_VIEWS if split == "test" else 1,
            "num_spatial_crops": cfg.TEST.NUM_SPATIAL_CROPS if split == "test" else 1,
            "num_retries": d.NUM_RETRIES,
            "decoding_backend": backend,
            "decode_on_device": on_device,
            "frame_folders": cls.frame_folders_from_config(cfg),
            "offset_sampling": d.USE_OFFSET_SAMPLING,
            "mixup": mixup,
            "num_classes": cfg.MODEL.NUM_CLASSES,
            "ensemble_method": cfg.TEST.ENSEMBLE_METHOD,
            "multi_label": d.MULTI_LABEL,
            # Pre-training losses (TASK ssl) have no class scores; their runs evaluate the
            # pretext loss and pool no views.
            "view_scores": "softmax" if cfg.TASK == "ssl" else head_activation(cfg),
            "views": clip_views(cfg, training),
        }

    @classmethod
    def frame_folders_from_config(cls, cfg) -> FrameFolders | None:
        """Numbered frame folders (DATA.FRAME_TEMPLATE, DATA.FRAME_FPS) for DATA.VIDEO_FORMAT
        "frames"; subclasses with their own frame layout return None for it."""
        d = cfg.DATA
        if d.VIDEO_FORMAT != "frames":
            return None
        return FrameFolders(d.FRAME_TEMPLATE, float(d.FRAME_FPS))

    @property
    def num_videos(self) -> int:
        return len(self.paths)

    @property
    def views_per_video(self) -> int:
        return self.num_temporal_views * self.num_spatial_crops

    def __len__(self) -> int:
        return self.num_videos * self.views_per_video // self.views_per_item

    def view_of(self, index: int) -> tuple[int, int, int]:
        """``(video_index, temporal_idx, spatial_idx)`` of item ``index``."""
        video, view = divmod(index, self.views_per_video)
        temporal, spatial = divmod(view, self.num_spatial_crops)
        if self.num_spatial_crops == 1:
            spatial = 1  # the single crop is the centre one
        return video, temporal, spatial

    @property
    def collate_fn(self):
        """:func:`collate_clips`, mixing training batches when ``mixup`` is set."""
        return collate_clips if self.mixup is None else MixupCollate(collate_clips, self.mixup)

    def train_metrics(self, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        """Top-1 and top-5 error (percent) of class-index labels; none for mixed (soft) or
        multi-hot labels, or for subclasses whose labels are not class indices."""
        if self.mixup is not None or self.multi_label:
            return {}
        top1, top5 = topk_correct(logits.detach(), labels, (1, 5))
        return {
            "top1_err": 100.0 * (1 - top1 / labels.numel()),
            "top5_err": 100.0 * (1 - top5 / labels.numel()),
        }

    def make_evaluator(self, output_dir: str, tag: str) -> Evaluator:
        """Single-label accuracy over this split's videos, views pooled per video; with
        ``multi_label`` (PySlowFast's DATA.MULTI_LABEL), mAP of the pooled views."""
        return self.view_evaluator(self.num_videos)

    def view_evaluator(self, num_videos: int) -> Evaluator:
        """The evaluator of :meth:`make_evaluator` over ``num_videos`` videos."""
        if self.num_classes < 1:
            raise ValueError(f"{type(self).__name__}: num_classes is needed to evaluate")
        if self.multi_label:
            return MultiLabelEvaluator(num_videos, self.num_classes, self.ensemble_method)
        return ClassificationEvaluator(
            num_videos, self.num_classes, self.ensemble_method, self.view_scores
        )

    def crop_override(self, crop_size: int) -> ClipTransform:
        """The training transform at another crop, jitter scales scaled alike (multigrid's
        short cycle asks for it per batch with ``(index, crop_size)`` items)."""
        ratio = crop_size / self.transform.crop_size
        low, high = self.transform.jitter_scales
        return dataclasses.replace(
            self.transform,
            crop_size=crop_size,
            jitter_scales=(round(low * ratio), round(high * ratio)),
        )

    def transform_and_pack(
        self,
        frames: torch.Tensor,
        spatial_idx: int,
        rng: random.Random,
        transform: ClipTransform | None = None,
        extra: Sequence[torch.Tensor] = (),
    ) -> list[torch.Tensor]:
        """Transform decoded frames and pack them into the model's pathways (with
        ``transform``, or the dataset's own), followed by the ``extra`` tensors.

        Returns:
            One ``(C, T_i, H, W)`` tensor per pathway (float, or uint8 pixels when the
            transform leaves normalising to the engine), then the extra ones; in training with
            ``N = transform.num_samples`` (AUG.NUM_SAMPLE) times ``views.num_crops`` augmented
            copies, each tensor gains a leading ``N`` (the extra ones repeated); a loader mask
            per copy follows the pathways.
        """
        transform = transform or self.transform
        copies = transform.num_samples * self.views.num_crops if self.training else 1
        strides = self.input_spec.frame_strides
        masks = self.views.masks  # a loader mask per copy follows the pathways
        packed = [
            split_pathways(transform(frames, spatial_idx=spatial_idx, rng=rng), strides)
            + ([masks(rng)] if masks is not None else [])
            for _ in range(copies)
        ]
        if copies == 1:
            return packed[0] + list(extra)
        return [stack_views(p) for p in zip(*packed)] + [torch.stack([e] * copies) for e in extra]

    def extra_inputs(
        self, video: Video, frame_indices: list[int], rng: random.Random
    ) -> list[torch.Tensor]:
        """Tensors read from the same video and window as the clip, appended after its
        pathways (named by the class's ``extra_pathways``); none by default.

        Args:
            video: the open video (:meth:`video_at`).
            frame_indices: the clip's frames (:meth:`frame_indices`).
            rng: the item's randomness.
        """
        return []

    def read_clip(
        self, video_index: int, temporal_idx: int, rng: random.Random
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The decoded frames uint8 ``(T, H, W, 3)`` of one clip and its extra inputs.

        Args:
            video_index: which video.
            temporal_idx: -1 for a random clip, else the view index.
            rng: randomness of the clip start.

        Raises:
            DecodeError: the video (or a frame) cannot be read.
        """
        with self.video_at(video_index) as video:
            indices = self.frame_indices(video, temporal_idx, rng)
            frames = video.get_frames(indices)
            return frames, self.extra_inputs(video, indices, rng)

    def clip_frames(self, video_index: int, temporal_idx: int, rng: random.Random) -> torch.Tensor:
        """The decoded uint8 ``(T, H, W, 3)`` frames of one clip (see :meth:`read_clip`)."""
        return self.read_clip(video_index, temporal_idx, rng)[0]

    def __getitem__(self, index: int | tuple[int, int]) -> dict[str, Any]:
        """As :class:`VideoDataset`; an item holding every view of a video (evaluation,
        ``views_per_item > 1``) that fails lists its path once per view."""
        item = super().__getitem__(index)
        if self.views_per_item > 1:
            item["failed"] = item["failed"] * self.views_per_item
        return item

    def _video_of(self, index: int) -> int:
        return index if self.views_per_item > 1 else self.view_of(index)[0]

    def load_item(
        self, index: int, rng: random.Random, crop_size: int | None = None
    ) -> dict[str, Any]:
        """``{"inputs", "label", "video_index"}`` of item ``index``: one clip, decoded,
        sampled, transformed and packed (with its extra inputs); with ``views_per_item > 1``
        every view of video ``index`` (:meth:`load_views`)."""
        if self.views_per_item > 1:
            inputs = self.load_views(index, rng)
            return {"inputs": inputs, "label": self.labels[index], "video_index": index}
        video_index, temporal_idx, spatial_idx = self.view_of(index)
        transform = None if crop_size is None else self.crop_override(crop_size)
        temporal_idx = -1 if self.training else temporal_idx
        inputs = self.load_clips(video_index, temporal_idx, spatial_idx, rng, transform)
        return {"inputs": inputs, "label": self.labels[video_index], "video_index": video_index}

    def load_clip(
        self,
        video_index: int,
        temporal_idx: int,
        spatial_idx: int,
        rng: random.Random,
        transform: ClipTransform | None = None,
    ) -> list[torch.Tensor] | EncodedClip:
        """Decode, sample, transform and pack one clip with its extra inputs.

        Args:
            video_index: which video.
            temporal_idx: -1 for a random clip, else the view index.
            spatial_idx: test crop position (ignored in training).
            rng: randomness for the clip start and the augmentations.
            transform: replaces the dataset's transform for this clip.

        Returns:
            As :meth:`transform_and_pack`; with ``decode_on_device``, the
            :class:`EncodedClip` to decode there.

        Raises:
            DecodeError: the video (or a frame) cannot be read.
        """
        if self.decode_on_device:
            return self.encoded_clip(video_index, temporal_idx, spatial_idx, rng, transform)
        frames, extra = self.read_clip(video_index, temporal_idx, rng)
        return self.transform_and_pack(frames, spatial_idx, rng, transform, extra)

    def load_clips(
        self,
        video_index: int,
        temporal_idx: int,
        spatial_idx: int,
        rng: random.Random,
        transform: ClipTransform | None = None,
    ) -> list[torch.Tensor]:
        """:meth:`load_clip`, once, or ``views.num_clips`` times in training (each clip at its
        own random time), the clips' copies then stacked ``(N, C, T, H, W)`` per input."""
        count = self.views.num_clips if self.training else 1
        clips = [
            self.load_clip(video_index, temporal_idx, spatial_idx, rng, transform)
            for _ in range(count)
        ]
        if count == 1:
            return clips[0]
        return [
            torch.cat([x if x.dim() == 5 else x.unsqueeze(0) for x in parts])
            for parts in zip(*clips, strict=True)
        ]

    def failed_item(self, index: int) -> dict[str, Any]:
        video_index = self._video_of(index)
        return {"label": self.labels[video_index], "video_index": video_index}

    def failure_path(self, index: int, err: DecodeError) -> str:
        """The video's path (its folder for frames), not the frame file that failed."""
        return self.paths[self._video_of(index)]

    def encoded_clip(
        self,
        video_index: int,
        temporal_idx: int,
        spatial_idx: int,
        rng: random.Random,
        transform: ClipTransform | None = None,
    ) -> EncodedClip:
        """What a worker sends when decoding happens on the device: the file's bytes, the
        clip's frames and one crop geometry per copy (AUG.NUM_SAMPLE in training), drawn
        from ``rng`` as :meth:`transform_and_pack` would."""
        transform = transform or self.transform
        video = EncodedVideo(self.paths[video_index])
        indices = [
            min(i, video.num_frames - 1) for i in self.frame_indices(video, temporal_idx, rng)
        ]
        copies = transform.num_samples if self.training else 1
        views = [
            (indices, draw_geometry(transform, video.height, video.width, spatial_idx, rng))
            for _ in range(copies)
        ]
        return self._encoded(video, views)

    def _encoded(self, video: EncodedVideo, views: list) -> EncodedClip:
        # The device packs pathways as SlowFast does: the whole clip, and every alpha-th frame.
        strides = self.input_spec.frame_strides
        if len(strides) > 2 or strides[-1] != 1:
            raise ValueError(f"cannot decode on the device for pathway frame strides {strides}")
        alpha = strides[0] if len(strides) == 2 else 1
        mean, std = self.transform.mean, self.transform.std
        return EncodedClip(video.path, video.data, views, len(strides), alpha, mean, std)

    def load_views(self, video_index: int, rng: random.Random) -> list[torch.Tensor] | EncodedClip:
        """All ``num_temporal_views x num_spatial_crops`` views of a video from one decode.

        The union of the temporal views' frames is decoded once and resized once (to the test
        short side); each view then selects its frames and crops them. The result equals
        :meth:`load_clip` of each view, stacked (tested).

        Returns:
            Per pathway ``(V, C, T, H, W)``, views in :meth:`view_of` order; with
            ``decode_on_device``, one :class:`EncodedClip` holding every view.

        Raises:
            DecodeError: the video (or a frame) cannot be read.
        """
        first = video_index * self.views_per_video
        views = [self.view_of(first + k)[1:] for k in range(self.views_per_video)]
        if self.decode_on_device:
            video = EncodedVideo(self.paths[video_index])
            last = video.num_frames - 1
            per_time = {
                t: [min(i, last) for i in self.frame_indices(video, t, rng)]
                for t in range(self.num_temporal_views)
            }
            h, w = video.height, video.width
            geometry = [
                (per_time[t], draw_geometry(self.transform, h, w, s, rng)) for t, s in views
            ]
            return self._encoded(video, geometry)
        with self.video_at(video_index) as video:
            per_time = {
                t: self.frame_indices(video, t, rng) for t in range(self.num_temporal_views)
            }
            union = sorted({i for indices in per_time.values() for i in indices})
            frames = video.get_frames(union)
        # Resized once for every view; the transform's own resize then finds nothing to do.
        frames = scale_frames(frames, self.transform.crop_size)
        position = {i: k for k, i in enumerate(union)}
        strides = self.input_spec.frame_strides
        packed = []
        for t, s in views:
            picks = torch.tensor([position[i] for i in per_time[t]])
            clip = self.transform(frames.index_select(0, picks), spatial_idx=s, rng=rng)
            packed.append(split_pathways(clip, strides))
        return [stack_views(pathway) for pathway in zip(*packed)]

    def video_at(self, video_index: int) -> Video:
        """Open video ``video_index``: its file, or with ``frame_folders`` its frame folder as
        a :class:`~slowvid.data.frames.FrameListVideo` (no image is read until the clip's
        frames are asked for). Subclasses with their own frame lists override this.

        Raises:
            DecodeError: the file cannot be opened, or the folder is missing, empty or lacks
                a frame (the folder named).
        """
        if self.frame_folders is None:
            return open_video(self.paths[video_index], self.decoding_backend)
        folder = self.paths[video_index]
        count = self._frame_counts.get(video_index)
        if count is None:
            count = self.frame_folders.count_frames(folder)
            self._frame_counts[video_index] = count
        return self.frame_folders.video(folder, count)

    def frame_indices(self, video: Video, temporal_idx: int, rng: random.Random) -> list[int]:
        """The frames of one clip of ``video``: random for ``temporal_idx`` -1, else that view."""
        if temporal_idx == -1:
            return random_clip_indices(self.clip, video.fps, video.num_frames, rng)
        return uniform_clip_indices(
            self.clip,
            video.fps,
            video.num_frames,
            temporal_idx,
            self.num_temporal_views,
            offset=self.offset_sampling,
        )
