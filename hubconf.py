"""torch.hub entry points: one per model-zoo architecture, built from its shipped config.

    model = torch.hub.load("path/to/slowvid", "slowfast_r50", source="local")
    model = torch.hub.load("path/to/slowvid", "x3d_s", source="local", weights="x3d_s.pyth")

``weights`` is a local checkpoint file in any format ``slowvid.checkpoint.load_checkpoint``
reads. No weights are hosted, so ``pretrained=True`` without ``weights`` is an error rather than
a silent random model.
"""

import os

from slowvid.model_zoo.variants import hub_variants

dependencies = ["torch", "fvcore", "iopath"]

_REPO = os.path.dirname(os.path.abspath(__file__))

# entry point -> config (relative to the repository), from the one variant table.
ARCHITECTURES = {name: variant.config for name, variant in hub_variants().items()}


def _build(name: str, pretrained: bool, weights: str | None, **overrides):
    from slowvid.checkpoint import load_checkpoint
    from slowvid.config import load_config
    from slowvid.models import build_model

    if pretrained and weights is None:
        raise ValueError(
            f"{name}: slowvid hosts no weights; pass weights='path/to/checkpoint' "
            "(any format slowvid.checkpoint.load_checkpoint reads) or pretrained=False"
        )
    opts = []
    for key, value in overrides.items():
        opts += [key, repr(value)]
    model = build_model(load_config(os.path.join(_REPO, ARCHITECTURES[name]), opts))
    if weights is not None:
        load_checkpoint(weights, model)
    return model


def _entry_point(name: str):
    def entry(pretrained: bool = False, weights: str | None = None, num_classes: int = 400):
        return _build(name, pretrained, weights, **{"MODEL.NUM_CLASSES": num_classes})

    entry.__name__ = name
    entry.__doc__ = (
        f"{name}, as {ARCHITECTURES[name]} builds it.\n\n"
        "Args:\n"
        "    pretrained: must come with ``weights``: no weights are hosted.\n"
        "    weights: a local checkpoint file to load.\n"
        "    num_classes: classes of the head (400 = Kinetics-400).\n"
    )
    return entry


for _name in ARCHITECTURES:
    globals()[_name] = _entry_point(_name)
