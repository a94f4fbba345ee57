"""lamina-shapes-example: a sample third-party Lamina plugin (a shapes block and learner)."""

from lamina_shapes_example.model import ShapeClassifier, shape_learner
from lamina_shapes_example.shapes import SHAPES, ShapeBlock, draw_shape

__all__ = ["SHAPES", "ShapeBlock", "ShapeClassifier", "draw_shape", "shape_learner"]
