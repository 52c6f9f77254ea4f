"""PySlowFast yamls in slowvid: its keys, its spellings and the features slowvid lacks.

The tables live in :mod:`.pyslowfast_keys`. This module adds PySlowFast's keys that slowvid has
no feature behind to a config tree (so a PySlowFast yaml loads unmodified), moves PySlowFast
spellings of slowvid keys to the slowvid key, and refuses, all at once, every value that would
switch on a feature slowvid does not have.
"""

from __future__ import annotations

from typing import Any

from fvcore.common.config import CfgNode

from .pyslowfast_keys import (
    ALIASES,
    DEFAULTS_DIFFER,
    FOREIGN_KEYS,
    FOREIGN_VALUES,
    NEVER_READ,
    ForeignKey,
)

__all__ = [
    "add_foreign_keys",
    "apply_aliases",
    "defaults_differ",
    "foreign_value_problems",
    "same_value",
]


def _get(cfg: CfgNode, key: str) -> Any:
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def _has(cfg: CfgNode, key: str) -> bool:
    node = cfg
    for part in key.split("."):
        if not isinstance(node, CfgNode) or part not in node:
            return False
        node = node[part]
    return True


def _set(cfg: CfgNode, key: str, value: Any) -> None:
    *nodes, leaf = key.split(".")
    node = cfg
    for part in nodes:
        if part not in node:
            node[part] = CfgNode()
        node = node[part]
    node[leaf] = value


def _plain(value: Any) -> Any:
    """Lists and tuples alike, recursively, for comparing yaml values with defaults."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def same_value(a: Any, b: Any) -> bool:
    """Whether two config values are equal, tuples and lists being the same."""
    return _plain(a) == _plain(b)


def cfg_default(entry: ForeignKey) -> Any:
    """The value a foreign key gets in slowvid's tree: the first value that leaves it off
    (PySlowFast's default, unless that default switches a feature on)."""
    return entry.default if entry.gate else entry.off_values()[0]


# The foreign keys the defaults hold because slowvid lacks their feature (set on import of
# ``defaults.py``); a table entry slowvid defines itself is not among them and never checked.
IN_TREE: set[str] = set()


def add_foreign_keys(cfg: CfgNode) -> set[str]:
    """Adds every key of :data:`FOREIGN_KEYS` that ``cfg`` lacks, at its off value.

    A key ``cfg`` already has (a feature that has landed in slowvid) is left alone.

    Returns:
        The keys added.
    """
    added = set()
    for key, entry in FOREIGN_KEYS.items():
        if not _has(cfg, key):
            value = cfg_default(entry)
            _set(cfg, key, list(value) if isinstance(value, tuple) else value)
            added.add(key)
    return added


def _gate_is_on(cfg: CfgNode, gate: str) -> bool:
    """Whether a gate that is a key of slowvid's own (a feature that has landed, e.g.
    TENSORBOARD.MODEL_VIS.ENABLE) is switched on: its gated keys are then read, and checked.
    A gate the table adds is refused when on, and a gate that is not a key (NEVER_READ,
    conditions) never opens."""
    return gate not in IN_TREE and _has(cfg, gate) and bool(_get(cfg, gate))


def foreign_value_problems(cfg: CfgNode) -> list[str]:
    """Every setting of ``cfg`` that asks for a PySlowFast feature slowvid lacks.

    Args:
        cfg: a merged config.

    Returns:
        One message per offending key: the key, its value, what it does in PySlowFast.
    """
    problems = []
    for key, entry in FOREIGN_KEYS.items():
        if key not in IN_TREE or not _has(cfg, key):
            continue
        value = _get(cfg, key)
        if entry.gate and not _gate_is_on(cfg, entry.gate):
            continue
        if not any(same_value(value, off) for off in entry.off_values()):
            allowed = " or ".join(repr(v) for v in entry.off_values())
            read = f", read with {entry.gate}" if entry.gate else ""
            problems.append(
                f"{key} = {value!r}: slowvid lacks this PySlowFast feature: {entry.does} "
                f"(accepted: {allowed}{read})"
            )
    for (key, value), (does, lands_with) in FOREIGN_VALUES.items():
        landed = lands_with and lands_with not in IN_TREE
        if not landed and _has(cfg, key) and _get(cfg, key) == value:
            problems.append(f"{key} = {value!r}: slowvid lacks this PySlowFast feature: {does}")
    return problems


def apply_aliases(tree: dict, source: str) -> dict:
    """Moves PySlowFast spellings (:data:`ALIASES`) in a nested yaml ``tree`` to the slowvid
    key, in place.

    Raises:
        ValueError: ``tree`` sets both spellings to different values.
    """
    for alias, key in ALIASES.items():
        a_node, a_leaf = _parent(tree, alias)
        if a_node is None or a_leaf not in a_node:
            continue
        value = a_node.pop(a_leaf)
        k_node, k_leaf = _parent(tree, key, create=True)
        if k_leaf in k_node and not same_value(k_node[k_leaf], value):
            raise ValueError(
                f"{source}: {alias} (PySlowFast's name of {key}) is {value!r} but {key} is "
                f"{k_node[k_leaf]!r}; set one of them"
            )
        k_node[k_leaf] = value
    return tree


def _parent(tree: dict, key: str, create: bool = False) -> tuple[dict | None, str]:
    *nodes, leaf = key.split(".")
    node = tree
    for part in nodes:
        if not isinstance(node.get(part), dict):
            if not create:
                return None, leaf
            node[part] = {}
        node = node[part]
    return node, leaf


def defaults_differ(cfg: CfgNode) -> dict[str, tuple[Any, Any, str]]:
    """Keys whose slowvid default differs from PySlowFast's: key -> (PySlowFast's default,
    slowvid's default, why). Includes foreign keys that slowvid keeps at another value (a key
    whose feature has landed in defaults.py is listed only through DEFAULTS_DIFFER)."""
    out = {
        key: (pysf, _get(cfg, key), why)
        for key, (pysf, why) in DEFAULTS_DIFFER.items()
        if _has(cfg, key)
    }
    for key, entry in FOREIGN_KEYS.items():
        if key not in out and key in IN_TREE and not same_value(cfg_default(entry), entry.default):
            out[key] = (entry.default, cfg_default(entry), entry.does)
    return out


def gate_of(key: str) -> str:
    """Why a foreign key is accepted with any value ("" when it is checked)."""
    entry = FOREIGN_KEYS.get(key)
    if entry is None or not entry.gate:
        return ""
    return NEVER_READ if entry.gate == NEVER_READ else f"read only with {entry.gate}"


def describe(key: str) -> str:
    """One line about a foreign key for docs and messages."""
    entry = FOREIGN_KEYS[key]
    gate = gate_of(key)
    return f"{key}: {entry.does}" + (f" ({gate})" if gate else "")
