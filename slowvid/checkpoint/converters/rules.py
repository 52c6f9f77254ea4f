"""The engine shared by the converters: regex rename tables, shape fitting, norm filling.

A converter is data: a :class:`RuleTable` of ``(regex, template)`` pairs plus a few tensor
fix-ups. Each source key is matched (``re.fullmatch``) against the rules in order; the first
match names the slowvid key. Templates are ``str.format`` strings over the regex's named
groups, after the table's group transforms (e.g. ``s2`` -> stage 0). A template may be a tuple
of candidates: the first that names a key of the target model wins (PySlowFast calls both the
ResNet stem conv and X3D's temporal stem conv ``conv``).

Templates name two-pathway models (``slow_stem``, ``fast_stages``); for a single-pathway target
the ``slow_`` prefix is dropped, so one table serves ResNet, SlowFast and their relatives. A
target that keeps the network under ``backbone.`` (an ``ActionDetector``) takes a classifier's
names there too, so PySlowFast's detection checkpoints (its AVA models are its SlowFast with an
ROI head, no prefix) and any classifier checkpoint (a Kinetics model to fine-tune on AVA) map
into it; the source's head lands on the detector's head.
"""

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = [
    "BACKBONE",
    "PARAM",
    "CheckpointFormat",
    "Conversion",
    "RuleTable",
    "fill_identity_norms",
    "fit_qkv_layout",
    "fit_shapes",
    "make_table",
    "minus",
    "pathway",
    "rename_state",
]

# Trailing parameter / buffer name of a module, captured as ``param``.
PARAM = r"(?P<param>weight|bias|running_mean|running_var|num_batches_tracked)"
# Where an ActionDetector keeps its backbone.
BACKBONE = "backbone."


@dataclass
class Conversion:
    """A source state dict renamed and reshaped for a slowvid model.

    Attributes:
        state: tensors under slowvid names; keys no rule matched keep their source name, so
            the loader reports them as unexpected.
        source: the detected format ("slowvid", "pyslowfast", "caffe2", ...).
        origin: slowvid key -> source key, to name both in error messages.
        skipped: model keys deliberately left at their initial values (already warned about).
    """

    state: dict[str, torch.Tensor]
    source: str
    origin: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


class CheckpointFormat:
    """A foreign checkpoint layout: how to recognise its keys and how to convert them.

    Subclasses are registered in ``slowvid.registry.CHECKPOINT_FORMATS`` (a project registers
    its own the same way) and tried by :func:`~slowvid.checkpoint.converters.convert_checkpoint`
    in ``priority`` order, the first whose :meth:`detect` accepts the keys converting them.

    Attributes:
        name: short name used in logs, docs and ``TRAIN.CHECKPOINT_TYPE``.
        signature: a key of this format matches this regex (``re.match``).
        priority: lower is tried first; the core's formats use 10..50, so a project's format
            (default 100) is tried after them unless it says otherwise.
    """

    name: str = ""
    signature: str = ""
    priority: int = 100

    def detect(self, state: Mapping[str, torch.Tensor]) -> bool:
        """Whether any key of ``state`` looks like this format."""
        pattern = re.compile(self.signature)
        return any(pattern.match(k) for k in state)

    def convert(self, state: Mapping[str, torch.Tensor], model: nn.Module) -> Conversion:
        """``state`` under ``model``'s names and shapes."""
        raise NotImplementedError(f"{type(self).__name__} does not define convert()")


@dataclass(frozen=True)
class RuleTable:
    """Compiled ``(regex, candidate templates)`` rules and per-group value transforms."""

    rules: tuple[tuple[re.Pattern, tuple[str, ...]], ...]
    groups: Mapping[str, Callable[[str | None], str]]


def make_table(
    rules: Sequence[tuple[str, str | tuple[str, ...]]],
    groups: Mapping[str, Callable[[str | None], str]] | None = None,
) -> RuleTable:
    """Compiles a rename table once, at import time of the converter."""
    compiled = tuple(
        (re.compile(pattern), (template,) if isinstance(template, str) else template)
        for pattern, template in rules
    )
    return RuleTable(compiled, dict(groups or {}))


def minus(offset: int) -> Callable[[str | None], str]:
    """Group transform for indices that start at ``offset`` in the source (``s2`` -> 0)."""
    return lambda value: str(int(value) - offset)


def pathway(value: str | None) -> str:
    """Group transform: PySlowFast/PyTorchVideo pathway index (or none) -> slowvid prefix."""
    return "fast_" if value in ("1", "fast") else "slow_"


def rename_state(
    state: Mapping[str, torch.Tensor], table: RuleTable, model_keys: Iterable[str]
) -> Conversion:
    """Renames every key of ``state`` by the first rule that matches it.

    Args:
        state: the source tensors.
        table: the format's rules.
        model_keys: state-dict keys of the target model (pick candidates, drop ``slow_``).

    Returns:
        The renamed tensors; unmatched keys keep their source names.
    """
    model_keys = set(model_keys)
    two_pathway = any(k.removeprefix(BACKBONE).startswith("slow_") for k in model_keys)
    out = Conversion(state={}, source="")
    for key, value in state.items():
        name = _rename(key, table, model_keys, two_pathway)
        out.state[name or key] = value
        if name:
            out.origin[name] = key
    return out


def _rename(key: str, table: RuleTable, model_keys: set[str], two_pathway: bool) -> str | None:
    for pattern, templates in table.rules:
        match = pattern.fullmatch(key)
        if match is None:
            continue
        values = {
            g: table.groups[g](v) if g in table.groups else v for g, v in match.groupdict().items()
        }
        names = [t.format(**values) for t in templates]
        if not two_pathway:
            names = [n.removeprefix("slow_") for n in names]
        # A detector's backbone holds what a classifier holds at the top level.
        names += [BACKBONE + n for n in names]
        return next((n for n in names if n in model_keys), names[0])
    return None


def fit_shapes(state: dict[str, torch.Tensor], model_state: Mapping[str, torch.Tensor]) -> None:
    """Reshapes, in place, tensors that differ from the model's only by singleton dims.

    Caffe2 and some heads store a 1x1x1 conv as a matrix, or a linear layer as a conv.
    """
    for key, value in state.items():
        target = model_state.get(key)
        if target is None or value.shape == target.shape:
            continue
        if [d for d in value.shape if d != 1] == [d for d in target.shape if d != 1]:
            state[key] = value.reshape(target.shape)


def fill_identity_norms(
    state: dict[str, torch.Tensor], model: nn.Module, pattern: str
) -> list[str]:
    """Adds identity parameters for the model's batch norms that the source lacks.

    A source without a norm where slowvid has one (PyTorchVideo's X3D shortcut, MMAction2's
    laterals) maps exactly when that norm computes the identity: scale 1, shift 0, mean 0 and
    variance ``1 - eps``, so that ``sqrt(var + eps)`` is exactly 1.

    Args:
        state: converted tensors, extended in place.
        model: the target model.
        pattern: module names (``re.fullmatch``) that may be filled.

    Returns:
        The module names filled.
    """
    filled = []
    for name, module in model.named_modules():
        if not isinstance(module, nn.modules.batchnorm._BatchNorm) or not re.fullmatch(
            pattern, name
        ):
            continue
        if f"{name}.weight" in state:
            continue
        n = module.num_features
        state[f"{name}.weight"] = torch.ones(n)
        state[f"{name}.bias"] = torch.zeros(n)
        state[f"{name}.running_mean"] = torch.zeros(n)
        state[f"{name}.running_var"] = torch.full((n,), 1.0 - module.eps)
        if module.num_batches_tracked is not None:
            state[f"{name}.num_batches_tracked"] = torch.tensor(0)
        filled.append(name)
    return filled


_FUSED = re.compile(r"(?P<pre>.+\.attn)\.qkv\.(?P<param>weight|bias)")
_SPLIT = re.compile(r"(?P<pre>.+\.attn)\.(?P<x>[qkv])\.(?P<param>weight|bias)")
_QKV_SOURCE = re.compile(r"(\.)qkv(\.(?:weight|bias)$)")


def fit_qkv_layout(conversion: Conversion, model_keys: Iterable[str]) -> None:
    """Splits a fused ``attn.qkv`` into ``attn.q`` / ``k`` / ``v`` or joins them, in place, to
    match the model's layout (PySlowFast ``SEPARATE_QKV``; PyTorchVideo keeps them separate).

    The fused weight stacks q, k and v along the output dimension, in that order. A third's
    origin is its source key with ``qkv`` replaced by ``q``, ``k`` or ``v``; a joined tensor's
    is its query's source key.
    """
    state, origin = conversion.state, conversion.origin
    model_keys = set(model_keys)
    for key in [k for k in state if _FUSED.fullmatch(k)]:
        m = _FUSED.fullmatch(key)
        if key not in model_keys and f"{m['pre']}.q.{m['param']}" in model_keys:
            source = origin.pop(key, key)
            for name, part in zip("qkv", state.pop(key).chunk(3, dim=0), strict=True):
                state[f"{m['pre']}.{name}.{m['param']}"] = part
                origin[f"{m['pre']}.{name}.{m['param']}"] = _QKV_SOURCE.sub(
                    rf"\g<1>{name}\g<2>", source
                )
    parts: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key in [k for k in state if _SPLIT.fullmatch(k)]:
        m = _SPLIT.fullmatch(key)
        if key not in model_keys and f"{m['pre']}.qkv.{m['param']}" in model_keys:
            parts.setdefault((m["pre"], m["param"]), {})[m["x"]] = state.pop(key)
            source = origin.pop(key, key)
            if m["x"] == "q":
                origin[f"{m['pre']}.qkv.{m['param']}"] = source
    for (pre, param), qkv in parts.items():
        state[f"{pre}.qkv.{param}"] = torch.cat([qkv["q"], qkv["k"], qkv["v"]])
