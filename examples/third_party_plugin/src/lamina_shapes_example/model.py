"""The shapes model and its learner factory."""

from __future__ import annotations

from typing import Any

from torch import nn

from lamina_shapes_example.shapes import SHAPES

__all__ = ["ShapeClassifier", "shape_learner"]


class ShapeClassifier(nn.Sequential):
    """A small CNN for `1 x H x W` shape images, returning `n_out` logits."""

    def __init__(self, n_out: int = len(SHAPES), width: int = 16) -> None:
        super().__init__(
            nn.Conv2d(1, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(2 * width, n_out),
        )


def shape_learner(dls: Any, n_out: int = len(SHAPES), **learner_kwargs: Any) -> Any:
    """A kernel `Learner` on `dls` with a `ShapeClassifier` and cross-entropy loss."""
    try:
        from lamina.core.all import Learner
    except ImportError as exc:  # the kernel's training layer is not there yet
        raise ImportError(
            f"shape_learner needs lamina-core's Learner, which this lamina-core lacks: {exc}"
        ) from exc
    learner_kwargs.setdefault("loss_func", nn.CrossEntropyLoss())
    return Learner(dls, ShapeClassifier(n_out), **learner_kwargs)
