"""Something-Something V2 (Goyal et al., "The 'something something' video database for
learning and evaluating visual common sense", ICCV 2017, arXiv:1706.04261).

Reads the annotation files as published, in DATA.PATH_TO_DATA_DIR::

    something-something-v2-labels.json       {"Approaching something with your camera": "0", ...}
    something-something-v2-train.json        [{"id": "78687", "label": "holding potato next to
    something-something-v2-validation.json     vicks vaporub bottle", "template": "Holding
                                               [something] next to [something]",
                                               "placeholders": ["potato", "vicks ..."]}, ...]

and the videos in DATA.PATH_PREFIX in one of three layouts:

- DATA.VIDEO_FORMAT "video": the published ``{id}.webm`` files (12 fps).
- DATA.VIDEO_FORMAT "frames" (SSV2.FRAME_LISTS True): PySlowFast's layout, frames extracted at
  DATA.FRAME_FPS (30) into ``{id}/{id}_{:06d}.jpg``, listed in PySlowFast's frame lists
  ``train.csv`` / ``val.csv`` in DATA.PATH_TO_DATA_DIR
  (:func:`~slowvid.data.frames.read_frame_list`; header ``original_vido_id video_id frame_id
  path labels``, ``path`` relative to DATA.PATH_PREFIX). Frames are grouped by
  ``original_vido_id``, which is the json ``id``; the labels column is not read. A json id
  with no frames in the list is an error; listed videos the json lacks are ignored.
- DATA.VIDEO_FORMAT "frames" with SSV2.FRAME_LISTS False: MMAction2's rawframes
  (``{id}/img_{:05d}.jpg``, no frame list), read like any clip data set's frame folders
  (DATA.FRAME_TEMPLATE, DATA.FRAME_FPS), ``{id}.webm`` naming the folder ``{id}/``.

The constructor takes the frame lists (``video_format`` "frames") and the core's frame folders
(``frame_folders``) as two arguments; they exclude each other.

A video's class is its ``template`` with the square brackets removed, looked up in the labels
file (174 classes). The published test set has no labels, so "val" and "test" both read the
validation file (and the frames of ``val.csv``).

Sampling (SSV2.SAMPLING): "segments" (the default, PySlowFast's and the published SSv2
recipes') cuts the whole video into DATA.NUM_FRAMES equal segments and takes a random frame of
each in training, the middle one in testing (:func:`~slowvid.data.sampling.segment_indices`;
DATA.SAMPLING_RATE and DATA.TARGET_FPS are not used). "clip" samples like Kinetics:
DATA.NUM_FRAMES frames every DATA.SAMPLING_RATE frames at DATA.TARGET_FPS, short videos
repeating their last frame.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
from typing import Any

from slowvid.data.decoding import Video
from slowvid.data.frames import FrameListVideo, read_frame_list
from slowvid.data.sampling import segment_indices
from slowvid.data.transforms import ClipTransform
from slowvid.registry import DATASETS

from .clip_dataset import ClipDataset

__all__ = [
    "SSv2",
    "frames_of_ids",
    "read_ssv2_annotations",
    "read_ssv2_labels",
    "template_to_class",
]

logger = logging.getLogger(__name__)

LABELS_FILE = "something-something-v2-labels.json"
SPLIT_FILES = {
    "train": "something-something-v2-train.json",
    "val": "something-something-v2-validation.json",
    "test": "something-something-v2-validation.json",
}
FRAME_LISTS = {"train": "train.csv", "val": "val.csv", "test": "val.csv"}
VIDEO_FORMATS = ("webm", "frames")
SAMPLINGS = ("segments", "clip")


def _load_json(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON: {err}") from None


def read_ssv2_labels(path: str) -> dict[str, int]:
    """Read ``something-something-v2-labels.json``.

    Args:
        path: the labels file, a JSON object mapping class name to id string.

    Returns:
        Class name to integer id.

    Raises:
        ValueError: the file is not such an object, an id is not an integer, or two names
            share an id; the message names the file.
    """
    raw = _load_json(path)
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{path}: expected a non-empty JSON object of name -> id")
    classes: dict[str, int] = {}
    owner: dict[int, str] = {}
    for name, value in raw.items():
        try:
            index = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"{path}: id {value!r} of {name!r} is not an integer") from None
        if index in owner:
            raise ValueError(f"{path}: id {index} given to both {owner[index]!r} and {name!r}")
        owner[index] = name
        classes[name] = index
    return classes


def template_to_class(template: str) -> str:
    """The class name of a template: ``"Putting [something] on [something]"`` ->
    ``"Putting something on something"``."""
    return template.replace("[", "").replace("]", "")


def read_ssv2_annotations(path: str, classes: dict[str, int]) -> tuple[list[str], list[int]]:
    """Read a train or validation annotation file.

    Args:
        path: ``something-something-v2-{train,validation}.json``.
        classes: class name to id, from :func:`read_ssv2_labels`.

    Returns:
        ``(ids, labels)`` in file order: video ids (file names without ``.webm``) and classes.

    Raises:
        ValueError: the file is not a list of objects with "id" and "template", or a
            template's class is not in ``classes``; the message names the file, the entry
            and the template.
    """
    entries = _load_json(path)
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: expected a non-empty JSON list of videos")
    ids, labels = [], []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or "id" not in entry or "template" not in entry:
            raise ValueError(f"{path}: entry {i} lacks an 'id' or a 'template': {entry!r}")
        name = template_to_class(entry["template"])
        if name not in classes:
            raise ValueError(
                f"{path}: entry {i} (id {entry['id']}): template {entry['template']!r} "
                f"(class {name!r}) is not in the labels file"
            )
        ids.append(str(entry["id"]))
        labels.append(classes[name])
    return ids, labels


def frames_of_ids(
    frame_list: str, frame_dir: str, ids: list[str], split_file: str
) -> list[list[str]]:
    """The frame files of each video of ``ids``, from a frame list.

    Args:
        frame_list: PySlowFast's ``train.csv`` or ``val.csv``.
        frame_dir: root the listed frame paths are relative to.
        ids: video ids of the split, from ``split_file``.
        split_file: the annotation file ``ids`` come from (named in errors).

    Returns:
        One list of frame files per id, in list order.

    Raises:
        ValueError: the list is malformed (file and line named), or an id has no frames in
            it (the list, the id and the annotation file named).
    """
    videos = read_frame_list(frame_list, frame_dir)
    missing = [i for i in ids if i not in videos]
    if missing:
        more = f" ({len(missing)} of its {len(ids)} ids have none)" if len(missing) > 1 else ""
        raise ValueError(
            f"{frame_list}: no frames listed for video id {missing[0]!r} of {split_file}{more}"
        )
    return [videos[i].frames for i in ids]


@DATASETS.register()
class SSv2(ClipDataset):
    """Something-Something V2 videos (webm files or frame folders) and their 174 template
    classes.

    Horizontal flips are always off, whatever ``transform`` (or DATA.RANDOM_FLIP) says:
    classes such as "Pushing something from left to right" change meaning when mirrored.
    Items, views and failure handling are those of :class:`ClipDataset`: a missing or corrupt
    frame fails its item like a video that does not decode (``failed`` names the video's
    frame folder).

    Args:
        labels_file: ``something-something-v2-labels.json``.
        split_file: ``something-something-v2-train.json`` or ``-validation.json``.
        path_prefix: directory holding ``{id}.webm``, or the root of the listed frames.
        extension: video file extension, for sets re-encoded to another container.
        video_format: "webm" (``{id}{extension}`` files) or "frames" (``frame_list``).
        frame_list: PySlowFast's frame list of the split (for "frames").
        frame_fps: rate the frames were extracted at (for "frames").
        sampling: "segments" (:func:`~slowvid.data.sampling.segment_indices`, one frame from
            each of ``clip.num_frames`` equal segments) or "clip" (Kinetics-like clips).
        transform: spatial pipeline; its flip is switched off.
        **kwargs: the other clip arguments of :class:`ClipDataset` (``training``, ``clip``,
            ...), all but ``paths`` and ``labels``.

    Raises:
        ValueError: an unknown ``video_format`` or ``sampling``, "frames" together with the
            core ``frame_folders``, a malformed annotation file or frame list, or (for
            "frames") a video of ``split_file`` with no listed frames.
    """

    def __init__(
        self,
        *,
        labels_file: str,
        split_file: str,
        path_prefix: str = "",
        extension: str = ".webm",
        video_format: str = "webm",
        frame_list: str = "",
        frame_fps: float = 30.0,
        sampling: str = "segments",
        transform: ClipTransform,
        **kwargs: Any,
    ):
        if video_format not in VIDEO_FORMATS:
            raise ValueError(f"video_format must be one of {VIDEO_FORMATS}, got {video_format!r}")
        if sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")
        if video_format == "frames" and not frame_list:
            raise ValueError("video_format 'frames' needs a frame_list")
        if video_format == "frames" and kwargs.get("frame_folders") is not None:
            # Two frame layouts for one set: the frame lists would silently win.
            raise ValueError(
                "SSv2 video_format 'frames' (PySlowFast frame lists) and frame_folders "
                "(rawframes folders) exclude each other; for rawframes set SSV2.FRAME_LISTS False"
            )
        if transform.random_flip:
            logger.info("SSv2: horizontal flips switched off (classes name left and right)")
            transform = dataclasses.replace(transform, random_flip=False)
        self.labels_file = labels_file
        self.split_file = split_file
        self.video_format = video_format
        self.frame_fps = frame_fps
        self.sampling = sampling
        self.classes = read_ssv2_labels(labels_file)
        ids, labels = read_ssv2_annotations(split_file, self.classes)
        if video_format == "frames":
            self.frame_paths = frames_of_ids(frame_list, path_prefix, ids, split_file)
            # A video's folder stands for it in logs and in the items' "failed" lists.
            paths = [os.path.dirname(frames[0]) for frames in self.frame_paths]
        else:
            self.frame_paths = []
            paths = [os.path.join(path_prefix, f"{i}{extension}") for i in ids]
        super().__init__(paths=paths, labels=labels, transform=transform, **kwargs)

    @classmethod
    def from_config(cls, cfg, split: str) -> dict[str, Any]:
        """Constructor arguments for ``split``: annotation files (and, for DATA.VIDEO_FORMAT
        "frames" with SSV2.FRAME_LISTS, the frame lists) in DATA.PATH_TO_DATA_DIR, videos or
        frames in DATA.PATH_PREFIX; "val" and "test" both read the validation files."""
        kwargs = super().from_config(cfg, split)
        d = cfg.DATA
        frame_lists = d.VIDEO_FORMAT == "frames" and cfg.SSV2.FRAME_LISTS
        if frame_lists:
            kwargs["frame_folders"] = None  # the lists name every frame
        return {
            "labels_file": os.path.join(d.PATH_TO_DATA_DIR, LABELS_FILE),
            "split_file": os.path.join(d.PATH_TO_DATA_DIR, SPLIT_FILES[split]),
            "path_prefix": d.PATH_PREFIX,
            "video_format": "frames" if frame_lists else "webm",
            "frame_list": os.path.join(d.PATH_TO_DATA_DIR, FRAME_LISTS[split]),
            "frame_fps": float(d.FRAME_FPS),
            "sampling": cfg.SSV2.SAMPLING,
            **kwargs,
        }

    def video_at(self, video_index: int) -> Video:
        """The webm file (or its frame folder, with ``frame_folders``), or a
        :class:`~slowvid.data.frames.FrameListVideo` of the listed frames (no file is read
        until the clip's frames are asked for)."""
        if self.video_format == "frames":
            return FrameListVideo(self.frame_paths[video_index], fps=self.frame_fps)
        return super().video_at(video_index)

    def frame_indices(self, video: Video, temporal_idx: int, rng: random.Random) -> list[int]:
        """One frame per segment (``sampling`` "segments"), else a Kinetics-like clip."""
        if self.sampling == "clip":
            return super().frame_indices(video, temporal_idx, rng)
        return segment_indices(
            video.num_frames, self.clip.num_frames, temporal_idx, self.num_temporal_views, rng
        )
