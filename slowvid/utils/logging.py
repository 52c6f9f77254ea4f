"""Logging for multi-process runs: console, per-rank files, json stats lines, TensorBoard.

Only rank 0 writes to the console, so N processes do not print every line N times; every rank
keeps its own file (``logs/log_rank{rank}.txt``), so a rank that hangs or fails can still be
diagnosed. Stats go both to the console as ``json_stats: {...}`` (the line PySlowFast's log
parsers look for) and, on rank 0, to ``stats.jsonl`` for plotting.
"""

import logging
import math
import os
import sys
from collections.abc import Mapping
from typing import Any

import simplejson
import torch
from iopath.common.file_io import g_pathmgr

__all__ = [
    "TensorboardWriter",
    "build_tensorboard_writer",
    "get_logger",
    "log_json_stats",
    "setup_logging",
]

_CONSOLE_FORMAT = "[%(asctime)s %(levelname)s %(name)s] %(message)s"
_FILE_FORMAT = "[%(asctime)s %(levelname)s %(name)s %(filename)s:%(lineno)d] %(message)s"
_DATE_FORMAT = "%m/%d %H:%M:%S"
# Marks the handlers setup_logging installs, so a second call replaces them instead of
# doubling every line.
_HANDLER_TAG = "_slowvid_handler"

_logger = logging.getLogger(__name__)


def _current_rank() -> int:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank()
    return 0


def setup_logging(output_dir: str | None, rank: int = 0) -> None:
    """Configure the root logger for this process.

    Args:
        output_dir (str | None): the run's output directory; the log file goes to
            ``{output_dir}/logs/log_rank{rank}.txt``. None logs to the console only.
        rank (int): global rank of this process; only rank 0 logs to the console.
    """
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_TAG, False):
            root.removeHandler(handler)
            handler.close()
            if handler.stream not in (sys.stdout, sys.stderr):
                handler.stream.close()

    handlers: list[logging.Handler] = []
    if rank == 0:
        console = logging.StreamHandler(sys.stdout)
        console.setFormatter(logging.Formatter(_CONSOLE_FORMAT, datefmt=_DATE_FORMAT))
        handlers.append(console)
    if output_dir:
        log_dir = os.path.join(output_dir, "logs")
        g_pathmgr.mkdirs(log_dir)
        stream = g_pathmgr.open(os.path.join(log_dir, f"log_rank{rank}.txt"), "a")
        file_handler = logging.StreamHandler(stream)
        file_handler.setFormatter(logging.Formatter(_FILE_FORMAT, datefmt=_DATE_FORMAT))
        handlers.append(file_handler)
    for handler in handlers:
        handler.setLevel(logging.INFO)
        setattr(handler, _HANDLER_TAG, True)
        root.addHandler(handler)
    # Library warnings (e.g. from torch) then reach the per-rank files too.
    logging.captureWarnings(True)


def get_logger(name: str) -> logging.Logger:
    """The logger called ``name`` (use ``__name__``)."""
    return logging.getLogger(name)


def _round_floats(value: Any) -> Any:
    # Six significant digits keep small learning rates (1e-5) while dropping float noise.
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    elif hasattr(value, "item") and hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0:
        value = value.item()  # numpy scalars
    if isinstance(value, float):
        return value if not math.isfinite(value) else float(f"{value:.6g}")
    if isinstance(value, Mapping):
        return {str(k): _round_floats(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_round_floats(v) for v in value]
    return value


def log_json_stats(
    stats: Mapping[str, Any], output_dir: str | None = None, *, rank: int | None = None
) -> str:
    """Log ``json_stats: {...}`` and, on rank 0, append the json to ``{output_dir}/stats.jsonl``.

    Args:
        stats (Mapping): flat or nested; floats are rounded to 6 significant digits, 1-element
            tensors become numbers, and nan/inf are written as null (valid json).
        output_dir (str | None): where ``stats.jsonl`` lives; None only logs the line.
        rank (int | None): global rank; None reads it from torch.distributed (0 if absent).

    Returns:
        str: the json text.
    """
    text = simplejson.dumps(_round_floats(stats), sort_keys=False, ignore_nan=True)
    _logger.info("json_stats: %s", text)
    rank = _current_rank() if rank is None else rank
    if output_dir and rank == 0:
        g_pathmgr.mkdirs(output_dir)
        with g_pathmgr.open(os.path.join(output_dir, "stats.jsonl"), "a") as f:
            f.write(text + "\n")
    return text


class TensorboardWriter:
    """A SummaryWriter on rank 0, created at the first write; a no-op on other ranks.

    Creating it lazily means runs that never log (e.g. test-only) leave no empty event files,
    and importing tensorboard is paid only when it is used.
    """

    def __init__(self, log_dir: str, *, rank: int = 0, enabled: bool = True):
        """
        Args:
            log_dir (str): directory for the event files.
            rank (int): global rank of this process; only rank 0 writes.
            enabled (bool): False makes every call a no-op.
        """
        self.log_dir = log_dir
        self.active = enabled and rank == 0
        self._writer = None

    def _get_writer(self):
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            g_pathmgr.mkdirs(self.log_dir)
            self._writer = SummaryWriter(log_dir=self.log_dir)
        return self._writer

    def add_scalars(self, scalars: Mapping[str, float], step: int) -> None:
        """Write each ``name: value`` as its own scalar series at ``step``."""
        if not self.active or not scalars:
            return
        writer = self._get_writer()
        for name, value in scalars.items():
            if isinstance(value, torch.Tensor):
                value = value.item()
            writer.add_scalar(name, value, step)

    def add_image(self, name: str, image: torch.Tensor, step: int) -> None:
        """Write a uint8 ``(3, H, W)`` RGB image (e.g. a confusion matrix) at ``step``."""
        if self.active:
            self._get_writer().add_image(name, image, step, dataformats="CHW")

    def summary_writer(self):
        """The underlying ``SummaryWriter`` for richer summaries (None on other ranks)."""
        return self._get_writer() if self.active else None

    def flush(self) -> None:
        """Write pending events to disk."""
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file (safe to call more than once)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def build_tensorboard_writer(cfg, rank: int = 0) -> TensorboardWriter:
    """TensorboardWriter for ``cfg.TENSORBOARD`` (LOG_DIR "" means OUTPUT_DIR/tensorboard)."""
    log_dir = cfg.TENSORBOARD.LOG_DIR or os.path.join(cfg.OUTPUT_DIR, "tensorboard")
    return TensorboardWriter(log_dir, rank=rank, enabled=cfg.TENSORBOARD.ENABLE)
