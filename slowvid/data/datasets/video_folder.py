"""Training on your own videos: a folder of class folders, ``root/<class name>/<videos>``.

:func:`scan_video_folder` lists the videos (any container the decoders read: mp4, webm, mkv,
avi, mov, ...; sub-folders of a class folder are walked too) and names what it leaves out: files
that are not videos by their extension, empty files, class folders without a video, files
outside a class folder. Classes are the class folders that hold a video, in sorted order.

:func:`stratified_split` holds out a share of every class, deterministically: a class's videos
are ordered by a hash of their path and the first ``round(n * fraction)`` are held out (at least
one when the class has two videos or more, never all), so the split does not depend on the
order the file system lists them in, and adding videos moves few others.

:class:`VideoFolder` (TRAIN.DATASET / TEST.DATASET VideoFolder, never chosen implicitly) reads
``root`` = DATA.PATH_TO_DATA_DIR. With split files in ``root`` (``train.csv``, ``val.csv``,
optional ``test.csv`` and ``classnames.json``, as ``tools/make_splits.py`` writes them) it reads
those. Without, it splits the folder (DATA.VAL_FRACTION held out) and writes the split beside
the run, ``OUTPUT_DIR/splits/{train,val}.csv``, and the class names to
``OUTPUT_DIR/classnames.json`` (where ``tools/demo_net.py`` finds them); a re-run with the same
OUTPUT_DIR reads them back, so it trains and tests on the same videos. "test" reads
``test.csv`` when there is one, else the held-out ``val.csv``.

Split files are Kinetics' ``relative/path label`` lines; the label is split off at the last
separator, so file names with spaces read back.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from slowvid.data.class_names import CLASS_NAMES_FILE, read_class_names, write_class_names
from slowvid.data.frames import VIDEO_EXTENSIONS
from slowvid.registry import DATASETS

from .kinetics import Kinetics

__all__ = ["FolderScan", "VideoFolder", "scan_video_folder", "stratified_split", "write_split"]

logger = logging.getLogger(__name__)

# Files make_splits.py and users put in the root beside the class folders.
_ROOT_FILES = {"train.csv", "val.csv", "test.csv", CLASS_NAMES_FILE}
_REPORTED: set[tuple[str, str]] = set()


@dataclass
class FolderScan:
    """What :func:`scan_video_folder` found.

    Attributes:
        classes: class names (folders holding at least one video), sorted.
        videos: ``(path relative to the root, label)`` of every video, by class then path.
        skipped: one message per thing left out, naming it.
    """

    classes: list[str] = field(default_factory=list)
    videos: list[tuple[str, int]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _is_video(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS


def scan_video_folder(root: str) -> FolderScan:
    """List the videos of ``root/<class>/...``.

    Raises:
        ValueError: ``root`` is not a directory or holds no video in a class folder.
    """
    if not os.path.isdir(root):
        raise ValueError(f"{root}: not a directory (expected root/<class name>/<videos>)")
    scan = FolderScan()
    entries = sorted(os.listdir(root))
    for name in entries:
        path = os.path.join(root, name)
        if name.startswith(".") or os.path.isdir(path) or name in _ROOT_FILES:
            continue
        scan.skipped.append(f"{path}: not in a class folder")
    for name in (e for e in entries if not e.startswith(".")):
        folder = os.path.join(root, name)
        if not os.path.isdir(folder):
            continue
        found = []
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for filename in sorted(f for f in filenames if not f.startswith(".")):
                path = os.path.join(dirpath, filename)
                if not _is_video(filename):
                    scan.skipped.append(
                        f"{path}: not a video file (extensions read: {', '.join(VIDEO_EXTENSIONS)})"
                    )
                elif os.path.getsize(path) == 0:
                    scan.skipped.append(f"{path}: empty file")
                else:
                    found.append(os.path.relpath(path, root))
        if not found:
            scan.skipped.append(f"{folder}: class folder without a video, not a class")
            continue
        label = len(scan.classes)
        scan.classes.append(name)
        scan.videos += [(path, label) for path in found]
    if not scan.classes:
        raise ValueError(f"{root}: no class folder with a video (expected root/<class>/<videos>)")
    return scan


def stratified_split(
    videos: Sequence[tuple[str, int]], fraction: float
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """``(kept, held out)``: ``round(n * fraction)`` videos of each class held out, at least
    one of a class of two or more when ``fraction > 0``, never the last one; both lists keep
    the input order.

    Raises:
        ValueError: ``fraction`` outside ``[0, 1)``.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must lie in [0, 1), got {fraction}")
    by_class: dict[int, list[str]] = {}
    for path, label in videos:
        by_class.setdefault(label, []).append(path)
    held: set[str] = set()
    for paths in by_class.values():
        n = len(paths)
        count = round(n * fraction)
        if fraction > 0 and n >= 2:
            count = max(count, 1)
        count = min(count, n - 1)
        ranked = sorted(paths, key=lambda p: hashlib.sha1(p.encode("utf-8")).hexdigest())
        held.update(ranked[:count])
    return [v for v in videos if v[0] not in held], [v for v in videos if v[0] in held]


def write_split(path: str, videos: Sequence[tuple[str, int]], separator: str = " ") -> None:
    """Write ``path label`` lines atomically (several processes may write the same file)."""
    tmp = f"{path}.{os.getpid()}.part"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(f"{p}{separator}{label}\n" for p, label in videos)
    os.replace(tmp, path)


def read_split_lines(
    path: str, separator: str, require_labels: bool = True
) -> tuple[list[str], list[int]]:
    """``path label`` lines, the label split off at the last separator; without
    ``require_labels`` a line that does not end in a label is a path alone (label -1, TASK ssl).

    Raises:
        ValueError: a line without a separator or with a label that is not an integer; the
            message names the file and line.
    """
    paths, labels = [], []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            head, sep, label = line.rpartition(separator)
            if not require_labels and not (sep and head and label.strip().isdigit()):
                paths.append(line)
                labels.append(-1)
                continue
            if not sep or not head or not label.strip().isdigit():
                raise ValueError(f"{path}:{lineno}: expected 'path{separator}label', got {line!r}")
            paths.append(head)
            labels.append(int(label))
    if not paths:
        raise ValueError(f"{path}: no videos listed")
    return paths, labels


def prepare_splits(
    root: str, split_dir: str, names_file: str, val_fraction: float, separator: str = " "
) -> str:
    """The directory holding the split files: ``root`` when it has ``train.csv``, else
    ``split_dir``, where the folder's split is written unless an earlier run wrote it (and
    the class names to ``names_file``).

    Every call scans ``root`` and logs what it leaves out; a saved split that no longer
    matches the folder is kept (a warning says how it differs).
    """
    if os.path.isfile(os.path.join(root, "train.csv")):
        return root
    scan = scan_video_folder(root)
    for message in scan.skipped:
        if (split_dir, message) not in _REPORTED:  # once per run, not once per split
            _REPORTED.add((split_dir, message))
            logger.warning("VideoFolder: skipping %s", message)
    if os.path.isfile(os.path.join(split_dir, "val.csv")):
        listed = set()
        for name in ("train.csv", "val.csv"):
            listed.update(read_split_lines(os.path.join(split_dir, name), separator)[0])
        new = [p for p, _ in scan.videos if p not in listed]
        if new:
            logger.warning(
                "VideoFolder: %d videos of %s are not in the split saved in %s (e.g. %s); "
                "remove that folder to split again",
                len(new),
                root,
                split_dir,
                new[0],
            )
        return split_dir
    train, val = stratified_split(scan.videos, val_fraction)
    os.makedirs(split_dir, exist_ok=True)
    # The names first, the split files last: val.csv marks a complete split.
    write_class_names(names_file, scan.classes)
    write_split(os.path.join(split_dir, "train.csv"), train, separator)
    write_split(os.path.join(split_dir, "val.csv"), val, separator)
    logger.info(
        "VideoFolder: %d classes, %d train and %d val videos of %s; split written to %s",
        len(scan.classes),
        len(train),
        len(val),
        root,
        split_dir,
    )
    return split_dir


@DATASETS.register()
class VideoFolder(Kinetics):
    """Video classification from ``root/<class>/<videos>``, split by files or by the folder.

    Items, views and failure handling are those of :class:`ClipDataset`; a video that does
    not decode is named and replaced in training, left out of the scores in testing.

    Args:
        root: the folder of class folders.
        split: "train", "val" or "test".
        run_dir: where the folder's own split (``splits/``) and ``classnames.json`` are
            written and read back: the run's OUTPUT_DIR.
        val_fraction: share of each class held out for val and test.
        num_classes: the model's classes; must equal the folder's.
        separator: between path and label in the split files.
        **kwargs: the clip arguments of :class:`ClipDataset`, all but ``paths`` and
            ``labels``.

    Raises:
        ValueError: no video found, a malformed split file, or another class count.
    """

    def __init__(
        self,
        *,
        root: str,
        split: str,
        run_dir: str,
        val_fraction: float = 0.2,
        num_classes: int | None = None,
        separator: str = " ",
        **kwargs: Any,
    ):
        names_file = os.path.join(run_dir, CLASS_NAMES_FILE)
        split_dir = os.path.join(run_dir, "splits")
        directory = prepare_splits(root, split_dir, names_file, val_fraction, separator)
        name = f"{split}.csv"
        if split == "test" and not os.path.isfile(os.path.join(directory, name)):
            name = "val.csv"
        self.root = root
        split_file = os.path.join(directory, name)
        super().__init__(split_file=split_file, path_prefix=root, separator=separator, **kwargs)
        if directory == split_dir:
            self.class_names = read_class_names(names_file)
        if num_classes is None:
            if self.class_names:
                self.num_classes = len(self.class_names)  # what evaluation scores
            return
        self.num_classes = num_classes
        if self.class_names and len(self.class_names) != num_classes:
            count = len(self.class_names)
            raise ValueError(
                f"{root} has {count} classes ({', '.join(self.class_names)}) but "
                f"MODEL.NUM_CLASSES is {num_classes}; set MODEL.NUM_CLASSES {count}"
            )
        if max(self.labels) >= num_classes:  # split files without a names file
            raise ValueError(
                f"{split_file}: label {max(self.labels)} but MODEL.NUM_CLASSES is {num_classes}"
            )

    @staticmethod
    def read_split_file(
        path: str, separator: str, require_labels: bool = True
    ) -> tuple[list[str], list[int]]:
        return read_split_lines(path, separator, require_labels)

    @classmethod
    def from_config(cls, cfg, split: str) -> dict[str, Any]:
        """Root DATA.PATH_TO_DATA_DIR, DATA.VAL_FRACTION, the split beside the run in
        OUTPUT_DIR, MODEL.NUM_CLASSES checked against the folder."""
        kwargs = super().from_config(cfg, split)
        for key in ("split_file", "path_prefix"):
            kwargs.pop(key)
        return {
            **kwargs,
            "root": cfg.DATA.PATH_TO_DATA_DIR,
            "split": split,
            "run_dir": cfg.OUTPUT_DIR,
            "val_fraction": cfg.DATA.VAL_FRACTION,
            "num_classes": cfg.MODEL.NUM_CLASSES,
        }
