"""The kernel's data transforms: labels to classes (`Categorize` & co), `ToTensor`, `Normalize`, `Cuda`.

Label transforms learn their vocabulary (`CategoryMap`) from the TRAINING items at setup and decode
class indices back to `Category` / `MultiCategory` labels, which can show themselves. A label that the
training set never had raises a `KeyError` naming it and the vocabulary at encode time, unless the
transform was built with `add_na=True`: the vocabulary then starts with `'#na#'` and unknown labels map
to it (index 0).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from lamina.core.basics.collections import L
from lamina.core.data.show import ShowTitle, show_title
from lamina.core.pipeline import TransformedItems
from lamina.core.plugins.registry import register_class
from lamina.core.tensors import (
    TensorBase,
    TensorCategory,
    TensorMultiCategory,
    default_device,
    to_cpu,
    to_device,
)
from lamina.core.transform import DisplayedTransform, ItemTransform, Transform

__all__ = [
    "NA_LABEL",
    "UnknownLabelError",
    "CategoryMap",
    "Category",
    "MultiCategory",
    "Categorize",
    "MultiCategorize",
    "OneHotEncode",
    "EncodedMultiCategorize",
    "RegressionSetup",
    "ToTensor",
    "Normalize",
    "Cuda",
    "one_hot",
    "one_hot_decode",
    "broadcast_vec",
]

NA_LABEL = "#na#"
_SHOWN_LABELS = 20


class UnknownLabelError(KeyError):
    """A label that is not in the vocabulary (a `KeyError` whose message reads as written)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _shown(labels: Sequence[Any]) -> str:
    """A short list of labels for an error message."""
    labels = list(labels)
    text = ", ".join(map(repr, labels[:_SHOWN_LABELS]))
    return f"[{text}{', ...' if len(labels) > _SHOWN_LABELS else ''}] ({len(labels)} in all)"


def _label(o: Any) -> Any:
    """A label as a hashable key: 0-d tensors and numpy scalars become Python scalars."""
    if isinstance(o, Tensor):
        if o.dim() != 0:
            raise TypeError(f"a label must be a scalar, got a tensor of shape {tuple(o.shape)}")
        return o.item()
    item = getattr(o, "item", None)
    if callable(item) and type(o).__module__ == "numpy":
        return item()
    return o


def _is_missing(o: Any) -> bool:
    return o is None or (isinstance(o, float) and math.isnan(o))


@register_class("lamina.core.CategoryMap")
class CategoryMap(L):
    """The vocabulary of a categorical variable: an `L` of the distinct labels, plus `o2i` (label -> index).

    `CategoryMap(labels, sort=True, add_na=False)`: the distinct labels in order of appearance (sorted when
    `sort`); a pandas categorical column keeps its categories' order. Missing values (None, NaN) are left
    out. With `add_na`, `'#na#'` comes first and any unknown label maps to index 0.
    """

    def __init__(self, labels: Any, sort: bool = True, add_na: bool = False):
        categories = getattr(getattr(labels, "cat", None), "categories", None)
        if categories is not None:  # pandas categorical: its own order
            distinct = [_label(o) for o in categories]
        else:
            try:
                distinct = list(dict.fromkeys(_label(o) for o in _iterate(labels) if not _is_missing(o)))
            except TypeError as e:
                raise TypeError(
                    f"CategoryMap: labels must be hashable scalars ({e}); for lists of labels per item use "
                    "MultiCategorize / MultiCategoryBlock"
                ) from e
            if sort:
                try:
                    distinct = sorted(distinct)
                except TypeError as e:
                    kinds = sorted({type(o).__name__ for o in distinct})
                    raise TypeError(
                        f"CategoryMap: cannot sort labels of types {kinds} ({e}); pass sort=False"
                    ) from e
        if add_na:
            distinct = [NA_LABEL] + [o for o in distinct if o != NA_LABEL]
        super().__init__(distinct, use_list=True)
        self.add_na = add_na
        self.o2i: dict[Any, int] = {o: i for i, o in enumerate(self.items)}

    def _new(self, items: Iterable) -> L:
        return L(items, use_list=True)

    def index_of(self, label: Any) -> int:
        """The class index of `label`; unknown labels give 0 (`'#na#'`) with `add_na`, else a KeyError."""
        key = _label(label)
        try:
            return self.o2i[key]
        except (KeyError, TypeError):
            if self.add_na:
                return 0
            raise UnknownLabelError(
                f"label {key!r} is not in the vocabulary {_shown(self.items)}, which was built from the "
                "training set; give its full vocab (vocab=...) or use add_na=True to map unknown labels to "
                f"{NA_LABEL!r}"
            ) from None

    def unknown(self, labels: Iterable) -> list:
        """The distinct labels of `labels` that are not in the vocabulary (in order of appearance)."""
        found = dict.fromkeys(_label(o) for o in labels)
        return [o for o in found if o not in self.o2i]

    def map_objs(self, labels: Iterable) -> list[int]:
        """Class indices of `labels`."""
        return [self.index_of(o) for o in labels]

    def map_ids(self, ids: Iterable[int]) -> list:
        """Labels of class indices `ids`."""
        return [self.items[int(i)] for i in ids]


def _iterate(labels: Any) -> Iterable:
    if labels is None:
        return ()
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Iterable):
        raise TypeError(f"CategoryMap expects a collection of labels, got {type(labels).__name__}")
    return labels


@register_class("lamina.core.Category")
class Category(str, ShowTitle):
    """A decoded single label: a `str` that shows itself as a title."""

    _show_args = {"label": "category"}


@register_class("lamina.core.MultiCategory")
class MultiCategory(L, ShowTitle):
    """Decoded labels of a multi-label target: an `L` that shows itself as a title, joined by ';'."""

    _show_args = {"label": "category"}

    def show(self, ctx: Any = None, sep: str = ";", **kwargs: Any) -> Any:
        return show_title(sep.join(map(str, self.items)), ctx=ctx, **{**self._show_args, **kwargs})


def _vocab_of(items: Any) -> Any:
    """The vocabulary the transforms before this one in a setup chain hold (or that `items` has)."""
    vocab = getattr(items, "vocab", None)
    if vocab is not None:
        return vocab
    if isinstance(items, TransformedItems):
        for t in reversed(items.steps):
            vocab = getattr(t, "vocab", None)
            if vocab is not None:
                return vocab
    return None


@register_class("lamina.core.Categorize")
class Categorize(DisplayedTransform):
    """Single label -> `TensorCategory` class index; decodes back to a `Category`.

    `vocab=None` learns the vocabulary from the training labels at setup (sorted when `sort`). A label
    not in the vocabulary raises a KeyError naming it (or maps to `'#na#'` with `add_na=True`).
    """

    order = 1

    def __init__(self, vocab: Iterable | None = None, sort: bool = True, add_na: bool = False):
        super().__init__()
        self.sort, self.add_na = sort, add_na
        self.vocab: CategoryMap | None = None
        if vocab is not None:
            self.vocab = CategoryMap(vocab, sort=sort, add_na=add_na)

    @property
    def c(self) -> int | None:
        """The number of classes (None before setup when no vocab was given)."""
        return None if self.vocab is None else len(self.vocab)

    def setups(self, items: Any) -> None:
        if self.vocab is None and items is not None:
            self.vocab = CategoryMap(items, sort=self.sort, add_na=self.add_na)
            if not len(self.vocab):
                raise ValueError("Categorize: the training set has no labels to build a vocabulary from")

    def unknown(self, labels: Iterable) -> list:
        """The distinct labels of `labels` that would not encode to a known class."""
        return [] if self.vocab is None else self.vocab.unknown(labels)

    def _vocab(self) -> CategoryMap:
        if self.vocab is None:
            raise RuntimeError(
                f"{type(self).__name__} has no vocabulary: set it up on the training labels first"
            )
        return self.vocab

    def encodes(self, o):
        return TensorCategory(self._vocab().index_of(o))

    def decodes(self, o: TensorCategory):
        vocab = self._vocab()
        if o.dim() == 0:
            return Category(vocab[int(o)])
        return L(Category(vocab[int(i)]) for i in o.reshape(-1).tolist())


def _labels_of(o: Any) -> list:
    """The labels of one multi-label item: a list/L/set/array of labels; a lone string is one label."""
    if isinstance(o, (str, bytes)) or not isinstance(o, Iterable):
        return [o]
    return [_label(x) for x in o]


@register_class("lamina.core.MultiCategorize")
class MultiCategorize(Categorize):
    """A list of labels -> `TensorMultiCategory` of class indices; decodes back to a `MultiCategory`.

    The vocabulary is the sorted union of the training items' labels. Give each item's labels as a list
    (or `L`, set, array); a single string counts as one label. Follow with `OneHotEncode` for a target.
    """

    order = 1

    def __init__(self, vocab: Iterable | None = None, add_na: bool = False):
        super().__init__(vocab=vocab, sort=True, add_na=add_na)

    def setups(self, items: Any) -> None:
        if self.vocab is None and items is not None:
            labels = [x for o in items for x in _labels_of(o)]
            self.vocab = CategoryMap(labels, sort=True, add_na=self.add_na)

    def unknown(self, labels: Iterable) -> list:
        return [] if self.vocab is None else self.vocab.unknown(x for o in labels for x in _labels_of(o))

    def encodes(self, o):
        vocab = self._vocab()
        labels = _labels_of(o)
        missing = [] if vocab.add_na else vocab.unknown(labels)
        if missing:
            raise UnknownLabelError(
                f"labels {missing!r} are not in the vocabulary {_shown(vocab)}, which was built from the "
                f"training set; give the full vocab or use add_na=True to map them to {NA_LABEL!r}"
            )
        return TensorMultiCategory(torch.tensor(vocab.map_objs(labels), dtype=torch.long))

    def decodes(self, o: TensorMultiCategory):
        return MultiCategory(self._vocab().map_ids(o.reshape(-1).tolist()))


def one_hot(idxs: Any, c: int) -> Tensor:
    """A float vector of length `c` with 1 at each of the class indices `idxs` (a multi-hot vector)."""
    idx = torch.as_tensor(idxs, dtype=torch.long).reshape(-1)
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= c):
        raise IndexError(f"one_hot: class indices {idx.tolist()} out of range for {c} classes")
    res = torch.zeros(c, dtype=torch.float32)
    res[idx] = 1.0
    return res


def one_hot_decode(x: Any, vocab: Sequence | None = None, thresh: float = 0.5) -> list:
    """The positions of `x` above `thresh` (as labels of `vocab` when given)."""
    positions = torch.nonzero(torch.as_tensor(x).reshape(-1) > thresh).reshape(-1).tolist()
    return positions if vocab is None else [vocab[i] for i in positions]


@register_class("lamina.core.OneHotEncode")
class OneHotEncode(DisplayedTransform):
    """Class indices -> a multi-hot `TensorMultiCategory` of `c` floats; decodes back to the indices.

    `c=None` takes the number of classes from the vocabulary of the transform before it (at setup).
    """

    order = 2

    def __init__(self, c: int | None = None):
        super().__init__()
        self.c = c

    def setups(self, items: Any) -> None:
        if self.c is None:
            vocab = _vocab_of(items)
            if vocab is None:
                raise ValueError(
                    "OneHotEncode: cannot infer the number of classes (no vocabulary before it); pass c="
                )
            self.c = len(vocab)

    def encodes(self, o: TensorMultiCategory):
        if self.c is None:
            raise RuntimeError("OneHotEncode: the number of classes is unknown; pass c= or set it up first")
        return TensorMultiCategory(one_hot(o, self.c))

    def decodes(self, o: TensorMultiCategory):
        return TensorMultiCategory(torch.tensor(one_hot_decode(o), dtype=torch.long))


@register_class("lamina.core.EncodedMultiCategorize")
class EncodedMultiCategorize(Categorize):
    """Targets already one-hot encoded (one 0/1 per class of `vocab`) -> float `TensorMultiCategory`.

    Decodes to the `MultiCategory` of the labels whose value is above 0.5. The vocabulary keeps the
    order given.
    """

    order = 1

    def __init__(self, vocab: Iterable):
        if vocab is None:
            raise ValueError("EncodedMultiCategorize needs the vocab: one label per column of the encoding")
        super().__init__(vocab=vocab, sort=False)
        self.vocab = CategoryMap(vocab, sort=False)

    def setups(self, items: Any) -> None:
        pass

    def unknown(self, labels: Iterable) -> list:
        return []

    def encodes(self, o):
        x = torch.as_tensor(o.values if hasattr(o, "values") else o, dtype=torch.float32).reshape(-1)
        if x.numel() != len(self.vocab):
            raise ValueError(
                f"EncodedMultiCategorize: an encoded target has {x.numel()} values but the vocab has "
                f"{len(self.vocab)} labels {_shown(self.vocab)}"
            )
        return TensorMultiCategory(x)

    def decodes(self, o: TensorMultiCategory):
        return MultiCategory(one_hot_decode(o, self.vocab))


@register_class("lamina.core.RegressionSetup")
class RegressionSetup(DisplayedTransform):
    """A number (or a vector of numbers) -> float tensor; `c` (outputs) is learned from the first item."""

    order = 1

    def __init__(self, c: int | None = None):
        super().__init__()
        self.c = c

    def setups(self, items: Any) -> None:
        if self.c is not None or items is None:
            return
        try:
            first = items[0]
        except (IndexError, TypeError, KeyError):
            return
        t = torch.as_tensor(first.values if hasattr(first, "values") else first)
        self.c = 1 if t.dim() == 0 else t.numel()

    def encodes(self, o):
        try:
            return torch.as_tensor(o.values if hasattr(o, "values") else o).float()
        except (TypeError, ValueError, RuntimeError) as e:
            raise TypeError(f"regression target {o!r} is not a number or a vector of numbers") from e


@register_class("lamina.core.ToTensor")
class ToTensor(Transform):
    """Item -> tensor. The kernel converts numpy arrays; domains add cases (`@ToTensor.encodes`)
    for their own item types (e.g. images)."""

    order = 5

    def encodes(self, o: np.ndarray):
        return torch.from_numpy(o) if o.dtype.kind in "biuf" else o


def broadcast_vec(dim: int, ndim: int, *vectors: Any, cuda: bool = True) -> list[Tensor]:
    """Each vector shaped to broadcast along axis `dim` of an `ndim`-dimensional tensor (on the default
    device when `cuda`)."""
    if not 0 <= dim < ndim:
        raise ValueError(f"broadcast_vec: dim={dim} is not an axis of a {ndim}-d tensor")
    shape = [1] * ndim
    shape[dim] = -1
    out = []
    for v in vectors:
        t = torch.as_tensor(v, dtype=torch.float32).reshape(shape)
        out.append(to_device(t, default_device()) if cuda else t)
    return out


def _plain(t: Any) -> Tensor | None:
    if t is None:
        return None
    t = torch.as_tensor(t, dtype=torch.float32) if not isinstance(t, Tensor) else t
    return t if type(t) is Tensor else t.as_subclass(Tensor)


@register_class("lamina.core.Normalize")
class Normalize(ItemTransform):
    """Batch transform: `(x - mean) / std` on the inputs of a batch; decodes with `x * std + mean`.

    Which parts of a batch it touches:
    - `tensor_type` set (a domain's semantic type, e.g. `TensorImage`; an argument or a subclass's class
      attribute): every element of that type, wherever it sits in the batch;
    - `tensor_type=None` (the kernel default): every `TensorBase` among the batch's inputs, i.e. its first
      `n_inp` elements (`n_inp` is read from the data loader at setup, 1 by default).

    `mean`/`std` None: computed at setup from one batch of the data loader, over `axes` (per channel
    for `(0, 2, 3)`), keeping dims. `Normalize.from_stats(mean, std)` shapes per-channel stats to
    broadcast along `dim` of an `ndim`-d batch. Stats follow the batch's device and float dtype.
    """

    order = 99
    tensor_type: type | None = None

    def __init__(
        self,
        mean: Any = None,
        std: Any = None,
        axes: Sequence[int] = (0, 2, 3),
        tensor_type: type | None = None,
    ):
        super().__init__()
        self.mean, self.std, self.axes = _plain(mean), _plain(std), tuple(axes)
        if tensor_type is not None:
            if not isinstance(tensor_type, type) or not issubclass(tensor_type, Tensor):
                raise TypeError(f"Normalize(tensor_type=...) must be a tensor class, got {tensor_type!r}")
            self.tensor_type = tensor_type
        self.n_inp = 1
        self._cache: dict[tuple, tuple[Tensor, Tensor]] = {}

    @classmethod
    def from_stats(
        cls, mean: Any, std: Any, dim: int = 1, ndim: int = 4, cuda: bool = True, **kwargs: Any
    ) -> Normalize:
        """A Normalize with per-channel `mean`/`std` shaped to broadcast along `dim` of an `ndim`-d batch."""
        m, s = broadcast_vec(dim, ndim, mean, std, cuda=cuda)
        return cls(m, s, **kwargs)

    def setups(self, dl: Any) -> None:
        self.n_inp = getattr(dl, "n_inp", None) or 1
        if self.mean is not None and self.std is not None:
            return
        if dl is None or not hasattr(dl, "one_batch"):
            raise ValueError(
                "Normalize: no mean/std given and nothing to compute them from (set it up on a DataLoader)"
            )
        b = dl.one_batch()
        targets = [o for i, o in enumerate(_parts(b)) if self._applies(i, o)]
        if not targets:
            raise TypeError(
                f"Normalize: no part of the batch to normalize ({self._rule()}); batch types: {_types(b)}"
            )
        x = _plain(targets[0]).float()
        if x.ndim <= max(self.axes, default=-1):
            raise ValueError(
                f"Normalize: axes {self.axes} do not fit a batch of shape {tuple(x.shape)}; pass axes= "
                "for this shape"
            )
        self.mean = x.mean(self.axes, keepdim=True)
        self.std = x.std(self.axes, keepdim=True) + 1e-7
        self._cache.clear()

    def _rule(self) -> str:
        if self.tensor_type is not None:
            return f"elements of type {self.tensor_type.__name__}"
        return f"TensorBase elements among the first {self.n_inp} (the inputs)"

    def _applies(self, i: int, o: Any) -> bool:
        if self.tensor_type is not None:
            return isinstance(o, self.tensor_type)
        return i < self.n_inp and isinstance(o, TensorBase)

    def _stats(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.mean is None or self.std is None:
            raise RuntimeError("Normalize has no mean/std: pass them or set it up on a DataLoader first")
        dtype = x.dtype if x.is_floating_point() else torch.float32
        key = (x.device, dtype)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = (self.mean.to(x.device, dtype), self.std.to(x.device, dtype))
        return found

    def _map(self, b: Any, f) -> Any:
        if isinstance(b, tuple) and not hasattr(b, "_fields"):
            return type(b)(f(o) if self._applies(i, o) else o for i, o in enumerate(b))
        return f(b) if self._applies(0, b) else b

    def _norm(self, x: Tensor) -> Tensor:
        mean, std = self._stats(x)
        return (x - mean) / std

    def _denorm(self, x: Tensor) -> Tensor:
        mean, std = self._stats(x)
        return x * std + mean

    def encodes(self, b):
        return self._map(b, self._norm)

    def decodes(self, b):
        return self._map(b, self._denorm)


def _parts(b: Any) -> tuple:
    return tuple(b) if isinstance(b, tuple) and not hasattr(b, "_fields") else (b,)


def _types(b: Any) -> str:
    return ", ".join(type(o).__name__ for o in _parts(b))


@register_class("lamina.core.Cuda")
class Cuda(ItemTransform):
    """Batch transform: move the batch to `device` (default: `default_device()`); decodes to the CPU."""

    order = -10

    def __init__(self, device: torch.device | str | None = None):
        super().__init__()
        self.device = default_device() if device is None else torch.device(device)

    def encodes(self, b):
        return to_device(b, self.device)

    def decodes(self, b):
        return to_cpu(b)
