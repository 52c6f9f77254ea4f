"""torch.hub entry points: PyTorchVideo's hub names, plus slowvid's other zoo architectures.

    model = torch.hub.load("path/to/slowvid", "slowfast_r50", source="local")
    model = torch.hub.load("path/to/slowvid", "x3d_s", source="local", weights="X3D_S.pyth")

Every name of PyTorchVideo's hubconf is here with the same architecture and the same calling
convention, so code written against ``torch.hub.load("facebookresearch/pytorchvideo", name)``
switches by changing the repo path and adding ``weights=``:

* one-pathway models take a ``(B, C, T, H, W)`` tensor (a one-element list works too),
  SlowFast a ``[slow, fast]`` list, the detectors ``(clips, boxes)`` with boxes ``(K, 5)``
  rows ``[batch_index, x1, y1, x2, y2]`` in input pixels, ``mvit_base_16`` ``(B, C, H, W)``
  images;
* outputs end in PyTorchVideo's activation for that entry (softmax for ``x3d_*`` and
  ``r2plus1d_r50``, sigmoid for the detectors, none elsewhere); ``head_activation=None``
  returns logits, which is what training wants;
* ``weights`` is a local checkpoint file in any format ``slowvid.checkpoint.load_checkpoint``
  reads, PyTorchVideo's released ``.pyth`` files included. No weights are hosted, so
  ``pretrained=True`` without ``weights`` is an error rather than a silent random model.

Heads pool adaptively, so any clip size runs without PyTorchVideo's clip-size arguments; the
MViTs size their positional embeddings from ``spatial_size`` / ``temporal_size`` as
PyTorchVideo's do. PyTorchVideo's name for the class count (``model_num_class``, MViT's
``head_num_classes``) is accepted beside ``num_classes``.
The returned model is the plain slowvid model (the convention is two forward hooks), so its
``state_dict`` is the one ``slowvid.models.build_model`` builds from the same config.
"""

import os
from dataclasses import dataclass as _dataclass
from dataclasses import field as _field

from slowvid.model_zoo.variants import VARIANTS

dependencies = ["torch", "fvcore", "iopath"]

_REPO = os.path.dirname(os.path.abspath(__file__))


@_dataclass(frozen=True)
class _Entry:
    variant: str | None  # its row of slowvid.model_zoo.VARIANTS; None for mvit_base_16
    num_classes: int = 400
    head_activation: str | None = None  # PyTorchVideo's for this name
    overrides: dict = _field(default_factory=dict)  # config keys PyTorchVideo's model differs in
    mvit: bool = False  # takes spatial_size / temporal_size, as PyTorchVideo's MViTs do
    classes_argument: str = "model_num_class"  # PyTorchVideo's builder's name for num_classes
    pytorchvideo: bool = True  # PyTorchVideo's hubconf has this name


_MVIT = {"mvit": True, "classes_argument": "head_num_classes"}
# PyTorchVideo's RoIAlign is not pixel-aligned (PySlowFast's AVA configs are).
_PTV_DETECTION = {"DETECTION.ALIGNED": False}

ENTRIES = {
    # PyTorchVideo's hubconf names.
    "c2d_r50": _Entry("c2d_r50"),
    "i3d_r50": _Entry("i3d_r50"),
    "slow_r50": _Entry("slow_r50"),
    "slow_r50_detection": _Entry("ava_slow_r50_4x16", 80, "sigmoid", _PTV_DETECTION),
    "slowfast_r50": _Entry("slowfast_r50"),
    "slowfast_r101": _Entry("slowfast_r101_8x8"),
    "slowfast_16x8_r101_50_50": _Entry("slowfast_r101_16x8"),
    "slowfast_r50_detection": _Entry("ava_slowfast_r50", 80, "sigmoid", _PTV_DETECTION),
    "csn_r101": _Entry("csn_r101"),
    "r2plus1d_r50": _Entry("r2plus1d_r50", head_activation="softmax"),
    "x3d_xs": _Entry("x3d_xs", head_activation="softmax"),
    "x3d_s": _Entry("x3d_s", head_activation="softmax"),
    "x3d_m": _Entry("x3d_m", head_activation="softmax"),
    "x3d_l": _Entry("x3d_l", head_activation="softmax"),
    # PyTorchVideo's mobile-CPU X3D: the same network as X3D (XS and S differ only in the clip),
    # built from efficient blocks; its "original form" state dicts load here.
    "efficient_x3d_xs": _Entry("x3d_xs", classes_argument="num_classes"),
    "efficient_x3d_s": _Entry("x3d_s", classes_argument="num_classes"),
    "mvit_base_16x4": _Entry("mvit_base_16x4", **_MVIT),
    "mvit_base_32x3": _Entry("mvit_base_32x3", **_MVIT),
    # The image MViT-B (depth 16, ImageNet-1k): a one-frame MViT with a 2-D patch embedding.
    "mvit_base_16": _Entry(None, 1000, **_MVIT),
    # slowvid's other zoo rows.
    "slow_r50_4x16": _Entry("slow_r50_4x16", pytorchvideo=False),
    "slowfast_r50_4x16": _Entry("slowfast_r50_4x16", pytorchvideo=False),
    "mvitv2_s_16x4": _Entry("mvitv2_s_16x4", **_MVIT, pytorchvideo=False),
    "mvitv2_b_32x3": _Entry("mvitv2_b_32x3", **_MVIT, pytorchvideo=False),
    "rev_mvit_b_16x4": _Entry("rev_mvit_b_16x4", **_MVIT, pytorchvideo=False),
    # Video transformers: VideoMAE and MAE-ST ViTs, TimeSformer (logits; no PyTorchVideo twin).
    **{
        name: _Entry(name, pytorchvideo=False)
        for name in (
            "videomae_vit_s_16x4",
            "videomae_vit_b_16x4",
            "videomae_vit_l_16x4",
            "videomae_vit_h_16x4",
            "mae_st_vit_l_16x4",
            "mae_st_vit_h_16x4",
            "timesformer_8x32",
            "timesformer_hr_16x16",
            "timesformer_l_96x4",
        )
    },
}

# entry point -> config (relative to the repository), read from the one variant table.
ARCHITECTURES = {n: VARIANTS[e.variant].config for n, e in ENTRIES.items() if e.variant}

# The names PyTorchVideo 0.1.5's hubconf defines.
PYTORCHVIDEO_NAMES = tuple(name for name, entry in ENTRIES.items() if entry.pytorchvideo)


def _image_mvit(num_classes: int, spatial_size: int):
    """MViT-B/16 for images, as PyTorchVideo's ``mvit_base_16``: 7x7 stride-4 patches, (1, 3, 3)
    pooling kernels and a key/value stride of 4 in block 0."""
    from slowvid.models.heads import TokenHead
    from slowvid.models.mvit import MViT, PatchSpec, make_mvit_blocks

    blocks = make_mvit_blocks(pool_kvq_kernel=(1, 3, 3), pool_kv_stride_adaptive=(1, 4, 4))
    patch = PatchSpec(kernel=(1, 7, 7), stride=(1, 4, 4), padding=(0, 3, 3))
    return MViT(
        blocks=blocks,
        head=TokenHead([blocks[-1].dim_out], num_classes),
        input_size=(1, spatial_size, spatial_size),
        patch=patch,
    )


def _size_overrides(name: str, entry: _Entry, kwargs: dict) -> dict:
    accepted = {entry.classes_argument} - {"num_classes"}
    accepted |= {"spatial_size", "temporal_size"} if entry.mvit else set()
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise TypeError(f"{name}: unexpected arguments {unknown}; accepted: {sorted(accepted)}")
    overrides = {}
    if "spatial_size" in kwargs:
        overrides["DATA.TRAIN_CROP_SIZE"] = int(kwargs["spatial_size"])
    if "temporal_size" in kwargs:
        overrides["DATA.NUM_FRAMES"] = int(kwargs["temporal_size"])
    return overrides


def _build(name: str, pretrained: bool, weights, num_classes, head_activation, kwargs):
    from slowvid.checkpoint import load_checkpoint
    from slowvid.config import load_config
    from slowvid.models import build_model
    from slowvid.models.hub import follow_pytorchvideo_convention

    entry = ENTRIES[name]
    if pretrained and weights is None:
        raise ValueError(
            f"{name}: slowvid hosts no weights; pass weights='path/to/checkpoint' "
            "(any format slowvid.checkpoint.load_checkpoint reads) or pretrained=False"
        )
    if entry.classes_argument in kwargs:
        if num_classes is not None:
            raise TypeError(f"{name}: give num_classes or {entry.classes_argument}, not both")
        num_classes = kwargs[entry.classes_argument]
    num_classes = entry.num_classes if num_classes is None else int(num_classes)
    overrides = _size_overrides(name, entry, kwargs)
    if entry.variant is None:
        if "temporal_size" in overrides:
            raise TypeError(f"{name} classifies images: it takes no temporal_size")
        model = _image_mvit(num_classes, overrides.get("DATA.TRAIN_CROP_SIZE", 224))
    else:
        overrides = {**entry.overrides, **overrides, "MODEL.NUM_CLASSES": num_classes}
        opts = [item for key, value in overrides.items() for item in (key, repr(value))]
        config = os.path.join(_REPO, VARIANTS[entry.variant].config)
        model = build_model(load_config(config, opts))
    if weights is not None:
        load_checkpoint(weights, model)
    return follow_pytorchvideo_convention(
        model, image=entry.variant is None, head_activation=head_activation
    )


def _entry_point(name: str):
    entry = ENTRIES[name]

    def load(
        pretrained: bool = False,
        weights: str | None = None,
        num_classes: int | None = None,
        head_activation: str | None = entry.head_activation,
        **kwargs,
    ):
        return _build(name, pretrained, weights, num_classes, head_activation, kwargs)

    source = VARIANTS[entry.variant].config if entry.variant else "the image MViT-B/16 settings"
    alias = entry.classes_argument
    lines = [
        f"{name}, as {source} builds it.",
        "",
        "Args:",
        "    pretrained: must come with ``weights``: no weights are hosted.",
        "    weights: a local checkpoint file to load (slowvid, PyTorchVideo, PySlowFast, ...).",
        f"    num_classes: classes of the head (default {entry.num_classes})"
        + (f"; PyTorchVideo's ``{alias}`` too." if alias != "num_classes" else "."),
        "    head_activation: 'softmax', 'sigmoid' or None (logits); "
        f"default {entry.head_activation!r}, as PyTorchVideo's.",
    ]
    if entry.mvit:
        lines.append("    spatial_size, temporal_size: the clip its positional embedding fits.")
    load.__name__ = name
    load.__doc__ = "\n".join(lines) + "\n"
    return load


for _name in ENTRIES:
    globals()[_name] = _entry_point(_name)
