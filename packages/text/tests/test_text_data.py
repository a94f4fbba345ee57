"""`TextBlock`, `TextDataLoaders` (from_df, from_csv, from_folder) and the shipped sample."""

import pandas as pd
import pytest
import torch

from lamina.core.data.block import DataBlock
from lamina.core.data.blocks import CategoryBlock
from lamina.core.data.getters import ColReader, ItemGetter
from lamina.core.data.splitters import ColSplitter
from lamina.core.tensors import TensorCategory, TensorMultiCategory
from lamina.text.blocks import ReverseText, TextBlock
from lamina.text.data import FolderSplitter, TextDataLoaders
from lamina.text.loaders import LMDataLoader, SortedDL
from lamina.text.samples import sample_path, wiki_paragraphs
from lamina.text.tensors import LMTensorText, TensorText
from lamina.text.tokenizers import BaseTokenizer

WORDS = "the a film movie plot actor great bad fun dull long short story scene".split()


def small_df(n=60, seed=0):
    g = torch.Generator().manual_seed(seed)
    texts, labels = [], []
    for i in range(n):
        k = int(torch.randint(3, 25, (1,), generator=g))
        idx = torch.randint(0, len(WORDS), (k,), generator=g).tolist()
        texts.append(" ".join(WORDS[j] for j in idx))
        labels.append("pos" if i % 3 else "neg")
    return pd.DataFrame({"label": labels, "text": texts, "is_valid": [i % 5 == 0 for i in range(n)]})


BASE = dict(tok=BaseTokenizer(), n_workers=0, cache_dir=False)


def test_from_df_classifier_on_the_review_snippets(texts_df):
    dls = TextDataLoaders.from_df(
        texts_df,
        text_col="text",
        label_col="label",
        valid_col="is_valid",
        bs=32,
        n_workers=0,
        cache_dir=False,
    )
    assert isinstance(dls.train, SortedDL) and isinstance(dls.valid, SortedDL)
    assert list(dls.vocab) == ["negative", "positive"]
    assert len(dls.valid_ds) == int(texts_df.is_valid.sum()) == 405 and len(dls.train_ds) == 1595
    text_vocab = dls.train_ds.tls[0].tfms.fs[-1].vocab
    assert text_vocab[:2] == ["xxunk", "xxpad"] and len(text_vocab) % 8 == 0
    tokenized = dls.train_ds.items  # the frame tokenized at setup: the loader sorts by its recorded lengths
    assert dls.train.res == tokenized["text_length"].tolist()
    x, y = dls.valid.one_batch()
    assert isinstance(x, TensorText) and isinstance(y, TensorCategory) and x.shape[0] == 32
    lengths = (x != 1).sum(1)
    assert lengths.tolist() == sorted(lengths.tolist(), reverse=True)  # validation: longest first
    text, label = dls.valid.decode_batch((x, y), max_n=1)[0]
    row = dls.valid_ds.items.iloc[int(torch.tensor(dls.valid.res).argmax())]
    original = texts_df.loc[row.name, "text"]  # the tokenized frame keeps the index
    assert label == row["label"] == texts_df.loc[row.name, "label"]
    assert original.startswith("To imagine the") and text.startswith("To imagine the")


def test_from_df_pads_classifier_batches_in_chunks():
    dls = TextDataLoaders.from_df(small_df(), text_col="text", label_col="label", seq_len=4, bs=8, **BASE)
    x, _ = dls.train.one_batch()
    for row in x:
        real = (row != 1).nonzero().flatten()
        assert real[0] % 4 == 0  # each text starts on a chunk boundary
        assert torch.equal(real, torch.arange(real[0], real[0] + len(real)))  # and is not split by padding


def test_from_df_language_model():
    df = small_df(200)
    dls = TextDataLoaders.from_df(
        df, text_col="text", is_lm=True, valid_col="is_valid", bs=4, seq_len=12, **BASE
    )
    assert isinstance(dls.train, LMDataLoader) and isinstance(dls.valid, LMDataLoader)
    x, y = dls.one_batch()
    assert isinstance(x, LMTensorText) and x.shape == (4, 12) and torch.equal(x[:, 1:], y[:, :-1])
    assert dls.vocab[:2] == ["xxunk", "xxpad"] and "film" in dls.vocab
    n_train = int((~df.is_valid).sum())
    assert dls.train.lens == [len(dls.train_ds[i][0]) for i in range(n_train)]  # recorded = numericalized
    assert dls.train.n_docs == n_train and dls.train.shuffle and not dls.valid.shuffle


def test_from_df_text_vocab_columns_by_position_and_random_split():
    df = small_df()
    first = TextDataLoaders.from_df(df, text_col="text", label_col="label", seed=1, **BASE)
    vocab = first.train_ds.tls[0].tfms.fs[-1].vocab
    again = TextDataLoaders.from_df(
        df, text_col=1, label_col=0, text_vocab=vocab, valid_pct=0.25, seed=1, **BASE
    )
    assert again.train_ds.tls[0].tfms.fs[-1].vocab == vocab
    assert len(again.valid_ds) == 15 and len(again.train_ds) == 45
    assert list(again.vocab) == ["neg", "pos"]


def test_from_df_multi_label():
    df = small_df(40)
    df["tags"] = ["a;b" if i % 2 else "b" for i in range(40)]
    dls = TextDataLoaders.from_df(df, text_col="text", label_col="tags", label_delim=";", bs=8, **BASE)
    _, y = dls.one_batch()
    assert isinstance(y, TensorMultiCategory) and y.shape == (8, 2)
    assert list(dls.vocab) == ["a", "b"]


def test_from_df_errors_name_the_column():
    with pytest.raises(KeyError, match="no text column 'review'; the columns are"):
        TextDataLoaders.from_df(small_df(), text_col="review", **BASE)
    with pytest.raises(TypeError, match="must be a pandas DataFrame"):
        TextDataLoaders.from_df([("a", "b")], **BASE)


def test_from_csv(tmp_path):
    small_df().to_csv(tmp_path / "texts.csv", index=False)
    dls = TextDataLoaders.from_csv(
        tmp_path, "texts.csv", text_col="text", label_col="label", valid_col="is_valid", **BASE
    )
    assert len(dls.valid_ds) == 12 and dls.path == tmp_path
    with pytest.raises(FileNotFoundError, match="no file at"):
        TextDataLoaders.from_csv(tmp_path, "missing.csv")


def _folder(root, layout):
    for rel, text in layout.items():
        f = root / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text, encoding="utf-8")


def test_from_folder_classifier(tmp_path):
    root = tmp_path / "reviews"
    _folder(
        root,
        {
            "train/pos/1.txt": "great fun film",
            "train/pos/2.txt": "a great story",
            "train/neg/3.txt": "dull long plot",
            "train/neg/4.txt": "bad dull film",
            "valid/pos/5.txt": "fun film",
            "valid/neg/6.txt": "bad plot",
            "unsup/7.txt": "not used",
        },
    )
    dls = TextDataLoaders.from_folder(
        root, bs=2, min_freq=1, output_dir=tmp_path / "tok", tok=BaseTokenizer()
    )
    assert list(dls.vocab) == ["neg", "pos"]
    assert len(dls.train_ds) == 4 and len(dls.valid_ds) == 2
    assert (tmp_path / "tok" / "train" / "pos" / "1.txt").read_text() == "xxbos great fun film"
    assert not (tmp_path / "tok" / "unsup").exists()  # only the train and valid folders are tokenized
    texts = sorted(dls.valid.decode_batch(dls.valid.one_batch()), key=lambda s: s[1])
    assert texts == [("bad plot", "neg"), ("fun film", "pos")]


def test_from_folder_language_model_on_the_shipped_sample(tmp_path):
    dls = TextDataLoaders.from_folder(
        sample_path(), is_lm=True, bs=8, seq_len=20, output_dir=tmp_path / "wiki_tok", tok=BaseTokenizer()
    )
    assert dls.train.n_docs == 20 and dls.valid.n_docs == 5
    assert isinstance(dls.train, LMDataLoader) and dls.train.one_batch()[0].shape == (8, 20)
    assert not (sample_path().parent / "wiki_tok").exists()  # nothing written into the package


def test_folder_splitter(tmp_path):
    items = [tmp_path / "train" / "a.txt", tmp_path / "valid" / "b.txt", tmp_path / "train" / "x" / "c.txt"]
    assert FolderSplitter(tmp_path)(items) == ([0, 2], [1])
    with pytest.raises(
        ValueError, match=r"no file under .*test; the folders holding files are \['train', 'valid'\]"
    ):
        FolderSplitter(tmp_path, valid="test")(items)


def test_text_block_in_a_data_block_and_backwards():
    df = small_df()
    block = DataBlock(
        blocks=(TextBlock.from_df("text", seq_len=8, min_freq=1, **BASE), CategoryBlock),
        get_x=ColReader("text"),
        get_y=ColReader("label"),
        splitter=ColSplitter(),
    )
    dls = block.dataloaders(df, bs=4)
    back = DataBlock(
        blocks=(TextBlock.from_df("text", seq_len=8, min_freq=1, backwards=True, **BASE), CategoryBlock),
        get_x=ColReader("text"),
        get_y=ColReader("label"),
        splitter=ColSplitter(),
    ).dataloaders(df, bs=4)
    fwd, bwd = dls.train_ds[0][0], back.train_ds[0][0]
    assert torch.equal(fwd.flip(0), bwd) and any(
        isinstance(t, ReverseText) for t in back.train_ds.tls[0].tfms.fs
    )
    assert back.train_ds.decode(back.train_ds[0])[0] == dls.train_ds.decode(dls.train_ds[0])[0]
    assert dls.train_ds.decode(dls.train_ds[0])[0] == df.text[~df.is_valid].iloc[0]


def test_default_text_block_tokenizes_each_text():
    items = [("a great film", "pos"), ("a dull film", "neg"), ("great fun", "pos"), ("dull plot", "neg")]
    block = DataBlock(blocks=("TextBlock", CategoryBlock), get_x=ItemGetter(0), get_y=ItemGetter(1))
    dls = block.dataloaders(items * 5, bs=4)
    x, y = dls.one_batch()
    assert isinstance(x, TensorText) and x.shape[0] == 4
    assert "great" in dls.train_ds.tls[0].tfms.fs[-1].vocab


def test_text_block_checks_its_arguments():
    with pytest.raises(TypeError, match="tok_tfm must be a tokenizing Transform"):
        TextBlock(BaseTokenizer())
    with pytest.raises(ValueError, match="seq_len must be a positive int"):
        TextBlock(seq_len=0)


def test_wiki_paragraphs_sample():
    df = wiki_paragraphs()
    assert set(df.columns) == {"text", "label", "title", "is_valid"}
    assert set(df.label) == {"place", "science"}
    assert set(df.title[df.is_valid]) == {
        "Acid",
        "Agricultural science",
        "Alaska",
        "Asia",
        "International Atomic Time",
    }
    words = df.text.str.split().str.len()
    assert words.min() >= 15 and words.max() <= 120
    assert (sample_path().parent / "ATTRIBUTION.md").read_text().count("CC BY-SA 3.0") >= 1
