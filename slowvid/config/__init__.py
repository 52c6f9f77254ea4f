"""Config tree: defaults, loading with checked keys, and consistency checks."""

from .defaults import get_cfg
from .loading import ConfigKeyError, dump_config, load_config, merge_opts
from .project import import_project, import_project_of
from .validation import head_activation, infer_and_check, world_size_of

__all__ = [
    "ConfigKeyError",
    "dump_config",
    "get_cfg",
    "head_activation",
    "import_project",
    "import_project_of",
    "infer_and_check",
    "load_config",
    "merge_opts",
    "world_size_of",
]
