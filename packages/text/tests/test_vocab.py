"""`make_vocab`, `Numericalize` and the text tensors."""

from collections import Counter

import pytest
import torch

from lamina.core.basics.collections import L
from lamina.core.plugins import registry
from lamina.core.tensors import TensorBase
from lamina.text.rules import TEXT_SPEC_TOK
from lamina.text.tensors import LMTensorText, TensorText
from lamina.text.vocab import FAKE_TOKEN, Numericalize, make_vocab

COUNT = Counter({"the": 10, "movie": 7, "good": 7, "bad": 3, "rare": 2, "xxmaj": 50, "xxbos": 4})


def test_make_vocab_order_and_padding():
    vocab = make_vocab(COUNT)
    assert vocab[: len(TEXT_SPEC_TOK)] == list(TEXT_SPEC_TOK)  # special tokens first, each once
    # then by frequency; equal counts alphabetically; "rare" (2 < min_freq 3) left out
    assert vocab[len(TEXT_SPEC_TOK) : len(TEXT_SPEC_TOK) + 4] == ["the", "good", "movie", "bad"]
    assert len(vocab) == 16 and len(vocab) % 8 == 0
    assert vocab[13:] == [FAKE_TOKEN] * 3
    assert make_vocab(COUNT, min_freq=1)[len(TEXT_SPEC_TOK) + 4] == "rare"


def test_make_vocab_limits():
    assert (
        len(make_vocab(COUNT, min_freq=1, special_toks=["xxunk", "xxpad", "a", "b", "c", "d", "e", "f"]))
        == 16
    )
    exact = make_vocab(Counter({"x": 5}), special_toks=["s1", "s2", "s3", "s4", "s5", "s6", "s7"])
    assert exact == ["s1", "s2", "s3", "s4", "s5", "s6", "s7", "x"]  # already a multiple of 8: no padding
    capped = make_vocab(COUNT, min_freq=1, max_vocab=11)
    assert capped[:11] == list(TEXT_SPEC_TOK) + ["the", "good"] and capped[11:] == [FAKE_TOKEN] * 5
    with pytest.raises(ValueError, match="max_vocab must be an int of at least 9"):
        make_vocab(COUNT, max_vocab=4)
    with pytest.raises(TypeError, match="Counter"):
        make_vocab(["the", "movie"])


def test_numericalize_round_trip():
    num = Numericalize(min_freq=1)
    num.setup(COUNT)
    tokens = ["xxbos", "xxmaj", "the", "movie", "was", "good"]
    ids = num(tokens)
    assert isinstance(ids, TensorText) and ids.dtype == torch.long
    index = num.vocab.index
    assert ids.tolist() == [index("xxbos"), index("xxmaj"), index("the"), index("movie"), 0, index("good")]
    assert list(num.decode(ids)) == ["xxbos", "xxmaj", "the", "movie", "xxunk", "good"]
    assert isinstance(num.decode(ids), L)
    assert num(L(tokens)).tolist() == ids.tolist()


def test_numericalize_setup_sources():
    from_counter_holder = Numericalize(min_freq=1)

    class Tokenized:  # what a TfmdLists after a Tokenizer.from_df looks like: it carries the counter
        counter = COUNT

    from_counter_holder.setup(Tokenized())
    assert from_counter_holder.vocab == make_vocab(COUNT, min_freq=1)
    from_lists = Numericalize(min_freq=2)
    from_lists.setup([["a", "b", "a"], ["b", "c"]])
    assert from_lists.vocab[len(TEXT_SPEC_TOK) : len(TEXT_SPEC_TOK) + 2] == ["a", "b"]
    given = Numericalize(vocab=["xxunk", "xxpad", "hello"])
    given.setup(COUNT)  # a given vocab is kept
    assert given(["hello", "bye"]).tolist() == [2, 0]
    with pytest.raises(TypeError, match="item 1 is a str"):
        Numericalize().setup([["ok"], "not tokenized"])


def test_numericalize_errors():
    with pytest.raises(RuntimeError, match="no vocab"):
        Numericalize()(["a"])
    no_unk = Numericalize(vocab=["xxpad", "a"])
    with pytest.raises(ValueError, match="'b' is not in the vocab"):
        no_unk(["a", "b"])
    num = Numericalize(vocab=["xxunk", "xxpad", "a"])
    with pytest.raises(IndexError, match="id 7 is outside the vocab"):
        num.decode(TensorText(torch.tensor([1, 7])))
    with pytest.raises(ValueError, match="one sequence"):
        num.decode(TensorText(torch.zeros(2, 3, dtype=torch.long)))


def test_text_tensors_keep_their_type():
    x = TensorText(torch.tensor([1, 2, 3]))
    assert isinstance(x[1:], TensorText) and isinstance(x + 1, TensorText)
    lm = LMTensorText(torch.tensor([[1, 2], [3, 4]]))
    assert isinstance(lm, TensorText) and isinstance(lm, TensorBase)
    assert isinstance(torch.cat([x, x]), TensorText)
    assert registry.classes.name_of(TensorText) == "lamina.text.TensorText"
    assert registry.classes.name_of(Numericalize) == "lamina.text.Numericalize"
