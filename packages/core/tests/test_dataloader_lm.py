"""A language-model loader written by overriding hooks: one token stream cut into `bs` parallel
streams read `seq_len` tokens at a time, the target being the input shifted by one token."""

import pytest
import torch

from lamina.core.data.load import DataLoader


class LMLoader(DataLoader):
    """Row `j` of batch `k` holds tokens `[j*L + k*seq_len, ... + seq_len)` of the corpus, where `L`
    is the length of each of the `bs` streams, so every row continues the same row of the previous
    batch. `y` is `x` shifted by one token. Shuffling, if wanted, belongs to the documents."""

    def __init__(self, dataset, bs=64, seq_len=72, **kwargs):
        tokens = torch.as_tensor(dataset)
        self.seq_len, self.stream_len = seq_len, (len(tokens) - 1) // bs
        n_batches = self.stream_len // seq_len
        super().__init__(tokens, bs=bs, n=n_batches * bs, **kwargs)

    def create_item(self, i):
        row, k = i % self.bs, i // self.bs
        start = row * self.stream_len + k * self.seq_len
        piece = self.dataset[start : start + self.seq_len + 1]
        return piece[:-1], piece[1:]


@pytest.fixture
def corpus(shared_data):
    """The words of three Wikipedia articles from the shared sample, as ids."""
    folder = shared_data / "text_sample" / "wiki" / "train"
    words = " ".join(p.read_text() for p in sorted(folder.glob("*.txt"))[:3]).split()
    vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}
    return torch.tensor([vocab[w] for w in words]), words, vocab


def test_lm_batches_are_shifted_parallel_streams(corpus):
    ids, words, vocab = corpus
    dl = LMLoader(ids, bs=8, seq_len=20)
    batches = list(dl)
    assert len(batches) == len(dl) == dl.stream_len // 20 > 3
    for x, y in batches:
        assert x.shape == y.shape == (8, 20)
        assert torch.equal(x[:, 1:], y[:, :-1])
    rows = torch.cat([x for x, _ in batches], dim=1)  # each row read across the batches
    for j in range(8):
        start = j * dl.stream_len
        assert torch.equal(rows[j], ids[start : start + rows.shape[1]])
    assert [list(vocab)[t] for t in batches[0][0][0].tolist()] == words[:20]


def test_lm_loader_gives_the_same_batches_with_workers(corpus):
    ids, _, _ = corpus
    main = [(x.clone(), y.clone()) for x, y in LMLoader(ids[:5000], bs=4, seq_len=30)]
    workers = list(LMLoader(ids[:5000], bs=4, seq_len=30, num_workers=2))
    assert len(main) == len(workers) == (4999 // 4) // 30
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(main, workers))
