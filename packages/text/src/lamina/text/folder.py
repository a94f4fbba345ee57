"""`tokenize_folder`: a tokenized copy of a folder of text files, updated incrementally.

Each text file under `path` (with one of `extensions`, in `folders` only when given) is tokenized into
the file of the same relative path under `output_dir` (default: `<path>_tok` beside `path`), its tokens
joined by spaces. Beside them: `counter.json` (token counts over the whole folder), `lengths.json`
(relative path -> number of tokens) and `tokenize_manifest.json`, which records each source file's
SHA-256 and the settings (rules, post-rules, tokenizer) its output was made with. Running again only
tokenizes the files that are new or changed (or everything, when a setting changed) and removes the
outputs of deleted files; an unchanged folder is not tokenized at all. JSON throughout, never pickle.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from lamina.text.cache import CACHE_FORMAT, TokenCache
from lamina.text.parallel import parallel_tokenize, read_text_file
from lamina.text.tokenize import _joined, _setup, resolve_rules, resolve_tokenizer

__all__ = ["tokenize_folder", "text_files", "load_folder_counts", "MANIFEST", "COUNTER_FILE", "LENGTHS_FILE"]

MANIFEST, COUNTER_FILE, LENGTHS_FILE = "tokenize_manifest.json", "counter.json", "lengths.json"


def text_files(
    path: Path,
    extensions: Iterable[str] | None = (".txt",),
    folders: Iterable[str] | None = None,
    exclude: Path | None = None,
) -> list[Path]:
    """The files under `path` with one of `extensions` (any when None), in the subfolders `folders` only
    when given, never under `exclude`; sorted."""
    exts = (
        None
        if extensions is None
        else {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}
    )
    roots = [path / f for f in folders] if folders is not None else [path]
    for r in roots:
        if not r.is_dir():
            raise FileNotFoundError(f"tokenize_folder: no folder {r}")
    skip = exclude.resolve() if exclude is not None else None
    found = set()
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            here = Path(dirpath)
            if skip is not None and (here.resolve() == skip or skip in here.resolve().parents):
                dirnames.clear()
                continue
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if not name.startswith(".") and (exts is None or Path(name).suffix.lower() in exts):
                    found.add(here / name)
    return sorted(found)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def load_folder_counts(output_dir: str | os.PathLike) -> tuple[Counter, dict[str, int]]:
    """The `(counter, lengths)` that `tokenize_folder` wrote in `output_dir`."""
    output_dir = Path(output_dir)
    counter, lengths = _read_json(output_dir / COUNTER_FILE), _read_json(output_dir / LENGTHS_FILE)
    if counter is None or lengths is None:
        raise FileNotFoundError(
            f"{output_dir} holds no tokenized folder (no {COUNTER_FILE}/{LENGTHS_FILE}); run tokenize_folder"
        )
    return Counter(counter), lengths


def tokenize_folder(
    path: str | os.PathLike,
    extensions: Iterable[str] | None = (".txt",),
    folders: Iterable[str] | None = None,
    output_dir: str | os.PathLike | None = None,
    n_workers: int | None = None,
    rules: Iterable[Callable] | None = None,
    tok: Any = None,
    post_rules: Iterable[Callable] | None = None,
    encoding: str = "utf-8",
) -> tuple[Path, Counter]:
    """Tokenize the text files of `path` into `output_dir`; returns `(output_dir, counter)`.

    See the module docstring for the layout and the incremental update. A SentencePiece tokenizer that
    is not set up yet is trained on all the files first.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"tokenize_folder: no folder at {path}")
    output_dir = Path(output_dir) if output_dir is not None else path.parent / f"{path.name}_tok"
    files = text_files(path, extensions, folders, exclude=output_dir)
    rels = [f.relative_to(path).as_posix() for f in files]
    tok = resolve_tokenizer(tok)
    pre, post = resolve_rules(rules, post_rules)
    _setup(tok, _LazyTexts(files, encoding), pre)
    settings = TokenCache.key(rules=pre, post_rules=post, tok=tok, encoding=encoding)

    manifest = _read_json(output_dir / MANIFEST) or {}
    done = manifest.get("files", {}) if manifest.get("settings") == settings else {}
    digests = {rel: _sha256(f) for rel, f in zip(rels, files)}
    todo = [
        i
        for i, rel in enumerate(rels)
        if done.get(rel, {}).get("sha256") != digests[rel] or not (output_dir / rel).is_file()
    ]
    stale = set(manifest.get("files", {})) - set(rels)
    if (
        not todo
        and not stale
        and (output_dir / COUNTER_FILE).is_file()
        and (output_dir / LENGTHS_FILE).is_file()
    ):
        return output_dir, load_folder_counts(output_dir)[0]

    output_dir.mkdir(parents=True, exist_ok=True)
    docs = parallel_tokenize(
        [str(files[i]) for i in todo], tok, pre, post, n_workers, read_files=True, encoding=encoding
    )
    lengths = {rel: entry["length"] for rel, entry in done.items() if rel in digests}
    for i, joined, doc in zip(todo, _joined(docs, "tokenize_folder"), docs):
        out = output_dir / rels[i]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(joined, encoding="utf-8")
        lengths[rels[i]] = len(doc)
    for rel in stale:
        (output_dir / rel).unlink(missing_ok=True)
    counter: Counter = Counter()
    for rel in rels:
        counter.update(t for t in (output_dir / rel).read_text(encoding="utf-8").split(" ") if t)
    lengths = {rel: lengths[rel] for rel in rels}
    files_entry = {rel: {"sha256": digests[rel], "length": lengths[rel]} for rel in rels}
    _write_json(output_dir / COUNTER_FILE, dict(counter))
    _write_json(output_dir / LENGTHS_FILE, lengths)
    _write_json(output_dir / MANIFEST, {"format": CACHE_FORMAT, "settings": settings, "files": files_entry})
    return output_dir, counter


class _LazyTexts:
    """The texts of files, read only if iterated (only a tokenizer that trains reads them)."""

    def __init__(self, files: list[Path], encoding: str) -> None:
        self.files, self.encoding = files, encoding

    def __iter__(self) -> Iterator[str]:
        return (read_text_file(f, self.encoding) for f in self.files)

    def __len__(self) -> int:
        return len(self.files)
