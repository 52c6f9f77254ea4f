"""Loading a run's config: defaults, project nodes, yaml chain, command-line overrides.

Every key is checked before it is merged, so a typo in a yaml or an override stops the run
with the file (or the command line) and the nearest valid key in the message, instead of
being merged silently or failing deep inside fvcore. All unknown keys of a run are reported in
one error. PySlowFast's spellings of slowvid keys (``pyslowfast_keys.ALIASES``) are moved to
the slowvid key as each file merges.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence

import yaml
from fvcore.common.config import BASE_KEY, CfgNode

from .defaults import get_cfg
from .project import add_project_config, find_project
from .pyslowfast import apply_aliases
from .pyslowfast_keys import ALIASES
from .validation import infer_and_check, replaced_key_message


class ConfigKeyError(KeyError):
    """An unknown config key; the message names where it came from and the closest key."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0])


def all_keys(cfg: CfgNode, prefix: str = "") -> list[str]:
    """Every leaf key of ``cfg`` in dotted form (``TRAIN.BATCH_SIZE``)."""
    keys = []
    for name, value in cfg.items():
        full = f"{prefix}{name}"
        keys.extend(all_keys(value, full + ".") if isinstance(value, CfgNode) else [full])
    return keys


def _unknown_key_message(key: str, cfg: CfgNode, source: str) -> str:
    replaced = replaced_key_message(key)
    if replaced is not None:
        return f"{source}: config key {replaced}"
    known = all_keys(cfg)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
    if not close:  # a typo in the node name (TRIAN.BATCH_SIZE) still shares the leaf
        leaf = key.rsplit(".", 1)[-1]
        close = [k for k in known if k.rsplit(".", 1)[-1] == leaf][:1]
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"{source}: unknown config key '{key}'{hint}"


def unknown_keys(tree: dict, cfg: CfgNode, source: str, prefix: str = "") -> list[str]:
    """A message for every key of ``tree`` that ``cfg`` lacks (PySlowFast aliases are known)."""
    problems = []
    node = cfg
    for part in prefix.rstrip(".").split(".") if prefix else []:
        node = node[part]
    for name, value in tree.items():
        full = f"{prefix}{name}"
        if full in ALIASES:
            continue
        if name not in node:
            # An unknown group: name each of its leaves, so the suggestions are leaf keys.
            leaves = _leaf_keys(value, full) if isinstance(value, dict) and value else [full]
            problems.extend(_unknown_key_message(key, cfg, source) for key in leaves)
        elif isinstance(node[name], CfgNode):
            if not isinstance(value, dict):
                problems.append(f"{source}: '{full}' is a group of keys, not a value")
            else:
                problems.extend(unknown_keys(value, cfg, source, full + "."))
    return problems


def _leaf_keys(tree: dict, prefix: str) -> list[str]:
    keys = []
    for name, value in tree.items():
        full = f"{prefix}.{name}"
        keys.extend(_leaf_keys(value, full) if isinstance(value, dict) and value else [full])
    return keys


def _raise_unknown(problems: list[str]) -> None:
    if len(problems) == 1:
        raise ConfigKeyError(problems[0])
    if problems:
        raise ConfigKeyError(f"{len(problems)} unknown config keys:\n  " + "\n  ".join(problems))


def check_keys(tree: dict, cfg: CfgNode, source: str, prefix: str = "") -> None:
    """Raise one ConfigKeyError naming every key of ``tree`` that ``cfg`` lacks."""
    _raise_unknown(unknown_keys(tree, cfg, source, prefix))


def _check_yaml_chain(path: str, cfg: CfgNode, seen: tuple[str, ...] = ()) -> None:
    """Check the keys of ``path`` and of every ``_BASE_`` file it inherits from; one error
    lists the unknown keys of all of them."""
    _raise_unknown(_yaml_chain_problems(path, cfg, seen))


def _yaml_chain_problems(path: str, cfg: CfgNode, seen: tuple[str, ...] = ()) -> list[str]:
    path = os.path.abspath(os.path.expanduser(path))
    if path in seen:
        raise ValueError(f"{path}: _BASE_ chain loops back on itself: {' -> '.join(seen)}")
    if not os.path.isfile(path):
        where = f" (a _BASE_ of {seen[-1]})" if seen else ""
        raise FileNotFoundError(f"config file not found: {path}{where}")
    with open(path) as f:
        tree = yaml.safe_load(f) or {}
    bases = tree.pop(BASE_KEY, [])
    problems = []
    for base in [bases] if isinstance(bases, str) else bases:
        problems += _yaml_chain_problems(
            os.path.join(os.path.dirname(path), base), cfg, seen + (path,)
        )
    return problems + unknown_keys(tree, cfg, path)


def _load_tree(path: str) -> dict:
    """``path`` merged over its ``_BASE_`` chain (later files win), each file's PySlowFast
    spellings moved to their slowvid keys before the files merge."""
    path = os.path.abspath(os.path.expanduser(path))
    with open(path) as f:
        tree = yaml.safe_load(f) or {}
    bases = tree.pop(BASE_KEY, [])
    apply_aliases(tree, path)
    merged: dict = {}
    for base in [bases] if isinstance(bases, str) else bases:
        _merge_tree(_load_tree(os.path.join(os.path.dirname(path), base)), merged)
    _merge_tree(tree, merged)
    return merged


def _merge_tree(src: dict, dst: dict) -> None:
    for key, value in src.items():
        if isinstance(value, dict) and isinstance(dst.get(key), dict):
            _merge_tree(value, dst[key])
        else:
            dst[key] = value


def merge_yaml(cfg: CfgNode, path: str) -> None:
    """Merge ``path`` (and its ``_BASE_`` chain) into ``cfg``."""
    cfg.merge_from_other_cfg(CfgNode(_load_tree(path)))


def merge_opts(cfg: CfgNode, opts: Sequence[str]) -> None:
    """Merge trailing ``KEY VALUE`` pairs from the command line into ``cfg``."""
    if len(opts) % 2:
        raise ValueError(
            f"command-line overrides come in KEY VALUE pairs; got an odd count: {list(opts)}"
        )
    opts = list(opts)
    opts[::2] = [ALIASES.get(key, key) for key in opts[::2]]
    problems = []
    for key in opts[::2]:
        node, parts = cfg, key.split(".")
        for part in parts:
            if not isinstance(node, CfgNode) or part not in node:
                problems.append(_unknown_key_message(key, cfg, "command line"))
                break
            node = node[part]
        else:
            if isinstance(node, CfgNode):
                problems.append(f"command line: '{key}' is a group of keys, not a value")
    _raise_unknown(problems)
    cfg.merge_from_list(opts)


def _project_in_yaml(path: str) -> str:
    """``PROJECT`` set by ``path`` or, failing that, by its ``_BASE_`` chain ("" if none)."""
    with open(os.path.abspath(os.path.expanduser(path))) as f:
        tree = yaml.safe_load(f) or {}
    if tree.get("PROJECT"):
        return str(tree["PROJECT"])
    bases = tree.get(BASE_KEY, [])
    for base in reversed([bases] if isinstance(bases, str) else bases):
        found = _project_in_yaml(os.path.join(os.path.dirname(os.path.abspath(path)), base))
        if found:
            return found
    return ""


def resolve_project(
    cfg_files: Sequence[str], opts: Sequence[str], project: str | None = None
) -> str:
    """The run's project: ``project`` (``--project``), a ``PROJECT`` key of the yamls or the
    command line, or the ``projects/<name>/`` folder a yaml lives in; "" for none.

    Raises:
        ValueError: two of these name different projects.
    """
    named = {}
    if project:
        named["--project"] = project
    for cfg_file in cfg_files:
        if os.path.isfile(cfg_file) and _project_in_yaml(cfg_file):
            named[cfg_file] = _project_in_yaml(cfg_file)
    for key, value in zip(opts[::2], opts[1::2]):
        if key == "PROJECT":
            named["command line PROJECT"] = str(value).strip("'\"")
    by_path = find_project(cfg_files)
    if by_path:
        named[f"the config's folder projects/{by_path}"] = by_path
    if len(set(named.values())) > 1:
        raise ValueError(f"the run names more than one project: {named}")
    return next(iter(named.values()), "")


def load_config(
    cfg_files: str | Sequence[str] = (),
    opts: Sequence[str] = (),
    project: str | None = None,
    check: bool = True,
) -> CfgNode:
    """Defaults, then the project's nodes, then each yaml (with its _BASE_ chain), then opts.

    Args:
        cfg_files: yaml file(s), merged in order.
        opts: flat ``[KEY, VALUE, ...]`` overrides, as typed after the command line's flags.
        project: name of a folder in ``projects/``; if None, the ``PROJECT`` key of the yamls or
            ``opts``, else the ``projects/<name>/`` folder a yaml lives in. It is imported
            (registering its parts) and its ``add_config`` runs before any yaml merges.
        check: run ``infer_and_check`` (derived values and consistency checks).
    Returns:
        The merged, frozen config.
    """
    cfg_files = [cfg_files] if isinstance(cfg_files, str) else list(cfg_files)
    cfg = get_cfg()
    project = resolve_project(cfg_files, opts, project)
    if project:
        # Before the yaml merges: the project's own keys are then checked like the core's.
        add_project_config(project, cfg)
    _raise_unknown([p for cfg_file in cfg_files for p in _yaml_chain_problems(cfg_file, cfg)])
    for cfg_file in cfg_files:
        merge_yaml(cfg, cfg_file)
    merge_opts(cfg, opts)
    cfg.PROJECT = project
    if check:
        infer_and_check(cfg)
    cfg.freeze()
    return cfg


def dump_config(cfg: CfgNode, output_dir: str, name: str = "config.yaml") -> str:
    """Write the merged config to ``output_dir/name`` and return the path."""
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, name)
    with open(path, "w") as f:
        f.write(cfg.dump())
    return path
