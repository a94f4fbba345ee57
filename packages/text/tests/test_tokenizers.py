"""Tokenizers (base, spaCy, SentencePiece) and the `Tokenizer` transform, on real review snippets."""

import pickle
import re

import pytest

from lamina.core.basics.collections import L
from lamina.core.pipeline import Pipeline
from lamina.core.plugins import registry
from lamina.text.rules import TEXT_PRE_RULES, TEXT_SPEC_TOK, apply_rules
from lamina.text.tokenize_transform import Tokenizer
from lamina.text.tokenizers import BaseTokenizer, SentencePieceTokenizer, SpacyTokenizer
from lamina.text.vocab import Numericalize

MIXED_CASE = re.compile(r"[a-z][A-Z]")  # "xXx", "iPhone": case the rules cannot mark


@pytest.fixture(scope="module")
def spacy_tok():
    return SpacyTokenizer()


def test_base_tokenizer_splits_on_spaces():
    tok = BaseTokenizer()
    assert list(tok(["a  b c", ""])) == [["a", "b", "c"], []]
    assert list(BaseTokenizer(split_char=",")(["a,b"])) == [["a", "b"]]
    with pytest.raises(ValueError, match="split_char"):
        BaseTokenizer(split_char="")


def test_spacy_tokenizer_splits_words_and_keeps_special_tokens(spacy_tok):
    text = apply_rules("(THIS) isn't Great!!!! U.S. e-mail", TEXT_PRE_RULES)
    (tokens,) = list(spacy_tok([text]))
    assert tokens == [
        "xxbos", "(", "xxup", "this", ")", "is", "n't", "xxmaj", "great", "xxrep", "4", "!",
        "xxup", "u.s", ".", "e", "-", "mail",
    ]  # fmt: skip
    for special in TEXT_SPEC_TOK:
        assert list(spacy_tok([f"({special}),"])) == [["(", special, ")", ","]]
    custom = SpacyTokenizer(special_toks=["<sep>", "xx-end"])  # tokens spaCy would split
    assert list(custom(["a <sep> b (xx-end)."])) == [["a", "<sep>", "b", "(", "xx-end", ")", "."]]


def test_spacy_tokenizer_on_real_snippets_keeps_order(spacy_tok, texts_df):
    texts = texts_df.text[:50].tolist()
    docs = list(spacy_tok(texts))
    assert len(docs) == 50
    for text, tokens in zip(texts, docs):
        assert "".join(tokens) == "".join(text.split())  # nothing lost or added, only split
    assert list(SpacyTokenizer(buf_sz=7)(texts)) == docs  # batching does not change the result


def test_spacy_tokenizer_errors_and_pickling(spacy_tok):
    with pytest.raises(ValueError, match="lang='zz'"):
        SpacyTokenizer(lang="zz")
    clone = pickle.loads(pickle.dumps(spacy_tok))
    assert clone._tokenizer is None  # pickled as settings, rebuilt on use
    assert list(clone(["Hello, world."])) == [["Hello", ",", "world", "."]]
    assert clone.cache_key() == spacy_tok.cache_key()


def test_tokenizer_transform_encodes_and_decodes(spacy_tok):
    tok = Tokenizer(spacy_tok)
    tokens = tok("THIS is Great!!!!")
    assert isinstance(tokens, L)
    assert list(tokens) == ["xxbos", "xxup", "this", "is", "xxmaj", "great", "xxrep", "4", "!"]
    assert tok.decode(tokens) == "THIS is Great!!!!"
    assert tok.decode(list(tokens)) == "THIS is Great!!!!"
    assert tok(["already", "tokens"]) == ["already", "tokens"]  # token lists pass through


def test_decode_round_trips_on_the_real_corpus(spacy_tok, texts_df):
    """Decoded text re-tokenizes to the same tokens, except where a word has mixed case; most snippets even
    come back character for character."""
    tok = Tokenizer(spacy_tok)
    texts = texts_df.text.tolist()
    exact = 0
    for text in texts:
        tokens = tok(text)
        decoded = tok.decode(tokens)
        exact += decoded == text
        if tok(decoded) != tokens:
            assert MIXED_CASE.search(text), (text, decoded)
    assert exact / len(texts) > 0.9


def test_tokenizer_reads_paths(tmp_path, spacy_tok):
    f = tmp_path / "review.txt"
    f.write_text("Not BAD at all.", encoding="utf-8")
    assert list(Tokenizer(spacy_tok)(f)) == ["xxbos", "xxmaj", "not", "xxup", "bad", "at", "all", "."]
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(ValueError, match="latin1.txt is not valid utf-8"):
        Tokenizer(spacy_tok)(bad)


def test_tokenizer_from_df_tokenizes_the_frame_at_setup(texts_df):
    df = texts_df.iloc[:60]
    tok = Tokenizer.from_df("text", n_workers=1)
    tok.setup(df)
    assert tok.counter["xxbos"] == 60
    assert list(tok.tokenized.columns) == ["label", "is_valid", "text", "text_length"]
    assert tok.get_lengths(tok.tokenized) == [len(t) for t in tok.tokenized.text]

    class Items:  # what a TfmdLists looks like to the transform: its items get replaced
        items = df

    holder = Items()
    Tokenizer.from_df("text", n_workers=1).setup(holder)
    assert holder.items.text.tolist() == tok.tokenized.text.tolist()
    with pytest.raises(TypeError, match="needs a DataFrame"):
        Tokenizer.from_df("text").setup(["not", "a", "frame"])


def test_tokenizer_in_a_pipeline_with_numericalize(texts_df, spacy_tok):
    tok = Tokenizer(spacy_tok)
    pipe = Pipeline([tok, Numericalize(min_freq=1)])
    pipe.setup(texts_df.text[:200].tolist())
    ids = pipe("THIS is Great!!!!")
    assert ids.dtype.is_floating_point is False and ids.dim() == 1
    assert pipe.decode(ids) == "THIS is Great!!!!"


def test_registered_for_export():
    for cls in (Tokenizer, SpacyTokenizer, SentencePieceTokenizer, BaseTokenizer):
        assert registry.classes.name_of(cls) == f"lamina.text.{cls.__name__}"


# ---- SentencePiece ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sp_texts(texts_df):
    return texts_df.text[:400].tolist()


@pytest.fixture(scope="module")
def trained_sp(sp_texts, tmp_path_factory):
    sp = SentencePieceTokenizer(vocab_sz=300, cache_dir=tmp_path_factory.mktemp("spm"))
    sp.setup(sp_texts, TEXT_PRE_RULES)
    return sp


def test_sentencepiece_trains_a_model_of_the_asked_size(trained_sp, sp_texts):
    assert trained_sp.is_trained and trained_sp.sp_model.is_file()
    assert len(trained_sp.vocab) == 300
    assert trained_sp.vocab[: len(TEXT_SPEC_TOK)] == list(TEXT_SPEC_TOK)  # special tokens are whole pieces
    text = apply_rules(sp_texts[0], TEXT_PRE_RULES)
    (pieces,) = list(trained_sp([text]))
    assert "xxbos" in pieces and "xxmaj" in pieces
    assert "".join(pieces).replace("\u2581", " ").strip() == text  # pieces cover the text exactly


def test_sentencepiece_model_is_cached(trained_sp, sp_texts, monkeypatch):
    again = SentencePieceTokenizer(vocab_sz=300, cache_dir=trained_sp.cache_dir)

    def no_training(*args, **kwargs):
        raise AssertionError("trained again instead of loading the cached model")

    monkeypatch.setattr(SentencePieceTokenizer, "_train_proto", no_training)
    again.setup(sp_texts, TEXT_PRE_RULES)
    assert again.sp_model == trained_sp.sp_model
    other = SentencePieceTokenizer(vocab_sz=304, cache_dir=trained_sp.cache_dir)
    with pytest.raises(AssertionError, match="trained again"):  # another size is another model
        other.setup(sp_texts, TEXT_PRE_RULES)


def test_sentencepiece_bpe_and_loading_a_model_file(trained_sp, sp_texts, tmp_path):
    bpe = SentencePieceTokenizer(vocab_sz=256, model_type="bpe", cache_dir=tmp_path)
    bpe.setup(sp_texts[:200], TEXT_PRE_RULES)
    assert len(bpe.vocab) == 256
    loaded = SentencePieceTokenizer(sp_model=trained_sp.sp_model)
    assert list(loaded(["xxbos hello"])) == list(trained_sp(["xxbos hello"]))
    clone = pickle.loads(pickle.dumps(trained_sp))
    assert list(clone(["a test"])) == list(trained_sp(["a test"]))


def test_sentencepiece_decode_through_the_tokenizer_transform(trained_sp, sp_texts):
    tok = Tokenizer(trained_sp)
    text = "THIS is Great!!!! Don't you think?"
    tokens = tok(text)
    assert "xxup" in tokens and "xxrep" in tokens
    assert tok.decode(tokens) == text


def test_sentencepiece_errors(tmp_path):
    with pytest.raises(RuntimeError, match="no model yet"):
        list(SentencePieceTokenizer(cache_dir=tmp_path)(["x"]))
    with pytest.raises(FileNotFoundError, match="no model file"):
        SentencePieceTokenizer(sp_model=tmp_path / "missing.model")
    with pytest.raises(ValueError, match="model_type"):
        SentencePieceTokenizer(model_type="wordpiece")
    with pytest.raises(ValueError, match="no text to train on"):
        SentencePieceTokenizer(cache_dir=tmp_path).setup(["", "  "])
    with pytest.raises(RuntimeError, match="training a unigram model of 20 pieces"):
        SentencePieceTokenizer(vocab_sz=20, cache_dir=tmp_path).setup(["some words here and more"] * 10)


def test_tokenizer_trains_sentencepiece_at_setup(sp_texts, tmp_path):
    tok = Tokenizer(SentencePieceTokenizer(vocab_sz=200, cache_dir=tmp_path))
    pipe = Pipeline([tok, Numericalize(min_freq=1)])
    pipe.setup(sp_texts[:200])
    assert tok.tok.is_trained and len(tok.tok.vocab) == 200
    assert pipe.decode(pipe("Not BAD at all, it is Great.")) == "Not BAD at all, it is Great."


def test_tokenizer_by_registered_name():
    registry.tokenizers.add("w4-test-base", BaseTokenizer, owner="tests")
    try:
        assert isinstance(Tokenizer("w4-test-base").tok, BaseTokenizer)
    finally:
        registry.tokenizers.remove("w4-test-base")
    with pytest.raises(KeyError, match="no tokenizer named 'nope'"):
        Tokenizer("nope")
    with pytest.raises(TypeError, match="tok must be a tokenizer"):
        Tokenizer(42)
