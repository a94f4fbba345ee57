"""Tokenizers: `BaseTokenizer` (split on spaces), `SpacyTokenizer` (spaCy's rule-based tokenizer, no model
download), `SentencePieceTokenizer` (a unigram/BPE subword model trained on the corpus).

The protocol (what `Tokenizer` and the `tokenize_*` functions use, so a third-party tokenizer only has to
provide it): calling a tokenizer on an iterable of strings yields one list of string tokens per string, in
order; `setup(texts, rules)` learns what it needs from the (raw) training texts (only SentencePiece learns
anything); `cache_key()` returns JSON-ready settings that identify its output (tokenized corpora are cached
under it); `tokens_to_words(tokens)` regroups tokens into whitespace-separated words (the identity for
word tokenizers) for decoding. Tokenizers pickle as their settings (plus the SentencePiece model), so
worker processes rebuild them instead of copying spaCy's state.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from lamina.core.plugins.registry import register_class
from lamina.text.defaults import defaults
from lamina.text.rules import SPACE_MARK, apply_rules

__all__ = ["BaseTokenizer", "SpacyTokenizer", "WordTokenizer", "SentencePieceTokenizer", "EU_LANGS"]

EU_LANGS = frozenset(
    "bg cs da de el en es et fi fr ga hr hu it lt lv mt nl pl pt ro sk sl sv".split()
)  # languages whose alphabets are small: SentencePiece keeps 99.999% of their characters
_SP_MAX_SENTENCE_BYTES = 4000  # SentencePiece skips longer training sentences (its default limit is 4192)


def _batches(items: Iterable[str], size: int) -> Iterator[list[str]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


@register_class("lamina.text.BaseTokenizer")
class BaseTokenizer:
    """Split each text on `split_char` (a space by default), dropping empty tokens."""

    def __init__(self, split_char: str = " ", **kwargs: Any) -> None:
        if not isinstance(split_char, str) or not split_char:
            raise ValueError(f"BaseTokenizer(split_char=...) must be a non-empty string, got {split_char!r}")
        self.split_char = split_char

    def __call__(self, items: Iterable[str]) -> Iterator[list[str]]:
        sep = self.split_char
        return ([t for t in text.split(sep) if t] for text in items)

    def setup(self, items: Iterable[str], rules: Sequence[Callable] | None = None) -> dict:
        """Nothing to learn."""
        return {}

    def cache_key(self) -> dict:
        return {"class": "BaseTokenizer", "split_char": self.split_char}

    def tokens_to_words(self, tokens: Sequence[str]) -> list[str]:
        return list(tokens)

    def __repr__(self) -> str:
        return f"BaseTokenizer(split_char={self.split_char!r})"


@register_class("lamina.text.SpacyTokenizer")
class SpacyTokenizer:
    """spaCy's tokenizer for `lang` from `spacy.blank(lang)` (rules only, no model download).

    `special_toks` (default: `defaults.text_spec_tok`) are kept whole; `buf_sz` texts are tokenized per
    batch. Languages that need an extra segmenter (`ja`, `zh`, ...) need that package installed.
    """

    def __init__(
        self, lang: str = "en", special_toks: Sequence[str] | None = None, buf_sz: int = 5000
    ) -> None:
        if not isinstance(buf_sz, int) or buf_sz < 1:
            raise ValueError(f"SpacyTokenizer(buf_sz=...) must be a positive int, got {buf_sz!r}")
        self.lang, self.buf_sz = lang, buf_sz
        self.special_toks = tuple(defaults.text_spec_tok if special_toks is None else special_toks)
        self._tokenizer = self._build()

    def _build(self) -> Any:
        import spacy
        from spacy.symbols import ORTH

        try:
            nlp = spacy.blank(self.lang)
        except Exception as e:  # unknown code, or a language whose segmenter is not installed
            raise ValueError(
                f"SpacyTokenizer(lang={self.lang!r}): spaCy cannot make this language: {e}"
            ) from e
        tokenizer = nlp.tokenizer
        # a special case only for the tokens spaCy would split: special cases slow spaCy down by half
        split = [t for t in self.special_toks if [w.text for w in tokenizer(t)] != [t]]
        for tok in split:
            tokenizer.add_special_case(tok, [{ORTH: tok}])
        return tokenizer

    def __call__(self, items: Iterable[str]) -> Iterator[list[str]]:
        if self._tokenizer is None:
            self._tokenizer = self._build()
        for doc in self._tokenizer.pipe(items, batch_size=self.buf_sz):
            yield [t.text for t in doc]

    def setup(self, items: Iterable[str], rules: Sequence[Callable] | None = None) -> dict:
        """Nothing to learn."""
        return {}

    def cache_key(self) -> dict:
        import spacy

        return {
            "class": "SpacyTokenizer",
            "lang": self.lang,
            "special_toks": list(self.special_toks),
            "spacy": spacy.__version__,
        }

    def tokens_to_words(self, tokens: Sequence[str]) -> list[str]:
        return list(tokens)

    def __getstate__(self) -> dict:
        return {"lang": self.lang, "special_toks": self.special_toks, "buf_sz": self.buf_sz}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._tokenizer = None  # rebuilt on first use, in the process that uses it

    def __repr__(self) -> str:
        return f"SpacyTokenizer(lang={self.lang!r})"


WordTokenizer = SpacyTokenizer
"""The default word tokenizer (fastai's name)."""


@register_class("lamina.text.SentencePieceTokenizer")
class SentencePieceTokenizer:
    """A SentencePiece subword tokenizer; `setup(texts)` trains its model unless `sp_model` is given.

    Training uses the texts after the pre-rules, split into lines; `vocab_sz` defaults to a quarter of the
    number of distinct words (rounded up to a multiple of 8, at least 32, at most `max_vocab_sz`);
    `char_coverage` to 0.99999 for European languages, else 0.9998. The model is cached in `cache_dir`
    under a hash of the training sentences and settings, so a second `setup` on the same corpus loads it
    instead of training. The special tokens are user-defined symbols: never split.
    """

    def __init__(
        self,
        lang: str = "en",
        special_toks: Sequence[str] | None = None,
        sp_model: str | os.PathLike | None = None,
        vocab_sz: int | None = None,
        max_vocab_sz: int = 30000,
        model_type: str = "unigram",
        char_coverage: float | None = None,
        cache_dir: str | os.PathLike = "tmp",
    ) -> None:
        if model_type not in ("unigram", "bpe", "char", "word"):
            raise ValueError(
                "SentencePieceTokenizer(model_type=...) must be 'unigram', 'bpe', 'char' or 'word', "
                f"got {model_type!r}"
            )
        if vocab_sz is not None and (
            not isinstance(vocab_sz, int)
            or vocab_sz < len(defaults.text_spec_tok if special_toks is None else special_toks) + 2
        ):
            raise ValueError(
                "SentencePieceTokenizer(vocab_sz=...) must be an int above the number of special tokens, "
                f"got {vocab_sz!r}"
            )
        self.lang, self.vocab_sz, self.max_vocab_sz, self.model_type = (
            lang,
            vocab_sz,
            max_vocab_sz,
            model_type,
        )
        self.special_toks = tuple(defaults.text_spec_tok if special_toks is None else special_toks)
        self.char_coverage = (
            char_coverage if char_coverage is not None else (0.99999 if lang in EU_LANGS else 0.9998)
        )
        self.cache_dir = Path(cache_dir)
        self.sp_model: Path | None = None
        self._processor: Any = None
        self._proto: bytes | None = None
        if sp_model is not None:
            self.load(sp_model)

    # ---- the model ----------------------------------------------------------------------------------
    def load(self, sp_model: str | os.PathLike) -> None:
        """Use the trained model in the file `sp_model`."""
        path = Path(sp_model)
        if not path.is_file():
            raise FileNotFoundError(f"SentencePieceTokenizer: no model file at {path}")
        self._set_proto(path.read_bytes(), where=str(path))
        self.sp_model = path

    def _set_proto(self, proto: bytes, where: str) -> None:
        import sentencepiece as spm

        try:
            self._processor = spm.SentencePieceProcessor(model_proto=proto)
        except Exception as e:
            raise ValueError(f"SentencePieceTokenizer: {where} is not a SentencePiece model: {e}") from e
        self._proto = proto

    @property
    def is_trained(self) -> bool:
        return self._processor is not None

    def setup(self, items: Iterable[str], rules: Sequence[Callable] | None = None) -> dict:
        """Train (or load from the cache) a model on `items` after `rules`, unless there is one already."""
        if self._processor is None:
            texts = (apply_rules(t, rules) for t in items)
            self.load(self.train(texts))
        return {"sp_model": self.sp_model}

    def train(self, texts: Iterable[str]) -> Path:
        """Train a model on `texts` (already through the pre-rules); returns its (cached) file."""
        sentences = _training_sentences(texts)
        if not sentences:
            raise ValueError("SentencePieceTokenizer.setup: no text to train on (the texts are all empty)")
        vocab_sz = self.vocab_sz if self.vocab_sz is not None else self._default_vocab_sz(sentences)
        settings = {
            "model_type": self.model_type,
            "vocab_size": vocab_sz,
            "character_coverage": self.char_coverage,
            "user_defined_symbols": list(self.special_toks),
        }
        digest = hashlib.sha256(repr(sorted(settings.items())).encode())
        for s in sentences:
            digest.update(s.encode("utf-8", "surrogatepass") + b"\0")
        path = self.cache_dir / f"spm_{digest.hexdigest()[:24]}.model"
        if path.is_file():
            return path
        proto = self._train_proto(sentences, settings)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(proto)
        os.replace(tmp, path)
        return path

    def _train_proto(self, sentences: list[str], settings: dict) -> bytes:
        import sentencepiece as spm

        model = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(sentences),
                model_writer=model,
                unk_id=len(self.special_toks),
                pad_id=-1,
                bos_id=-1,
                eos_id=-1,
                hard_vocab_limit=False,
                num_threads=os.cpu_count() or 1,
                minloglevel=2,
                **settings,
            )
        except Exception as e:
            raise RuntimeError(
                f"SentencePieceTokenizer.setup: training a {self.model_type} model of "
                f"{settings['vocab_size']} "
                f"pieces on {len(sentences)} sentences failed: {e}"
            ) from e
        return model.getvalue()

    def _default_vocab_sz(self, sentences: list[str]) -> int:
        n_words = len({w for s in sentences for w in s.split()})
        size = max(32, -(-(n_words // 4) // 8) * 8)
        return min(size, self.max_vocab_sz)

    # ---- tokenizing ---------------------------------------------------------------------------------
    def __call__(self, items: Iterable[str]) -> Iterator[list[str]]:
        if self._processor is None:
            raise RuntimeError(
                "SentencePieceTokenizer has no model yet: call setup(texts) (or tokenize through "
                "Tokenizer/tokenize_df, which do) or pass sp_model="
            )
        for batch in _batches(items, 1000):
            yield from self._processor.encode(batch, out_type=str)

    def cache_key(self) -> dict:
        if self._proto is None:
            raise RuntimeError(
                "SentencePieceTokenizer.cache_key: the tokenizer has no model yet; call setup first"
            )
        return {
            "class": "SentencePieceTokenizer",
            "model_sha256": hashlib.sha256(self._proto).hexdigest(),
        }

    def tokens_to_words(self, tokens: Sequence[str]) -> list[str]:
        return [w for w in "".join(tokens).replace(SPACE_MARK, " ").split(" ") if w]

    @property
    def vocab(self) -> list[str]:
        """The model's pieces, by id."""
        if self._processor is None:
            return []
        return [self._processor.id_to_piece(i) for i in range(self._processor.get_piece_size())]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_processor"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self._proto is not None:
            self._set_proto(self._proto, where="the pickled model")

    def __repr__(self) -> str:
        model = self.sp_model if self.sp_model is not None else "untrained"
        return f"SentencePieceTokenizer(model_type={self.model_type!r}, model={model})"


def _training_sentences(texts: Iterable[str]) -> list[str]:
    """Lines of `texts`, long ones cut at spaces into pieces SentencePiece accepts."""
    out: list[str] = []
    for text in texts:
        for line in text.split("\n"):
            line = line.strip()
            while len(line.encode("utf-8", "surrogatepass")) > _SP_MAX_SENTENCE_BYTES:
                cut = line.rfind(" ", 0, _SP_MAX_SENTENCE_BYTES // 4)
                cut = cut if cut > 0 else _SP_MAX_SENTENCE_BYTES // 4
                out.append(line[:cut])
                line = line[cut:].strip()
            if line:
                out.append(line)
    return out
