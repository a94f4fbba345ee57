"""The plugin module named by the `lamina` entry point: what this distribution registers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lamina.core.plugins import hookimpl
from lamina_shapes_example.model import ShapeClassifier, shape_learner
from lamina_shapes_example.shapes import ShapeBlock

__all__ = ["lamina_blocks", "lamina_learners", "lamina_classes"]


@hookimpl
def lamina_blocks() -> dict[str, Callable[..., Any]]:
    return {"ShapeBlock": ShapeBlock}


@hookimpl
def lamina_learners() -> dict[str, Callable[..., Any]]:
    return {"shapes": shape_learner}


@hookimpl
def lamina_classes() -> dict[str, type]:
    return {"lamina_shapes_example.ShapeClassifier": ShapeClassifier}
