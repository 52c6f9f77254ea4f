"""Contrastive and self-distillation pre-training on clips of the same video: SimCLR, MoCo, BYOL
and SwAV, as PySlowFast's ``ContrastiveModel`` runs them.

Paper: "A Large-Scale Study on Unsupervised Spatiotemporal Representation Learning",
Feichtenhofer et al., arXiv:2104.14558 (the methods, the video positives, the recipes of
PySlowFast's ``configs/contrastive_ssl``); each method's own paper in ``contrastive_losses.py``.

::

    V clips of each video (DATA.TRAIN_CROP_NUM_TEMPORAL x _SPATIAL; the batch is item-major,
    clip v of video i at row i * V + v)
      -> backbone (MODEL.ARCH: slow, c2d, i3d, slowfast, x3d, mvit, vit) whose classifier is
         replaced by a projection MLP (CONTRASTIVE.NUM_MLP_LAYERS, MLP_DIM, BN_MLP) to
         MODEL.NUM_CLASSES = CONTRASTIVE.DIM
      -> [BYOL: prediction MLP] -> L2 normalisation
      -> SimCLR: NT-Xent between two clips, negatives from the whole batch
         MoCo:   the first clip against the others' keys from a momentum encoder, and a queue
         BYOL:   the first clip's prediction regresses the others' momentum-encoder embeddings
         SwAV:   Sinkhorn codes of the first two clips predicted from every other clip

With CONTRASTIVE.SEQUENTIAL every clip takes the query's place in turn (PySlowFast's sequential
loss; here summed into one backward, the same gradients). PySlowFast's memory-bank method ("mem")
is not built; its kNN evaluation of the embeddings (:meth:`ContrastiveModel.embed`) is
:mod:`slowvid.engine.knn`. The code is written anew from PySlowFast's ``contrastive.py``
(Apache-2.0).
"""

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from fvcore.nn.weight_init import c2_xavier_fill
from torch import nn

from slowvid.config.ssl_keys import CONTRASTIVE_TYPES
from slowvid.registry import MODELS

from .base import SelfSupervisedModel
from .contrastive_losses import byol_loss, moco_loss, nt_xent_loss, swav_loss

__all__ = ["BACKBONES", "ContrastiveModel", "ContrastiveSpec", "ProjectionMLP"]

# MODEL.ARCH -> the registered backbone that ContrastiveModel wraps (PySlowFast's _MODEL_TYPES).
BACKBONES = {
    "slow": "ResNet",
    "c2d": "ResNet",
    "i3d": "ResNet",
    "c2d_nopool": "ResNet",
    "i3d_nopool": "ResNet",
    "slowfast": "SlowFast",
    "x3d": "X3D",
    "mvit": "MViT",
    "vit": "VisionTransformer",
}
SWAV_PROTOTYPES = 1000  # PySlowFast's (and the SwAV paper's Kinetics) prototype count
SWAV_EPSILON = 0.05  # Sinkhorn's entropy weight


class ProjectionMLP(nn.Module):
    """Linear layers with ReLU (and batch norm) between them; PySlowFast's ``MLPHead``.

    ``num_layers`` 1 is one linear layer. With ``batch_norm`` the inner layers lose their bias,
    which the norm's shift replaces; the last layer keeps it.

    Args:
        dim_in: input width.
        dim_out: output width.
        hidden: width of the inner layers.
        num_layers: linear layers.
        batch_norm: BatchNorm1d after each inner linear layer.
    """

    def __init__(self, dim_in: int, dim_out: int, hidden: int, num_layers: int, batch_norm: bool):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"CONTRASTIVE.NUM_MLP_LAYERS must be >= 1, got {num_layers}")
        layers: list[nn.Module] = []
        width = dim_in
        for i in range(num_layers):
            last = i == num_layers - 1
            out = dim_out if last else hidden
            layers.append(nn.Linear(width, out, bias=last or not batch_norm))
            if not last:
                if batch_norm:
                    layers.append(nn.BatchNorm1d(out))
                layers.append(nn.ReLU(inplace=True))
            width = out
        self.layers = nn.Sequential(*layers)
        for m in self.layers:
            if isinstance(m, nn.Linear):
                c2_xavier_fill(m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


@dataclass(frozen=True)
class ContrastiveSpec:
    """The method and its settings (the CONTRASTIVE keys).

    Attributes:
        method: "simclr", "moco", "byol" or "swav".
        temperature: softmax temperature (BYOL: divides the similarity).
        queue_len: MoCo's negatives.
        momentum: momentum of the target encoder (MoCo, BYOL).
        momentum_annealing: that momentum rises to 1 along a cosine over ``max_epoch``.
        max_epoch: length of the annealing.
        multi_view_queue: every key clip enters MoCo's queue, not only the first.
        sequential: every clip is the query in turn.
        gather_negatives: SimCLR's negatives come from every process.
    """

    method: str = "simclr"
    temperature: float = 0.1
    queue_len: int = 65536
    momentum: float = 0.994
    momentum_annealing: bool = False
    max_epoch: int = 200
    multi_view_queue: bool = False
    sequential: bool = False
    gather_negatives: bool = True


@MODELS.register()
class ContrastiveModel(SelfSupervisedModel):
    """Self-supervised training on several clips of each video.

    ``forward(inputs)`` returns ``{"loss": ...}`` for the batch (see
    :class:`~.base.SelfSupervisedModel`); ``embed(inputs)`` the L2-normalised embeddings of
    single clips. A state dict holds the ``backbone`` (then fine-tuned, its projection dropped),
    the momentum copy ``backbone_hist``, the ``queue_x`` / ``predictor`` / ``swav_prototypes``
    of the method and the step counter ``iter``.

    Args:
        backbone: a video model whose ``head.proj`` is the projection (output = embedding).
        spec: the method.
        num_views: clips per video in a batch.
        predictor: BYOL's prediction MLP.
    """

    def __init__(
        self,
        *,
        backbone: nn.Module,
        spec: ContrastiveSpec,
        num_views: int,
        predictor: nn.Module | None = None,
    ):
        super().__init__()
        if spec.method not in CONTRASTIVE_TYPES:
            raise ValueError(f"CONTRASTIVE.TYPE {spec.method!r}: one of {CONTRASTIVE_TYPES}")
        if num_views < 2:
            raise ValueError(
                f"{spec.method} compares clips of one video: DATA.TRAIN_CROP_NUM_TEMPORAL x "
                f"TRAIN_CROP_NUM_SPATIAL must be >= 2, got {num_views}"
            )
        if (spec.method == "byol") != (predictor is not None):
            raise ValueError("BYOL, and only BYOL, needs CONTRASTIVE.PREDICTOR_DEPTHS")
        self.backbone = backbone
        self.spec = spec
        self.num_views = num_views
        self.predictor = predictor
        self.momentum = spec.momentum
        proj = backbone.head.proj
        dim = proj.layers[-1].out_features if isinstance(proj, ProjectionMLP) else proj.out_features
        self.register_buffer("iter", torch.zeros((), dtype=torch.long))
        if spec.method in ("moco", "byol"):
            self.backbone_hist = copy.deepcopy(backbone)
            for p in self.backbone_hist.parameters():
                p.requires_grad = False
        if spec.method == "moco":
            bound = 1.0 / math.sqrt(dim / 3)
            self.register_buffer("queue_x", torch.rand(spec.queue_len, dim) * 2 * bound - bound)
            self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
            self.register_buffer("queue_full", torch.zeros((), dtype=torch.bool))
        if spec.method == "swav":
            self.swav_prototypes = nn.Linear(dim, SWAV_PROTOTYPES, bias=False)
        self._epoch = 0.0
        self.declare_backbone(backbone, "backbone")

    archs = tuple(BACKBONES)

    @classmethod
    def frame_strides_from_config(cls, cfg) -> tuple[int, ...]:
        """The pathways of the backbone MODEL.ARCH names (SlowFast: two)."""
        name = BACKBONES.get(cls.arch_of(cfg))
        return MODELS.get(name).frame_strides_from_config(cfg)

    def forward_features(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The backbone's features of single clips (before its projection)."""
        return self.backbone.forward_features(list(inputs))

    @classmethod
    def from_config(cls, cfg) -> dict:
        """Reads MODEL.ARCH (the backbone, built from the same cfg), MODEL.NUM_CLASSES (the
        embedding width), CONTRASTIVE.*, DATA.TRAIN_CROP_NUM_TEMPORAL / _SPATIAL,
        SOLVER.MAX_EPOCH, MODEL.LOSS_FUNC (``contrastive_loss``)."""
        c = cfg.CONTRASTIVE
        problems = []
        if cfg.MODEL.ARCH not in BACKBONES:
            problems.append(f"MODEL.ARCH {cfg.MODEL.ARCH!r} is not one of {sorted(BACKBONES)}")
        if cfg.MODEL.LOSS_FUNC != "contrastive_loss":
            problems.append(
                f"MODEL.LOSS_FUNC must be 'contrastive_loss', got {cfg.MODEL.LOSS_FUNC!r}"
            )
        if c.DIM != cfg.MODEL.NUM_CLASSES:
            problems.append(
                f"CONTRASTIVE.DIM {c.DIM} must equal MODEL.NUM_CLASSES {cfg.MODEL.NUM_CLASSES} "
                "(the projection's width)"
            )
        if c.TYPE not in CONTRASTIVE_TYPES:
            problems.append(f"CONTRASTIVE.TYPE {c.TYPE!r} is not one of {CONTRASTIVE_TYPES}")
        if problems:
            raise ValueError("ContrastiveModel: " + "; ".join(problems))
        backbone_cfg = cfg.clone()
        backbone_cfg.defrost()
        backbone_cfg.MODEL.MODEL_NAME = BACKBONES[cfg.MODEL.ARCH]
        backbone_cls = MODELS.get(backbone_cfg.MODEL.MODEL_NAME)
        backbone = backbone_cls(**backbone_cls.from_config(backbone_cfg))
        linear = backbone.head.proj
        backbone.head.proj = ProjectionMLP(
            linear.in_features, cfg.MODEL.NUM_CLASSES, c.MLP_DIM, c.NUM_MLP_LAYERS, c.BN_MLP
        )
        predictor = None
        if c.PREDICTOR_DEPTHS:
            if len(c.PREDICTOR_DEPTHS) != 1:
                raise ValueError("CONTRASTIVE.PREDICTOR_DEPTHS: BYOL has one predictor, e.g. [2]")
            dim = cfg.MODEL.NUM_CLASSES
            predictor = ProjectionMLP(dim, dim, c.MLP_DIM, c.PREDICTOR_DEPTHS[0], c.BN_MLP)
        spec = ContrastiveSpec(
            method=c.TYPE,
            temperature=c.T,
            queue_len=c.QUEUE_LEN,
            momentum=c.MOMENTUM,
            momentum_annealing=c.MOMENTUM_ANNEALING,
            max_epoch=cfg.SOLVER.MAX_EPOCH,
            multi_view_queue=c.MOCO_MULTI_VIEW_QUEUE,
            sequential=c.SEQUENTIAL,
            gather_negatives=c.SIMCLR_DIST_ON,
        )
        views = cfg.DATA.TRAIN_CROP_NUM_TEMPORAL * cfg.DATA.TRAIN_CROP_NUM_SPATIAL
        return {"backbone": backbone, "spec": spec, "num_views": views, "predictor": predictor}

    # ------------------------------------------------------------------ schedule and steps
    def set_progress(self, epoch: float) -> None:
        """Anneals the target encoder's momentum (CONTRASTIVE.MOMENTUM_ANNEALING)."""
        self._epoch = epoch
        if self.spec.momentum_annealing:
            cosine = (math.cos(math.pi * epoch / self.spec.max_epoch) + 1.0) / 2
            self.momentum = 1 - (1 - self.spec.momentum) * cosine

    def adjust_gradients(self) -> bool:
        """SwAV keeps its prototypes fixed in the first epoch; MoCo takes no step until its
        queue holds no random initial entries (PySlowFast's ``contrastive_parameter_surgery``)."""
        if self.spec.method == "swav" and self._epoch <= 1.0:
            self.swav_prototypes.weight.grad = None
        if self.spec.method == "moco":
            return bool(self.queue_full)
        return True

    # ------------------------------------------------------------------ networks
    def _views(self, inputs: Sequence[torch.Tensor]) -> list[list[torch.Tensor]]:
        """The item-major batch split into V lists of pathway tensors (B, C, T, H, W)."""
        total = inputs[0].shape[0]
        if total % self.num_views:
            raise ValueError(
                f"a batch of {total} clips is not {self.num_views} clips per video; the loader "
                "must give DATA.TRAIN_CROP_NUM_TEMPORAL x _SPATIAL clips of each video"
            )
        split = [x.unflatten(0, (total // self.num_views, self.num_views)) for x in inputs]
        return [[x[:, v] for x in split] for v in range(self.num_views)]

    def embed(self, clip: Sequence[torch.Tensor]) -> torch.Tensor:
        """L2-normalised projection (B, D) of single clips given as pathway tensors."""
        return F.normalize(self.backbone(list(clip)), dim=1)

    @torch.no_grad()
    def _keys(self, views: list[list[torch.Tensor]]) -> list[torch.Tensor]:
        """Target-encoder embeddings of ``views``, batched (PySlowFast's key encoder sees all key
        clips in one batch), after the momentum update in training."""
        if self.training:
            pairs = zip(self.backbone.parameters(), self.backbone_hist.parameters())
            for online, target in pairs:
                if int(self.iter) == 0:
                    target.copy_(online)
                else:
                    target.mul_(self.momentum).add_(online.detach(), alpha=1 - self.momentum)
        batch = [torch.cat(parts) for parts in zip(*views)]
        keys = F.normalize(_shuffled(self.backbone_hist, batch), dim=1)
        return list(keys.chunk(len(views)))

    @torch.no_grad()
    def _enqueue(self, keys: list[torch.Tensor]) -> None:
        """MoCo's queue as a ring buffer; every rank's keys enter, so queues stay identical."""
        entering = torch.cat(keys if self.spec.multi_view_queue else keys[:1])
        if dist.is_available() and dist.is_initialized():
            entering = _all_gather(entering)
        n, size = entering.shape[0], self.queue_x.shape[0]
        rows = (int(self.ptr) + torch.arange(n, device=entering.device)) % size
        self.queue_x[rows[-size:]] = entering[-size:]
        end = int(self.ptr) + n
        if end >= size:
            self.queue_full.fill_(True)
        self.ptr.fill_(end % size)

    # ------------------------------------------------------------------ losses
    def forward(self, inputs: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Args: inputs: pathway tensors of V clips per video, item-major.

        Returns: ``{"loss": scalar}``.
        """
        views = self._views(inputs)
        method = {"simclr": self._simclr, "moco": self._moco, "byol": self._byol}
        loss = method.get(self.spec.method, self._swav)(views)
        if self.training:
            self.iter += 1
        return {"loss": loss}

    def _pairs(self) -> list[tuple[int, int]]:
        """Clip pairs of the two-clip methods: consecutive ones when sequential."""
        if self.spec.sequential:
            return [(k, k + 1) for k in range(self.num_views - 1)]
        return [(0, 1)]

    def _simclr(self, views: list[list[torch.Tensor]]) -> torch.Tensor:
        used = sorted({i for pair in self._pairs() for i in pair})
        z = {i: self.embed(views[i]) for i in used}
        t, gather = self.spec.temperature, self.spec.gather_negatives
        return sum(nt_xent_loss(z[a], z[b], t, gather) for a, b in self._pairs())

    def _moco(self, views: list[list[torch.Tensor]]) -> torch.Tensor:
        t, queue = self.spec.temperature, self.queue_x.clone()
        if self.spec.sequential:
            keys = self._keys(views)
            loss = sum(
                moco_loss(self.embed(views[q]), keys[:q] + keys[q + 1 :], queue, t)
                for q in range(len(views))
            )
        else:
            keys = self._keys(views[1:])
            loss = moco_loss(self.embed(views[0]), keys, queue, t)
        if self.training:
            self._enqueue(keys)
        return loss

    def _byol(self, views: list[list[torch.Tensor]]) -> torch.Tensor:
        keys, t = self._keys(views), self.spec.temperature

        def predict(q: int) -> torch.Tensor:
            # The predictor reads the raw projection, as in PySlowFast's head.
            return F.normalize(self.predictor(self.backbone(views[q])), dim=1)

        if self.spec.sequential:
            return sum(
                byol_loss(predict(q), keys[:q] + keys[q + 1 :], t) for q in range(len(views))
            )
        # Both directions of the first two clips.
        return byol_loss(predict(0), [keys[1]], t) + byol_loss(predict(1), [keys[0]], t)

    def _swav(self, views: list[list[torch.Tensor]]) -> torch.Tensor:
        if self.training:
            with torch.no_grad():
                weight = self.swav_prototypes.weight
                weight.copy_(F.normalize(weight, dim=1))
        scores = [self.swav_prototypes(self.embed(v)) for v in views]
        t = self.spec.temperature
        if not self.spec.sequential:
            return swav_loss(scores, t, SWAV_EPSILON)
        return sum(swav_loss([scores[a], scores[b]], t, SWAV_EPSILON) for a, b in self._pairs())


def _shuffled(network: nn.Module, batch: list[torch.Tensor]) -> torch.Tensor:
    """``network(batch)`` with the batch shuffled across processes first and unshuffled after
    (MoCo's shuffling BN: the key encoder's batch statistics then mix other ranks' clips)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return network(batch)
    world, rank = dist.get_world_size(), dist.get_rank()
    gathered = [_all_gather(x) for x in batch]
    total = gathered[0].shape[0]
    order = torch.randperm(total, device=gathered[0].device)
    dist.broadcast(order, src=0)
    local = total // world
    own = order.view(world, local)[rank]
    out = network([x[own] for x in gathered])
    everything = _all_gather(out)
    restore = torch.argsort(order)
    return everything[restore].view(world, local, -1)[rank]


def _all_gather(x: torch.Tensor) -> torch.Tensor:
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)
