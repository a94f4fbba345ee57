"""Throughput of corpus tokenization (`tokenize_df`) against spaCy's tokenizer alone on the same texts.

Cases (texts from the shared sample: the review snippets and paragraphs of the Wikipedia articles):
- `tokenize_df` with 1 worker (in process) and with 2 worker processes, cache off, default rules;
- `tokenize_df` again on the same frame with the cache on (a cache hit: no tokenizing at all).
The baseline is a hand-written loop over `spacy.blank("en").tokenizer.pipe(texts)` collecting the token
texts: the floor we cannot beat with one process, since `tokenize_df` runs that same tokenizer plus the
rules. spaCy's tokenizer caches what it learnt about each word, so every timed call gets a fresh tokenizer
on both sides (built before the clock starts): a cold cache, as when a corpus is tokenized once. Sides are
interleaved; the script prints per-case medians (seconds and tokens per second) and RATIO = lamina time /
baseline time (below 1 is faster than spaCy alone in one process).

Usage: python benchmarks/bench_tokenize.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import spacy

from lamina.text.tokenize import tokenize_df
from lamina.text.tokenizers import SpacyTokenizer

DATA = Path(os.environ.get("LAMINA_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def corpus(n_chars: int) -> pd.DataFrame:
    """Review snippets, then Wikipedia paragraphs, up to about `n_chars` characters."""
    texts = pd.read_csv(DATA / "text_sample" / "texts.csv").text.tolist()
    for f in sorted((DATA / "text_sample" / "wiki" / "train").glob("*.txt")):
        texts += [p for p in f.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    out, total = [], 0
    for t in texts:
        if total >= n_chars:
            break
        out.append(t)
        total += len(t)
    return pd.DataFrame({"text": out})


def spacy_alone(tokenizer, texts: list[str]) -> int:
    docs = [[t.text for t in doc] for doc in tokenizer.pipe(texts, batch_size=5000)]
    return sum(len(d) for d in docs)


def lamina(tok, df: pd.DataFrame, n_workers: int, cache_dir) -> int:
    return int(
        tokenize_df(df, "text", n_workers=n_workers, tok=tok, cache_dir=cache_dir)[0].text_length.sum()
    )


def timed(make, run) -> tuple[float, int]:
    arg = make()  # a fresh tokenizer, outside the clock
    start = time.perf_counter()
    n = run(arg)
    return time.perf_counter() - start, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller corpus and fewer repeats (~10 s)")
    args = parser.parse_args()
    n_chars, repeats = (250_000, 3) if args.quick else (800_000, 5)
    df = corpus(n_chars)
    texts = df.text.tolist()
    cache = Path(tempfile.mkdtemp(prefix="bench_tokenize_"))
    tokenize_df(df.iloc[:20], "text", n_workers=1, cache_dir=False)  # warm-up: imports, spaCy tables
    tokenize_df(df, "text", n_workers=1, cache_dir=cache)  # fill the cache for the cache-hit case

    fresh_spacy = lambda: spacy.blank("en").tokenizer  # noqa: E731
    cases = {
        "spaCy tokenizer alone (baseline)": (fresh_spacy, lambda t: spacy_alone(t, texts)),
        "tokenize_df, 1 worker": (SpacyTokenizer, lambda t: lamina(t, df, 1, False)),
        "tokenize_df, 2 workers": (SpacyTokenizer, lambda t: lamina(t, df, 2, False)),
        "tokenize_df, cache hit": (SpacyTokenizer, lambda t: lamina(t, df, 2, cache)),
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    tokens: dict[str, int] = {}
    for _ in range(repeats):
        for name, (make, run) in cases.items():  # interleaved
            t, n = timed(make, run)
            times[name].append(t)
            tokens[name] = n
    print(f"corpus: {len(texts)} texts, {sum(map(len, texts)):,} characters; {repeats} repeats, medians")
    base = statistics.median(times["spaCy tokenizer alone (baseline)"])
    for name in cases:
        med = statistics.median(times[name])
        print(f"{name:34s} {med:8.3f} s  {tokens[name] / med:12,.0f} tokens/s  RATIO {med / base:5.2f}")
    print(
        f"(token counts: spaCy alone {tokens['spaCy tokenizer alone (baseline)']:,}; with the rules' markers "
        f"{tokens['tokenize_df, 1 worker']:,})"
    )


if __name__ == "__main__":
    main()
