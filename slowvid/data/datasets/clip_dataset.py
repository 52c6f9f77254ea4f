"""The clip-classification dataset every video-level data set here builds on.

:class:`ClipDataset` turns a list of ``(video path, integer label)`` pairs into items: it
decodes, samples, transforms and packs clips, and handles videos that fail to decode. A data
set (Kinetics, SSv2, UCF101, HMDB51) subclasses it to read its own annotation files into
that list, and reads the config in ``from_config``, which extends
:meth:`ClipDataset.from_config`. Two hooks change how a clip is read without touching the
failure handling: :meth:`ClipDataset.video_at` (frame lists instead of files, as Charades
and SSv2 frames) and :meth:`ClipDataset.frame_indices` (another temporal sampling).

Every clip dataset can also read its videos as folders of numbered frames instead of files
(DATA.VIDEO_FORMAT "frames", :class:`~slowvid.data.frames.FrameFolders`): each listed path,
its video extension stripped, names a folder, so Kinetics, UCF101 and HMDB51 read MMAction2's
rawframes with their usual split files.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from slowvid.data.augment import build_clip_augment, build_random_erasing
from slowvid.data.decoding import DecodeError, Video, open_video, resolve_backend
from slowvid.data.device_decoding import (
    EncodedClip,
    EncodedVideo,
    draw_geometry,
    resolve_device_decoding,
)
from slowvid.data.frames import FrameFolders
from slowvid.data.masks import CubeMasks
from slowvid.data.sampling import ClipSpec, random_clip_indices, uniform_clip_indices
from slowvid.data.transforms import ClipTransform, is_channels_last, pack_pathways, scale_frames

__all__ = ["ClipDataset", "ClipViews"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipViews:
    """What one item holds beyond a clip: several clips of the video and augmented crops of each
    in training (the positives of contrastive learning, or repeated sampling), and masks.

    Attributes:
        num_clips: clips decoded at independent random times (DATA.TRAIN_CROP_NUM_TEMPORAL).
        num_crops: augmented crops of each clip (DATA.TRAIN_CROP_NUM_SPATIAL).
        masks: draws a ``(1, t, h, w)`` mask per output clip, appended to the item's inputs
            after the pathways (AUG.GEN_MASK_LOADER; every split), or None.
    """

    num_clips: int = 1
    num_crops: int = 1
    masks: Callable[[random.Random], torch.Tensor] | None = None

    def __post_init__(self):
        if self.num_clips < 1 or self.num_crops < 1:
            raise ValueError(
                "DATA.TRAIN_CROP_NUM_TEMPORAL and TRAIN_CROP_NUM_SPATIAL must be >= 1, got "
                f"{self.num_clips} and {self.num_crops}"
            )


class ClipDataset(torch.utils.data.Dataset):
    """Video classification from a list of video paths and labels.

    Training yields one random clip per video. Evaluation yields
    ``num_temporal_views * num_spatial_crops`` items per video, item ``i`` being video
    ``i // views``, temporal clip ``(i % views) // num_spatial_crops`` and spatial crop
    ``i % num_spatial_crops`` (the PySlowFast order).

    A video that fails to decode is logged and listed in the item's ``"failed"`` entry so the
    main process can count failures even when items come from worker processes. In training
    it is replaced by a randomly drawn video (up to ``num_retries`` times); in evaluation
    the item comes back with ``"inputs": None``.

    Randomness comes from the ``random`` module, which the data loader seeds per worker.
    Not registered: it is built through its subclasses.

    With ``frame_folders``, ``paths`` become the frame folders (video extensions stripped),
    so logs, ``failed`` and dataset checks name folders. A folder's frame count is found from
    its listing the first time the video is read and cached (per loader worker): a folder
    changed during a run is not listed again. Subclasses that read their own frame layout or
    need the files themselves set ``frame_folders_supported`` False.

    Args:
        paths: one video file per video (or its frame folder).
        labels: class index of each video.
        training: random clips (True) or evenly spaced views (False).
        clip: frames per clip, stride and target frame rate.
        transform: spatial pipeline (its ``training`` must match ``training``).
        num_pathways: 1, or 2 for SlowFast's slow and fast inputs.
        alpha: frame-rate ratio of the fast to the slow pathway (used with 2 pathways).
        num_temporal_views: evenly spaced clips per video when evaluating.
        num_spatial_crops: 1 (centre) or 3 (left/top, centre, right/bottom) when evaluating.
        num_retries: replacement videos tried after a failure in training.
        decoding_backend: "auto", "pyav" or "torchcodec".
        frame_folders: read each video from the frame folder its path names instead of
            decoding the file (None: decode the files); built from DATA.VIDEO_FORMAT,
            FRAME_TEMPLATE and FRAME_FPS as one argument because SSv2 and EPIC-Kitchens
            already take a ``video_format`` (and SSv2 a ``frame_fps``) of their own.
        views: clips and crops per training item, and loader masks; with more than one clip
            or crop an item's pathways are ``(N, C, T, H, W)``, clip-major (clip ``i``'s crops
            first), and the collate function makes them rows ``i * N ... i * N + N - 1``.
        decode_on_device: items carry the file's bytes, frame indices and crop geometry
            (:class:`~slowvid.data.device_decoding.EncodedClip`) and the consumer decodes and
            transforms them on its device (DATA.DECODING_BACKEND torchcodec_cuda); needs
            video files, a pipeline without float steps, and torchcodec.

    Raises:
        ValueError: inconsistent arguments, or ``frame_folders`` given to a subclass whose
            ``frame_folders_supported`` is False.
    """

    # False in subclasses that read their own frame layout or need the video files (audio).
    frame_folders_supported = True
    # Class names by label, where the data set knows them (test logs, demo overlays).
    class_names: list[str] | None = None

    def __init__(
        self,
        *,
        paths: Sequence[str],
        labels: Sequence[int],
        training: bool,
        clip: ClipSpec,
        transform: ClipTransform,
        num_pathways: int = 1,
        alpha: int = 4,
        num_temporal_views: int = 1,
        num_spatial_crops: int = 1,
        num_retries: int = 10,
        decoding_backend: str = "auto",
        frame_folders: FrameFolders | None = None,
        views: ClipViews = ClipViews(),
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
        self.num_pathways = num_pathways
        self.alpha = alpha
        self.num_temporal_views = 1 if training else num_temporal_views
        self.num_spatial_crops = 1 if training else num_spatial_crops
        self.num_retries = num_retries
        self.views = views
        # Resolved here, in the main process, so the probe and its log line happen once.
        self.decoding_backend = resolve_backend(decoding_backend)
        self.decode_on_device = decode_on_device
        # Evaluation items hold every view of a video, decoded once, unless a subclass loads
        # clips its own way (its load_clip then runs once per view, one item each).
        own_loading = type(self).load_clip is not ClipDataset.load_clip
        self.views_per_item = 1 if training or own_loading else self.views_per_video

    @classmethod
    def from_config(cls, cfg, split: str) -> dict[str, Any]:
        """The arguments every clip dataset shares, for ``split`` ("train", "val" or "test").

        Subclasses add the arguments that locate their annotation files. Validation takes one
        centre view per video, so it is cheap and deterministic; testing takes
        TEST.NUM_ENSEMBLE_VIEWS x TEST.NUM_SPATIAL_CROPS views. In pre-training (TASK ssl)
        validation samples as training does: its loss is the pretext loss of held-out videos,
        whose random clips and crops are that loss's input (the loader's seed fixes them).
        """
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be train, val or test, got {split!r}")
        d = cfg.DATA
        training = split == "train" or (split == "val" and cfg.TASK == "ssl")
        transform = ClipTransform(
            training=training,
            jitter_scales=tuple(d.TRAIN_JITTER_SCALES),
            crop_size=d.TRAIN_CROP_SIZE if training else d.TEST_CROP_SIZE,
            mean=tuple(d.MEAN),
            std=tuple(d.STD),
            random_flip=d.RANDOM_FLIP,
            **(augment_kwargs(cfg) if training else {}),
        )
        mixes = training and cfg.MIXUP.ENABLE  # mixup blends float clips in the collate
        if d.NORMALIZE_ON_DEVICE and not transform.has_float_steps and not mixes:
            transform = dataclasses.replace(transform, uint8_output=True)
        backend, on_device = resolve_device_decoding(d.DECODING_BACKEND, cfg.NUM_GPUS)
        if on_device and mixes:
            raise ValueError(
                "DATA.DECODING_BACKEND torchcodec_cuda cannot be used with MIXUP.ENABLE: mixup "
                "blends decoded clips in the loader workers"
            )
        return {
            "training": training,
            "clip": ClipSpec(d.NUM_FRAMES, d.SAMPLING_RATE, float(d.TARGET_FPS)),
            "transform": transform,
            "num_pathways": len(d.INPUT_CHANNEL_NUM),
            "alpha": cfg.SLOWFAST.ALPHA,
            "num_temporal_views": cfg.TEST.NUM_ENSEMBLE_VIEWS if split == "test" else 1,
            "num_spatial_crops": cfg.TEST.NUM_SPATIAL_CROPS if split == "test" else 1,
            "num_retries": d.NUM_RETRIES,
            "decoding_backend": backend,
            "decode_on_device": on_device,
            "frame_folders": (
                FrameFolders(d.FRAME_TEMPLATE, float(d.FRAME_FPS))
                if d.VIDEO_FORMAT == "frames"
                else None
            ),
            "views": clip_views(cfg, training),
        }

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
    ) -> list[torch.Tensor]:
        """Transform decoded frames and pack them into pathways (with ``transform``, or the
        dataset's own).

        Returns:
            One ``(C, T, H, W)`` tensor per pathway (float, or uint8 pixels when the
            transform leaves normalising to the engine), or ``(N, C, T, H, W)`` holding
            ``N = transform.num_samples`` (AUG.NUM_SAMPLE) times ``views.num_crops`` augmented
            copies in training; a loader mask per copy follows the pathways.
        """
        transform = transform or self.transform
        copies = transform.num_samples * self.views.num_crops if self.training else 1
        masks = self.views.masks
        packed = [
            pack_pathways(
                transform(frames, spatial_idx=spatial_idx, rng=rng),
                self.num_pathways,
                self.alpha,
            )
            + ([masks(rng)] if masks is not None else [])
            for _ in range(copies)
        ]
        if copies == 1:
            return packed[0]
        return [_stack_views(pathway) for pathway in zip(*packed)]

    def load_clip(
        self,
        video_index: int,
        temporal_idx: int,
        spatial_idx: int,
        rng: random.Random,
        transform: ClipTransform | None = None,
    ) -> list[torch.Tensor] | EncodedClip:
        """Decode, sample, transform and pack one clip.

        Args:
            video_index: which video.
            temporal_idx: -1 for a random clip, else the view index.
            spatial_idx: test crop position (ignored in training).
            rng: randomness for the clip start and the augmentations.
            transform: replaces the dataset's transform for this clip.

        Returns:
            One ``(C, T, H, W)`` tensor per pathway, as :meth:`transform_and_pack`; with
            ``decode_on_device``, the :class:`EncodedClip` to decode there.

        Raises:
            DecodeError: the video cannot be decoded.
        """
        if self.decode_on_device:
            return self.encoded_clip(video_index, temporal_idx, spatial_idx, rng, transform)
        with self.video_at(video_index) as video:
            frames = video.get_frames(self.frame_indices(video, temporal_idx, rng))
        return self.transform_and_pack(frames, spatial_idx, rng, transform)

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
        mean, std = self.transform.mean, self.transform.std
        return EncodedClip(video.path, video.data, views, self.num_pathways, self.alpha, mean, std)

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
            self.clip, video.fps, video.num_frames, temporal_idx, self.num_temporal_views
        )

    def __getitem__(self, index: int | tuple[int, int]) -> dict[str, Any]:
        """One item: ``{"inputs", "label", "video_index", "failed"}``; ``index`` may be
        ``(index, crop_size)`` to train this item at another crop.

        ``inputs`` is a list of ``(C, T, H, W)`` tensors (one per pathway), or None
        when the item failed; ``failed`` lists the paths that could not be decoded.
        """
        # A private generator drawn from the (per-worker seeded) module state keeps the
        # randomness of one item independent of how many draws earlier items made.
        rng = random.Random(random.getrandbits(64))
        if self.views_per_item > 1:
            return self._video_item(index, rng)
        transform = None
        if isinstance(index, tuple):
            index, crop_size = index
            transform = self.crop_override(crop_size)
        video_index, temporal_idx, spatial_idx = self.view_of(index)
        failed: list[str] = []
        attempts = 1 + (self.num_retries if self.training else 0)
        for _ in range(attempts):
            try:
                inputs = self.load_clips(
                    video_index, -1 if self.training else temporal_idx, spatial_idx, rng, transform
                )
            except DecodeError as err:
                logger.warning("Skipping video: %s", err)
                failed.append(self.paths[video_index])
                if self.training:
                    video_index = rng.randrange(self.num_videos)
                continue
            return {
                "inputs": inputs,
                "label": self.labels[video_index],
                "video_index": video_index,
                "failed": failed,
            }
        original = self.view_of(index)[0]
        return {
            "inputs": None,
            "label": self.labels[original],
            "video_index": original,
            "failed": failed,
        }

    def _video_item(self, video_index: int, rng: random.Random) -> dict[str, Any]:
        """Every view of one video (evaluation): ``inputs`` per pathway ``(V, C, T, H, W)``
        in view order, or None with the path listed once per view when it fails."""
        try:
            inputs = self.load_views(video_index, rng)
            failed = []
        except DecodeError as err:
            logger.warning("Skipping video: %s", err)
            inputs, failed = None, [self.paths[video_index]] * self.views_per_video
        return {
            "inputs": inputs,
            "label": self.labels[video_index],
            "video_index": video_index,
            "failed": failed,
        }

    def load_views(self, video_index: int, rng: random.Random) -> list[torch.Tensor] | EncodedClip:
        """All ``num_temporal_views x num_spatial_crops`` views of a video from one decode.

        The union of the temporal views' frames is decoded once and resized once (to the test
        short side); each view then selects its frames and crops them. The result equals
        :meth:`load_clip` of each view, stacked (tested).

        Returns:
            Per pathway ``(V, C, T, H, W)``, views in :meth:`view_of` order; with
            ``decode_on_device``, one :class:`EncodedClip` holding every view.
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
        packed = []
        for t, s in views:
            picks = torch.tensor([position[i] for i in per_time[t]])
            clip = self.transform(frames.index_select(0, picks), spatial_idx=s, rng=rng)
            packed.append(pack_pathways(clip, self.num_pathways, self.alpha))
        return [_stack_views(pathway) for pathway in zip(*packed)]


def _stack_views(clips: Sequence[torch.Tensor]) -> torch.Tensor:
    """``(C, T, H, W)`` clips -> ``(V, C, T, H, W)``, keeping uint8 clips channels-last (the
    layout the collate batches without moving bytes)."""
    if all(is_channels_last(c) for c in clips):
        return torch.stack([c.permute(1, 2, 3, 0) for c in clips]).permute(0, 4, 1, 2, 3)
    return torch.stack(clips)


def augment_kwargs(cfg) -> dict[str, Any]:
    """The :class:`ClipTransform` arguments of the training augmentations (AUG.*, the
    relative jitter keys of DATA); empty dict values leave the plain pipeline."""
    d = cfg.DATA
    kwargs: dict[str, Any] = {
        "augment": build_clip_augment(cfg),
        "erase": build_random_erasing(cfg),
        "interpolation": cfg.AUG.INTERPOLATION,
        "num_samples": cfg.AUG.NUM_SAMPLE if cfg.AUG.ENABLE else 1,
    }
    if d.TRAIN_JITTER_SCALES_RELATIVE:
        kwargs["jitter_scales_relative"] = tuple(d.TRAIN_JITTER_SCALES_RELATIVE)
    if d.TRAIN_JITTER_ASPECT_RELATIVE:
        kwargs["jitter_aspect_relative"] = tuple(d.TRAIN_JITTER_ASPECT_RELATIVE)
    return kwargs


def clip_views(cfg, training: bool) -> ClipViews:
    """The :class:`ClipViews` of a split: DATA.TRAIN_CROP_NUM_TEMPORAL / _SPATIAL in training,
    AUG.GEN_MASK_LOADER masks (AUG.MASK_WINDOW_SIZE / MASK_RATIO / MASK_TUBE / MASK_FRAMES) in
    every split."""
    a = cfg.AUG
    masks = None
    if a.GEN_MASK_LOADER:
        mode = "frames" if a.MASK_FRAMES else "tube" if a.MASK_TUBE else "cube"
        masks = CubeMasks(tuple(a.MASK_WINDOW_SIZE), a.MASK_RATIO, mode)
    if not training:
        return ClipViews(masks=masks)
    d = cfg.DATA
    return ClipViews(d.TRAIN_CROP_NUM_TEMPORAL, d.TRAIN_CROP_NUM_SPATIAL, masks)
