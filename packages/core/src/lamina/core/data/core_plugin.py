"""The kernel's own plugin: the core blocks and the default loss per core target type.

It goes through the same plugin manager as the domain packages. Built in, it needs registering once
(`lamina.core.plugins.register(core_plugin, "core")`, or an entry point `core` in group `lamina`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lamina.core.data.blocks import CORE_BLOCKS
from lamina.core.losses import BCEWithLogitsLossFlat, CrossEntropyLossFlat
from lamina.core.plugins.hookspecs import hookimpl

__all__ = ["lamina_blocks", "lamina_losses"]


@hookimpl
def lamina_blocks() -> Mapping[str, Callable[..., Any]]:
    """`TransformBlock`, `CategoryBlock`, `MultiCategoryBlock`, `RegressionBlock`."""
    return dict(CORE_BLOCKS)


@hookimpl
def lamina_losses() -> Mapping[str, Callable[..., Any]]:
    """Single-label targets -> `CrossEntropyLossFlat`, multi-label targets -> `BCEWithLogitsLossFlat`."""
    return {"TensorCategory": CrossEntropyLossFlat, "TensorMultiCategory": BCEWithLogitsLossFlat}
