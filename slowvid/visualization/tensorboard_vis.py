"""What a test pass shows in TensorBoard beyond scalars.

- misclassified clips as animated GIFs, titled with true and predicted class names
  (TENSORBOARD.WRONG_PRED_VIS);
- per-class accuracy of the ensembled videos as a bar chart (single-label sets);
- precision-recall curves per class (multi-label sets);
- Grad-CAM heat maps of the first clips, one GIF per pathway (TENSORBOARD.MODEL_VIS.GRAD_CAM);
- the first training batch after augmentation (TENSORBOARD.MODEL_VIS.INPUT_VIDEO), written by
  :func:`write_input_clips` from a training hook.

Videos are GIFs in image summaries, which TensorBoard's image dashboard animates: this is what
``SummaryWriter.add_video`` writes, without its moviepy dependency.

:class:`TestGalleries` has a narrow interface, so any evaluation loop can drive it::

    galleries.update(inputs, probs, labels, video_idx)   # each test batch
    galleries.write(writer, step)                        # once, at the end

Charts are over the videos this process saw (all of them in a one-process test; rank 0's share
under DDP, where the galleries live on rank 0 only), with a video's views summed (single-label)
or max-pooled (multi-label), as the evaluators pool them.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from slowvid.data.class_names import find_class_names, read_class_names
from slowvid.models.losses import scores_of

from .gradcam import GradCAM, default_target_layers, overlay_heatmap

__all__ = [
    "TestGalleries",
    "add_gif",
    "bar_chart",
    "clip_to_frames",
    "gallery_class_names",
    "write_input_clips",
]

logger = logging.getLogger(__name__)


def gallery_class_names(path: str, num_classes: int, search: Sequence[str] = ()) -> list[str]:
    """Names from ``path`` (json list or PySlowFast's ``{name: index}``), else from a
    ``classnames.json`` in ``search`` with ``num_classes`` names, else ``class 0``, ..."""
    if path:
        names = read_class_names(path)
        if len(names) != num_classes:
            raise ValueError(f"{path} names {len(names)} classes; the model has {num_classes}")
        return names
    return find_class_names(search, num_classes) or [f"class {i}" for i in range(num_classes)]


def clip_to_frames(clip: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """A model input clip (C, T, H, W), uint8 or normalised float, as uint8 (T, H, W, 3)."""
    clip = clip.detach().cpu()
    if clip.dtype != torch.uint8:
        m = torch.tensor(mean).view(-1, 1, 1, 1)
        s = torch.tensor(std).view(-1, 1, 1, 1)
        clip = ((clip.float() * s + m) * 255).round().clamp(0, 255).to(torch.uint8)
    return clip[:3].permute(1, 2, 3, 0).contiguous()


def _gif_bytes(frames: torch.Tensor, fps: int) -> bytes:
    from PIL import Image

    images = [Image.fromarray(f.numpy()) for f in frames]
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=max(20, round(1000 / fps)),
        loop=0,
    )
    return buffer.getvalue()


def add_gif(writer, tag: str, frames: torch.Tensor, step: int, fps: int = 4) -> None:
    """Write uint8 (T, H, W, 3) frames as an animated image summary (what add_video writes).

    Args:
        writer: a ``torch.utils.tensorboard.SummaryWriter``.
    """
    from tensorboard.compat.proto.summary_pb2 import Summary

    _, h, w, c = frames.shape
    gif = _gif_bytes(frames, fps)
    image = Summary.Image(height=h, width=w, colorspace=c, encoded_image_string=gif)
    summary = Summary(value=[Summary.Value(tag=tag, image=image)])
    writer._get_file_writer().add_summary(summary, step)


def _caption(frames: torch.Tensor, text: str) -> torch.Tensor:
    """Frames with ``text`` in a black band above them (readable at any clip size)."""
    import cv2

    t, h, w, _ = frames.shape
    scale = max(w / 320, 0.3)
    (_, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    band = np.zeros((th + base + 4, w, 3), np.uint8)
    cv2.putText(band, text, (2, th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1)
    bands = torch.from_numpy(band).expand(t, -1, -1, -1)
    return torch.cat([bands, frames], dim=1)


def bar_chart(values: Sequence[float], names: Sequence[str], height: int = 240) -> torch.Tensor:
    """A uint8 (3, H, W) bar chart of ``values`` in [0, 100] (NaN bars are left empty)."""
    import cv2

    bar, gap, label_h = 24, 6, 90
    width = len(values) * (bar + gap) + gap
    img = np.full((height + label_h, width, 3), 255, np.uint8)
    for i, (value, name) in enumerate(zip(values, names, strict=True)):
        x = gap + i * (bar + gap)
        if np.isfinite(value):
            top = height - int(round(height * min(max(value, 0.0), 100.0) / 100))
            cv2.rectangle(img, (x, top), (x + bar - 1, height - 1), (60, 110, 200), -1)
        # names run downwards under their bar
        label = np.full((bar, label_h, 3), 255, np.uint8)
        cv2.putText(label, name[:14], (2, bar - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1)
        img[height:, x : x + bar] = np.rot90(label, k=-1)
    return torch.from_numpy(img).permute(2, 0, 1).contiguous()


class TestGalleries:
    """Collects, during one test pass, what :meth:`write` puts in TensorBoard (module doc).

    Args:
        class_names: one name per class.
        multi_label: sigmoid scores, several true classes per video (PR curves, no bars).
        mean, std: DATA.MEAN / DATA.STD, to show normalised clips as pixels.
        wrong_pred: collect misclassified clips (single-label only).
        wrong_pred_tag: TensorBoard folder of those clips.
        max_clips: misclassified clips kept (the first ones met).
        gradcam: a model and its Grad-CAM layers: maps of the first ``max_clips`` clips.
        gradcam_true_label: Grad-CAM of the true class instead of the predicted one.
        colormap: colormap of the heat maps.
        fps: frame rate of the GIFs.
    """

    def __init__(
        self,
        *,
        class_names: Sequence[str],
        multi_label: bool,
        mean: Sequence[float],
        std: Sequence[float],
        wrong_pred: bool = False,
        wrong_pred_tag: str = "Incorrectly classified videos.",
        max_clips: int = 8,
        gradcam: tuple[nn.Module, Sequence[str]] | None = None,
        gradcam_true_label: bool = False,
        colormap: str = "viridis",
        fps: int = 4,
    ):
        self.class_names = list(class_names)
        self.multi_label = multi_label
        self.mean, self.std = tuple(mean), tuple(std)
        self.wrong_pred = wrong_pred and not multi_label
        self.wrong_pred_tag = wrong_pred_tag
        self.max_clips = max_clips
        self.gradcam = None if gradcam is None else GradCAM(*gradcam)
        self.gradcam_true_label = gradcam_true_label
        self.colormap = colormap
        self.fps = fps
        self.wrong: list[tuple[torch.Tensor, int, int]] = []  # (frames, true, predicted)
        self.heatmaps: list[tuple[list[torch.Tensor], str]] = []
        self.video_scores: dict[int, torch.Tensor] = {}
        self.video_labels: dict[int, torch.Tensor] = {}

    @classmethod
    def from_config(cls, cfg, model: nn.Module) -> TestGalleries:
        """Reads TENSORBOARD.*, MODEL.NUM_CLASSES, MODEL.LOSS_FUNC, DATA.MEAN/STD."""
        tb, vis = cfg.TENSORBOARD, cfg.TENSORBOARD.MODEL_VIS
        gradcam = None
        if vis.ENABLE and vis.GRAD_CAM.ENABLE:
            layers = list(vis.GRAD_CAM.LAYER_LIST) or default_target_layers(model)
            gradcam = (model, layers)
        return cls(
            class_names=gallery_class_names(
                tb.CLASS_NAMES_PATH,
                cfg.MODEL.NUM_CLASSES,
                [cfg.DATA.PATH_TO_DATA_DIR, cfg.OUTPUT_DIR],
            ),
            multi_label=scores_of(cfg.MODEL.LOSS_FUNC) == "sigmoid",
            mean=cfg.DATA.MEAN,
            std=cfg.DATA.STD,
            wrong_pred=tb.WRONG_PRED_VIS.ENABLE,
            wrong_pred_tag=tb.WRONG_PRED_VIS.TAG,
            max_clips=tb.MAX_CLIPS,
            gradcam=gradcam,
            gradcam_true_label=vis.GRAD_CAM.USE_TRUE_LABEL,
            colormap=vis.GRAD_CAM.COLORMAP,
        )

    def scores(self, logits: torch.Tensor) -> torch.Tensor:
        """The scores :meth:`update` takes from the model's logits: sigmoid for multi-label,
        else softmax."""
        return logits.sigmoid() if self.multi_label else logits.softmax(dim=-1)

    def update(
        self,
        inputs: Sequence[torch.Tensor],
        probs: torch.Tensor,
        labels: torch.Tensor,
        video_idx: torch.Tensor,
    ) -> None:
        """One test batch.

        Args:
            inputs: per pathway (B, C, T_i, H, W) clips as the model saw them.
            probs: (B, K) scores (softmax, or sigmoid for multi-label).
            labels: (B,) class indices, or (B, K) 0/1 for multi-label.
            video_idx: (B,) index of each clip's video.
        """
        probs, labels = probs.detach().float().cpu(), labels.cpu()
        for v, p, y in zip(video_idx.tolist(), probs, labels, strict=True):
            old = self.video_scores.get(v)
            if old is None:
                self.video_scores[v] = p.clone()
            else:
                self.video_scores[v] = torch.maximum(old, p) if self.multi_label else old + p
            self.video_labels[v] = y
        if self.wrong_pred and len(self.wrong) < self.max_clips:
            preds = probs.argmax(dim=1).cpu()
            for i in torch.nonzero(preds != labels.cpu()).flatten().tolist():
                if len(self.wrong) < self.max_clips:
                    frames = clip_to_frames(inputs[-1][i], self.mean, self.std)
                    self.wrong.append((frames, int(labels[i]), int(preds[i])))
        if self.gradcam is not None and len(self.heatmaps) < self.max_clips:
            take = self.max_clips - len(self.heatmaps)
            clips = [x[:take] for x in inputs]
            targets = labels[:take].to(clips[0].device) if self.gradcam_true_label else None
            if targets is not None and targets.dim() > 1:  # multi-label: its top true class
                targets = (targets * probs[:take].to(targets.device)).argmax(dim=1)
            maps, logits = self.gradcam(clips, targets)
            for i in range(clips[0].shape[0]):
                shown = int(targets[i]) if targets is not None else int(logits[i].argmax())
                overlays = [
                    overlay_heatmap(clip_to_frames(x[i], self.mean, self.std), m[i], self.colormap)
                    for x, m in zip(clips, maps, strict=True)
                ]
                self.heatmaps.append((overlays, self.class_names[shown]))

    def write(self, writer, step: int) -> None:
        """Write everything collected, plus the per-video charts.

        Args:
            writer: a ``torch.utils.tensorboard.SummaryWriter``.
        """
        names = self.class_names
        for i, (frames, true, pred) in enumerate(self.wrong):
            text = f"true: {names[true]}  pred: {names[pred]}"
            add_gif(writer, f"{self.wrong_pred_tag}/{i}", _caption(frames, text), step, self.fps)
        for i, (overlays, name) in enumerate(self.heatmaps):
            for p, frames in enumerate(overlays):
                add_gif(writer, f"gradcam/pathway{p}/{i}", _caption(frames, name), step, self.fps)
        if not self.video_scores:
            return
        videos = sorted(self.video_scores)
        video_probs = torch.stack([self.video_scores[v] for v in videos])
        video_labels = torch.stack([self.video_labels[v] for v in videos])
        if self.multi_label:
            for k, name in enumerate(names):
                writer.add_pr_curve(
                    f"pr_curve/{k}_{name}", video_labels[:, k].int(), video_probs[:, k], step
                )
            return
        preds = video_probs.argmax(dim=1)
        acc = [
            100.0 * (preds[video_labels == k] == k).float().mean().item()
            if (video_labels == k).any()
            else float("nan")
            for k in range(len(names))
        ]
        writer.add_image("per_class_accuracy", bar_chart(acc, names), step, dataformats="CHW")


def write_input_clips(
    writer,
    inputs: Sequence[torch.Tensor],
    step: int,
    mean: Sequence[float],
    std: Sequence[float],
    max_clips: int = 8,
) -> None:
    """The clips of a batch as the model sees them (after augmentation), one GIF per clip.

    Args:
        writer: a ``torch.utils.tensorboard.SummaryWriter``.
        inputs: per pathway (B, C, T_i, H, W), uint8 or normalised float.
    """
    for p, pathway in enumerate(inputs):
        for i, clip in enumerate(pathway[:max_clips]):
            add_gif(writer, f"train_inputs/pathway{p}/{i}", clip_to_frames(clip, mean, std), step)
