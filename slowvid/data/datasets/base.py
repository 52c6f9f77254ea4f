"""The contract every dataset keeps with the loader, the engine and the model.

:class:`VideoDataset` owns what every dataset did for itself before: drawing an item's
randomness, retrying a failed item in training (another random item) and accounting for the
failure (its path in the item's ``"failed"`` list, so the main process counts failures whatever
worker read them). A subclass says how one item is read (:meth:`VideoDataset.load_item`) and
declares the rest:

- ``collate_fn``: how items become a batch (``collate_clips`` unless items carry boxes or the like);
- ``make_evaluator(output_dir, tag)``: what scores the model's outputs on this split;
- ``train_metrics(logits, labels)``: what the trainer logs besides the loss;
- ``extra_pathways`` / ``extra_args``: the inputs it gives beyond the clips (AVKinetics' audio,
  AVA's boxes), which must be what the model's input spec takes;
- ``supports_crop_override``: whether multigrid's short cycle may ask for other crops;
- ``frame_folders_supported``: whether DATA.VIDEO_FORMAT "frames" folders can replace its files.

``tests/data/test_dataset_contract.py`` holds every registered dataset to this.
"""

from __future__ import annotations

import logging
import random
from typing import Any, ClassVar

import torch

from slowvid.data.collate import collate_clips
from slowvid.data.decoding import DecodeError
from slowvid.evaluation import Evaluator
from slowvid.models.base import InputSpec

__all__ = ["VideoDataset"]

logger = logging.getLogger(__name__)


class VideoDataset(torch.utils.data.Dataset):
    """Items read with retry and failure accounting in one place.

    An item is a dict with ``"inputs"`` (the clip pathways, then any extra pathways; None when
    the item failed), ``"video_index"`` and ``"failed"`` (paths that could not be read, in
    order), plus what the subclass adds (``"label"``, boxes, ...). Indices may be
    ``(index, crop_size)`` pairs when ``supports_crop_override``.

    Randomness comes from the ``random`` module, which the data loader seeds per worker: each
    item draws a private generator from it, so one item's draws do not depend on how many
    earlier items made.

    Subclasses set, in ``__init__``: ``training`` (bool), ``num_retries`` (replacement items
    tried after a failure in training) and ``input_spec`` (what the model takes, see
    :meth:`check_input_spec`).
    """

    # Names of the per-clip tensors the subclass's items append to "inputs" after the clips.
    extra_pathways: ClassVar[tuple[str, ...]] = ()
    # Names of the per-batch tensors its collate_fn puts in batch["extra_inputs"].
    extra_args: ClassVar[tuple[str, ...]] = ()
    # Items may be (index, crop_size): multigrid's short cycle changes the crop per batch.
    supports_crop_override: ClassVar[bool] = False
    # DATA.VIDEO_FORMAT "frames" (numbered frame folders) can stand for its video files.
    frame_folders_supported: ClassVar[bool] = False

    # Clips (views) one item holds; the loader's batch size counts clips, so batches of
    # evaluation items holding a video's every view take fewer items (set per instance).
    views_per_item: int = 1
    # Class names by label, where the data set knows them (test logs, demo overlays).
    class_names: list[str] | None = None

    training: bool
    num_retries: int
    input_spec: InputSpec

    # ------------------------------------------------------------------ what subclasses write
    def __len__(self) -> int:
        raise NotImplementedError

    @property
    def num_videos(self) -> int:
        """Videos (or segments, or movies) the items come from."""
        raise NotImplementedError

    def load_item(
        self, index: int, rng: random.Random, crop_size: int | None = None
    ) -> dict[str, Any]:
        """Item ``index`` without its ``"failed"`` entry.

        Args:
            index: the item.
            rng: the item's randomness (clip start, augmentation).
            crop_size: another training crop (only with ``supports_crop_override``).

        Raises:
            DecodeError: its video (or a frame) cannot be read.
        """
        raise NotImplementedError

    def failed_item(self, index: int) -> dict[str, Any]:
        """What an item whose reading failed in evaluation carries besides ``"inputs": None``
        and ``"failed"``: at least its ``"video_index"``."""
        raise NotImplementedError

    def make_evaluator(self, output_dir: str, tag: str) -> Evaluator:
        """The evaluator of this split (val or test): the engine's one inference loop feeds it
        every batch and the model's outputs.

        Args:
            output_dir: where it may write files (AVA's detections csv).
            tag: names this evaluation in those files, e.g. "val_10" or "test_0".
        """
        raise NotImplementedError

    def failure_path(self, index: int, err: DecodeError) -> str:
        """The path a failure of item ``index`` is reported (and counted) under."""
        return err.path

    @property
    def collate_fn(self):
        """Batches a list of items (:func:`~slowvid.data.collate.collate_clips` by default)."""
        return collate_clips

    def train_metrics(self, logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        """Numbers the trainer logs for a training batch besides the loss; none by default."""
        return {}

    # ------------------------------------------------------------------ shared
    def check_input_spec(self, spec: InputSpec) -> None:
        """Check the model's inputs beyond its clips against what this dataset gives.

        Raises:
            ValueError: they differ; the message names both sides.
        """
        if (spec.extra_pathways, spec.extra_args) != (self.extra_pathways, self.extra_args):
            raise ValueError(
                f"the model (MODEL.MODEL_NAME) takes {list(spec.extra_pathways)} after its clips "
                f"and {list(spec.extra_args)} beside them, but {type(self).__name__} gives "
                f"{list(self.extra_pathways)} and {list(self.extra_args)}: pick a dataset and a "
                "model that agree (e.g. AVKinetics for AVSlowFast, Ava for ActionDetector)"
            )

    def __getitem__(self, index: int | tuple[int, int]) -> dict[str, Any]:
        """Item ``index`` (or ``(index, crop_size)``), replaced by random ones in training
        while it fails (up to ``num_retries`` times); in evaluation a failed item comes back
        with ``"inputs": None``."""
        rng = random.Random(random.getrandbits(64))
        crop_size = None
        if isinstance(index, tuple):
            index, crop_size = index
        failed: list[str] = []
        original = index
        for _ in range(1 + (self.num_retries if self.training else 0)):
            try:
                return {**self.load_item(index, rng, crop_size), "failed": failed}
            except DecodeError as err:
                logger.warning("Skipping a failed item: %s", err)
                failed.append(self.failure_path(index, err))
                if self.training:
                    index = rng.randrange(len(self))
        return {**self.failed_item(original), "inputs": None, "failed": failed}
