"""The objectives of contrastive and self-distillation learning, on L2-normalised embeddings.

Papers: "A Simple Framework for Contrastive Learning of Visual Representations", Chen et al.,
arXiv:2002.05709 (SimCLR, NT-Xent); "Momentum Contrast for Unsupervised Visual Representation
Learning", He et al., arXiv:1911.05722 (MoCo); "Bootstrap Your Own Latent", Grill et al.,
arXiv:2006.07733 (BYOL); "Unsupervised Learning of Visual Features by Contrasting Cluster
Assignments", Caron et al., arXiv:2006.09882 (SwAV); "A Large-Scale Study on Unsupervised
Spatiotemporal Representation Learning", Feichtenhofer et al., arXiv:2104.14558 (their video
form, PySlowFast's ``models/contrastive.py``, whose scalings these follow).

Every function takes embeddings already L2-normalised, (B, D), and returns a scalar loss. Across
processes, :func:`gather_with_grad` concatenates every rank's embeddings so that negatives come
from the whole batch while gradients still reach each rank's own.
"""

import torch
import torch.distributed as dist
import torch.nn.functional as F

__all__ = [
    "byol_loss",
    "gather_with_grad",
    "moco_loss",
    "nt_xent_loss",
    "sinkhorn",
    "swav_loss",
]


def _world() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Every rank's ``x`` concatenated along dim 0 (this rank's block differentiable); ``x``
    itself in a single process."""
    if _world() == 1:
        return x
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(x), dim=0)


def nt_xent_loss(q1: torch.Tensor, q2: torch.Tensor, temperature: float, gather: bool = True):
    """SimCLR's NT-Xent between two views: each embedding's positive is its other view, its
    negatives every other embedding of both views (across processes when ``gather``).

    This rank's 2B anchors are scored against all 2N candidates; the mean over ranks is the loss
    PySlowFast computes over the whole batch on every rank.
    """
    b = q1.shape[0]
    anchors = torch.cat([q1, q2])
    if gather and _world() > 1:
        k1, k2 = gather_with_grad(q1), gather_with_grad(q2)
        offset = dist.get_rank() * b
    else:
        k1, k2, offset = q1, q2, 0
    n = k1.shape[0]
    candidates = torch.cat([k1, k2])
    logits = anchors @ candidates.t() / temperature
    rows = torch.arange(2 * b, device=q1.device)
    own = torch.cat([rows[:b] + offset, rows[b:] - b + n + offset])
    positive = torch.cat([rows[:b] + offset + n, rows[b:] - b + offset])
    logits = logits.masked_fill(F.one_hot(own, 2 * n).bool(), float("-inf"))
    return F.cross_entropy(logits, positive)


def moco_loss(
    query: torch.Tensor, keys: list[torch.Tensor], queue: torch.Tensor, temperature: float
) -> torch.Tensor:
    """MoCo's InfoNCE: the query against each key clip (positive) and the queue (negatives),
    the rows of all keys stacked; the positive is class 0."""
    negatives = query @ queue.t()
    logits = torch.cat([torch.cat([(query * k).sum(1, keepdim=True), negatives], 1) for k in keys])
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits / temperature, target)


def byol_loss(prediction: torch.Tensor, keys: list[torch.Tensor], temperature: float):
    """BYOL's regression of the target network's embeddings, as PySlowFast scales it: minus the
    mean cosine similarity over 'temperature', averaged over the key clips (the original's
    ``2 - 2 cos`` up to an affine map)."""
    return sum(-(prediction * k).sum(1).mean() / temperature for k in keys) / len(keys)


@torch.no_grad()
def sinkhorn(scores: torch.Tensor, epsilon: float = 0.05, iterations: int = 3) -> torch.Tensor:
    """Soft equipartitioned assignment of samples to prototypes (SwAV's codes).

    Args:
        scores: (B, K) prototype scores of this rank's samples; normalised over every process.

    Returns:
        (B, K) codes; each row sums to 1, and over all samples of all ranks every prototype
        receives an equal share.
    """
    world = _world()
    # One shift for all ranks keeps exp finite without changing the normalised result.
    top = scores.float().max()
    if world > 1:
        dist.all_reduce(top, op=dist.ReduceOp.MAX)
    q = torch.exp((scores.float() - top) / epsilon).t()  # (K, B)
    total = q.sum()
    if world > 1:
        dist.all_reduce(total)
    q /= total
    k, b = q.shape
    for _ in range(iterations):
        rows = q.sum(1, keepdim=True)
        if world > 1:
            dist.all_reduce(rows)
        q /= rows * k
        q /= q.sum(0, keepdim=True) * b * world
    return (q / q.sum(0, keepdim=True)).t()


def swav_loss(scores: list[torch.Tensor], temperature: float, epsilon: float = 0.05):
    """SwAV's swapped prediction: the codes of each of the first two clips, from Sinkhorn, are
    predicted from every other clip's scores; averaged over those pairs.

    Args:
        scores: per clip, (B, K) scores of the L2-normalised embeddings against the
            L2-normalised prototypes.
    """
    loss = 0.0
    assigned = min(2, len(scores))
    for i in range(assigned):
        codes = sinkhorn(scores[i].detach(), epsilon)
        others = [v for v in range(len(scores)) if v != i]
        term = sum(
            -(codes * F.log_softmax(scores[v] / temperature, dim=1)).sum(1).mean() for v in others
        )
        loss = loss + term / len(others)
    return loss / assigned
