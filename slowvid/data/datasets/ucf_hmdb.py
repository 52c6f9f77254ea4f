"""UCF101 (Soomro et al., arXiv:1212.0402) and HMDB51 (Kuehne et al., ICCV 2011), read from
their official three-split annotation files.

UCF101, ``ucfTrainTestlist/`` in DATA.PATH_TO_DATA_DIR, videos under DATA.PATH_PREFIX::

    classInd.txt         "1 ApplyEyeMakeup"                                   (1-based ids)
    trainlist0{N}.txt    "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"
    testlist0{N}.txt     "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"        (no label)

HMDB51, ``testTrainMulti_7030_splits/`` in DATA.PATH_TO_DATA_DIR, videos under
DATA.PATH_PREFIX as ``{class}/{video}.avi``::

    {class}_test_split{N}.txt    "April_09_brush_hair_u_nm_np1_ba_goo_0.avi 1"
                                 (1: train, 2: test, 0: in neither)

Class indices are 0-based: classInd id minus one for UCF101, the position of the class in the
sorted class names for HMDB51. DATA.SPLIT picks N; "val" and "test" both read the test list.
The published files end lines with CRLF and sometimes a trailing space; both are accepted.
"""

from __future__ import annotations

import glob
import os
import re
from typing import Any

from slowvid.registry import DATASETS

from .clip_dataset import ClipDataset

__all__ = [
    "HMDB51",
    "UCF101",
    "read_hmdb_splits",
    "read_ucf_class_index",
    "read_ucf_split",
]

NUM_SPLITS = 3
# HMDB51 per-class split files mark each video with one of these.
HMDB_SUBSET_IDS = {"train": 1, "test": 2}
_HMDB_SPLIT_FILE = re.compile(r"^(?P<name>.+)_test_split(?P<split>[1-9])\.txt$")


def _lines(path: str):
    """``(line number, whitespace-separated fields)`` of each non-blank line."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            fields = line.split()
            if fields:
                yield lineno, fields


def read_ucf_class_index(path: str) -> list[str]:
    """Read ``classInd.txt``.

    Args:
        path: lines ``"<1-based id> <ClassName>"``, ids 1..N in any order.

    Returns:
        Class names, position = 0-based class index.

    Raises:
        ValueError: a malformed line, or ids that are not exactly 1..N; the message names the
            file (and the 1-based line number for a malformed line).
    """
    by_id: dict[int, str] = {}
    for lineno, fields in _lines(path):
        if len(fields) != 2 or not fields[0].isdigit():
            raise ValueError(f"{path}:{lineno}: expected '<id> <ClassName>', got {fields}")
        index = int(fields[0])
        if index in by_id:
            raise ValueError(f"{path}:{lineno}: id {index} listed twice")
        by_id[index] = fields[1]
    if sorted(by_id) != list(range(1, len(by_id) + 1)):
        raise ValueError(f"{path}: class ids must be 1..N, got {sorted(by_id)}")
    return [by_id[i] for i in range(1, len(by_id) + 1)]


def read_ucf_split(path: str, classes: list[str]) -> tuple[list[str], list[int]]:
    """Read a ``trainlist0N.txt`` or ``testlist0N.txt``.

    The class of a video is its folder's; a train list's 1-based label must agree with it.

    Args:
        path: lines ``"Class/v_X.avi 1"`` (train lists) or ``"Class/v_X.avi"`` (test lists).
        classes: class names from :func:`read_ucf_class_index`.

    Returns:
        ``(relative paths, 0-based labels)`` in file order.

    Raises:
        ValueError: a line with more than two fields, a path without a class folder, an
            unknown class, or a label that is not the folder's; the message names the file
            and the 1-based line number.
    """
    index = {name: i for i, name in enumerate(classes)}
    paths, labels = [], []
    for lineno, fields in _lines(path):
        where = f"{path}:{lineno}"
        if len(fields) > 2:
            raise ValueError(f"{where}: expected 'Class/video.avi [label]', got {fields}")
        folder = os.path.dirname(fields[0])
        if folder not in index:
            raise ValueError(f"{where}: class folder {folder!r} of {fields[0]!r} not in classInd")
        label = index[folder]
        if len(fields) == 2 and fields[1] != str(label + 1):
            raise ValueError(
                f"{where}: label {fields[1]!r} disagrees with folder {folder!r} (id {label + 1})"
            )
        paths.append(fields[0])
        labels.append(label)
    if not paths:
        raise ValueError(f"{path}: no videos listed")
    return paths, labels


def read_hmdb_splits(
    split_dir: str, split: int, subset: str
) -> tuple[list[str], list[str], list[int]]:
    """Read the 51 ``{class}_test_split{split}.txt`` files of one split.

    Args:
        split_dir: directory holding the per-class split files.
        split: 1, 2 or 3.
        subset: "train" (videos marked 1) or "test" (marked 2).

    Returns:
        ``(class names sorted, relative paths "class/video.avi", 0-based labels)``; videos
        are in class order, then file order.

    Raises:
        ValueError: no split file for ``split``, or a line that is not ``"video.avi 0|1|2"``;
            the message names the file and the 1-based line number.
    """
    if subset not in HMDB_SUBSET_IDS:
        raise ValueError(f"subset must be one of {list(HMDB_SUBSET_IDS)}, got {subset!r}")
    files = {}
    for path in glob.glob(os.path.join(glob.escape(split_dir), f"*_test_split{split}.txt")):
        match = _HMDB_SPLIT_FILE.match(os.path.basename(path))
        if match and int(match["split"]) == split:
            files[match["name"]] = path
    if not files:
        raise ValueError(f"{split_dir}: no '<class>_test_split{split}.txt' files")
    classes = sorted(files)
    wanted = str(HMDB_SUBSET_IDS[subset])
    paths, labels = [], []
    for label, name in enumerate(classes):
        for lineno, fields in _lines(files[name]):
            if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
                raise ValueError(
                    f"{files[name]}:{lineno}: expected 'video.avi 0|1|2', got {fields}"
                )
            if fields[1] == wanted:
                paths.append(f"{name}/{fields[0]}")
                labels.append(label)
    if not paths:
        raise ValueError(f"{split_dir}: split {split} lists no {subset} videos")
    return classes, paths, labels


def _check_split(split: int) -> None:
    if split not in range(1, NUM_SPLITS + 1):
        raise ValueError(f"config DATA.SPLIT: {split}; the official splits are 1, 2 and 3")


@DATASETS.register()
class UCF101(ClipDataset):
    """UCF101 from ``classInd.txt`` and one train or test list.

    Items, views and failure handling are those of :class:`ClipDataset`.

    Args:
        class_index_file: ``classInd.txt``.
        split_file: ``trainlist0N.txt`` or ``testlist0N.txt``.
        path_prefix: the ``UCF-101`` directory holding ``Class/v_X.avi``.
        **kwargs: the clip arguments of :class:`ClipDataset` (``training``, ``clip``,
            ``transform``, ...), all but ``paths`` and ``labels``.
    """

    def __init__(
        self,
        *,
        class_index_file: str,
        split_file: str,
        path_prefix: str = "",
        **kwargs: Any,
    ):
        self.split_file = split_file
        self.classes = read_ucf_class_index(class_index_file)
        self.class_names = self.classes
        rel_paths, labels = read_ucf_split(split_file, self.classes)
        paths = [os.path.join(path_prefix, p) for p in rel_paths]
        super().__init__(paths=paths, labels=labels, **kwargs)

    @classmethod
    def from_config(cls, cfg, split: str) -> dict[str, Any]:
        """Constructor arguments for ``split``: ``trainlist0{DATA.SPLIT}.txt`` for "train",
        ``testlist0{DATA.SPLIT}.txt`` for "val" and "test", in DATA.PATH_TO_DATA_DIR."""
        kwargs = super().from_config(cfg, split)
        d = cfg.DATA
        _check_split(d.SPLIT)
        name = "trainlist" if split == "train" else "testlist"
        return {
            "class_index_file": os.path.join(d.PATH_TO_DATA_DIR, "classInd.txt"),
            "split_file": os.path.join(d.PATH_TO_DATA_DIR, f"{name}{d.SPLIT:02d}.txt"),
            "path_prefix": d.PATH_PREFIX,
            **kwargs,
        }


@DATASETS.register()
class HMDB51(ClipDataset):
    """HMDB51 from its per-class split files.

    Items, views and failure handling are those of :class:`ClipDataset`.

    Args:
        split_dir: directory of ``{class}_test_split{N}.txt`` files.
        split: which official split, 1, 2 or 3 (DATA.SPLIT).
        subset: "train" or "test".
        path_prefix: directory holding ``{class}/{video}.avi``.
        **kwargs: the clip arguments of :class:`ClipDataset` (``training``, ``clip``,
            ``transform``, ...), all but ``paths`` and ``labels``.
    """

    def __init__(
        self,
        *,
        split_dir: str,
        split: int,
        subset: str,
        path_prefix: str = "",
        **kwargs: Any,
    ):
        self.classes, rel_paths, labels = read_hmdb_splits(split_dir, split, subset)
        self.class_names = self.classes
        paths = [os.path.join(path_prefix, p) for p in rel_paths]
        super().__init__(paths=paths, labels=labels, **kwargs)

    @classmethod
    def from_config(cls, cfg, split: str) -> dict[str, Any]:
        """Constructor arguments for ``split``: split DATA.SPLIT of the files in
        DATA.PATH_TO_DATA_DIR, its train videos for "train", its test videos otherwise."""
        kwargs = super().from_config(cfg, split)
        d = cfg.DATA
        _check_split(d.SPLIT)
        return {
            "split_dir": d.PATH_TO_DATA_DIR,
            "split": d.SPLIT,
            "subset": "train" if split == "train" else "test",
            "path_prefix": d.PATH_PREFIX,
            **kwargs,
        }
