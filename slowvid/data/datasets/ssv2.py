"""Something-Something V2 (Goyal et al., "The 'something something' video database for
learning and evaluating visual common sense", ICCV 2017, arXiv:1706.04261).

Reads the annotation files as published, in DATA.PATH_TO_DATA_DIR::

    something-something-v2-labels.json       {"Approaching something with your camera": "0", ...}
    something-something-v2-train.json        [{"id": "78687", "label": "holding potato next to
    something-something-v2-validation.json     vicks vaporub bottle", "template": "Holding
                                               [something] next to [something]",
                                               "placeholders": ["potato", "vicks ..."]}, ...]

and the videos as ``{id}.webm`` in DATA.PATH_PREFIX. A video's class is its ``template`` with
the square brackets removed, looked up in the labels file (174 classes). The published test
set has no labels, so "val" and "test" both read the validation file.

Assumptions: clips are sampled like Kinetics clips (DATA.NUM_FRAMES every DATA.SAMPLING_RATE
frames at DATA.TARGET_FPS, short videos repeating their last frame), not with PySlowFast's
segment-based SSv2 sampling.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Any

from slowvid.data.transforms import ClipTransform
from slowvid.registry import DATASETS

from .clip_dataset import ClipDataset

__all__ = ["SSv2", "read_ssv2_annotations", "read_ssv2_labels", "template_to_class"]

logger = logging.getLogger(__name__)

LABELS_FILE = "something-something-v2-labels.json"
SPLIT_FILES = {
    "train": "something-something-v2-train.json",
    "val": "something-something-v2-validation.json",
    "test": "something-something-v2-validation.json",
}


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


@DATASETS.register()
class SSv2(ClipDataset):
    """Something-Something V2 videos and their 174 template classes.

    Horizontal flips are always off, whatever ``transform`` (or DATA.RANDOM_FLIP) says:
    classes such as "Pushing something from left to right" change meaning when mirrored.
    Items, views and failure handling are those of :class:`ClipDataset`.

    Args:
        labels_file: ``something-something-v2-labels.json``.
        split_file: ``something-something-v2-train.json`` or ``-validation.json``.
        path_prefix: directory holding ``{id}.webm``.
        extension: video file extension, for sets re-encoded to another container.
        transform: spatial pipeline; its flip is switched off.
        **kwargs: the other clip arguments of :class:`ClipDataset` (``training``, ``clip``,
            ...), all but ``paths`` and ``labels``.
    """

    def __init__(
        self,
        *,
        labels_file: str,
        split_file: str,
        path_prefix: str = "",
        extension: str = ".webm",
        transform: ClipTransform,
        **kwargs: Any,
    ):
        if transform.random_flip:
            logger.info("SSv2: horizontal flips switched off (classes name left and right)")
            transform = dataclasses.replace(transform, random_flip=False)
        self.labels_file = labels_file
        self.split_file = split_file
        self.classes = read_ssv2_labels(labels_file)
        ids, labels = read_ssv2_annotations(split_file, self.classes)
        paths = [os.path.join(path_prefix, f"{i}{extension}") for i in ids]
        super().__init__(paths=paths, labels=labels, transform=transform, **kwargs)

    @classmethod
    def from_config(cls, cfg, split: str) -> dict[str, Any]:
        """Constructor arguments for ``split``: annotation files in DATA.PATH_TO_DATA_DIR,
        videos in DATA.PATH_PREFIX; "val" and "test" both read the validation file."""
        kwargs = super().from_config(cfg, split)
        d = cfg.DATA
        return {
            "labels_file": os.path.join(d.PATH_TO_DATA_DIR, LABELS_FILE),
            "split_file": os.path.join(d.PATH_TO_DATA_DIR, SPLIT_FILES[split]),
            "path_prefix": d.PATH_PREFIX,
            **kwargs,
        }
