"""The published model zoo: each row of ``zoo_targets.csv``, the variant (``VARIANTS``: one table
naming each variant's config) that reproduces it, and
the parameter and FLOP counts this code computes for it (rendered into MODEL_ZOO.md by
``tools/model_zoo.py``)."""

from .markdown import COLUMNS, markdown_row, render_markdown, row_cells
from .table import (
    CONVENTIONS,
    REPO,
    TARGETS_CSV,
    ZOO_CONFIGS,
    ZooConfig,
    ZooMeasure,
    ZooRow,
    load_rows,
    measure,
    test_view_shapes,
    zoo_cfg,
)
from .variants import VARIANTS, hub_variants

__all__ = [
    "COLUMNS",
    "VARIANTS",
    "CONVENTIONS",
    "REPO",
    "TARGETS_CSV",
    "ZOO_CONFIGS",
    "ZooConfig",
    "ZooMeasure",
    "ZooRow",
    "hub_variants",
    "load_rows",
    "markdown_row",
    "measure",
    "render_markdown",
    "row_cells",
    "test_view_shapes",
    "zoo_cfg",
]
