"""Text learners: `language_model_learner`, `text_classifier_learner`, the `TextLearner`/`LMLearner` they
build, and the callbacks of recurrent models (`ModelResetter`, `RNNCallback`, `RNNRegularizer`).

ULMFiT in four lines:

    learn = language_model_learner(dls_lm, AWD_LSTM, metrics=Perplexity())
    learn.fit_one_cycle(1, 2e-2, moms=(0.8, 0.7, 0.8)); learn.save_encoder('ft')
    learn = text_classifier_learner(dls_clas, AWD_LSTM, metrics=accuracy).load_encoder('ft')
    learn.fit_one_cycle(1, 2e-2); learn.freeze_to(-2); learn.fit_one_cycle(1, slice(1e-2 / 2.6**4, 1e-2))
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from lamina.core.learner.callback import Callback
from lamina.core.learner.learner import Learner
from lamina.core.losses import CrossEntropyLossFlat
from lamina.core.plugins import registry
from lamina.core.tensors import as_plain
from lamina.text.loaders import _pipelines
from lamina.text.models.core import TEXT_MODEL_META, get_language_model, get_text_classifier
from lamina.text.pretrained import (
    PretrainedWeights,
    default_pretrained,
    encoder_state,
    load_lm_weights,
    match_embeds,
    save_lm_weights,
)
from lamina.text.rules import BOS, PAD, UNK
from lamina.text.show import display_texts, texts_table
from lamina.text.tensors import LMTensorText, TensorText
from lamina.text.tokenize_transform import Tokenizer
from lamina.text.vocab import Numericalize

__all__ = [
    "ModelResetter",
    "RNNCallback",
    "RNNRegularizer",
    "TextLearner",
    "LMLearner",
    "language_model_learner",
    "text_classifier_learner",
    "text_vocab",
]


# ---- callbacks ------------------------------------------------------------------------------------------
class ModelResetter(Callback):
    """Zero a stateful model's hidden state (`model.reset()`) before training, before validation and after
    the fit, so no state leaks between phases."""

    def _reset(self) -> None:
        reset = getattr(self.learn.model, "reset", None)
        if callable(reset):
            reset()

    def before_train(self) -> None:
        self._reset()

    def before_validate(self) -> None:
        self._reset()

    def after_fit(self) -> None:
        self._reset()


class RNNCallback(Callback):
    """Unpack a text model's `(prediction, raw_outputs, dropped_outputs)`: `learn.pred` becomes the
    prediction; the other two are kept here (`raw_out`, `out`) for `RNNRegularizer`."""

    order = -5  # before any callback that reads learn.pred at after_pred

    def __init__(self) -> None:
        self.raw_out: torch.Tensor | None = None
        self.out: torch.Tensor | None = None

    def after_pred(self) -> None:
        pred = self.learn.pred
        if isinstance(pred, (tuple, list)) and len(pred) == 3:
            self.learn.pred, self.raw_out, self.out = pred
        else:
            self.raw_out = self.out = None


class RNNRegularizer(Callback):
    """AR and TAR (Merity et al., 2017) on training batches: the loss that is back-propagated gets
    `alpha * mean(dropped_out ** 2)` (activation regularization) and `beta * mean((raw_out[t+1] - raw_out[t])
    ** 2)` (temporal activation regularization) of the last layer. The recorded loss stays the plain loss, so
    training and validation losses compare."""

    run_after = RNNCallback

    def __init__(self, alpha: float = 2.0, beta: float = 1.0) -> None:
        if alpha < 0 or beta < 0:
            raise ValueError(f"RNNRegularizer: alpha and beta must be >= 0, got {alpha}, {beta}")
        self.alpha, self.beta = alpha, beta
        self._plain: torch.Tensor | None = None

    def _outputs(self) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        rnn = self.learn.callbacks.get("rnn")
        return (None, None) if rnn is None else (rnn.raw_out, rnn.out)

    def before_backward(self) -> None:
        raw, out = self._outputs()
        if raw is None or out is None or not (self.alpha or self.beta):
            self._plain = None
            return
        self._plain = loss = self.learn.loss
        if self.alpha:
            loss = loss + self.alpha * out.float().pow(2).mean()
        if self.beta and raw.dim() == 3 and raw.size(1) > 1:
            loss = loss + self.beta * (raw[:, 1:] - raw[:, :-1]).float().pow(2).mean()
        self.learn.loss = loss

    def after_backward(self) -> None:
        if self._plain is not None:
            self.learn.loss, self._plain = self._plain, None


# ---- helpers ----------------------------------------------------------------------------------------------
def _numericalize(dls: Any) -> Numericalize | None:
    try:
        dataset = dls.train_ds
    except (AttributeError, IndexError):
        return None
    return next((t for t in _pipelines(dataset) if isinstance(t, Numericalize)), None)


def text_vocab(dls: Any) -> list[str]:
    """The text vocabulary of `dls` (its `Numericalize`'s; `dls.vocab` for a language model's loaders)."""
    num = _numericalize(dls)
    if num is not None and num.vocab is not None:
        return num.vocab
    vocab = getattr(dls, "vocab", None)
    if isinstance(vocab, (list, tuple)) and vocab and all(isinstance(t, str) for t in vocab):
        return list(vocab)
    raise ValueError(
        "text learner: no text vocabulary in the DataLoaders; build them with TextBlock / TextDataLoaders "
        "(whose Numericalize holds the vocab)"
    )


def _n_classes(dls: Any) -> int:
    c = getattr(dls, "c", None)
    if isinstance(c, int) and c > 0:
        return c
    vocab = getattr(dls, "vocab", None)
    num = _numericalize(dls)
    if vocab is not None and len(vocab) and (num is None or vocab is not num.vocab):
        return len(vocab)
    raise ValueError(
        "text_classifier_learner: the number of outputs cannot be found from the data (no label vocabulary); "
        "pass n_out="
    )


def _arch(arch: Any) -> Callable:
    if isinstance(arch, str):
        spec = registry.architectures[arch]
        return spec.factory
    return arch


def _arch_name(arch: Callable) -> str:
    return getattr(arch, "__name__", type(arch).__name__)


def _encoder(model: nn.Module) -> nn.Module:
    """The recurrent encoder of a language model (`model[0]`) or classifier (`model[0].module`)."""
    try:
        enc = model[0]
    except (TypeError, IndexError):
        raise TypeError(
            f"not a text model (a SequentialRNN of encoder and head): {type(model).__name__}"
        ) from None
    return getattr(enc, "module", enc)


def _check_shapes(target: nn.Module, state: dict[str, torch.Tensor], what: str, hint: str) -> None:
    own = target.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise KeyError(
            f"{what}: the weights do not fit this model (missing {missing[:5]}, unexpected "
            f"{unexpected[:5]}); "
            f"{hint}"
        )
    for k, v in own.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise ValueError(
                f"{what}: {k} has shape {tuple(state[k].shape)} in the weights but {tuple(v.shape)} in this "
                f"model; {hint}"
            )


def _model_file(learn: Learner, file: str | os.PathLike, ext: str = ".pth") -> Path:
    path = Path(file)
    if not path.is_absolute():
        path = learn.path / learn.model_dir / path
    return path if path.suffix == ext else path.with_name(path.name + ext)


# ---- learners ---------------------------------------------------------------------------------------------
class TextLearner(Learner):
    """A `Learner` for text models: the RNN callbacks attached, encoder saving and loading, pretrained weights
    adapted to the data's vocabulary, `predict` on a text (`get_preds` is the kernel's: it gives a
    `SortedDL`'s results back in dataset order).

    `alpha`/`beta`: the AR/TAR weights of `RNNRegularizer`; `moms`: the momentum schedule of `fit_one_cycle`
    (ULMFiT's `(0.8, 0.7, 0.8)`). Other keywords go to `Learner`.
    """

    def __init__(
        self,
        dls: Any,
        model: nn.Module,
        alpha: float = 2.0,
        beta: float = 1.0,
        moms: tuple[float, float, float] = (0.8, 0.7, 0.8),
        **kwargs: Any,
    ) -> None:
        cbs = kwargs.pop("cbs", None)
        cbs = [] if cbs is None else list(cbs) if isinstance(cbs, (list, tuple)) else [cbs]
        super().__init__(
            dls,
            model,
            moms=moms,
            cbs=[ModelResetter(), RNNCallback(), RNNRegularizer(alpha, beta), *cbs],
            **kwargs,
        )

    # ---- encoder ---------------------------------------------------------------------------------------
    def save_encoder(self, file: str | os.PathLike) -> Path:
        """Save the encoder's weights (no head) to `path/model_dir/<file>.pth`; returns the path."""
        target = _model_file(self, file)
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.save(_encoder(self.model).state_dict(), target)
        return target

    def load_encoder(self, file: str | os.PathLike, device: torch.device | str | None = None) -> TextLearner:
        """Load encoder weights saved by `save_encoder` (tensors only), then `freeze()` (train the head
        first)."""
        source = _model_file(self, file)
        if not source.is_file():
            raise FileNotFoundError(f"load_encoder: no saved encoder at {source}")
        encoder = _encoder(self.model)
        device = next(encoder.parameters()).device if device is None else torch.device(device)
        state = torch.load(source, map_location=device, weights_only=True)
        if not isinstance(state, dict):
            raise ValueError(
                f"load_encoder: {source} does not hold a state dict (was it written by save_encoder?)"
            )
        hint = (
            "the encoder was saved with another architecture, config or vocabulary; build the classifier's "
            "DataLoaders with text_vocab=<the language model's vocab> and use the same config"
        )
        _check_shapes(encoder, state, f"load_encoder({source.name})", hint)
        encoder.load_state_dict(state)
        self.freeze()
        return self

    def load_pretrained(
        self,
        wgts: str | os.PathLike | PretrainedWeights,
        vocab_file: str | os.PathLike | None = None,
        model: nn.Module | None = None,
    ) -> TextLearner:
        """Load pretrained language-model weights (a registered name, a lamina `.pth`, or a weights file with
        its `vocab_file`), re-indexed to this data's vocabulary (`match_embeds`), into the whole language
        model, or into the encoder of a classifier; then `freeze()`."""
        state, old_vocab = load_lm_weights(wgts, vocab_file)
        state = match_embeds(state, old_vocab, text_vocab(self.dls))
        hint = "the pretrained weights were trained with another config: use it, or pass pretrained=False"
        target = self.model if model is None else model
        if isinstance(self, LMLearner) and model is None:
            _check_shapes(target, state, "load_pretrained", hint)
            target.load_state_dict(state)
        else:
            encoder = _encoder(self.model) if model is None else getattr(model, "module", model)
            enc_state = encoder_state(state)
            _check_shapes(encoder, enc_state, "load_pretrained", hint)
            encoder.load_state_dict(enc_state)
        self.freeze()
        return self

    # ---- predictions ----------------------------------------------------------------------------------
    def predict(self, text: str) -> tuple[Any, torch.Tensor, torch.Tensor]:
        """Classify one text: `(decoded label, label index, probabilities)`."""
        if not isinstance(text, str):
            raise TypeError(f"predict: expected a text (str), got {type(text).__name__}")
        # the texts skip the getter: start at the tokenizer (the kernel's type inference would keep a getter
        # whose `encodes` takes any type, such as ColReader)
        fs = _pipelines(self.dls.train_ds)
        start = next((i for i, t in enumerate(fs) if isinstance(t, Tokenizer)), None)
        dl = self.dls.test_dl([text], rm_type_tfms=start, num_workers=0)
        inputs, preds, _, decoded = self.get_preds(dl=dl, with_input=True, with_decoded=True)
        sample = self.dls.valid.decode_batch((inputs, decoded), max_n=1)[0]
        n_inp = getattr(self.dls, "n_inp", 1)
        labels = sample[n_inp:]
        label = labels[0] if len(labels) == 1 else tuple(labels)
        return label, as_plain(decoded[0]), as_plain(preds[0])

    def show_results(
        self,
        ds_idx: int = 1,
        dl: Any = None,
        max_n: int = 9,
        shuffle: bool = True,
        show: bool = True,
        **kwargs,
    ) -> Any:
        """Texts of one batch (of the validation set, `dls[ds_idx]` or `dl`) with their targets and the
        model's decoded predictions, as a DataFrame (see `lamina.text.show`; `trunc_at` words per text);
        returned, and displayed when `show`."""
        if dl is None:
            dl = self.dls[ds_idx] if ds_idx != 1 else self.dls.valid
        if shuffle and not dl.shuffle:
            dl = dl.new(shuffle=True, drop_last=False)
        b = dl.one_batch()
        n_inp = getattr(dl, "n_inp", 1)
        xb = tuple(b[:n_inp]) if isinstance(b, tuple) else (b,)
        device = next(self.model.parameters()).device
        was_training = self.model.training
        self.model.eval()
        reset = getattr(self.model, "reset", None)
        try:
            with torch.no_grad():
                if callable(reset):
                    reset()
                pred = self.model(*(as_plain(x).to(device) for x in xb))
        finally:
            self.model.train(was_training)
            if callable(reset):
                reset()
        if isinstance(pred, (tuple, list)):
            pred = pred[0]
        decodes = getattr(self.loss_func, "decodes", None)
        decoded = decodes(pred) if callable(decodes) else pred
        x, _, samples, outs = dl.show_results(b, decoded.cpu(), max_n=max_n, show=False)
        if not isinstance(x, TensorText) or samples is None:
            return dl.show_results(b, decoded.cpu(), max_n=max_n, show=show, **kwargs)
        table = texts_table(samples, outs, is_lm=isinstance(x, LMTensorText), max_n=max_n, **kwargs)
        if show:
            display_texts(table)
        return table


class LMLearner(TextLearner):
    """A `TextLearner` for a language model: `predict` generates text, `save_pretrained` exports the weights
    with the vocabulary (what `language_model_learner(pretrained_fnames=...)` and `load_pretrained` read)."""

    def _text_tfms(self) -> tuple[Tokenizer | None, list]:
        fs = _pipelines(self.dls.train_ds)
        tok = next((t for t in fs if isinstance(t, Tokenizer)), None)
        return tok, fs

    def _encode(self, text: str) -> torch.Tensor:
        tok, fs = self._text_tfms()
        if tok is None:
            raise ValueError("LMLearner.predict: the data has no Tokenizer to tokenize the prompt with")
        x: Any = text
        for t in fs[fs.index(tok) :]:
            x = t(x, split_idx=1)
        return as_plain(x)

    def predict(
        self,
        text: str,
        n_words: int = 1,
        no_unk: bool = True,
        temperature: float = 1.0,
        min_p: float | None = None,
        seed: int | None = None,
    ) -> str:
        """`text` followed by `n_words` generated tokens, each drawn from the model's next-token distribution
        (no `xxunk` when `no_unk`; probabilities below `min_p` dropped; sharpened (`temperature` < 1) or
        flattened (> 1)); `seed` makes the draw repeatable. Returns the decoded text."""
        if not isinstance(text, str):
            raise TypeError(f"predict: expected a text (str), got {type(text).__name__}")
        if isinstance(n_words, bool) or not isinstance(n_words, int) or n_words < 0:
            raise ValueError(f"predict: n_words must be an int >= 0, got {n_words!r}")
        if temperature <= 0:
            raise ValueError(f"predict: temperature must be > 0, got {temperature!r}")
        vocab = text_vocab(self.dls)
        tok, fs = self._text_tfms()
        backwards = any(type(t).__name__ == "ReverseText" for t in fs)
        ids = self._encode(text)
        unk = vocab.index(UNK) if no_unk and UNK in vocab else None
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        model, device = self.model, next(self.model.parameters()).device
        was_training = model.training
        model.eval()
        new: list[int] = []
        try:
            with torch.no_grad():
                model.reset()
                logits = _last_logits(model(ids[None].to(device)))
                for _ in range(n_words):
                    idx = _draw(logits, unk, min_p, temperature, generator)
                    new.append(idx)
                    logits = _last_logits(model(torch.tensor([[idx]], device=device)))
        finally:
            model.reset()
            model.train(was_training)
        all_ids = ids.tolist() + new
        if backwards:
            all_ids = all_ids[::-1]
        tokens = [vocab[i] for i in all_ids if vocab[i] not in (BOS, PAD)]
        return tok.decode(tokens)

    def save_pretrained(self, file: str | os.PathLike) -> tuple[Path, str]:
        """Export the language model's weights and vocabulary (lamina format) to `path/model_dir/<file>.pth`;
        returns `(path, sha256)`."""
        encoder = _encoder(self.model)
        config = {k: v for k, v in getattr(encoder, "_init_args", {}).items() if k != "vocab_sz"}
        target = _model_file(self, file)
        return save_lm_weights(self.model, text_vocab(self.dls), target, _arch_name(type(encoder)), config)


def _last_logits(out: Any) -> torch.Tensor:
    pred = out[0] if isinstance(out, (tuple, list)) else out
    return pred[0, -1].float()


def _draw(
    logits: torch.Tensor, unk: int | None, min_p: float | None, temperature: float, generator: Any
) -> int:
    probs = F.softmax(logits, dim=-1).cpu()
    if unk is not None:
        probs[unk] = 0.0
    if min_p is not None:
        if bool((probs >= min_p).any()):
            probs[probs < min_p] = 0.0
        else:
            warnings.warn(f"predict: no token has probability >= min_p={min_p}; ignoring min_p", stacklevel=3)
    if temperature != 1.0:
        probs = probs.pow(1 / temperature)
    return int(torch.multinomial(probs, 1, generator=generator).item())


# ---- factories --------------------------------------------------------------------------------------------
def _meta(arch: Callable) -> dict:
    try:
        return TEXT_MODEL_META[arch]
    except (KeyError, TypeError):
        raise KeyError(
            f"no text model meta for {_arch_name(arch)!r}; known: {[a.__name__ for a in TEXT_MODEL_META]}"
        ) from None


def _check_sizes(spec: PretrainedWeights, arch: Callable, config: dict | None) -> None:
    if config is None or not spec.sizes:
        return
    defaults = {n: p.default for n, p in inspect.signature(arch).parameters.items()}
    wrong = {
        k: config.get(k, defaults.get(k))
        for k, v in spec.sizes.items()
        if config.get(k, defaults.get(k)) != v
    }
    if wrong:
        raise ValueError(
            f"pretrained weights {spec.name!r} need {dict(spec.sizes)}, but the config gives {wrong}: "
            "use the default config, or pass pretrained=False to train this config from scratch"
        )


def _pretrained_files(learn: Learner, fnames: Any) -> tuple[Path, Path | None]:
    if isinstance(fnames, (str, os.PathLike)):
        return _model_file(learn, fnames), None
    fnames = list(fnames)
    if len(fnames) != 2:
        raise ValueError(
            "pretrained_fnames: give a lamina weights file name, or (weights name, vocabulary name) in "
            f"path/model_dir, got {fnames!r}"
        )
    wgts = _model_file(learn, fnames[0])
    vocab = Path(fnames[1])
    if not vocab.is_absolute():
        vocab = learn.path / learn.model_dir / vocab
    if not vocab.suffix:
        json_file = vocab.with_name(vocab.name + ".json")
        vocab = json_file if json_file.is_file() else vocab.with_name(vocab.name + ".pkl")
    return wgts, vocab


def language_model_learner(
    dls: Any,
    arch: Any,
    config: dict | None = None,
    drop_mult: float = 1.0,
    backwards: bool = False,
    pretrained: bool = True,
    pretrained_fnames: Any = None,
    **kwargs: Any,
) -> LMLearner:
    """An `LMLearner` on a language model of `arch` (e.g. `AWD_LSTM`, or its registered name) for `dls` (the
    loss: `CrossEntropyLossFlat`). Pretrained weights: `pretrained_fnames` (a lamina `.pth` name, or (weights,
    vocabulary) names, in `path/model_dir`), else with `pretrained` the architecture's default weights
    (`wt103_fwd`/`_bwd`: the local cache, downloaded when online). Loaded weights are re-indexed to the data's
    vocabulary and the model is frozen but for its last group. `kwargs` go to `LMLearner` (`metrics`, ...)."""
    arch = _arch(arch)
    meta = _meta(arch)
    vocab = text_vocab(dls)
    model = get_language_model(arch, len(vocab), config=config, drop_mult=drop_mult)
    kwargs.setdefault("loss_func", CrossEntropyLossFlat())
    kwargs.setdefault("splitter", meta["split_lm"])
    learn = LMLearner(dls, model, **kwargs)
    if pretrained_fnames is not None:
        wgts, vocab_file = _pretrained_files(learn, pretrained_fnames)
        return learn.load_pretrained(wgts, vocab_file)
    if pretrained:
        spec = default_pretrained(_arch_name(arch), backwards)
        if spec is None:
            warnings.warn(
                f"no pretrained weights are known for {_arch_name(arch)}; training from scratch", stacklevel=2
            )
            return learn
        _check_sizes(spec, arch, config)
        learn.load_pretrained(spec)
    return learn


def text_classifier_learner(
    dls: Any,
    arch: Any,
    seq_len: int = 72,
    config: dict | None = None,
    backwards: bool = False,
    pretrained: bool = True,
    drop_mult: float = 0.5,
    n_out: int | None = None,
    lin_ftrs: Sequence[int] | None = None,
    ps: Sequence[float] | None = None,
    max_len: int = 72 * 20,
    y_range: tuple[float, float] | None = None,
    **kwargs: Any,
) -> TextLearner:
    """A `TextLearner` on a classifier of `arch` for `dls`: the encoder reads `seq_len` tokens at a time and
    pools the outputs of the last `max_len` tokens; a head of `lin_ftrs` (dropouts `ps`) gives `n_out` values
    (default: the number of labels; `y_range` squashes a regression). With `pretrained`, the encoder starts
    from the architecture's default weights (usually replaced by a fine-tuned one with `load_encoder`). The
    learner is frozen but for the head: unfreeze gradually with `freeze_to(-2)`, `freeze_to(-3)`, ..."""
    arch = _arch(arch)
    meta = _meta(arch)
    vocab = text_vocab(dls)
    if n_out is None:
        n_out = _n_classes(dls)
    model = get_text_classifier(
        arch,
        len(vocab),
        n_out,
        seq_len=seq_len,
        config=config,
        drop_mult=drop_mult,
        lin_ftrs=lin_ftrs,
        ps=ps,
        max_len=max_len,
        y_range=y_range,
    )
    kwargs.setdefault("splitter", meta["split_clas"])
    learn = TextLearner(dls, model, **kwargs)
    if pretrained:
        spec = default_pretrained(_arch_name(arch), backwards)
        if spec is None:
            warnings.warn(
                f"no pretrained weights are known for {_arch_name(arch)}; training from scratch", stacklevel=2
            )
            return learn
        _check_sizes(spec, arch, config)
        learn.load_pretrained(spec)
    learn.freeze()
    return learn
