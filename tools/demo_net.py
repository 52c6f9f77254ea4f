#!/usr/bin/env python
"""Run a trained model over a video file and write the video back, annotated.

    # classification: the top-k labels of each one-second window, top-left
    python tools/demo_net.py --cfg configs/Demo/SLOWFAST_DEMO.yaml --video in.mp4 \
        --output out.mp4 --checkpoint output/demo/checkpoints/checkpoint_epoch_00020.pyth
    # ... with Grad-CAM heat maps of the predicted class over the frames
    python tools/demo_net.py --cfg configs/Demo/SLOWFAST_DEMO.yaml --video in.mp4 \
        --output out.mp4 --checkpoint ... --gradcam
    # AVA detection: person boxes from a csv (video_id,second,x1,y1,x2,y2,... normalised), or
    # without --boxes found on each window's keyframe by torchvision's COCO Faster R-CNN
    python tools/demo_net.py --cfg configs/AVA/SLOWFAST_8x8_R50.yaml --video movie.mp4 \
        --output out.mp4 --boxes person_boxes.csv --labelmap ava_action_list_v2.2.pbtxt

Each window of ``--step`` seconds is classified from one clip centred on it (DATA.NUM_FRAMES at
DATA.SAMPLING_RATE, as in training); its frames are drawn with that prediction. Runs on the CPU
unless NUM_GPUS > 0. Trailing ``KEY VALUE`` pairs override the config.
"""

import argparse
import logging
import math
import sys

import cv2
import numpy as np
import torch
from tqdm import tqdm

from slowvid.checkpoint import load_checkpoint
from slowvid.config import head_activation, load_config
from slowvid.data.box_transforms import DetectionTransform
from slowvid.data.class_names import find_class_names, read_class_names
from slowvid.data.decoding import open_video
from slowvid.data.sampling import ClipSpec, clip_stride
from slowvid.data.transforms import ClipTransform, spatial_args, split_pathways
from slowvid.engine.setup import fold_for_inference, use_channels_last
from slowvid.evaluation.ava import read_labelmap
from slowvid.models import build_model
from slowvid.models.person_detector import PersonDetector
from slowvid.visualization import GradCAM, default_target_layers, overlay_heatmap

logger = logging.getLogger("demo_net")
COLOURS = [(230, 60, 60), (60, 200, 60), (60, 120, 240), (240, 200, 40), (200, 60, 220)]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--cfg", required=True, help="yaml config of the model")
    p.add_argument("--video", required=True, help="input video file")
    p.add_argument("--output", required=True, help="annotated video to write (.mp4)")
    p.add_argument("--checkpoint", default="", help="weights (default: TEST.CHECKPOINT_FILE_PATH)")
    p.add_argument("--boxes", default="", help="detection mode: csv of person boxes per second")
    p.add_argument("--labelmap", default="", help=".pbtxt label map (AVA ids are 1-based)")
    p.add_argument(
        "--classnames",
        default="",
        help="json list of class names (default: classnames.json in OUTPUT_DIR, else in "
        "DATA.PATH_TO_DATA_DIR, when it lists MODEL.NUM_CLASSES names)",
    )
    p.add_argument("--topk", type=int, default=3, help="labels shown per clip or box")
    p.add_argument("--threshold", type=float, default=0.0, help="detection: min score shown")
    p.add_argument("--step", type=float, default=1.0, help="seconds between predictions")
    p.add_argument(
        "--gradcam",
        action="store_true",
        help="classification: overlay Grad-CAM of the top class (layers from "
        "TENSORBOARD.MODEL_VIS.GRAD_CAM.LAYER_LIST, else each pathway's last stage)",
    )
    p.add_argument(
        "--detector-weights",
        default="",
        help="detection without --boxes: Faster R-CNN R50-FPN COCO state dict; '' = the torch "
        "hub cache; 'random' = untrained (tests the plumbing only)",
    )
    p.add_argument("--detector-threshold", type=float, default=0.9, help="min person score")
    p.add_argument("--detector-size", type=int, default=800, help="shorter side the detector sees")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    return p.parse_args(argv)


def class_names(args, cfg) -> list[str]:
    """Names from --labelmap or --classnames, else from the run's or the data's names file
    (the names a VideoFolder run or the demo data wrote), else "class i"."""
    num_classes = cfg.MODEL.NUM_CLASSES
    names = [f"class {i}" for i in range(num_classes)]
    if args.labelmap:
        for cid, name in read_labelmap(args.labelmap).items():
            if 1 <= cid <= num_classes:
                names[cid - 1] = name
    elif args.classnames:
        names[:num_classes] = read_class_names(args.classnames)[:num_classes]
    else:
        found = find_class_names([cfg.OUTPUT_DIR, cfg.DATA.PATH_TO_DATA_DIR], num_classes)
        if found:
            names = found
    return names


def read_person_boxes(path: str) -> dict[int, list[list[float]]]:
    """second -> normalised [x1, y1, x2, y2] boxes (repeated rows of one box kept once)."""
    boxes: dict[int, list[list[float]]] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            row = line.strip().split(",")
            if len(row) < 6:
                raise ValueError(f"{path}:{lineno}: expected video_id,second,x1,y1,x2,y2[,...]")
            box = [float(v) for v in row[2:6]]
            if box not in boxes.setdefault(int(float(row[1])), []):
                boxes[int(float(row[1]))].append(box)
    return boxes


def draw(frame: np.ndarray, lines: list[str], box=None, colour=(255, 255, 255)) -> None:
    """Draw a box (pixels) and text lines at its top-left (or the frame's) in place."""
    h, w = frame.shape[:2]
    scale = max(min(h, w) / 400, 0.3)
    x, y = 2, 2
    if box is not None:
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(frame, (x1, y1), (x2 - 1, y2 - 1), colour, max(1, int(2 * scale)))
        x, y = x1 + 2, y1 + 2
    for text in lines:
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        cv2.rectangle(frame, (x, y), (x + tw, y + th + base), (0, 0, 0), -1)
        cv2.putText(frame, text, (x, y + th), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1)
        y += th + base + 1


def clip_indices(center: int, spec: ClipSpec, fps: float, num_frames: int) -> list[int]:
    """Frames of the clip centred on frame ``center``, clamped to the video."""
    stride = clip_stride(spec, fps)
    first = center - spec.num_frames * stride / 2
    return [
        min(max(math.floor(first + i * stride), 0), num_frames - 1) for i in range(spec.num_frames)
    ]


def gradcam_frames(cam, inputs, frames, clip_idx, first: int, colormap: str):
    """``frames`` (a window from frame ``first`` on) blended with the Grad-CAM of the last
    pathway: each frame takes the map of the clip frame nearest in time, placed over the
    centre crop the model saw."""
    (*_, maps), _ = cam(inputs)
    heat = maps[0].cpu()  # (T_clip, S, S)
    h, w = frames.shape[1:3]
    side = min(h, w)
    full = torch.zeros(heat.shape[0], h, w)
    top, left = (h - side) // 2, (w - side) // 2
    full[:, top : top + side, left : left + side] = torch.nn.functional.interpolate(
        heat[None], size=(side, side), mode="bilinear", align_corners=False
    )[0]
    nearest = [
        min(range(len(clip_idx)), key=lambda k: abs(clip_idx[k] - (first + i)))
        for i in range(len(frames))
    ]
    shown = overlay_heatmap(torch.from_numpy(frames), full[nearest], colormap)
    return shown.numpy().copy()


def head_scores(logits: torch.Tensor, activation: str) -> torch.Tensor:
    """The scores shown for ``logits`` (..., classes): MODEL.HEAD_ACT as PySlowFast's heads apply
    it at inference, "softmax" over the classes, "sigmoid" per class, "none" the logits."""
    if activation == "softmax":
        return logits.softmax(-1)
    if activation == "sigmoid":
        return logits.sigmoid()
    if activation == "none":
        return logits
    raise ValueError(f"MODEL.HEAD_ACT {activation!r}: one of softmax, sigmoid, none")


@torch.no_grad()
def annotate_window(model, cfg, transform, clip_frames, boxes, args, names, size) -> list:
    """Predictions of one window as ``[(pixel box or None, text lines, colour)]``.

    Args:
        boxes: normalised person boxes for a detector (None for a classifier).
        size: ``(width, height)`` of the frames.
    """
    device = next(model.parameters()).device
    strides = model.input_spec.frame_strides
    if boxes is None:
        clip = transform(clip_frames, spatial_idx=1)
        inputs = [x[None].to(device) for x in split_pathways(clip, strides)]
        p = head_scores(model(inputs).float()[0].cpu(), head_activation(cfg))
        top = p.argsort(descending=True)[: args.topk].tolist()
        return [(None, [f"{names[i]} {p[i]:.2f}" for i in top], (255, 255, 255))]
    if not boxes:
        return []
    clip, in_boxes = transform(clip_frames, torch.tensor(boxes))
    rois = torch.cat([torch.zeros(len(boxes), 1), in_boxes], dim=1).to(device)
    inputs = [x[None].to(device) for x in split_pathways(clip, strides)]
    probs = head_scores(model(inputs, rois).float().cpu(), head_activation(cfg))
    w, h = size
    out = []
    for k, (box, p) in enumerate(zip(boxes, probs)):
        top = [
            i for i in p.argsort(descending=True)[: args.topk].tolist() if p[i] >= args.threshold
        ]
        pixel = [box[0] * w, box[1] * h, box[2] * w, box[3] * h]
        out.append((pixel, [f"{names[i]} {p[i]:.2f}" for i in top], COLOURS[k % len(COLOURS)]))
    return out


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO)
    args = parse_args(argv)
    cfg = load_config(args.cfg, args.opts)
    device = torch.device("cuda" if cfg.NUM_GPUS > 0 and torch.cuda.is_available() else "cpu")
    model = build_model(cfg)
    path = args.checkpoint or cfg.TEST.CHECKPOINT_FILE_PATH
    if path:
        load_checkpoint(path, model)
    else:
        logger.warning("no checkpoint given: the model's weights are random")
    model.eval().to(device)
    fold_for_inference(model, cfg)
    if use_channels_last(model, cfg.MODEL.CHANNELS_LAST, device):
        model.to(memory_format=torch.channels_last_3d)
    detect = "boxes" in model.input_spec.extra_args
    names = class_names(args, cfg)
    person_boxes = read_person_boxes(args.boxes) if args.boxes else {}
    detector = None
    if detect and not args.boxes:
        detector = PersonDetector.build(
            args.detector_weights, args.detector_threshold, args.detector_size, device
        )
    cam = None
    if args.gradcam and not detect:
        layers = list(cfg.TENSORBOARD.MODEL_VIS.GRAD_CAM.LAYER_LIST)
        cam = GradCAM(model, layers or default_target_layers(model))
    d = cfg.DATA
    transform = (DetectionTransform if detect else ClipTransform)(**spatial_args(cfg, False))
    spec = ClipSpec(d.NUM_FRAMES, d.SAMPLING_RATE, float(d.TARGET_FPS))
    writer = None
    with open_video(args.video, d.DECODING_BACKEND) as video:
        fps, n = video.fps, video.num_frames
        step = max(1, round(args.step * fps))
        for start in tqdm(range(0, n, step), desc="demo", unit="window"):
            frames = video.get_frames(list(range(start, min(start + step, n)))).numpy().copy()
            h, w = frames.shape[1:3]
            if writer is None:
                writer = cv2.VideoWriter(args.output, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
                if not writer.isOpened():
                    raise RuntimeError(f"opencv cannot write {args.output}")
            center = start + step // 2
            boxes = None
            if detect and args.boxes:
                boxes = person_boxes.get(int(center / fps), [])
            elif detect:  # persons on the keyframe, the window's centre frame
                boxes = detector(video.get_frames([min(center, n - 1)])[0].numpy())
            clip_idx = clip_indices(center, spec, fps, n)
            clip_frames = video.get_frames(clip_idx)
            notes = annotate_window(model, cfg, transform, clip_frames, boxes, args, names, (w, h))
            if cam is not None:
                clip = transform(clip_frames, spatial_idx=1)
                pathways = split_pathways(clip, model.input_spec.frame_strides)
                inputs = [x[None].to(device) for x in pathways]
                colormap = cfg.TENSORBOARD.MODEL_VIS.GRAD_CAM.COLORMAP
                frames = gradcam_frames(cam, inputs, frames, clip_idx, start, colormap)
            for frame in frames:
                for box, lines, colour in notes:
                    draw(frame, lines, box, colour)
                writer.write(np.ascontiguousarray(frame[:, :, ::-1]))
    if writer is not None:
        writer.release()
    logger.info("wrote %s (%d frames)", args.output, n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
