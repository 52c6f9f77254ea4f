"""Projects: research forks under ``projects/<name>/`` that register their own parts.

A project is part of a run's spec: ``cfg.PROJECT`` names it, and every process of the run
imports it before building anything (:func:`import_project_of`), so a model or dataset a
project registers resolves in the launcher's process, in each local worker started with
``mp.spawn``, in every SLURM task and under any other launcher that calls it.

The contract of a project package ``projects/<name>/<name>``: importing it registers its parts,
and it defines ``add_config(cfg)``, which adds the project's config nodes (it may add none).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from fvcore.common.config import CfgNode

__all__ = [
    "PROJECTS_DIR",
    "add_project_config",
    "find_project",
    "import_project",
    "import_project_of",
]

PROJECTS_DIR = Path(__file__).resolve().parents[2] / "projects"


def find_project(cfg_files: Iterable[str]) -> str | None:
    """The project a config belongs to, if it lives under ``projects/<name>/``."""
    for cfg_file in cfg_files:
        parts = Path(os.path.abspath(cfg_file)).parts
        if "projects" in parts:
            i = len(parts) - 1 - parts[::-1].index("projects")
            if i + 1 < len(parts) - 1:
                return parts[i + 1]
    return None


def import_project(name: str) -> ModuleType:
    """Import ``projects/<name>/<name>``, which registers its parts; a second call is free.

    Raises:
        ValueError: there is no such folder, or its package lacks ``add_config``.
    """
    project_dir = PROJECTS_DIR / name
    if not project_dir.is_dir():
        found = (
            sorted(p.name for p in PROJECTS_DIR.iterdir() if p.is_dir())
            if PROJECTS_DIR.is_dir()
            else []
        )
        raise ValueError(f"unknown project '{name}'; projects/ holds: {found}")
    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
    module = importlib.import_module(name)
    if not callable(vars(module).get("add_config")):
        raise ValueError(
            f"projects/{name}/{name}/__init__.py must define add_config(cfg), which adds the "
            "project's config nodes (an empty function if it has none)"
        )
    return module


def add_project_config(name: str, cfg: CfgNode) -> None:
    """Import project ``name`` and add its config nodes to ``cfg`` (before any yaml merges)."""
    import_project(name).add_config(cfg)


def import_project_of(cfg: CfgNode) -> None:
    """Import the run's project (``cfg.PROJECT``), if any, in this process.

    Every launcher calls it in every process before the job builds a part: a spawned worker
    starts from a fresh interpreter, so the launcher's own import does not reach it.
    """
    if cfg.PROJECT:
        import_project(cfg.PROJECT)
