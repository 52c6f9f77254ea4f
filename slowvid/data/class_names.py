"""Class names files: ``classnames.json`` beside a data set or a run.

Two forms are read: a json list (position = class index; what ``tools/make_demo_data.py``,
``tools/make_splits.py`` and :class:`~slowvid.data.datasets.VideoFolder` write) and PySlowFast's
json object ``{"name": index}`` (its Kinetics ``classids.json`` and ``DEMO.LABEL_FILE_PATH``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence

__all__ = ["CLASS_NAMES_FILE", "find_class_names", "read_class_names", "write_class_names"]

CLASS_NAMES_FILE = "classnames.json"


def read_class_names(path: str) -> list[str]:
    """Class names by index from a json list or a ``{name: index}`` object.

    Raises:
        ValueError: not json, not one of the two forms, or indices that are not 0..N-1; the
            message names the file.
    """
    with open(path, encoding="utf-8") as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not json ({err})") from None
    if isinstance(data, list) and all(isinstance(name, str) for name in data):
        return list(data)
    if isinstance(data, dict) and all(isinstance(i, int) for i in data.values()):
        by_index = {i: name for name, i in data.items()}
        if sorted(by_index) != list(range(len(data))):
            raise ValueError(f"{path}: class indices must be 0..{len(data) - 1} once each")
        return [by_index[i] for i in range(len(data))]
    raise ValueError(f"{path}: expected a json list of names or an object {{name: index}}")


def write_class_names(path: str, names: Sequence[str]) -> None:
    """Write ``names`` as a json list, atomically (several processes may write the same)."""
    tmp = f"{path}.{os.getpid()}.part"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(list(names), f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


def find_class_names(directories: Iterable[str], num_classes: int) -> list[str] | None:
    """The names in the first ``classnames.json`` found in ``directories`` that has
    ``num_classes`` of them (a file for another class count belongs to another run)."""
    for directory in directories:
        path = os.path.join(directory, CLASS_NAMES_FILE)
        if directory and os.path.isfile(path):
            names = read_class_names(path)
            if len(names) == num_classes:
                return names
    return None
