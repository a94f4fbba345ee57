"""Collaborative-filtering models: `EmbeddingDotBias` (dot product of user and item factors plus biases)
and `EmbeddingNN` (a `TabularModel` over the user and item embeddings).

Both take the collab batch's `x_cat` (`(batch, 2)`: user index, item index; a tabular batch's empty
`x_cont` may follow and is ignored). `EmbeddingDotBias.from_classes` keeps the vocabularies, so that
`weight(names)` and `bias(names)` read the learned factors and biases of users or items by name (the ids
in the ratings table).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from lamina.core.data.transforms import CategoryMap
from lamina.core.layers.basic import Embedding, sigmoid_range
from lamina.core.layers.recorded import RecordedInit
from lamina.core.plugins.registry import register_class
from lamina.tabular.model import TabularModel

__all__ = ["EmbeddingDotBias", "EmbeddingNN"]


def _positive_int(value: Any, arg: str, owner: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}: {arg} must be a positive int, got {value!r}")
    return value


def _as_range(y_range: Any, owner: str) -> tuple[float, float] | None:
    if y_range is None:
        return None
    try:
        low, high = (float(v) for v in y_range)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: y_range must be (low, high), got {y_range!r}") from None
    if not low < high:
        raise ValueError(f"{owner}: y_range must have low < high, got {y_range!r}")
    return low, high


def _check_x(x: Tensor, owner: str) -> None:
    if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != 2:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(
            f"{owner}: expected x of shape (batch, 2) holding (user index, item index), got {shape}"
        )


@register_class("lamina.collab.EmbeddingDotBias")
class EmbeddingDotBias(RecordedInit, nn.Module):
    """The classic collaborative-filtering model: `n_factors` latent factors for each of `n_users` users and
    `n_items` items, and a bias for each; a rating is `dot(user factors, item factors) + user bias + item
    bias`, squashed into `y_range` (e.g. `(0, 5.5)`) with a scaled sigmoid when given.

    `forward(x)` takes `x` of shape `(batch, 2)` (user index, item index) and returns `(batch,)` ratings.
    Parts: `u_weight`, `i_weight` (`Embedding(n, n_factors)`), `u_bias`, `i_bias` (`Embedding(n, 1)`).
    `vocabs` (`((user column, user ids), (item column, item ids))`, as `from_classes` gives them) lets
    `weight`/`bias` take ids; they are constructor arguments so that an exported model keeps them.
    """

    def __init__(
        self,
        n_factors: int,
        n_users: int,
        n_items: int,
        y_range: Sequence[float] | None = None,
        vocabs: Sequence[tuple[Hashable, Sequence]] | None = None,
    ):
        super().__init__()
        owner = "EmbeddingDotBias"
        n_factors, n_users, n_items = (
            _positive_int(v, a, owner)
            for v, a in ((n_factors, "n_factors"), (n_users, "n_users"), (n_items, "n_items"))
        )
        self.y_range = _as_range(y_range, owner)
        self.u_weight, self.i_weight = Embedding(n_users, n_factors), Embedding(n_items, n_factors)
        self.u_bias, self.i_bias = Embedding(n_users, 1), Embedding(n_items, 1)
        self.classes: dict[Hashable, Any] | None = None  # set from `vocabs` (`from_classes` gives them)
        self.user_name: Hashable | None = None
        self.item_name: Hashable | None = None
        if vocabs is not None:
            self._set_vocabs(vocabs, (n_users, n_items))

    def _set_vocabs(self, vocabs: Sequence[tuple[Hashable, Sequence]], sizes: tuple[int, int]) -> None:
        pairs = list(vocabs.items()) if isinstance(vocabs, Mapping) else [tuple(p) for p in vocabs]
        if len(pairs) != 2 or any(len(p) != 2 for p in pairs):
            raise ValueError(
                "EmbeddingDotBias: vocabs must be ((user column, user vocabulary), (item column, item "
                f"vocabulary)), got {len(pairs)} entries"
            )
        for (name, vocab), n, role in zip(pairs, sizes, ("user", "item")):
            if len(vocab) != n:
                raise ValueError(
                    f"EmbeddingDotBias: the {role} vocabulary {name!r} has {len(vocab)} values for "
                    f"n_{role}s={n}"
                )
        self.classes = {name: CategoryMap(list(vocab), sort=False) for name, vocab in pairs}
        (self.user_name, _), (self.item_name, _) = pairs

    @classmethod
    def from_classes(
        cls,
        n_factors: int,
        classes: Mapping[Hashable, Sequence],
        user: Hashable | None = None,
        item: Hashable | None = None,
        y_range: Sequence[float] | None = None,
    ) -> EmbeddingDotBias:
        """A model sized by the vocabularies `classes` (e.g. `dls.classes`): `user` and `item` name the user
        and item entries (default: its first and second keys). The vocabularies are kept for
        `weight`/`bias`."""
        if not isinstance(classes, Mapping):
            raise TypeError(
                "EmbeddingDotBias.from_classes: classes maps column names to vocabularies, got "
                f"{classes!r:.80}"
            )
        keys = list(classes)
        if (user is None or item is None) and len(keys) < 2:
            raise ValueError(
                f"EmbeddingDotBias.from_classes: classes has {len(keys)} vocabulary(ies) {keys}; it needs a "
                "user and an item vocabulary"
            )
        user = keys[0] if user is None else user
        item = keys[1] if item is None else item
        for name, role in ((user, "user"), (item, "item")):
            if name not in classes:
                raise KeyError(
                    f"EmbeddingDotBias.from_classes: {role}={name!r} is not in classes (it has {keys})"
                )
        vocabs = ((user, list(classes[user])), (item, list(classes[item])))  # plain data: exportable
        return cls(n_factors, len(classes[user]), len(classes[item]), y_range=y_range, vocabs=vocabs)

    def forward(self, x: Tensor, x_cont: Tensor | None = None) -> Tensor:
        _check_x(x, "EmbeddingDotBias")
        users, items = x[:, 0], x[:, 1]
        try:
            dot = (self.u_weight(users) * self.i_weight(items)).sum(1)
            res = dot + self.u_bias(users).squeeze(1) + self.i_bias(items).squeeze(1)
        except IndexError as e:
            raise IndexError(
                f"EmbeddingDotBias: an index is out of range ({e}); user indices must be below "
                f"{self.u_weight.num_embeddings} and item indices below {self.i_weight.num_embeddings}"
            ) from e
        return res if self.y_range is None else sigmoid_range(res, *self.y_range)

    # ---- analysis ------------------------------------------------------------------------------------
    def _indices(self, arr: Iterable, is_item: bool) -> Tensor:
        role = "item" if is_item else "user"
        if self.classes is None:
            raise ValueError(
                f"EmbeddingDotBias.{role} lookup by name needs the vocabularies: build the model with "
                "EmbeddingDotBias.from_classes(n_factors, dls.classes, ...) (collab_learner does)"
            )
        name = self.item_name if is_item else self.user_name
        vocab = self.classes[name]
        o2i = getattr(vocab, "o2i", None) or {o: i for i, o in enumerate(vocab)}
        names = [arr] if isinstance(arr, (str, int)) else list(arr)
        unknown = [o for o in names if o not in o2i]
        if unknown:
            shown = ", ".join(repr(o) for o in unknown[:5])
            shown += f", ... ({len(unknown)} in all)" if len(unknown) > 5 else ""
            raise KeyError(
                f"EmbeddingDotBias: {role}(s) {shown} are not in the {role} vocabulary {name!r} "
                f"({len(vocab)} values, e.g. {list(vocab)[1:4]})"
            )
        return torch.tensor([o2i[o] for o in names], dtype=torch.long, device=self.u_weight.weight.device)

    def weight(self, arr: Iterable, is_item: bool = True) -> Tensor:
        """The learned factors of the items (or users, `is_item=False`) named in `arr` (ids as in the
        ratings table), as a `(len(arr), n_factors)` tensor on the CPU."""
        idx = self._indices(arr, is_item)
        layer = self.i_weight if is_item else self.u_weight
        return layer.weight.detach()[idx].cpu()

    def bias(self, arr: Iterable, is_item: bool = True) -> Tensor:
        """The learned biases of the items (or users, `is_item=False`) named in `arr`, as a `(len(arr),)`
        tensor on the CPU."""
        idx = self._indices(arr, is_item)
        layer = self.i_bias if is_item else self.u_bias
        return layer.weight.detach()[idx, 0].cpu()


@register_class("lamina.collab.EmbeddingNN")
class EmbeddingNN(TabularModel):
    """A neural collaborative-filtering model: a `TabularModel` with no continuous input and one output,
    over the user and item embeddings of sizes `emb_szs` (`[(n_users, size), (n_items, size)]`), with
    hidden `layers`. `kwargs` go to `TabularModel` (`ps`, `embed_p`, `y_range`, `use_bn`, ...).
    `forward(x)` takes `(batch, 2)` indices and returns `(batch, 1)` ratings."""

    def __init__(self, emb_szs: Sequence[tuple[int, int]], layers: Sequence[int], **kwargs: Any):
        for fixed in ("n_cont", "out_sz"):
            if fixed in kwargs:
                raise TypeError(
                    f"EmbeddingNN: {fixed} is fixed (no continuous input, one output); do not pass it"
                )
        super().__init__(emb_szs, n_cont=0, out_sz=1, layers=layers, **kwargs)

    def forward(self, x: Tensor, x_cont: Tensor | None = None) -> Tensor:
        return super().forward(x)
