"""Self-supervised pre-training models: masked autoencoding (VideoMAE, MAE-ST), MaskFeat and
contrastive learning (SimCLR, MoCo, BYOL, SwAV). Importing this package registers them."""

from .base import SelfSupervisedModel
from .contrastive import ContrastiveModel, ContrastiveSpec, ProjectionMLP
from .encoders import MViTEncoder, TokenEncoder, ViTEncoder
from .mae import DecoderSpec, MAEDecoder, MaskedAutoencoder
from .masking import random_token_mask, visible_indices
from .maskmvit import MaskFeatSpec, MaskMViT
from .targets import HOG, PixelTarget, patchify

__all__ = [
    "ContrastiveModel",
    "ContrastiveSpec",
    "ProjectionMLP",
    "SelfSupervisedModel",
    "HOG",
    "DecoderSpec",
    "MAEDecoder",
    "MViTEncoder",
    "MaskFeatSpec",
    "MaskMViT",
    "MaskedAutoencoder",
    "PixelTarget",
    "TokenEncoder",
    "ViTEncoder",
    "patchify",
    "random_token_mask",
    "visible_indices",
]
