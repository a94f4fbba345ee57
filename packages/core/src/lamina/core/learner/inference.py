"""Inference with a `Learner`: `predict` one raw item, and `show_results` on a batch.

    learn.predict(7)            # ('odd', tensor(1), tensor([0.02, 0.98]))
    learn.show_results(max_n=4)

`predict(item)` runs the item through the validation transforms (`dls.test_dl`), the model and the loss
function's `activation`, then decodes: the prediction through the loss function's `decodes` (e.g. argmax)
and the target pipeline (e.g. the class index back to its label). It returns `(decoded prediction, decoded
index or target tensor, probabilities)`, with the decoded input first when `with_input=True`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from lamina.core.learner.learner import Learner

__all__ = ["predict", "show_results", "InferenceMixin"]


def _tuple(x: Any) -> tuple:
    if isinstance(x, tuple):
        return x
    if isinstance(x, list):
        return tuple(x)
    return (x,)


def _single(parts: tuple) -> Any:
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else parts


def _first(x: Any) -> Any:
    """The first item of a batched result (through tuples and lists)."""
    if isinstance(x, torch.Tensor):
        return x[0]
    if isinstance(x, (tuple, list)):
        return type(x)(_first(o) for o in x)
    return x


def _decoding_loader(learn: Learner) -> Any:
    dls = learn.dls
    for i in (1, 0):
        try:
            dl = dls[i]
        except (IndexError, TypeError):
            continue
        if callable(getattr(dl, "decode_batch", None)):
            return dl
    raise TypeError(
        "predict: the learner's data has no Lamina loader (TfmdDL) to decode with; it was built from plain "
        "torch loaders (or exported without an inference pipeline): use get_preds(dl=...) on your own loader"
    )


def predict(learn: Learner, item: Any, rm_type_tfms: Any = None, with_input: bool = False) -> tuple:
    """`(decoded prediction, decoded index/target, probabilities)` for one raw `item` (see module doc).

    `rm_type_tfms`: how many leading transforms of each input pipeline to skip (default: found from the
    item's type, so an already-opened image skips the opening step)."""
    decoder = _decoding_loader(learn)
    dl = learn.dls.test_dl([item], rm_type_tfms=rm_type_tfms, num_workers=0)
    inp, preds, _, decoded = learn.get_preds(dl=dl, with_input=True, with_decoded=True)
    n_inp = getattr(learn.dls, "n_inp", 1)
    batch = (inp,) if n_inp == 1 else _tuple(inp)
    sample = decoder.decode_batch(batch + _tuple(decoded), max_n=1)[0]
    sample = _tuple(sample)
    dec_inp, dec_targ = _single(sample[:n_inp]), _single(sample[n_inp:])
    res = (dec_targ, _first(decoded), _first(preds))
    return (dec_inp, *res) if with_input else res


def show_results(
    learn: Learner, ds_idx: int = 1, dl: Any = None, max_n: int = 9, shuffle: bool = True, **kwargs: Any
) -> Any:
    """Show up to `max_n` samples of a batch of `dls[ds_idx]` (or of `dl`) with their decoded predictions,
    through the `show_results` type dispatch (a table for generic data, figures for images, ...); returns
    what the display returns. `shuffle` picks a random batch."""
    if dl is None:
        dl = learn.dls[ds_idx]
        if dl is None or not callable(getattr(dl, "new", None)):
            raise TypeError(f"show_results: dls[{ds_idx}] is not a Lamina loader; pass dl= a TfmdDL")
        dl = dl.new(shuffle=shuffle, drop_last=False)
    if not callable(getattr(dl, "show_results", None)):
        raise TypeError(f"show_results: {type(dl).__name__} cannot show results; pass a TfmdDL")
    b = dl.one_batch()
    _, _, decoded = learn.get_preds(dl=[b], with_decoded=True)
    return dl.show_results(b, decoded, max_n=max_n, **kwargs)


class InferenceMixin:
    """`Learner.predict` and `Learner.show_results`."""

    def predict(self: Learner, item: Any, rm_type_tfms: Any = None, with_input: bool = False) -> tuple:
        """`(decoded prediction, decoded index/target, probabilities)` for one raw `item` (with the decoded
        input first when `with_input`); see `lamina.core.learner.inference`."""
        return predict(self, item, rm_type_tfms=rm_type_tfms, with_input=with_input)

    def show_results(
        self: Learner, ds_idx: int = 1, dl: Any = None, max_n: int = 9, shuffle: bool = True, **kwargs: Any
    ) -> Any:
        """Show samples of `dls[ds_idx]` (or `dl`) with their decoded predictions (`show_results`)."""
        return show_results(self, ds_idx=ds_idx, dl=dl, max_n=max_n, shuffle=shuffle, **kwargs)
