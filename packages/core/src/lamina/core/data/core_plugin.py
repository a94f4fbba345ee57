"""The kernel's own plugin: the core blocks and the default loss per core target type.

It goes through the same plugin manager as the domain packages. Built in, it needs registering once
(`lamina.core.plugins.register(core_plugin, "core")`, or an entry point `core` in group `lamina`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# Importing these registers the kernel's classes by name (layers, losses, transforms, getters, GAN
# models), so `load_learner` in a fresh process finds them: every registry read loads the plugins first.
import lamina.core.callbacks.gan.models  # noqa: F401
import lamina.core.data.block  # noqa: F401
import lamina.core.data.getters  # noqa: F401
import lamina.core.data.transforms  # noqa: F401
import lamina.core.layers.activations  # noqa: F401
import lamina.core.layers.attention  # noqa: F401
import lamina.core.layers.basic  # noqa: F401
import lamina.core.layers.conv  # noqa: F401
import lamina.core.layers.head  # noqa: F401
import lamina.core.layers.init  # noqa: F401
import lamina.core.layers.linear  # noqa: F401
import lamina.core.layers.merge  # noqa: F401
import lamina.core.layers.norm  # noqa: F401
import lamina.core.layers.pooling  # noqa: F401
import lamina.core.layers.resblock  # noqa: F401
import lamina.core.layers.upsample  # noqa: F401
import lamina.core.learner.describe  # noqa: F401
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
