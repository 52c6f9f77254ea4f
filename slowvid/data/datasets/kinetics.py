"""Kinetics-style video classification datasets (Kinetics-400/600/700 and any folder of videos
listed as ``path label`` lines).

Split files are ``{split}.csv`` in a data directory, one video a line: a path (joined to a
prefix) and an integer label, separated by one separator string. A custom set in this layout
needs no code; a set that only differs in its ``path label`` file syntax subclasses
:class:`Kinetics` and overrides :meth:`Kinetics.read_split_file`. Sets with their own
annotation files (``ssv2.py``, ``ucf_hmdb.py``) subclass
:class:`~slowvid.data.datasets.clip_dataset.ClipDataset` instead.

A ``classnames.json`` beside the split file (a json list, or PySlowFast's ``{name: id}``) names
the classes in the test log and the demo's overlay.
"""

from __future__ import annotations

import os
from typing import Any

from slowvid.data.class_names import CLASS_NAMES_FILE, read_class_names
from slowvid.registry import DATASETS

from .clip_dataset import ClipDataset

__all__ = ["Kinetics", "read_split_file"]


def read_split_file(
    path: str, separator: str = " ", require_labels: bool = True
) -> tuple[list[str], list[int]]:
    """Read ``path label`` lines; blank lines are skipped.

    Args:
        path: the split file.
        separator: string between the path and the label.
        require_labels: False accepts lines holding a path only (label -1), for training
            without labels (TASK ssl).

    Returns:
        ``(paths, labels)``, in file order.

    Raises:
        ValueError: a line does not have exactly two fields (one or two without
            ``require_labels``) or its label is not an integer; the message names the file and
            the 1-based line number.
    """
    paths, labels = [], []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split(separator)
            if len(fields) == 1 and not require_labels:
                paths.append(fields[0])
                labels.append(-1)
                continue
            if len(fields) != 2:
                raise ValueError(
                    f"{path}:{lineno}: expected 'path{separator}label' (2 fields split by "
                    f"{separator!r}), got {len(fields)} fields in {line!r}"
                )
            try:
                label = int(fields[1])
            except ValueError:
                raise ValueError(
                    f"{path}:{lineno}: label {fields[1]!r} is not an integer in {line!r}"
                ) from None
            paths.append(fields[0])
            labels.append(label)
    if not paths:
        raise ValueError(f"{path}: no videos listed")
    return paths, labels


@DATASETS.register()
class Kinetics(ClipDataset):
    """Video classification from a ``path label`` list.

    Items, views and failure handling are those of :class:`ClipDataset`.

    Args:
        split_file: the ``path label`` list.
        path_prefix: joined in front of every listed path.
        separator: between path and label in ``split_file``.
        require_labels: False reads lines of a path only too (label -1), for TASK ssl.
        **kwargs: the clip arguments of :class:`ClipDataset` (``training``, ``clip``,
            ``transform``, ...), all but ``paths`` and ``labels``.
    """

    def __init__(
        self,
        *,
        split_file: str,
        path_prefix: str = "",
        separator: str = " ",
        require_labels: bool = True,
        **kwargs: Any,
    ):
        self.split_file = split_file
        rel_paths, labels = self.read_split_file(split_file, separator, require_labels)
        paths = [os.path.join(path_prefix, p) for p in rel_paths]
        super().__init__(paths=paths, labels=labels, **kwargs)
        names_file = os.path.join(os.path.dirname(split_file), CLASS_NAMES_FILE)
        if os.path.isfile(names_file):
            self.class_names = read_class_names(names_file)

    @staticmethod
    def read_split_file(
        path: str, separator: str, require_labels: bool = True
    ) -> tuple[list[str], list[int]]:
        """Paths and labels of one split; subclasses with other layouts override this."""
        return read_split_file(path, separator, require_labels)

    @classmethod
    def from_config(cls, cfg, split: str) -> dict[str, Any]:
        """Constructor arguments for ``split`` ("train", "val" or "test"): the split file is
        ``DATA.PATH_TO_DATA_DIR/{split}.csv``; with TASK ssl its lines may hold a path only."""
        kwargs = super().from_config(cfg, split)
        d = cfg.DATA
        return {
            "split_file": os.path.join(d.PATH_TO_DATA_DIR, f"{split}.csv"),
            "path_prefix": d.PATH_PREFIX,
            "separator": d.PATH_LABEL_SEPARATOR,
            "require_labels": cfg.TASK != "ssl",
            **kwargs,
        }
