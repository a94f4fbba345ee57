"""Language model and classifier: decoder tying, reset propagation, masked pooling, padding invariance."""

import pytest
import torch
from torch import nn

from lamina.core.layers.recorded import module_config, module_from_config
from lamina.core.plugins import registry
from lamina.text.models.awd_lstm import AWD_LSTM, awd_lstm_clas_split, awd_lstm_lm_split
from lamina.text.models.core import (
    LinearDecoder,
    PoolingLinearClassifier,
    SentenceEncoder,
    SequentialRNN,
    get_language_model,
    get_text_classifier,
    masked_concat_pool,
)
from lamina.text.models.dropout import RNNDropout

LM_CONFIG = dict(emb_sz=16, n_hid=24, n_layers=2, pad_token=1, bidir=False, output_p=0.1, hidden_p=0.15,
                 input_p=0.25, embed_p=0.02, weight_p=0.2, tie_weights=True, out_bias=True)  # fmt: skip
CLAS_CONFIG = dict(emb_sz=16, n_hid=24, n_layers=2, pad_token=1, bidir=False, output_p=0.4, hidden_p=0.3,
                   input_p=0.4, embed_p=0.05, weight_p=0.5)  # fmt: skip


def test_linear_decoder_outputs_and_tying():
    emb = nn.Embedding(30, 8)
    dec = LinearDecoder(30, 8, output_p=0.0, tie_encoder=emb)
    assert dec.decoder.weight is emb.weight
    x = torch.randn(2, 5, 8)
    out, raw, dropped = dec(x)
    assert out.shape == (2, 5, 30) and raw is x and torch.equal(dropped, x)
    assert torch.allclose(out, x @ emb.weight.T + dec.decoder.bias)
    with pytest.raises(ValueError, match=r"shape \(30, 9\)"):
        LinearDecoder(30, 9, tie_encoder=emb)


def test_language_model_ties_the_decoder_to_the_embedding():
    lm = get_language_model(AWD_LSTM, 40, config=LM_CONFIG)
    assert isinstance(lm, SequentialRNN)
    assert lm[1].decoder.weight is lm[0].encoder.weight
    assert sum(p is lm[0].encoder.weight for p in lm.parameters()) == 1  # one parameter, counted once
    out, raw, dropped = lm(torch.randint(0, 40, (3, 6)))
    assert out.shape == (3, 6, 40) and raw.shape == dropped.shape == (3, 6, 16)
    untied = get_language_model(AWD_LSTM, 40, config={**LM_CONFIG, "tie_weights": False})
    assert untied[1].decoder.weight is not untied[0].encoder.weight


def test_drop_mult_scales_every_dropout():
    lm = get_language_model(AWD_LSTM, 40, config=LM_CONFIG, drop_mult=0.5)
    assert lm[0].input_dp.p == pytest.approx(0.125)
    assert lm[0].hidden_dps[0].p == pytest.approx(0.075)
    assert lm[0].encoder_dp.embed_p == pytest.approx(0.01)
    assert lm[0].rnns[0].weight_p == pytest.approx(0.1)
    assert lm[1].output_dp.p == pytest.approx(0.05)


def test_default_configs_are_ulmfit_sized():
    lm = get_language_model(AWD_LSTM, 16)
    enc = lm[0]
    assert (enc.emb_sz, enc.n_hid, enc.n_layers) == (400, 1152, 3)
    assert lm[1].output_dp.p == pytest.approx(0.1) and enc.rnns[0].weight_p == pytest.approx(0.2)


def test_reset_propagates_through_sequential_rnn():
    lm = get_language_model(AWD_LSTM, 40, config=LM_CONFIG)
    lm(torch.randint(0, 40, (2, 5)))
    assert any(torch.count_nonzero(h) for h, _ in lm[0].hidden)
    lm.reset()
    assert all(torch.count_nonzero(h) == 0 for h, _ in lm[0].hidden)

    class Counter(nn.Module):
        def __init__(self):
            super().__init__()
            self.resets = 0

        def reset(self):
            self.resets += 1

    counters = [Counter(), Counter()]
    SequentialRNN(counters[0], nn.ReLU(), counters[1]).reset()
    assert [c.resets for c in counters] == [1, 1]


def test_masked_concat_pool_against_a_hand_computation():
    out = torch.arange(2 * 4 * 3, dtype=torch.float).reshape(2, 4, 3)
    mask = torch.tensor([[False, False, True, True], [True, False, False, False]])
    pooled = masked_concat_pool(out, mask)
    row0 = out[0, :2]
    row1 = out[1, 1:]
    expected = torch.stack([
        torch.cat([row0[-1], row0.max(0).values, row0.mean(0)]),
        torch.cat([row1[-1], row1.max(0).values, row1.mean(0)]),
    ])  # fmt: skip
    assert torch.equal(pooled, expected)
    empty = masked_concat_pool(out[:1], torch.ones(1, 4, dtype=torch.bool))
    assert torch.equal(empty, torch.zeros(1, 9))  # a row that is all padding pools to zeros
    with pytest.raises(ValueError, match="do not match"):
        masked_concat_pool(out, mask[:, :3])


def test_pooling_linear_classifier():
    head = PoolingLinearClassifier([9, 5, 2], [0.1, 0.1], bptt=4, y_range=(-1.0, 1.0)).eval()
    out = torch.randn(3, 4, 3)
    x, raw, _ = head((out, torch.zeros(3, 4, dtype=torch.bool)))
    assert x.shape == (3, 2) and raw is out and bool(((x > -1) & (x < 1)).all())
    with pytest.raises(ValueError, match="3 sizes need 2 dropout values"):
        PoolingLinearClassifier([9, 5, 2], [0.1], bptt=4)


@pytest.fixture
def classifier():
    torch.manual_seed(0)
    return get_text_classifier(AWD_LSTM, 60, 3, seq_len=4, config=CLAS_CONFIG, max_len=None).eval()


def test_classifier_output_shape(classifier):
    x = torch.randint(2, 60, (5, 11))
    preds, raw, _ = classifier(x)
    assert preds.shape == (5, 3) and raw.shape == (5, 11, 16)


def test_classifier_output_does_not_depend_on_padding(classifier):
    seq = torch.randint(2, 60, (9,), generator=torch.Generator().manual_seed(4))
    alone = classifier(seq[None])[0][0]
    pad = 1
    batch = torch.full((4, 17), pad)
    batch[0, 17 - 9 :] = seq  # padded first, not on a chunk boundary
    batch[1] = torch.randint(2, 60, (17,))  # a longer neighbour
    batch[2, :9] = seq  # padded last
    batch[3, 3:12] = seq  # padding on both sides
    preds = classifier(batch)[0]
    for row in (0, 2, 3):
        assert torch.allclose(preds[row], alone, atol=1e-5), row
    assert not torch.allclose(preds[1], alone, atol=1e-3)
    shuffled = classifier(batch[[2, 1, 3, 0]])[0]  # row order does not matter either
    assert torch.allclose(shuffled, preds[[2, 1, 3, 0]], atol=1e-5)


def test_sentence_encoder_returns_outputs_and_mask():
    torch.manual_seed(0)
    enc = SentenceEncoder(4, AWD_LSTM(30, emb_sz=6, n_hid=8, n_layers=1), pad_idx=1).eval()
    x = torch.tensor([[1, 1, 5, 6, 7], [2, 3, 4, 5, 6]])
    out, mask = enc(x)
    assert out.shape == (2, 5, 6)
    assert mask.tolist() == [[False, False, False, True, True], [False] * 5]  # realigned to a chunk start
    all_pad = enc(torch.ones(2, 5, dtype=torch.long))
    assert all_pad[1].all() and torch.count_nonzero(all_pad[0]) == 0
    short = SentenceEncoder(2, enc.module, max_len=3).eval()
    assert short(x)[0].shape == (2, 3, 6)  # only the chunks starting in the last max_len tokens are kept
    with pytest.raises(ValueError, match="bptt must be a positive int"):
        SentenceEncoder(0, enc.module)


def test_models_are_described_as_data_with_tying_intact(classifier):
    lm = get_language_model(AWD_LSTM, 40, config=LM_CONFIG)
    config = module_config(lm)
    assert config["class"] == "lamina.text.LanguageModel"
    rebuilt = module_from_config(config)
    assert rebuilt[1].decoder.weight is rebuilt[0].encoder.weight
    rebuilt.load_state_dict(lm.state_dict())
    lm.eval(), rebuilt.eval()
    x = torch.randint(0, 40, (2, 5))
    assert torch.equal(lm(x)[0], rebuilt(x)[0])
    clf = module_from_config(module_config(classifier)).eval()
    clf.load_state_dict(classifier.state_dict())
    assert torch.equal(clf(x)[0], classifier(x)[0])


def test_parameter_splits_cover_every_parameter_once(classifier):
    lm = get_language_model(AWD_LSTM, 40, config=LM_CONFIG)
    for model, split, n_groups in ((lm, awd_lstm_lm_split, 3), (classifier, awd_lstm_clas_split, 4)):
        groups = split(model)
        assert len(groups) == n_groups
        flat = [id(p) for g in groups for p in g]
        assert len(flat) == len(set(flat)) and set(flat) == {id(p) for p in model.parameters()}


def test_model_classes_are_registered():
    names = ["AWD_LSTM", "LinearDecoder", "SequentialRNN", "SentenceEncoder", "PoolingLinearClassifier"]
    names += ["LanguageModel", "TextClassifier", "RNNDropout", "EmbeddingDropout", "WeightDropout"]
    for name in names:
        assert registry.classes[f"lamina.text.{name}"].__name__ == name
    assert registry.classes.name_of(RNNDropout) == "lamina.text.RNNDropout"
