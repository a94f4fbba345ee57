"""The on-disk cache of tokenized corpora: token lists stored as JSON lines under a content key.

A key is the hash of everything that decides the tokens: the texts themselves, the pre- and post-rules
(`fingerprint`), the tokenizer's `cache_key()` and `CACHE_FORMAT`. So a second run over unchanged input
reads the file back without tokenizing, and changing a text, a rule or a tokenizer setting misses.
JSON (never pickle), written to a temporary file and renamed into place, so readers never see half a
file and loading a cache cannot run code. The cache is never pruned: delete the folder to reclaim space.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lamina.text.fingerprint import fingerprint

__all__ = ["CACHE_FORMAT", "CACHE_ENV", "default_cache_dir", "TokenCache"]

CACHE_FORMAT = 1
CACHE_ENV = "LAMINA_TEXT_CACHE"


def default_cache_dir() -> Path:
    """`$LAMINA_TEXT_CACHE`, else `$XDG_CACHE_HOME/lamina/text` (`~/.cache/lamina/text`)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lamina" / "text"


class TokenCache:
    """Token lists stored in `directory`, one JSON-lines file per key."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)

    @staticmethod
    def key(**parts: Any) -> str:
        """The key of a tokenization described by `parts` (texts digest, rules, tokenizer settings)."""
        return fingerprint({"format": CACHE_FORMAT, **parts})

    def path(self, key: str) -> Path:
        return self.directory / f"tokens_{key[:32]}.jsonl"

    def load(self, key: str, n_docs: int) -> list[list[str]] | None:
        """The token lists stored under `key` (None on a miss, or if the file is damaged)."""
        path = self.path(key)
        try:
            with path.open(encoding="utf-8") as f:
                header = json.loads(f.readline())
                docs = [json.loads(line) for line in f]
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            warnings.warn(f"ignoring the damaged token cache file {path}: {e}", stacklevel=3)
            return None
        if header != {"format": CACHE_FORMAT, "key": key, "n_docs": n_docs} or len(docs) != n_docs:
            warnings.warn(f"ignoring the token cache file {path}: it does not hold this corpus", stacklevel=3)
            return None
        return docs

    def save(self, key: str, docs: Sequence[Sequence[str]]) -> Path:
        """Store `docs` under `key` (atomically); returns the file."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(key)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with tmp.open("w", encoding="utf-8") as f:
            f.write(json.dumps({"format": CACHE_FORMAT, "key": key, "n_docs": len(docs)}) + "\n")
            for d in docs:
                f.write(json.dumps(list(d), ensure_ascii=False) + "\n")
        os.replace(tmp, path)
        return path
