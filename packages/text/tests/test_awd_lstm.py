"""AWD-LSTM and its dropouts: shapes, DropConnect, variational and embedding dropout, the hidden state."""

import pytest
import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from lamina.core.layers.recorded import module_config, module_from_config
from lamina.text.models.awd_lstm import AWD_LSTM
from lamina.text.models.dropout import EmbeddingDropout, RNNDropout, WeightDropout

NO_DROP = dict(hidden_p=0.0, input_p=0.0, embed_p=0.0, weight_p=0.0)


def small(**kwargs):
    torch.manual_seed(0)
    return AWD_LSTM(50, **{"emb_sz": 8, "n_hid": 12, "n_layers": 3, **kwargs})


def ids(bs=3, sl=7, seed=1):
    return torch.randint(2, 50, (bs, sl), generator=torch.Generator().manual_seed(seed))


def test_output_and_hidden_shapes():
    model = small()
    out = model(ids(3, 7))
    assert out.shape == (3, 7, 8)
    assert [tuple(h.shape) for h, _ in model.hidden] == [(1, 3, 12), (1, 3, 12), (1, 3, 8)]
    bidir = small(bidir=True)
    assert bidir(ids(2, 5)).shape == (2, 5, 8)
    assert [tuple(h.shape) for h, _ in bidir.hidden] == [(2, 2, 6), (2, 2, 6), (2, 2, 4)]


def test_weight_dropout_is_dropconnect_on_the_hidden_weights():
    lstm = nn.LSTM(4, 5, batch_first=True)
    wd = WeightDropout(lstm, 0.5)
    raw = lstm.weight_hh_l0.detach().clone()
    x = torch.randn(2, 6, 4)
    torch.manual_seed(3)
    out = wd(x)[0]
    torch.manual_seed(3)
    expected = functional_call(
        lstm, {"weight_hh_l0": F.dropout(lstm.weight_hh_l0, 0.5, training=True)}, (x,)
    )[0]
    assert torch.allclose(out, expected)
    assert not torch.allclose(out, lstm(x)[0])  # something was dropped
    assert torch.equal(lstm.weight_hh_l0, raw)  # the raw weight is left intact
    assert list(wd.state_dict()) == [
        "module." + k for k in nn.LSTM(4, 5).state_dict()
    ]  # same keys as an LSTM
    out.sum().backward()
    assert lstm.weight_hh_l0.grad is not None and lstm.weight_hh_l0.grad.abs().sum() > 0
    wd.eval()
    assert torch.equal(wd(x)[0], lstm(x)[0])
    with pytest.raises(ValueError, match="no parameter 'weight_hh_l9'"):
        WeightDropout(lstm, 0.5, "weight_hh_l9")


def test_weight_dropout_changes_outputs_in_train_mode_only():
    model = small(**{**NO_DROP, "weight_p": 0.5})
    x = ids()
    model.train()
    model.reset()
    a = model(x)
    model.reset()
    b = model(x)
    assert not torch.allclose(a, b)
    model.eval()
    model.reset()
    c = model(x)
    model.reset()
    assert torch.equal(c, model(x))


def test_rnn_dropout_uses_one_mask_per_sequence():
    drop = RNNDropout(0.5)
    x = torch.ones(4, 10, 6)
    torch.manual_seed(0)
    y = drop(x)
    assert torch.equal(y, y[:, :1].expand_as(y))  # the same units dropped at every step
    assert set(y.unique().tolist()) == {0.0, 2.0}
    drop.eval()
    assert drop(x) is x
    with pytest.raises(ValueError, match=r"probability in \[0, 1\)"):
        RNNDropout(1.0)


def test_embedding_dropout_drops_whole_words():
    emb = nn.Embedding(20, 5, padding_idx=1)
    drop = EmbeddingDropout(emb, 0.5)
    words = torch.tensor([[3, 4, 3, 4, 3, 4, 5, 6, 7, 8, 9, 10]])
    torch.manual_seed(0)
    out = drop(words)[0]
    for i, w in enumerate(words[0].tolist()):
        row = out[i]
        assert torch.allclose(row, torch.zeros(5)) or torch.allclose(row, emb.weight[w] * 2)
        assert torch.equal(row, out[words[0].tolist().index(w)])  # a word is dropped everywhere or nowhere
    assert any(torch.all(out[i] == 0) for i in range(12)) and any(torch.any(out[i] != 0) for i in range(12))
    drop.eval()
    assert torch.equal(drop(words), emb(words))


def test_hidden_state_is_carried_across_calls_and_reset():
    model = small(**NO_DROP).eval()
    x = ids(2, 10)
    model.reset()
    whole = model(x)
    model.reset()
    first, second = model(x[:, :6]), model(x[:, 6:])
    assert torch.allclose(torch.cat([first, second], dim=1), whole, atol=1e-6)  # state continues
    assert all(
        not h.requires_grad and not c.requires_grad for h, c in model.hidden
    )  # detached (truncated BPTT)
    model.reset()
    assert all(torch.count_nonzero(h) == 0 and torch.count_nonzero(c) == 0 for h, c in model.hidden)
    assert not torch.allclose(model(x[:, 6:]), second)  # after a reset the context is gone


def test_batch_size_change_keeps_the_first_rows():
    model = small(**NO_DROP).eval()
    x = ids(4, 6)
    model.reset()
    model(x[:, :3])
    shrunk = model(x[:2, 3:])  # a smaller batch continues the first two rows
    model.reset()
    model(x[:2, :3])
    continued = model(x[:2, 3:])
    assert torch.allclose(shrunk, continued, atol=1e-6)
    model.reset()
    model(x[:2, :3])
    grown = model(x[:, 3:])  # a bigger batch: rows 0-1 continue, the new rows 2-3 start from zeros
    model.reset()
    fresh = model(x[2:, 3:])
    assert torch.allclose(grown[:2], continued, atol=1e-6) and torch.allclose(grown[2:], fresh, atol=1e-6)


def test_input_checks():
    model = small()
    with pytest.raises(TypeError, match="integer token ids"):
        model(torch.rand(2, 3))
    with pytest.raises(ValueError, match=r"shape \(batch, seq_len\)"):
        model(torch.tensor([1, 2, 3]))
    with pytest.raises(IndexError, match="token id 50 is outside the vocab"):
        model(torch.tensor([[1, 50]]))
    with pytest.raises(ValueError, match="positive int"):
        AWD_LSTM(0)


def test_described_as_data_and_rebuilt():
    model = small(weight_p=0.25)
    config = module_config(model)
    assert config["class"] == "lamina.text.AWD_LSTM" and config["args"]["weight_p"] == 0.25
    rebuilt = module_from_config(config)
    rebuilt.load_state_dict(model.state_dict())
    model.eval(), rebuilt.eval()
    x = ids()
    model.reset(), rebuilt.reset()
    assert torch.equal(model(x), rebuilt(x))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_weight_dropout_and_moved_hidden_state():
    import warnings

    model = small(weight_p=0.5).cuda().train()
    x = ids().cuda()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the cuDNN "not contiguous" warning must not leak
        out = model(x)
    out.sum().backward()
    assert out.is_cuda and model.rnns[0].module.weight_hh_l0.grad is not None
    model.cpu()
    assert model(x.cpu()).device.type == "cpu"  # the kept hidden state follows the model
