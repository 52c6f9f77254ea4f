"""Learning-rate schedules as pure functions of the (fractional) epoch.

The schedule is evaluated every iteration at ``epoch + iter / iters_per_epoch`` rather than
stepped, so resuming mid-run needs no scheduler state: the epoch alone determines the rate.

Warm-up follows PySlowFast: during ``[0, warmup_epochs)`` the rate rises linearly from
``warmup_start_lr`` to the value the policy itself gives at ``warmup_epochs``, so the curve is
continuous where warm-up ends. With ``cosine_after_warmup`` (PySlowFast's
``SOLVER.COSINE_AFTER_WARMUP``, the ViT recipes' schedule) the cosine spans
``[warmup_epochs, max_epoch]`` instead of ``[0, max_epoch]``, so warm-up ends at ``base_lr``.
"""

import itertools
import math
from collections.abc import Callable, Sequence

import torch

__all__ = ["LR_POLICIES", "build_lr_schedule", "lr_at_epoch", "set_lr", "shard_lr_scale"]

# Values accepted by ``SOLVER.LR_POLICY``.
LR_POLICIES = ("cosine", "steps_with_relative_lrs", "constant")


def reached_steps(steps: Sequence[float], max_epoch: float) -> int:
    """How many of SOLVER.STEPS training reaches: those before MAX_EPOCH."""
    return sum(1 for s in steps if s < max_epoch)


def _check(
    *,
    policy: str,
    max_epoch: float,
    steps: Sequence[float],
    lrs: Sequence[float],
    warmup_epochs: float,
) -> None:
    if policy not in LR_POLICIES:
        raise ValueError(
            f"Unknown SOLVER.LR_POLICY {policy!r}; valid choices: {', '.join(LR_POLICIES)}"
        )
    if warmup_epochs < 0:
        raise ValueError(f"SOLVER.WARMUP_EPOCHS must be >= 0, got {warmup_epochs}")
    if policy == "cosine" and max_epoch <= 0:
        raise ValueError(f"SOLVER.MAX_EPOCH must be > 0 for the cosine policy, got {max_epoch}")
    if policy == "steps_with_relative_lrs":
        # As PySlowFast, LRS may run past the last step, and steps at or after MAX_EPOCH
        # need no rate: neither is ever reached.
        if len(steps) == 0 or len(lrs) < reached_steps(steps, max_epoch):
            raise ValueError(
                "SOLVER.STEPS must be non-empty and SOLVER.LRS must have an entry for each step "
                f"before SOLVER.MAX_EPOCH={max_epoch:g} for steps_with_relative_lrs, got "
                f"STEPS={list(steps)} and LRS={list(lrs)}"
            )
        # A first step other than 0 leaves the start of training without a rate.
        if steps[0] != 0:
            raise ValueError(f"SOLVER.STEPS must start with 0, got {list(steps)}")
        if any(b < a for a, b in itertools.pairwise(steps)):
            raise ValueError(f"SOLVER.STEPS must be non-decreasing, got {list(steps)}")


def _policy_lr(
    cur_epoch: float,
    *,
    policy: str,
    base_lr: float,
    max_epoch: float,
    cosine_end_lr: float,
    steps: Sequence[float],
    lrs: Sequence[float],
    cosine_start: float = 0.0,
) -> float:
    if policy == "cosine":
        # Clamped so a few iterations past MAX_EPOCH (e.g. an extra eval) do not climb back up.
        span = max_epoch - cosine_start
        t = min(max(cur_epoch - cosine_start, 0.0), span) / span
        return cosine_end_lr + (base_lr - cosine_end_lr) * 0.5 * (1.0 + math.cos(math.pi * t))
    if policy == "steps_with_relative_lrs":
        # Index of the last step that has been reached.
        index = sum(1 for s in steps if cur_epoch >= s) - 1
        # Past MAX_EPOCH (an evaluation after the last step) the last rate holds.
        return base_lr * lrs[min(max(index, 0), len(lrs) - 1)]
    return base_lr


def lr_at_epoch(
    cur_epoch: float,
    *,
    policy: str,
    base_lr: float,
    max_epoch: float,
    cosine_end_lr: float = 0.0,
    steps: Sequence[float] = (),
    lrs: Sequence[float] = (),
    warmup_epochs: float = 0.0,
    warmup_start_lr: float = 0.0,
    cosine_after_warmup: bool = False,
) -> float:
    """Learning rate at a fractional epoch.

    Args:
        cur_epoch (float): ``epoch + iter / iters_per_epoch``, starting at 0.
        policy (str): "cosine", "steps_with_relative_lrs" or "constant".
        base_lr (float): peak rate (at epoch 0 of the policy, before warm-up is applied).
        max_epoch (float): epochs of training; the cosine reaches ``cosine_end_lr`` there.
        cosine_end_lr (float): final rate of the cosine policy.
        steps (Sequence[float]): epochs where the steps policy changes rate, starting at 0.
        lrs (Sequence[float]): multipliers of ``base_lr``, one per entry of ``steps`` (more
            are allowed and never reached, as in PySlowFast).
        warmup_epochs (float): length of the linear warm-up (0 disables it).
        warmup_start_lr (float): rate at epoch 0 when warming up.
        cosine_after_warmup (bool): the cosine starts (at ``base_lr``) where warm-up ends.

    Returns:
        float: the learning rate.

    Raises:
        ValueError: on an unknown policy or inconsistent steps/lrs, naming the SOLVER key.
    """
    _check(policy=policy, max_epoch=max_epoch, steps=steps, lrs=lrs, warmup_epochs=warmup_epochs)
    if cosine_after_warmup and policy == "cosine" and warmup_epochs >= max_epoch:
        raise ValueError(
            f"SOLVER.COSINE_AFTER_WARMUP: WARMUP_EPOCHS {warmup_epochs} leaves no epochs of "
            f"cosine before MAX_EPOCH {max_epoch}"
        )
    kwargs = {
        "policy": policy,
        "base_lr": base_lr,
        "max_epoch": max_epoch,
        "cosine_end_lr": cosine_end_lr,
        "steps": steps,
        "lrs": lrs,
        "cosine_start": warmup_epochs if cosine_after_warmup else 0.0,
    }
    if cur_epoch < warmup_epochs:
        lr_end = _policy_lr(warmup_epochs, **kwargs)
        return warmup_start_lr + (lr_end - warmup_start_lr) * cur_epoch / warmup_epochs
    return _policy_lr(cur_epoch, **kwargs)


def shard_lr_scale(cfg) -> int:
    """NUM_SHARDS with SOLVER.BASE_LR_SCALE_NUM_SHARDS (PySlowFast multiplies BASE_LR,
    WARMUP_START_LR and COSINE_END_LR by it), else 1."""
    return cfg.NUM_SHARDS if cfg.SOLVER.BASE_LR_SCALE_NUM_SHARDS else 1


def build_lr_schedule(cfg) -> Callable[[float], float]:
    """Return ``cur_epoch -> lr`` for ``cfg.SOLVER``; settings are checked here, once."""
    s = cfg.SOLVER
    scale = shard_lr_scale(cfg)
    kwargs = {
        "policy": s.LR_POLICY,
        "base_lr": float(s.BASE_LR) * scale,
        "max_epoch": float(s.MAX_EPOCH),
        "cosine_end_lr": float(s.COSINE_END_LR) * scale,
        "steps": tuple(float(x) for x in s.STEPS),
        "lrs": tuple(float(x) for x in s.LRS),
        "warmup_epochs": float(s.WARMUP_EPOCHS),
        "warmup_start_lr": float(s.WARMUP_START_LR) * scale,
        "cosine_after_warmup": bool(s.COSINE_AFTER_WARMUP),
    }
    # Fail at build time, not at the first iteration after data loading has started.
    lr_at_epoch(0.0, **kwargs)

    def schedule(cur_epoch: float) -> float:
        return lr_at_epoch(cur_epoch, **kwargs)

    return schedule


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group.

    A group with an ``"lr_scale"`` entry (e.g. layer-wise decay) gets ``lr * lr_scale``.
    """
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
