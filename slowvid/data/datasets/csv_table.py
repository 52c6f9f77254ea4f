"""Reading csv files with a header line by column name, with errors that name the file and line."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

__all__ = ["parse_rows", "read_csv_table"]

T = TypeVar("T")


def read_csv_table(path: str, required: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line number, {column: value})`` for each non-empty row; extra columns are kept.

    Raises:
        ValueError: an empty file, columns missing from the header (all of them named), or a
            row with another number of fields than the header; the message names the file and
            the line.
    """
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path}: empty file, expected a header line with {list(required)}")
        header = [name.strip() for name in header]
        missing = [c for c in required if c not in header]
        if missing:
            raise ValueError(f"{path}:1: header lacks columns {missing}; got {header}")
        for row in reader:
            if not row or not any(field.strip() for field in row):
                continue
            if len(row) != len(header):
                raise ValueError(
                    f"{path}:{reader.line_num}: expected {len(header)} fields "
                    f"({','.join(header)}), got {len(row)}: {row}"
                )
            yield reader.line_num, {name: value.strip() for name, value in zip(header, row)}


def parse_rows(path: str, required: Sequence[str], parse: Callable[[dict[str, str]], T]) -> list[T]:
    """``parse`` applied to every row of :func:`read_csv_table`; a ValueError it raises is
    re-raised with the file and line in front."""
    out = []
    for lineno, row in read_csv_table(path, required):
        try:
            out.append(parse(row))
        except ValueError as err:
            raise ValueError(f"{path}:{lineno}: {err}") from None
    return out
