"""Corpus tokenization: tokenize_texts/df/csv/folder, worker processes, the cache and error reports."""

import json
import warnings
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from lamina.text.defaults import defaults
from lamina.text.fingerprint import Unfingerprintable, fingerprint
from lamina.text.folder import COUNTER_FILE, LENGTHS_FILE, tokenize_folder
from lamina.text.parallel import TokenizationError, parallel_tokenize
from lamina.text.rules import TEXT_PRE_RULES, fix_html, lowercase, replace_maj
from lamina.text.tokenize import load_tokenized_csv, tokenize1, tokenize_csv, tokenize_df, tokenize_texts
from lamina.text.tokenize_transform import Tokenizer
from lamina.text.tokenizers import BaseTokenizer, SpacyTokenizer


class CountingTokenizer(SpacyTokenizer):
    """spaCy, counting the texts it tokenizes (in this process: use n_workers=1)."""

    def __init__(self):
        super().__init__()
        self.n_texts = 0

    def __call__(self, items):
        items = list(items)
        self.n_texts += len(items)
        return super().__call__(items)


@pytest.fixture
def spacy_cannot_tokenize(monkeypatch):
    """From now on, a `SpacyTokenizer` (same class and settings, so same cache key) fails if it is ever asked
    to tokenize (in worker processes too: they are forked after the patch)."""

    def fail(self, items):
        raise AssertionError("tokenized although the result was cached")

    monkeypatch.setattr(SpacyTokenizer, "__call__", fail)


def boom_on_marker(text):
    """A pre-rule that fails on one text."""
    if "BOOM" in text:
        raise ValueError("boom: this text is cursed")
    return text


def bad_post_rule(tokens):
    return tokens if "xxmaj" not in tokens else tokens[10**6]


@pytest.fixture(scope="module")
def snippets(texts_df):
    return texts_df.iloc[:150].reset_index(drop=True)


def test_tokenize_df_output_and_counter(snippets):
    df = snippets.set_index(pd.RangeIndex(100, 250))
    res, counter = tokenize_df(df, "text", n_workers=1, cache_dir=False)
    assert list(res.columns) == ["label", "is_valid", "text", "text_length"]
    assert list(res.index) == list(df.index)
    assert res.text.iloc[0][:4] == ["xxbos", "xxmaj", "it", "'s"]
    assert res.text_length.tolist() == [len(t) for t in res.text]
    assert counter == Counter(t for doc in res.text for t in doc)
    assert counter["xxbos"] == len(df)


def test_one_and_two_workers_give_the_same_result(snippets):
    one, c1 = tokenize_df(snippets, "text", n_workers=1, cache_dir=False)
    two, c2 = tokenize_df(snippets, "text", n_workers=2, cache_dir=False)
    assert one.text.tolist() == two.text.tolist()
    assert c1 == c2
    texts = snippets.text.tolist()
    assert parallel_tokenize(texts, SpacyTokenizer(), TEXT_PRE_RULES, [], n_workers=2, chunk_size=7) == (
        parallel_tokenize(texts, SpacyTokenizer(), TEXT_PRE_RULES, [], n_workers=0)
    )


def test_mark_fields_joins_several_columns():
    df = pd.DataFrame({"title": ["Good", "Bad"], "body": ["Nice film.", "Awful."], "y": [1, 0]})
    res, _ = tokenize_df(df, ["title", "body"], n_workers=1, cache_dir=False)
    assert res.text[0] == ["xxbos", "xxfld", "1", "xxmaj", "good", "xxfld", "2", "xxmaj", "nice", "film", "."]
    plain, _ = tokenize_df(df, ["title", "body"], mark_fields=False, n_workers=1, cache_dir=False)
    assert plain.text[1] == ["xxbos", "xxmaj", "bad", "xxmaj", "awful", "."]
    assert list(res.columns) == ["y", "text", "text_length"]


def test_cells_that_are_not_strings():
    df = pd.DataFrame({"text": ["Fine.", np.nan, None, 42, ""]})
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        res, _ = tokenize_df(df, "text", n_workers=1, cache_dir=False)
    messages = [str(w.message) for w in seen]
    assert messages == [
        "tokenize_df (column 'text'): 2 missing value(s) (first: text 1) tokenized as empty texts",
        "tokenize_df (column 'text'): 1 number(s) (first: text 3) tokenized as their str()",
    ]
    assert res.text.tolist() == [
        ["xxbos", "xxmaj", "fine", "."],
        ["xxbos"],
        ["xxbos"],
        ["xxbos", "42"],
        ["xxbos"],
    ]
    with pytest.raises(TypeError, match=r"text 1 is a bytes"):
        tokenize_texts(["ok", b"raw bytes"], n_workers=1)
    with pytest.raises(KeyError, match=r"no column 'review'.*\['text'\]"):
        tokenize_df(df, "review")


def test_cache_hit_skips_tokenizing(snippets, tmp_path):
    counting = CountingTokenizer()
    first, c1 = tokenize_df(snippets, "text", n_workers=1, tok=counting, cache_dir=tmp_path)
    assert counting.n_texts == len(snippets)
    again, c2 = tokenize_df(snippets, "text", n_workers=1, tok=counting, cache_dir=tmp_path)
    assert counting.n_texts == len(snippets)  # nothing tokenized the second time
    assert again.text.tolist() == first.text.tolist() and c1 == c2


def test_second_run_with_two_workers_does_not_tokenize(snippets, tmp_path, request):
    first, _ = tokenize_df(snippets, "text", n_workers=2, cache_dir=tmp_path)
    request.getfixturevalue("spacy_cannot_tokenize")
    cached, _ = tokenize_df(snippets, "text", n_workers=2, cache_dir=tmp_path)
    assert cached.text.tolist() == first.text.tolist()
    with pytest.raises(TokenizationError, match="tokenized although"):  # another language: another key
        tokenize_df(snippets, "text", n_workers=2, tok=SpacyTokenizer(lang="de"), cache_dir=tmp_path)


def test_cache_misses_when_input_rules_or_settings_change(snippets, tmp_path):
    counting = CountingTokenizer()
    tokenize_df(snippets, "text", n_workers=1, tok=counting, cache_dir=tmp_path)
    changed = snippets.copy()
    changed.loc[3, "text"] = "A different review."
    tokenize_df(changed, "text", n_workers=1, tok=counting, cache_dir=tmp_path)
    assert counting.n_texts == 2 * len(snippets)
    tokenize_df(snippets, "text", n_workers=1, tok=counting, rules=[fix_html, lowercase], cache_dir=tmp_path)
    assert counting.n_texts == 3 * len(snippets)
    tokenize_df(snippets, "text", n_workers=1, tok=counting, post_rules=[], cache_dir=tmp_path)
    assert counting.n_texts == 4 * len(snippets)


def test_default_cache_location_and_opting_out(snippets, tmp_path):
    tokenize_df(snippets.iloc[:5], "text", n_workers=1)  # conftest points LAMINA_TEXT_CACHE at tmp_path
    assert len(list((tmp_path / "token_cache").glob("tokens_*.jsonl"))) == 1
    tokenize_df(snippets.iloc[5:10], "text", n_workers=1, cache_dir=False)
    assert len(list((tmp_path / "token_cache").glob("tokens_*.jsonl"))) == 1


def test_fingerprints_follow_code_not_identity():
    def rule(t):
        return t.upper()

    def same_name_other_code(t):
        return t.lower()

    same_name_other_code.__qualname__ = rule.__qualname__
    assert fingerprint([rule]) == fingerprint([rule])
    assert fingerprint([rule]) != fingerprint([same_name_other_code])
    assert fingerprint(TEXT_PRE_RULES) != fingerprint(TEXT_PRE_RULES[:-1])
    assert fingerprint(BaseTokenizer()) != fingerprint(BaseTokenizer(split_char=","))
    with pytest.raises(Unfingerprintable):
        fingerprint(object())


def test_worker_error_names_the_text_and_keeps_the_traceback(snippets):
    texts = snippets.text.tolist()[:40]
    texts[27] = "This one goes BOOM."
    with pytest.raises(TokenizationError) as info:
        tokenize_texts(texts, n_workers=2, rules=[boom_on_marker, lowercase])
    err = info.value
    assert err.index == 27
    message = str(err)
    assert "tokenizing text 27 failed in the pre-rules: ValueError: boom: this text is cursed" in message
    assert "Traceback in the worker process" in message and "boom_on_marker" in message
    with pytest.raises(TokenizationError, match="text 27 failed in the pre-rules") as info:
        tokenize_texts(texts, n_workers=1, rules=[boom_on_marker])
    assert isinstance(info.value.__cause__, ValueError)  # in-process: the original exception is chained
    with pytest.raises(TokenizationError, match=r"text 0 failed in the post-rules: IndexError"):
        tokenize_texts(texts, n_workers=2, post_rules=[bad_post_rule])


def test_rules_must_pickle_for_spawned_workers():
    with pytest.raises(TypeError, match="must pickle.*n_workers=1"):
        parallel_tokenize(["a", "b"], BaseTokenizer(), [lambda t: t], [], n_workers=2, start_method="spawn")


def test_empty_texts_and_defaults_are_read_at_call_time(monkeypatch):
    assert tokenize_texts(["", "Hi"], n_workers=1) == [["xxbos"], ["xxbos", "xxmaj", "hi"]]
    monkeypatch.setattr(defaults, "text_pre_rules", [replace_maj])
    assert tokenize1("Hi there", tok=BaseTokenizer()) == ["xxmaj", "hi", "there"]


def test_tokenize_csv_and_load_back(snippets, tmp_path):
    src = tmp_path / "reviews.csv"
    snippets.to_csv(src, index=False)
    out, counter = tokenize_csv(src, "text", n_workers=1, chunksize=64)  # three chunks
    assert out == tmp_path / "reviews_tok.csv"
    df, loaded_counter = load_tokenized_csv(out)
    expected, expected_counter = tokenize_df(snippets, "text", n_workers=1, cache_dir=False)
    assert df.text.tolist() == expected.text.tolist()
    assert counter == expected_counter == loaded_counter
    assert df.label.tolist() == snippets.label.tolist()
    with pytest.raises(FileNotFoundError, match="no file"):
        tokenize_csv(tmp_path / "missing.csv", "text")


@pytest.fixture
def corpus(shared_data, tmp_path):
    """Six Wikipedia articles copied into train/valid folders."""
    src = sorted((shared_data / "text_sample" / "wiki" / "train").glob("*.txt"))[:6]
    root = tmp_path / "wiki"
    for i, f in enumerate(src):
        dest = root / ("train" if i < 4 else "valid") / f.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(f.read_text(encoding="utf-8")[:3000], encoding="utf-8")
    return root


def test_tokenize_folder_writes_a_tokenized_copy(corpus, request):
    out, counter = tokenize_folder(corpus, n_workers=2)
    assert out == corpus.parent / "wiki_tok"
    files = sorted(p.relative_to(corpus).as_posix() for p in corpus.rglob("*.txt"))
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.txt")) == files
    texts = [(corpus / f).read_text(encoding="utf-8") for f in files]
    docs = tokenize_texts(texts, n_workers=1)
    assert [(out / f).read_text(encoding="utf-8").split(" ") for f in files] == docs
    assert counter == Counter(t for d in docs for t in d)
    assert json.loads((out / LENGTHS_FILE).read_text()) == {f: len(d) for f, d in zip(files, docs)}
    assert Counter(json.loads((out / COUNTER_FILE).read_text())) == counter
    only_train, _ = tokenize_folder(
        corpus, folders=["train"], output_dir=corpus.parent / "train_tok", n_workers=1
    )
    assert len(list(only_train.rglob("*.txt"))) == 4
    request.getfixturevalue("spacy_cannot_tokenize")
    assert tokenize_folder(corpus, n_workers=2) == (out, counter)  # unchanged folder: nothing tokenized


def test_tokenize_folder_updates_incrementally(corpus):
    out, counter = tokenize_folder(corpus, n_workers=1, tok=CountingTokenizer())
    counting = CountingTokenizer()
    again, same = tokenize_folder(corpus, n_workers=1, tok=counting)  # nothing to do
    assert same == counter and counting.n_texts == 0
    changed = next(iter(sorted((corpus / "train").glob("*.txt"))))
    changed.write_text("A brand NEW text.", encoding="utf-8")
    removed = sorted((corpus / "valid").glob("*.txt"))[0]
    removed.unlink()
    counting = CountingTokenizer()
    _, updated = tokenize_folder(corpus, n_workers=1, tok=counting)
    assert counting.n_texts == 1  # only the changed file
    assert (out / changed.relative_to(corpus)).read_text(encoding="utf-8").split(" ")[:4] == [
        "xxbos", "xxmaj", "a", "brand",
    ]  # fmt: skip
    assert not (out / removed.relative_to(corpus)).exists()
    current = [f.read_text(encoding="utf-8") for f in sorted(corpus.rglob("*.txt"))]
    assert updated == Counter(t for d in tokenize_texts(current, n_workers=1) for t in d)
    assert sum(updated.values()) == sum(json.loads((out / LENGTHS_FILE).read_text()).values())
    counting = CountingTokenizer()
    tokenize_folder(corpus, n_workers=1, tok=counting, rules=[fix_html, lowercase])
    assert counting.n_texts == 5  # new rules: everything again


def test_tokenize_folder_reports_a_file_that_is_not_utf8(corpus):
    bad = corpus / "train" / "latin1.txt"
    bad.write_bytes("Un caf\xe9 cr\xe8me".encode("latin-1"))
    for n_workers in (1, 2):
        with pytest.raises(TokenizationError, match=r"latin1\.txt.*is not valid utf-8") as info:
            tokenize_folder(corpus, n_workers=n_workers, output_dir=corpus.parent / f"out{n_workers}")
        assert info.value.source.endswith("latin1.txt")


def test_tokenizer_from_folder(corpus):
    tok = Tokenizer.from_folder(corpus, n_workers=1)
    f = sorted((corpus / "train").glob("*.txt"))[0]
    assert list(tok(f)) == (tok.output_dir / f.relative_to(corpus)).read_text(encoding="utf-8").split(" ")
    assert tok.get_lengths([f]) == [len(tok(f))]
    assert tok.counter["xxbos"] == 6
