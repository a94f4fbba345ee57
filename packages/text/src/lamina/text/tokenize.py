"""Tokenize a corpus: `tokenize1`, `tokenize_texts`, `tokenize_df`, `tokenize_csv`, `load_tokenized_csv`.

Every function applies the pre-rules, the tokenizer and the post-rules (`rules=None` / `post_rules=None`:
`defaults.text_pre_rules` / `defaults.text_post_rules`; `tok=None`: a `SpacyTokenizer`) with
`n_workers` processes (`defaults.cpus` by default; 0 or 1 runs in this process); the output is in input
order and the same for any number of workers. A tokenizer with a `setup` (SentencePiece) is set up on the
texts first.

Caching: `tokenize_df` and `tokenize_csv` store their token lists in `cache_dir` (None: the user cache,
see `default_cache_dir`; False: no cache) under a key made of the texts, the rules and the tokenizer's
settings, so running them again on unchanged input reads the result back without tokenizing, and any
change of text, rule (its code included) or tokenizer setting tokenizes again. `tokenize_texts` caches
only when given a `cache_dir`.

Cells that are not strings: missing values (None, NaN, NA) become empty texts and numbers become their
`str`, each with one warning saying how many cells and which column; any other type raises a `TypeError`
naming the row. Empty texts are fine (with the default rules they give `['xxbos']`).
"""

from __future__ import annotations

import json
import numbers
import os
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from lamina.core.plugins import registry
from lamina.text.cache import TokenCache, default_cache_dir
from lamina.text.defaults import defaults
from lamina.text.fingerprint import Unfingerprintable, fingerprint, texts_digest
from lamina.text.parallel import parallel_tokenize, tokenize_chunk
from lamina.text.rules import FLD, SPACE_MARK
from lamina.text.tokenizers import SpacyTokenizer

__all__ = [
    "resolve_tokenizer",
    "resolve_rules",
    "as_texts",
    "count_tokens",
    "tokenize1",
    "tokenize_texts",
    "tokenize_df",
    "tokenize_csv",
    "load_tokenized_csv",
    "tokenize_cached",
]

CachePlace = str | os.PathLike | bool | None


def resolve_tokenizer(tok: Any) -> Any:
    """A tokenizer instance from `tok`: None (a `SpacyTokenizer`), an instance, a class, or a name registered
    by a plugin."""
    if tok is None:
        return SpacyTokenizer()
    if isinstance(tok, str):
        tok = registry.tokenizers[tok]
    if isinstance(tok, type):
        tok = tok()
    if not callable(tok):
        raise TypeError(
            "tok must be a tokenizer (called on a list of texts, yielding token lists), "
            f"got {type(tok).__name__}"
        )
    return tok


def resolve_rules(
    rules: Iterable[Callable] | None, post_rules: Iterable[Callable] | None
) -> tuple[list, list]:
    """The pre- and post-rules to use (the defaults' current values for None), checked to be callable."""
    pre = list(defaults.text_pre_rules if rules is None else rules)
    post = list(defaults.text_post_rules if post_rules is None else post_rules)
    for kind, fs in (("rules", pre), ("post_rules", post)):
        for f in fs:
            if not callable(f):
                raise TypeError(f"{kind}: every rule must be a function, got {f!r}")
    return pre, post


def as_texts(values: Iterable[Any], where: str) -> list[str]:
    """`values` as strings (see the module docstring for cells that are not strings)."""
    texts: list[str] = []
    missing, converted = [], []
    for i, v in enumerate(values):
        if isinstance(v, str):
            texts.append(v)
        elif v is None or (not isinstance(v, (list, tuple, dict)) and _is_missing(v)):
            texts.append("")
            missing.append(i)
        elif isinstance(v, numbers.Number):
            texts.append(str(v))
            converted.append(i)
        else:
            raise TypeError(f"{where}: text {i} is a {type(v).__name__} ({v!r:.60}); texts must be strings")
    if missing:
        warnings.warn(
            f"{where}: {len(missing)} missing value(s) (first: text {missing[0]}) tokenized as empty texts",
            stacklevel=3,
        )
    if converted:
        warnings.warn(
            f"{where}: {len(converted)} number(s) (first: text {converted[0]}) tokenized as their str()",
            stacklevel=3,
        )
    return texts


def _is_missing(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def count_tokens(docs: Iterable[Sequence[str]]) -> Counter:
    """How often each token occurs in `docs`."""
    counter: Counter = Counter()
    for d in docs:
        counter.update(d)
    return counter


def tokenize1(
    text: str, tok: Any = None, rules: Iterable[Callable] | None = None, post_rules=None
) -> list[str]:
    """The tokens of one text (in this process)."""
    tok = resolve_tokenizer(tok)
    pre, post = resolve_rules(rules, post_rules)
    return tokenize_chunk(0, [text], state=(tok, pre, post))[0]


def _cache_of(cache_dir: CachePlace) -> TokenCache | None:
    if cache_dir is False:
        return None
    if cache_dir is None or cache_dir is True:
        return TokenCache(default_cache_dir())
    return TokenCache(cache_dir)


def tokenize_cached(
    texts: list[str],
    tok: Any,
    rules: list[Callable],
    post_rules: list[Callable],
    n_workers: int | None,
    cache_dir: CachePlace,
) -> list[list[str]]:
    """Token lists of `texts` (already strings, tokenizer already set up), through the cache when asked."""
    cache = _cache_of(cache_dir)
    key = None
    if cache is not None:
        try:
            key = TokenCache.key(
                texts=texts_digest(texts),
                rules=fingerprint(rules),
                post_rules=fingerprint(post_rules),
                tok=tok,
            )
        except Unfingerprintable as e:
            warnings.warn(f"not caching this tokenization: {e}", stacklevel=3)
        if key is not None and (docs := cache.load(key, len(texts))) is not None:
            return docs
    docs = parallel_tokenize(texts, tok, rules, post_rules, n_workers)
    if key is not None:
        cache.save(key, docs)
    return docs


def _setup(tok: Any, texts: list[str], rules: list[Callable]) -> None:
    setup = getattr(tok, "setup", None)
    if callable(setup):
        setup(texts, rules)


def tokenize_texts(
    texts: Iterable[Any],
    n_workers: int | None = None,
    rules: Iterable[Callable] | None = None,
    tok: Any = None,
    post_rules: Iterable[Callable] | None = None,
    cache_dir: CachePlace = False,
) -> list[list[str]]:
    """The token lists of `texts`, in order (see the module docstring)."""
    texts = as_texts(texts, "tokenize_texts")
    tok = resolve_tokenizer(tok)
    pre, post = resolve_rules(rules, post_rules)
    _setup(tok, texts, pre)
    return tokenize_cached(texts, tok, pre, post, n_workers, cache_dir)


def _columns(df: pd.DataFrame, text_cols: Any, where: str) -> list:
    cols = [text_cols] if isinstance(text_cols, (str, int)) else list(text_cols)
    if not cols:
        raise ValueError(f"{where}: text_cols is empty; name the column(s) holding the texts")
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise KeyError(
            f"{where}: no column {missing[0]!r} in the DataFrame; its columns are {list(df.columns)}"
        )
    return cols


def _join_fields(df: pd.DataFrame, cols: list, mark_fields: bool, where: str) -> list[str]:
    columns = [as_texts(df[c].tolist(), f"{where} (column {c!r})") for c in cols]
    if len(cols) == 1 and not mark_fields:
        return columns[0]
    if mark_fields:
        return [" ".join(f"{FLD} {j + 1} {t}" for j, t in enumerate(row)) for row in zip(*columns)]
    return [" ".join(row) for row in zip(*columns)]


def tokenize_df(
    df: pd.DataFrame,
    text_cols: Any,
    n_workers: int | None = None,
    rules: Iterable[Callable] | None = None,
    mark_fields: bool | None = None,
    tok: Any = None,
    tok_text_col: str = "text",
    post_rules: Iterable[Callable] | None = None,
    cache_dir: CachePlace = None,
) -> tuple[pd.DataFrame, Counter]:
    """Tokenize the `text_cols` of `df`: returns `(tokenized, counter)`.

    `tokenized` has the columns of `df` other than `text_cols` (same index), plus `tok_text_col` (a list of
    tokens per row) and `f"{tok_text_col}_length"`. Several text columns are joined, each introduced by
    `xxfld <k>` when `mark_fields` (the default when there are several). `counter` counts the tokens.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"tokenize_df: df must be a pandas DataFrame, got {type(df).__name__}")
    cols = _columns(df, text_cols, "tokenize_df")
    mark_fields = len(cols) > 1 if mark_fields is None else mark_fields
    texts = _join_fields(df, cols, mark_fields, "tokenize_df")
    tok = resolve_tokenizer(tok)
    pre, post = resolve_rules(rules, post_rules)
    _setup(tok, texts, pre)
    docs = tokenize_cached(texts, tok, pre, post, n_workers, cache_dir)
    res = df[[c for c in df.columns if c not in cols]].copy()
    res[tok_text_col] = pd.Series(docs, index=df.index, dtype=object)
    res[f"{tok_text_col}_length"] = [len(d) for d in docs]
    return res, count_tokens(docs)


def _joined(docs: Iterable[Sequence[str]], where: str) -> list[str]:
    out = []
    for i, d in enumerate(docs):
        bad = next((t for t in d if " " in t), None)
        if bad is not None:
            raise ValueError(
                f"{where}: a token of text {i} contains a space ({bad!r}), so the tokens cannot be stored "
                "joined "
                f"by spaces; keep the `replace_space` post-rule (it writes spaces as {SPACE_MARK!r})"
            )
        out.append(" ".join(d))
    return out


def _counter_path(outname: Path) -> Path:
    return outname.with_name(f"{outname.stem}_counter.json")


def tokenize_csv(
    fname: str | os.PathLike,
    text_cols: Any,
    outname: str | os.PathLike | None = None,
    n_workers: int | None = None,
    rules: Iterable[Callable] | None = None,
    mark_fields: bool | None = None,
    tok: Any = None,
    header: int | str | None = "infer",
    chunksize: int = 50000,
    tok_text_col: str = "text",
    post_rules: Iterable[Callable] | None = None,
    cache_dir: CachePlace = None,
) -> tuple[Path, Counter]:
    """Tokenize the csv `fname` in chunks of `chunksize` rows: writes `outname` and its counter file.

    `outname` (default `<stem>_tok.csv` beside `fname`) holds the other columns, `tok_text_col` (the tokens
    joined by spaces) and `<tok_text_col>_length`; `<outname stem>_counter.json` the token counts. Read them
    back with `load_tokenized_csv`. Returns `(outname, counter)`. A SentencePiece tokenizer that is not
    set up yet is trained on the first chunk.
    """
    fname = Path(fname)
    if not fname.is_file():
        raise FileNotFoundError(f"tokenize_csv: no file at {fname}")
    outname = Path(outname) if outname is not None else fname.with_name(f"{fname.stem}_tok.csv")
    tok = resolve_tokenizer(tok)
    counter: Counter = Counter()
    tmp = outname.with_name(f"{outname.name}.{os.getpid()}.tmp")
    try:
        for i, chunk in enumerate(pd.read_csv(fname, header=header, chunksize=chunksize)):
            res, count = tokenize_df(
                chunk, text_cols, n_workers, rules, mark_fields, tok, tok_text_col, post_rules, cache_dir
            )
            res[tok_text_col] = _joined(res[tok_text_col], f"tokenize_csv({fname.name})")
            res.to_csv(tmp, header=i == 0, index=False, mode="w" if i == 0 else "a")
            counter.update(count)
        if not tmp.exists():  # a csv with a header and no rows
            pd.DataFrame(columns=[tok_text_col, f"{tok_text_col}_length"]).to_csv(tmp, index=False)
        os.replace(tmp, outname)
    finally:
        tmp.unlink(missing_ok=True)
    _counter_path(outname).write_text(json.dumps(dict(counter), ensure_ascii=False), encoding="utf-8")
    return outname, counter


def load_tokenized_csv(fname: str | os.PathLike, tok_text_col: str = "text") -> tuple[pd.DataFrame, Counter]:
    """Read back what `tokenize_csv` wrote: `(df with token lists in tok_text_col, counter)`."""
    fname = Path(fname)
    df = pd.read_csv(fname)
    if tok_text_col not in df.columns:
        raise KeyError(
            f"load_tokenized_csv: {fname} has no column {tok_text_col!r}; its columns are {list(df.columns)}"
        )
    joined = df[tok_text_col].fillna("").astype(str)  # an empty token list is read back as NaN
    df[tok_text_col] = pd.Series(
        [[t for t in s.split(" ") if t] for s in joined], index=df.index, dtype=object
    )
    counter_file = _counter_path(fname)
    counter = (
        Counter(json.loads(counter_file.read_text(encoding="utf-8")))
        if counter_file.is_file()
        else count_tokens(df[tok_text_col])
    )
    return df, counter
