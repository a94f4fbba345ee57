"""Padding, `SortedDL` and `LMDataLoader`."""

import pytest
import torch

from lamina.core.data.load import DataLoaderError
from lamina.core.tensors import TensorCategory
from lamina.text.loaders import LMDataLoader, PadChunk, PadInput, SortedDL, pad_input, pad_input_chunk
from lamina.text.tensors import LMTensorText, TensorText


def T(*ids):
    return TensorText(torch.tensor(ids))


# ---- padding --------------------------------------------------------------------------------------------
def test_pad_input_pads_to_the_longest_at_the_end_or_start():
    samples = [(T(5, 6, 7), 0), (T(8), 1)]
    out = pad_input(samples, pad_idx=1)
    assert [s[0].tolist() for s in out] == [[5, 6, 7], [8, 1, 1]]
    assert [s[1] for s in out] == [0, 1] and all(isinstance(s[0], TensorText) for s in out)
    first = pad_input(samples, pad_idx=0, pad_first=True)
    assert [s[0].tolist() for s in first] == [[5, 6, 7], [0, 0, 8]]
    back = pad_input(samples, pad_idx=1, backwards=True)
    assert [s[0].tolist() for s in back] == [[7, 6, 5], [1, 1, 8]]


def test_pad_input_several_fields_each_to_its_own_longest():
    samples = [(T(1, 2), T(3)), (T(4), T(5, 6, 7))]
    out = pad_input(samples, pad_idx=0, pad_fields=[0, 1])
    assert [(a.tolist(), b.tolist()) for a, b in out] == [([1, 2], [3, 0, 0]), ([4, 0], [5, 6, 7])]


def test_pad_input_chunk_puts_whole_chunks_first_and_the_rest_last():
    samples = [(T(10, 11, 12, 13, 14), 0), (T(20), 1), (T(30, 31), 0)]
    out = pad_input_chunk(samples, pad_idx=1, seq_len=2)
    assert [s[0].tolist() for s in out] == [[10, 11, 12, 13, 14], [1, 1, 1, 1, 20], [1, 1, 30, 31, 1]]
    last = pad_input_chunk(samples, pad_idx=1, seq_len=2, pad_first=False)
    assert [s[0].tolist() for s in last] == [[10, 11, 12, 13, 14], [20, 1, 1, 1, 1], [30, 31, 1, 1, 1]]
    assert all(isinstance(s[0], TensorText) for s in out)


def test_pad_errors_name_the_sample():
    with pytest.raises(TypeError, match="field 0 of sample 1 must be a 1-d tensor"):
        pad_input([(T(1),), ("text",)])
    with pytest.raises(ValueError, match="no samples"):
        pad_input_chunk([])
    with pytest.raises(ValueError, match="seq_len must be a positive int"):
        pad_input_chunk([(T(1),)], seq_len=0)


def test_pad_transforms_pad_and_decode_without_padding():
    samples = [(T(5, 6, 7), TensorCategory(0)), (T(8), TensorCategory(1))]
    chunk = PadChunk(pad_idx=1, seq_len=2)
    padded = chunk(samples)
    assert padded[1][0].tolist() == [1, 1, 8]
    decoded = chunk.decode(padded[1])
    assert decoded[0].tolist() == [8] and int(decoded[1]) == 1
    plain = PadInput(pad_idx=0)
    assert plain(samples)[1][0].tolist() == [8, 0, 0]
    assert plain.decode(plain(samples)[1][0]).tolist() == [8]


# ---- SortedDL -------------------------------------------------------------------------------------------
def _texts(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 60, (n,), generator=g).tolist()
    return [(TensorText(torch.full((k,), 7)), TensorCategory(i % 2)) for i, k in enumerate(lengths)], lengths


def test_sorted_dl_validation_order_is_longest_first():
    ds, lengths = _texts(30)
    dl = SortedDL(ds, bs=8, before_batch=PadInput())
    assert dl.res == lengths
    widths = [x.shape[1] for x, _ in dl]
    assert widths == sorted(widths, reverse=True)
    assert widths[0] == max(lengths)
    order = list(dl.get_idxs())
    assert [lengths[i] for i in order] == sorted(lengths, reverse=True)


def test_sorted_dl_training_batches_are_sorted_chunks_shuffled():
    ds, lengths = _texts(400, seed=1)
    dl = SortedDL(ds, bs=4, shuffle=True, seed=3)
    epochs = [list(dl.get_idxs()) for _ in range(2)]
    for order in epochs:
        assert sorted(order) == list(range(400))  # every item once
        assert lengths[order[0]] == max(lengths)  # the longest item is in the first batch
        batches = [order[i : i + 4] for i in range(0, 400, 4)]
        assert all([lengths[i] for i in b] == sorted((lengths[i] for i in b), reverse=True) for b in batches)
        spread = sum(lengths[b[0]] - lengths[b[-1]] for b in batches) / len(batches)
        assert spread < 5  # similar lengths together (a random batch of 4 spreads ~30)
    dl.rng.seed(0)
    assert epochs[0] != epochs[1]


def test_sorted_dl_new_dataset_gets_its_own_sort_keys():
    ds, _ = _texts(20)
    other, other_lengths = _texts(12, seed=5)
    dl = SortedDL(ds, bs=4, before_batch=PadInput())
    assert dl.new(other).res == other_lengths
    assert dl.new(shuffle=True).res == dl.res


def test_sorted_dl_custom_sort_func_and_res():
    ds, lengths = _texts(10)
    dl = SortedDL(ds, bs=2, sort_func=lambda item: -len(item[0]))
    assert dl.res == [-k for k in lengths]
    given = SortedDL(ds, bs=2, res=list(range(10)))
    assert list(given.get_idxs()) == list(range(9, -1, -1))
    with pytest.raises(ValueError, match="res has 3 sort keys for 10 items"):
        SortedDL(ds, bs=2, res=[1, 2, 3])


# ---- LMDataLoader ---------------------------------------------------------------------------------------
def _docs(lengths):
    """Documents whose ids count up through the corpus (0, 1, 2, ...), so positions are easy to check."""
    docs, start = [], 0
    for k in lengths:
        docs.append(TensorText(torch.arange(start, start + k)))
        start += k
    return docs


LENGTHS = [5, 17, 3, 40, 11, 9, 25, 14, 8, 30]  # 162 tokens


def test_lm_loader_rows_are_contiguous_streams_and_targets_the_next_token():
    dl = LMDataLoader(_docs(LENGTHS), bs=4, seq_len=10)
    bl = (sum(LENGTHS) - 1) // 4  # 40 tokens per row
    assert (dl.bl, dl.n_batches, len(dl)) == (bl, 4, 4)
    batches = list(dl)
    assert all(isinstance(x, LMTensorText) and isinstance(y, TensorText) for x, y in batches)
    assert [x.shape for x, _ in batches] == [torch.Size([4, 10])] * 4
    xs = torch.cat([x for x, _ in batches], dim=1)
    ys = torch.cat([y for _, y in batches], dim=1)
    expected = torch.arange(4).unsqueeze(1) * bl + torch.arange(bl)
    assert torch.equal(xs.as_subclass(torch.Tensor), expected)
    assert torch.equal(ys.as_subclass(torch.Tensor), expected + 1)


def test_lm_loader_last_batch_is_shorter():
    dl = LMDataLoader(_docs(LENGTHS), bs=4, seq_len=15)  # rows of 40 tokens: 15 + 15 + 10
    assert [x.shape[1] for x, _ in dl] == [15, 15, 10]


def test_lm_loader_shuffles_documents_each_epoch_keeping_them_whole():
    docs = _docs(LENGTHS)
    dl = LMDataLoader(docs, bs=2, seq_len=16, shuffle=True, seed=0)
    starts = {int(d[0]): len(d) for d in docs}
    orders = []
    for _ in range(3):
        stream = torch.cat([x for x, _ in dl], dim=1).flatten().tolist()  # rows follow each other
        pos, order = 0, []
        while pos < len(stream) and stream[pos] in starts:  # walk document by document
            k = starts[stream[pos]]
            whole = stream[pos : pos + k]
            assert whole == list(range(stream[pos], stream[pos] + len(whole)))  # a document is never split
            order.append(stream[pos])
            pos += k
        orders.append(order)
    assert len({tuple(o) for o in orders}) > 1


def test_lm_loader_jitter_moves_boundaries_but_keeps_streams():
    dl = LMDataLoader(_docs(LENGTHS * 3), bs=4, seq_len=10, shuffle=True, seq_len_jitter=0.3, seed=1)
    lengths = [[x.shape[1] for x, _ in dl] for _ in range(2)]
    assert all(len(ls) == dl.n_batches for ls in lengths)
    assert all(sum(ls) == dl.bl for ls in lengths)
    assert any(k != 10 for k in lengths[0][:-1]) and lengths[0] != lengths[1]
    assert all(4 <= k <= 16 for ls in lengths for k in ls[:-1])  # both ends move by up to 3
    batches = list(dl)
    xs = torch.cat([x for x, _ in batches], dim=1)
    ys = torch.cat([y for _, y in batches], dim=1)
    assert xs.shape == (4, dl.bl)
    assert torch.equal(ys[:, :-1], xs[:, 1:])  # each row reads on without a gap or an overlap


def test_lm_loader_same_batches_with_workers():
    dl = LMDataLoader(_docs(LENGTHS), bs=4, seq_len=8, shuffle=True, seed=7)
    with_workers = dl.new(num_workers=2)
    dl._seeds.seed(11)
    with_workers._seeds.seed(11)
    a = [x.tolist() for x, _ in dl]
    b = [x.tolist() for x, _ in with_workers]
    assert a == b


def test_lm_loader_lens_and_errors():
    docs = _docs(LENGTHS)
    assert LMDataLoader(docs, bs=4, seq_len=10, lens=LENGTHS).lens == LENGTHS
    with pytest.raises(ValueError, match="too few for bs=200"):
        LMDataLoader(docs, bs=200)
    with pytest.raises(ValueError, match="seq_len must be a positive int"):
        LMDataLoader(docs, seq_len=0)
    with pytest.raises(ValueError, match="lens has 2 entries for 10 documents"):
        LMDataLoader(docs, bs=4, lens=[1, 2])
    wrong = LMDataLoader(docs, bs=4, lens=[k + 1 for k in LENGTHS])
    with pytest.raises(DataLoaderError, match="document 0 has 5 tokens, but lens says 6"):
        wrong.one_batch()
    with pytest.raises(TypeError, match="not a 1-d tensor of token ids"):
        LMDataLoader(["a text", "another"], bs=1)


def test_lm_loader_new_dataset_recomputes_lengths():
    dl = LMDataLoader(_docs(LENGTHS), bs=4, seq_len=10)
    other = dl.new(_docs([50, 50]))
    assert other.lens == [50, 50] and other.bl == 24
    assert dl.new(shuffle=True).lens == LENGTHS
