"""Showing texts: `show_batch` / `show_results` tables, console formatting and notebook HTML."""

import sys
import types

import pandas as pd
import pytest
import torch

from lamina.text.data import TextDataLoaders
from lamina.text.show import display_texts, format_texts_table, texts_table
from lamina.text.tokenizers import BaseTokenizer

BASE = dict(tok=BaseTokenizer(), n_workers=0, cache_dir=False, min_freq=1)
WORDS = "the film was great and the plot was dull but the actors were fun".split()


def df(n=24):
    texts = [" ".join(WORDS[(i + j) % len(WORDS)] for j in range(5 + i % 7)) for i in range(n)]
    return pd.DataFrame(
        {"text": texts, "label": ["good", "bad"] * (n // 2), "is_valid": [i % 4 == 0 for i in range(n)]}
    )


def test_show_batch_of_a_classifier_is_a_table_of_texts_and_labels(capsys):
    dls = TextDataLoaders.from_df(
        df(), text_col="text", label_col="label", valid_col="is_valid", bs=6, **BASE
    )
    table = dls.show_batch(max_n=4)
    assert isinstance(table, pd.DataFrame) and list(table.columns) == ["text", "category"] and len(table) == 4
    assert set(table.category) <= {"good", "bad"}
    assert not any("xxpad" in t or "xxbos" in t for t in table.text)  # padding removed, markers decoded
    assert all(t in set(df().text) for t in table.text)  # the texts read back as written
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].split() == ["#", "text", "category"] and table.text[0] in printed


def test_show_batch_of_a_language_model_shows_the_target_text(capsys):
    data = df(60)
    dls = TextDataLoaders.from_df(data, text_col="text", is_lm=True, bs=4, seq_len=6, **BASE)
    table = dls.show_batch(max_n=2)
    assert list(table.columns) == ["text", "text_"] and len(table) == 2
    assert "[text_]" in capsys.readouterr().out
    x, y = dls.one_batch()
    assert torch.equal(x[:, 1:], y[:, :-1])


def test_truncation_and_columns_of_texts_table():
    samples = [("one two three four five", "a"), ("six seven", "b")]
    table = texts_table(samples, outs=[("a",), ("a",)], trunc_at=3)
    assert list(table.columns) == ["text", "category", "category_pred"]
    assert table.text.tolist() == ["one two three ...", "six seven"]
    multi = texts_table([("x y", "a", ["p", "q"])], outs=[(["p"],)])
    assert list(multi.columns) == ["text", "category0", "category1", "category_pred"]
    assert multi.iloc[0].tolist() == ["x y", "a", "p;q", "p"]
    lm = texts_table([("a b", "b c")], outs=[("c d",)], is_lm=True, max_n=5)
    assert list(lm.columns) == ["text", "text_", "text_pred"]
    assert len(texts_table([("t", "a")] * 9, max_n=3)) == 3


def test_console_format_wraps_texts_and_aligns_labels():
    long = " ".join(["word"] * 60)
    out = format_texts_table(
        pd.DataFrame({"text": [long, "short"], "category": ["positive", "negative"]}), width=40
    )
    lines = out.splitlines()
    assert lines[0].split() == ["#", "text", "category"]
    first_row = [ln for ln in lines[2:] if ln.strip()][:8]
    assert first_row[0].startswith("0") and first_row[0].rstrip().endswith("positive")
    assert all(len(ln) <= 3 + 2 + 40 + 2 + len("category") for ln in lines[2:])
    assert sum(ln.count("word") for ln in lines) == 60  # nothing lost in the wrapping
    assert any(ln.startswith("1") and "short" in ln and ln.rstrip().endswith("negative") for ln in lines)


def test_notebook_display_is_html(monkeypatch):
    shown = []
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: types.SimpleNamespace(kernel=object())
    display_mod = types.ModuleType("IPython.display")
    display_mod.HTML = lambda html: ("HTML", html)
    display_mod.display = shown.append
    ipython.display = display_mod
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display_mod)
    display_texts(pd.DataFrame({"text": ["a <b> text"], "category": ["x"]}))
    ((kind, html),) = shown
    assert kind == "HTML" and "<table" in html and "a &lt;b&gt; text" in html


def test_show_results_of_a_loader_with_predictions():
    dls = TextDataLoaders.from_df(
        df(), text_col="text", label_col="label", valid_col="is_valid", bs=6, **BASE
    )
    b = dls.valid.one_batch()
    preds = torch.zeros(len(b[1]), dtype=torch.long)  # "bad" for everything
    table = dls.valid.show_results(b, preds, max_n=3)
    assert list(table.columns) == ["text", "category", "category_pred"]
    assert table.category_pred.tolist() == ["bad"] * 3
    with pytest.raises(TypeError):
        texts_table(None)
