"""Semantic tensors of the text domain: `TensorText` (token ids) and `LMTensorText` (language-model input)."""

from __future__ import annotations

from lamina.core.plugins.registry import register_class
from lamina.core.tensors import TensorBase

__all__ = ["TensorText", "LMTensorText"]


@register_class("lamina.text.TensorText")
class TensorText(TensorBase):
    """A sequence (or batch of sequences) of token ids; decodes back to tokens through `Numericalize`."""


@register_class("lamina.text.LMTensorText")
class LMTensorText(TensorText):
    """Token ids fed to a language model (the target is the same stream shifted by one token)."""
