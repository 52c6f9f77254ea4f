"""kNN evaluation of contrastive pre-training (CONTRASTIVE.KNN_ON), PySlowFast's test of a
``ContrastiveModel``.

::

    training split, one clip per video  -> ContrastiveModel.embed -> bank (N, D) + labels (N,)
    val / test clip -> embed -> q (D,) -> cosine similarity to the bank -> the k most similar
        -> class scores: sum over those k of exp(similarity / CONTRASTIVE.T) into their label
           (CONTRASTIVE.NUM_CLASSES_DOWNSTREAM classes) -> the dataset's own evaluator

:class:`KnnClassifier` is a module whose output are those class scores, so the kNN test goes
through the one evaluation loop (``run_dataset_evaluator``) and the dataset's evaluator: view
ensembling (scores summed, as PySlowFast's test meter sums them), top-1 / top-5, json lines.

Where the bank comes from differs from PySlowFast: there it is filled during training with each
training clip's query embedding (up to an epoch stale) and saved in the checkpoint; here it is
computed at each evaluation, with the evaluated weights, from one clip per training video read
by the training pipeline (the same augmented clips PySlowFast's bank sees). That costs a forward
pass over the training split per evaluation and lets any checkpoint be tested.
"""

from __future__ import annotations

import logging

import torch
from fvcore.common.config import CfgNode
from torch import nn

from slowvid.data import build_dataset, make_loader, shuffle_loader
from slowvid.distributed import comm
from slowvid.models.ssl import ContrastiveModel

from .inputs import PixelNorm, to_device

__all__ = [
    "KNN_NEIGHBOURS",
    "KnnClassifier",
    "build_knn_loader",
    "knn_data_cfg",
    "knn_evaluated",
    "knn_vote",
]

logger = logging.getLogger(__name__)

# Neighbours that vote: PySlowFast's eval_knn(knn_k=200), a constant there as well.
KNN_NEIGHBOURS = 200


def knn_evaluated(cfg: CfgNode, model: nn.Module) -> bool:
    """Whether pre-training ``model`` per ``cfg`` is evaluated by kNN classification."""
    return cfg.TASK == "ssl" and cfg.CONTRASTIVE.KNN_ON and isinstance(model, ContrastiveModel)


def knn_vote(
    queries: torch.Tensor,
    bank: torch.Tensor,
    bank_labels: torch.Tensor,
    num_classes: int,
    temperature: float,
    num_neighbours: int = KNN_NEIGHBOURS,
) -> torch.Tensor:
    """Weighted kNN class scores.

    Args:
        queries: (B, D) L2-normalised embeddings.
        bank: (N, D) L2-normalised embeddings of the labelled videos.
        bank_labels: (N,) their class indices.
        num_classes: C.
        temperature: a neighbour of similarity s votes exp(s / temperature).
        num_neighbours: k (all N when the bank is smaller).

    Returns:
        (B, C) summed votes.
    """
    similarity = queries @ bank.T
    top, index = similarity.topk(min(num_neighbours, bank.shape[0]), dim=1)
    votes = (top / temperature).exp()
    scores = torch.zeros(queries.shape[0], num_classes, dtype=votes.dtype, device=votes.device)
    return scores.scatter_add_(1, bank_labels[index], votes)


class KnnClassifier(nn.Module):
    """A contrastive model's embeddings classified by weighted kNN votes of a labelled bank.

    Args:
        encoder: the pre-trained model; its ``embed`` gives the L2-normalised embeddings.
        bank: (N, D) embeddings of the labelled videos.
        bank_labels: (N,) their class indices.
        num_classes: classes of the scores.
        temperature: CONTRASTIVE.T.
        num_neighbours: voters per clip.
    """

    def __init__(
        self,
        *,
        encoder: ContrastiveModel,
        bank: torch.Tensor,
        bank_labels: torch.Tensor,
        num_classes: int,
        temperature: float,
        num_neighbours: int = KNN_NEIGHBOURS,
    ):
        super().__init__()
        if bank.shape[0] == 0 or bank.shape[0] != bank_labels.shape[0]:
            raise ValueError(
                f"a kNN bank needs labelled embeddings: {bank.shape[0]} embeddings, "
                f"{bank_labels.shape[0]} labels"
            )
        self.encoder = encoder
        self.input_spec = encoder.input_spec
        self.register_buffer("bank", bank)
        self.register_buffer("bank_labels", bank_labels)
        self.num_classes = num_classes
        self.temperature = temperature
        self.num_neighbours = num_neighbours

    @classmethod
    def from_config(cls, cfg: CfgNode) -> dict:
        """The keyword arguments of :meth:`from_training_videos`: reads
        CONTRASTIVE.NUM_CLASSES_DOWNSTREAM, CONTRASTIVE.T and DATA.MEAN / STD."""
        return {
            "num_classes": cfg.CONTRASTIVE.NUM_CLASSES_DOWNSTREAM,
            "temperature": cfg.CONTRASTIVE.T,
            "pixel_norm": PixelNorm.from_config(cfg),
        }

    @classmethod
    @torch.no_grad()
    def from_training_videos(
        cls,
        encoder: ContrastiveModel,
        loader,
        device: torch.device,
        *,
        num_classes: int,
        temperature: float,
        pixel_norm: PixelNorm | None = None,
        num_neighbours: int = KNN_NEIGHBOURS,
    ) -> KnnClassifier:
        """The classifier whose bank is ``encoder``'s embeddings of every clip of ``loader``
        (:func:`build_knn_loader` of "train") over all ranks, with their labels. The loader's
        random clips and crops are its epoch 0's at every call: the bank changes with the
        weights only.

        Args:
            pixel_norm: normalises uint8 clips on ``device``.
            num_classes, temperature, num_neighbours: as the constructor's.
        """
        encoder.eval()
        shuffle_loader(loader, 0)
        embeddings, labels = [], []
        for batch in loader:
            if batch["inputs"] is None:
                continue
            label = batch["label"]
            _check_label_shape(label)
            inputs = to_device(batch["inputs"], device, pixel_norm)
            embeddings.append(encoder.embed(inputs).float().cpu())
            labels.append(label)
        mine = (torch.cat(embeddings), torch.cat(labels)) if embeddings else None
        parts = [part for part in comm.all_gather_object(mine) if part is not None]
        if not parts:
            raise ValueError("kNN evaluation (CONTRASTIVE.KNN_ON): no training video was read")
        bank = torch.cat([p[0] for p in parts]).to(device)
        bank_labels = torch.cat([p[1] for p in parts])
        _check_label_values(bank_labels, num_classes)
        bank_labels = bank_labels.to(device)
        logger.info("kNN bank: %d training videos embedded", bank.shape[0])
        return cls(
            encoder=encoder,
            bank=bank,
            bank_labels=bank_labels,
            num_classes=num_classes,
            temperature=temperature,
            num_neighbours=num_neighbours,
        )

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        """Args: inputs: pathway tensors of single clips. Returns: (B, C) kNN class scores."""
        queries = self.encoder.embed(inputs).float()
        return knn_vote(
            queries,
            self.bank,
            self.bank_labels,
            self.num_classes,
            self.temperature,
            self.num_neighbours,
        )


def _check_label_shape(label: torch.Tensor) -> None:
    if label.dim() != 1 or label.dtype != torch.long:
        raise ValueError(
            "kNN evaluation (CONTRASTIVE.KNN_ON) votes with one class index per training video; "
            f"this dataset's labels are {tuple(label.shape)} {label.dtype} (multi-label?)"
        )


def _check_label_values(label: torch.Tensor, num_classes: int) -> None:
    wrong = sorted({int(x) for x in label if not 0 <= int(x) < num_classes})
    if wrong:
        raise ValueError(
            f"kNN evaluation (CONTRASTIVE.KNN_ON): training labels {wrong} are not classes "
            f"0..{num_classes - 1} of CONTRASTIVE.NUM_CLASSES_DOWNSTREAM (a label of -1 is a "
            "video listed without one)"
        )


def knn_data_cfg(cfg: CfgNode) -> CfgNode:
    """The config the kNN evaluation reads its data with: labelled videos (TASK ''), one clip
    per training video, val and test sampled as evaluation samples them, and the evaluator's
    classes and scores those of the votes (NUM_CLASSES_DOWNSTREAM, pooled as they are)."""
    data_cfg = cfg.clone()
    data_cfg.defrost()
    data_cfg.TASK = ""
    data_cfg.MODEL.NUM_CLASSES = cfg.CONTRASTIVE.NUM_CLASSES_DOWNSTREAM
    data_cfg.MODEL.HEAD_ACT = "none"
    data_cfg.DATA.TRAIN_CROP_NUM_TEMPORAL = 1
    data_cfg.DATA.TRAIN_CROP_NUM_SPATIAL = 1
    data_cfg.AUG.NUM_SAMPLE = 1
    if cfg.DATA.MULTI_LABEL:
        raise ValueError(
            "config CONTRASTIVE.KNN_ON: the kNN evaluation votes for one class per video; "
            "DATA.MULTI_LABEL datasets need CONTRASTIVE.KNN_ON False"
        )
    data_cfg.freeze()
    return data_cfg


def labelled_dataset(cfg: CfgNode, split: str):
    """``split`` of the kNN evaluation's data (:func:`knn_data_cfg`), with a message that says
    why labels are needed when the split has none."""
    try:
        return build_dataset(knn_data_cfg(cfg), split)
    except ValueError as err:
        raise ValueError(
            f"config CONTRASTIVE.KNN_ON: the kNN evaluation of contrastive pre-training needs the "
            f"labels of the {split} videos, which could not be read: {err}. Label the split, or "
            "set CONTRASTIVE.KNN_ON False to pre-train without labels (there is no test then)"
        ) from err


def build_knn_loader(cfg: CfgNode, split: str):
    """The kNN evaluation's loader of ``split``, every video once over all ranks (TEST.BATCH_SIZE
    a batch): "train" gives the bank's videos, one clip each read by the training pipeline;
    "val" and "test" the clips classified, sampled as evaluation samples them."""
    return make_loader(
        labelled_dataset(cfg, split),
        training=False,
        batch_size=cfg.TEST.BATCH_SIZE,
        num_workers=cfg.DATA_LOADER.NUM_WORKERS,
        seed=cfg.RNG_SEED,
        pin_memory=cfg.DATA_LOADER.PIN_MEMORY,
        batch_size_key="TEST.BATCH_SIZE",
    )
