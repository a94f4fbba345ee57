"""The text sample shipped with lamina-text (`sample_data/`, see its ATTRIBUTION.md): 25 Wikipedia articles
(CC BY-SA 3.0), offline data for the demo and the tests.

- `sample_path()`: the folder `wiki/` (`train/*.txt`, `valid/*.txt`, `titles.csv`), ready for
  `TextDataLoaders.from_folder(sample_path(), is_lm=True)`;
- `wiki_paragraphs()`: its paragraphs as a DataFrame labelled with their article's topic (`place` or
  `science`), validation rows from the validation articles: a small text classification task.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

__all__ = ["SAMPLE_DIR", "sample_path", "wiki_paragraphs"]

SAMPLE_DIR = Path(__file__).resolve().parent / "sample_data"


def sample_path(name: str = "wiki") -> Path:
    """The folder of shipped sample `name` (only `'wiki'`)."""
    if name != "wiki":
        raise KeyError(f"sample_path: no shipped text sample {name!r}; the samples are ['wiki']")
    return SAMPLE_DIR / name


def wiki_paragraphs(
    path: str | os.PathLike | None = None, min_words: int = 15, max_words: int | None = 120
) -> pd.DataFrame:
    """The paragraphs (lines that are not headings) of at least `min_words` words of the articles in `path`
    (default: the shipped sample), cut to `max_words` words: columns `text`, `label` (the article's topic in
    `titles.csv`), `title` and `is_valid` (the article is in `valid/`)."""
    root = sample_path() if path is None else Path(path)
    titles = root / "titles.csv"
    if not titles.is_file():
        raise FileNotFoundError(f"wiki_paragraphs: no titles.csv in {root} (columns split,file,title,topic)")
    index = pd.read_csv(titles)
    missing = {"split", "file", "title", "topic"} - set(index.columns)
    if missing:
        raise KeyError(f"wiki_paragraphs: {titles} lacks the columns {sorted(missing)}")
    rows = []
    for article in index.itertuples(index=False):
        text = (root / article.split / article.file).read_text(encoding="utf-8")
        for line in text.splitlines():
            words = line.split()
            if len(words) < min_words or line.startswith("="):
                continue
            if max_words is not None:
                words = words[:max_words]
            rows.append((" ".join(words), article.topic, article.title, article.split == "valid"))
    return pd.DataFrame(rows, columns=["text", "label", "title", "is_valid"])
