"""Run rules + tokenizer + post-rules over many texts (or files), in worker processes, in order.

`parallel_tokenize` cuts the items into contiguous chunks, tokenizes them in a `ProcessPoolExecutor`
(`n_workers` processes; 0 or 1 runs in this process) and concatenates the results in input order, so the
output never depends on the number of workers. The tokenizer and the rules reach each worker once (its
initializer), not with every chunk.

Errors name what failed: a failing text raises `TokenizationError` saying which text (its index in the
input, and its file in folder mode) and which step (pre-rules, tokenizer, post-rules, reading the file)
failed, with the original exception's type and message; from a worker, the message also carries the
worker's full traceback text (and `__cause__` holds it too), so nothing is lost crossing the process
boundary. A file that is not UTF-8 is reported by name. A worker that dies (killed, out of memory)
raises `TokenizationError` telling to rerun with `n_workers=1`.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import repeat
from pathlib import Path
from typing import Any

from lamina.text.defaults import defaults
from lamina.text.rules import apply_rules

__all__ = ["TokenizationError", "parallel_tokenize", "tokenize_chunk", "read_text_file"]

_MAX_CHUNK = 2000
_STATE: tuple | None = None  # (tokenizer, pre-rules, post-rules) of this worker process


class TokenizationError(RuntimeError):
    """A text (or file) failed to tokenize; `index` is its position in the input, `source` its file."""

    def __init__(self, message: str, index: int | None = None, source: str | None = None) -> None:
        super().__init__(message)
        self.index, self.source = index, source

    def __reduce__(self):  # keep index and source across the process boundary
        return (type(self), (self.args[0], self.index, self.source))


def read_text_file(path: str | Path, encoding: str = "utf-8") -> str:
    """The text of `path`; a file that is not valid `encoding` raises an error naming the file."""
    try:
        return Path(path).read_text(encoding=encoding)
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{path} is not valid {encoding} text "
            f"({e.reason}: byte 0x{e.object[e.start]:02x} at offset {e.start}); "
            f"re-encode it as {encoding} or pass the right encoding"
        ) from None


def _failure(e: Exception, index: int, source: str | None, step: str, in_worker: bool) -> TokenizationError:
    where = f"text {index}" + (f" (file {source})" if source is not None else "")
    message = f"tokenizing {where} failed in {step}: {type(e).__name__}: {e}"
    if in_worker:
        message += "\n\nTraceback in the worker process:\n" + "".join(traceback.format_exception(e)).rstrip()
    return TokenizationError(message, index=index, source=source)


def tokenize_chunk(
    offset: int,
    items: Sequence[Any],
    read_files: bool = False,
    state: tuple | None = None,
    encoding: str = "utf-8",
) -> list[list[str]]:
    """Tokenize `items` (texts, or file paths when `read_files`), the first being item `offset` of the input.

    `state` is `(tokenizer, pre_rules, post_rules)`; None means this worker's (set by its initializer).
    """
    in_worker = state is None
    tok, rules, post_rules = _STATE if in_worker else state
    texts = []
    for k, item in enumerate(items):
        source = str(item) if read_files else None
        step = "reading the file" if read_files else "the pre-rules"
        try:
            text = read_text_file(item, encoding) if read_files else item
            step = "the pre-rules"
            texts.append(apply_rules(text, rules))
        except Exception as e:
            raise _failure(e, offset + k, source, step, in_worker) from e
    try:
        raw = list(tok(texts))
        whole_batch_failed = len(raw) != len(texts)
    except Exception:
        whole_batch_failed = True
    if whole_batch_failed:  # tokenize one by one to name the text that fails (and get its own traceback)
        raw = []
        for k, text in enumerate(texts):
            try:
                raw.append(next(iter(tok([text]))))
            except Exception as e:
                raise _failure(
                    e, offset + k, str(items[k]) if read_files else None, "the tokenizer", in_worker
                ) from e
    out = []
    for k, tokens in enumerate(raw):
        try:
            out.append(list(apply_rules(list(tokens), post_rules)))
        except Exception as e:
            raise _failure(
                e, offset + k, str(items[k]) if read_files else None, "the post-rules", in_worker
            ) from e
    return out


def _init_worker(tok: Any, rules: Sequence[Callable], post_rules: Sequence[Callable]) -> None:
    global _STATE
    _STATE = (tok, rules, post_rules)


def _run_chunk(offset: int, items: Sequence[Any], read_files: bool, encoding: str) -> list[list[str]]:
    return tokenize_chunk(offset, items, read_files, None, encoding)


def _context(start_method: str | None) -> mp.context.BaseContext:
    method = start_method or defaults.start_method
    if method is None:
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    return mp.get_context(method)


def _check_picklable(state: tuple, method: str, n_workers: int) -> None:
    try:
        pickle.dumps(state)
    except Exception as e:
        raise TypeError(
            f"tokenizing with n_workers={n_workers} ({method!r} start method) sends the tokenizer and the "
            "rules "
            f"to worker processes, so they must pickle (rules must be module-level functions, not lambdas or "
            f"local functions): {e}. Use n_workers=1 to tokenize in this process"
        ) from e


def parallel_tokenize(
    items: Sequence[Any],
    tok: Any,
    rules: Sequence[Callable] | None,
    post_rules: Sequence[Callable] | None,
    n_workers: int | None = None,
    read_files: bool = False,
    chunk_size: int | None = None,
    start_method: str | None = None,
    encoding: str = "utf-8",
) -> list[list[str]]:
    """Token lists of `items` (texts, or file paths when `read_files`), in order, using `n_workers`
    processes."""
    items = list(items)
    n = len(items)
    state = (tok, list(rules or ()), list(post_rules or ()))
    n_workers = defaults.cpus if n_workers is None else n_workers
    if not isinstance(n_workers, int) or n_workers < 0:
        raise ValueError(f"n_workers must be an int >= 0, got {n_workers!r}")
    n_workers = min(n_workers, n)
    if n_workers <= 1:
        return tokenize_chunk(0, items, read_files, state, encoding)
    chunk = chunk_size or max(1, min(_MAX_CHUNK, -(-n // (n_workers * 4))))
    starts = range(0, n, chunk)
    ctx = _context(start_method)
    method = ctx.get_start_method()
    if method != "fork":
        _check_picklable(state, method, n_workers)
    results: list[list[str]] = []
    with ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=_init_worker, initargs=state) as ex:
        try:
            chunks = ex.map(
                _run_chunk,
                starts,
                (items[s : s + chunk] for s in starts),
                repeat(read_files),
                repeat(encoding),
            )
            for r in chunks:
                results.extend(r)
        except BrokenProcessPool as e:
            raise TokenizationError(
                f"a tokenizer worker process died ({e}); rerun with n_workers=1 to see what failed"
            ) from e
        except BaseException:
            ex.shutdown(wait=True, cancel_futures=True)
            raise
    return results
