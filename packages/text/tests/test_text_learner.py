"""The text learners: factories, RNN callbacks, encoder saving/loading, freezing, predictions."""

import math

import pandas as pd
import pytest
import torch

from lamina.core.learner.callback import Callback
from lamina.core.metrics import Perplexity, accuracy
from lamina.text.data import TextDataLoaders
from lamina.text.learner import (
    LMLearner,
    ModelResetter,
    RNNCallback,
    RNNRegularizer,
    TextLearner,
    language_model_learner,
    text_classifier_learner,
    text_vocab,
)
from lamina.text.models.awd_lstm import AWD_LSTM
from lamina.text.tokenizers import BaseTokenizer

CYCLE_A = "one two three four five six".split()
CYCLE_B = "red green blue cyan pink gold".split()
SIZES = dict(emb_sz=32, n_hid=64, n_layers=2, pad_token=1, bidir=False)
LM_CONFIG = dict(
    SIZES, output_p=0.0, hidden_p=0.0, input_p=0.0, embed_p=0.0, weight_p=0.0, tie_weights=True, out_bias=True
)
CLAS_CONFIG = dict(SIZES, output_p=0.1, hidden_p=0.1, input_p=0.1, embed_p=0.0, weight_p=0.1)
BASE = dict(tok=BaseTokenizer(), n_workers=0, cache_dir=False, min_freq=1)


def cycle_df(n=120, seed=0):
    """Texts that walk around one of two word cycles, labelled by the cycle."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(n):
        words = CYCLE_A if i % 2 else CYCLE_B
        start, k = int(torch.randint(0, 6, (1,), generator=g)), int(torch.randint(8, 24, (1,), generator=g))
        rows.append((" ".join(words[(start + j) % 6] for j in range(k)), "a" if i % 2 else "b", i % 4 == 0))
    return pd.DataFrame(rows, columns=["text", "label", "is_valid"])


@pytest.fixture(scope="module")
def df():
    return cycle_df(240)


@pytest.fixture(scope="module")
def dls_lm(df):
    return TextDataLoaders.from_df(
        df, text_col="text", is_lm=True, valid_col="is_valid", bs=8, seq_len=16, **BASE
    )


@pytest.fixture(scope="module")
def trained_lm(dls_lm, tmp_path_factory):
    torch.manual_seed(0)
    learn = language_model_learner(
        dls_lm,
        AWD_LSTM,
        config=LM_CONFIG,
        pretrained=False,
        metrics=Perplexity(),
        path=tmp_path_factory.mktemp("lm"),
    )
    with learn.quiet():
        first = learn.validate()[0]
        learn.fit_one_cycle(5, 3e-2)
    learn.first_valid_loss = first
    return learn


def clas_dls(df, vocab):
    return TextDataLoaders.from_df(
        df,
        text_col="text",
        label_col="label",
        valid_col="is_valid",
        text_vocab=vocab,
        bs=8,
        seq_len=8,
        **BASE,
    )


def test_language_model_learner_trains_and_reports_perplexity(trained_lm):
    learn = trained_lm
    assert isinstance(learn, LMLearner) and isinstance(learn.model[0], AWD_LSTM)
    assert learn.model[1].decoder.weight is learn.model[0].encoder.weight  # tied
    kinds = (ModelResetter, RNNCallback, RNNRegularizer)
    assert all(any(isinstance(cb, k) for cb in learn.cbs) for k in kinds)
    valid_loss, perplexity = learn.recorder.values[-1][1:]
    assert valid_loss < 0.5 * learn.first_valid_loss  # the cycles are learned
    assert perplexity == pytest.approx(math.exp(valid_loss), rel=1e-4)
    assert learn.moms == (0.8, 0.7, 0.8)
    assert len(learn.opt.param_lists) == 3  # two LSTM layers, then embedding + decoder


def test_lm_predict_continues_the_cycle(trained_lm):
    learn = trained_lm
    assert (
        learn.predict("one two three", n_words=4, temperature=0.05, seed=0)
        == "one two three four five six one"
    )
    assert learn.predict("red green", n_words=0) == "red green"
    a = learn.predict("one", n_words=6, temperature=3.0, seed=5)
    assert a == learn.predict("one", n_words=6, temperature=3.0, seed=5)
    assert len(a.split()) == 7
    learn.model.train()  # generating switches to eval mode and back
    learn.predict("one", n_words=1, seed=0)
    assert learn.model.training


def test_lm_predict_never_draws_unk_with_no_unk(trained_lm):
    learn = trained_lm
    vocab = text_vocab(learn.dls)
    bias = learn.model[1].decoder.bias
    saved = bias.detach().clone()
    try:
        with torch.no_grad():
            bias[vocab.index("xxunk")] = 50.0  # the model now wants xxunk everywhere
        assert "xxunk" not in learn.predict("one two", n_words=5, seed=0)
        assert learn.predict("one two", n_words=3, no_unk=False, seed=0).split()[2:] == ["xxunk"] * 3
    finally:
        with torch.no_grad():
            bias.copy_(saved)


def test_lm_predict_checks_arguments(trained_lm):
    with pytest.raises(TypeError, match="expected a text"):
        trained_lm.predict(["one"])
    with pytest.raises(ValueError, match="temperature must be > 0"):
        trained_lm.predict("one", temperature=0)


def test_save_and_load_encoder_into_a_classifier(trained_lm, df):
    path = trained_lm.save_encoder("enc")
    assert path.name == "enc.pth" and path.parent.name == "models"
    dls = clas_dls(df, trained_lm.dls.vocab)
    clas = text_classifier_learner(dls, AWD_LSTM, config=CLAS_CONFIG, pretrained=False, path=trained_lm.path)
    assert isinstance(clas, TextLearner) and len(clas.opt.param_lists) == 4  # embedding, 2 LSTM layers, head
    clas.unfreeze()
    clas.load_encoder("enc")
    lm_state, clas_state = trained_lm.model[0].state_dict(), clas.model[0].module.state_dict()
    assert lm_state.keys() == clas_state.keys()
    assert all(torch.equal(lm_state[k], clas_state[k]) for k in lm_state)
    trainable = [any(p.requires_grad for p in group) for group in clas.opt.param_lists]
    assert trainable == [False, False, False, True]  # load_encoder freezes: the head trains first
    clas.freeze_to(-2)
    assert [any(p.requires_grad for p in g) for g in clas.opt.param_lists] == [False, False, True, True]
    clas.freeze_to(-3)
    assert [any(p.requires_grad for p in g) for g in clas.opt.param_lists] == [False, True, True, True]
    clas.opt.set_hyper("lr", slice(1e-4, 1e-2))
    lrs = [h["lr"] for h in clas.opt.hypers]
    assert lrs[0] == pytest.approx(1e-4) and lrs[-1] == pytest.approx(1e-2)
    assert lrs == sorted(lrs) and lrs[1] == pytest.approx(1e-4 * 100 ** (1 / 3))  # geometric over the groups


def test_load_encoder_with_another_vocab_fails_clearly(trained_lm, df):
    trained_lm.save_encoder("enc2")
    other = TextDataLoaders.from_df(
        df, text_col="text", label_col="label", bs=8, **{**BASE, "min_freq": 10**6}
    )
    clas = text_classifier_learner(
        other, AWD_LSTM, config=CLAS_CONFIG, pretrained=False, path=trained_lm.path
    )
    with pytest.raises(ValueError, match=r"encoder.weight has shape .* text_vocab="):
        clas.load_encoder("enc2")
    with pytest.raises(FileNotFoundError, match="no saved encoder"):
        clas.load_encoder("missing")


def test_classifier_trains_predicts_and_keeps_dataset_order(df, tmp_path):
    torch.manual_seed(0)
    dls = clas_dls(df, None)
    clas = text_classifier_learner(
        dls, AWD_LSTM, config=CLAS_CONFIG, pretrained=False, metrics=accuracy, path=tmp_path
    )
    clas.unfreeze()
    with clas.quiet():
        clas.fit_one_cycle(3, 1e-2)
    assert clas.recorder.values[-1][-1] > 0.9  # the two cycles are easy to tell apart
    label, idx, probs = clas.predict("red green blue cyan pink gold red green")
    assert label == "b" and int(idx) == 1 and probs.shape == (2,)
    assert float(probs.sum()) == pytest.approx(1.0) and float(probs[1]) > 0.5
    assert clas.predict("three four five six one two three")[0] == "a"
    preds, targs = clas.get_preds()
    expected = torch.tensor([int(dls.valid_ds[i][1]) for i in range(len(dls.valid_ds))])
    assert torch.equal(
        targs.as_subclass(torch.Tensor), expected
    )  # dataset order, not the loader's length order
    assert preds.shape == (len(dls.valid_ds), 2)
    assert (preds.argmax(1) == expected).float().mean() > 0.9


class LossSpy(Callback):
    run_after = RNNRegularizer

    def __init__(self):
        self.seen = []

    def after_loss(self):
        if self.learn.training:
            self.seen.append({"pred": self.learn.pred, "plain": self.learn.loss.detach().clone()})

    def before_backward(self):
        rnn = self.learn.rnn
        self.seen[-1].update(
            backward=self.learn.loss.detach().clone(), raw=rnn.raw_out.detach(), out=rnn.out.detach()
        )

    def after_batch(self):
        if self.learn.training:
            self.seen[-1]["recorded"] = self.learn.loss.detach().clone()


def test_rnn_callbacks_unpack_regularize_and_reset(dls_lm, tmp_path):
    learn = language_model_learner(dls_lm, AWD_LSTM, config=LM_CONFIG, pretrained=False, path=tmp_path)
    spy = LossSpy()
    resets = []
    original = learn.model.reset
    learn.model.reset = lambda: (resets.append(learn.training), original())[1]
    with learn.quiet():
        learn.fit(1, 1e-3, cbs=spy)
    first = spy.seen[0]
    assert isinstance(first["pred"], torch.Tensor) and first["pred"].dim() == 3  # unpacked from the tuple
    raw, out = first["raw"], first["out"]
    expected = first["plain"] + 2.0 * out.pow(2).mean() + 1.0 * (raw[:, 1:] - raw[:, :-1]).pow(2).mean()
    assert float(first["backward"]) == pytest.approx(float(expected), rel=1e-5)  # AR + TAR added for backward
    assert float(first["recorded"]) == pytest.approx(float(first["plain"]))  # recorded: the plain loss
    assert len(resets) == 4  # before the fit, before training, before validation, after the fit
    off = language_model_learner(dls_lm, AWD_LSTM, config=LM_CONFIG, pretrained=False, alpha=0.0, beta=0.0)
    spy2 = LossSpy()
    with off.quiet():
        off.fit(1, 1e-3, cbs=spy2)
    assert float(spy2.seen[0]["backward"]) == pytest.approx(float(spy2.seen[0]["plain"]))


def test_show_results_tables(trained_lm, df):
    table = trained_lm.show_results(max_n=2, show=False)
    assert list(table.columns) == ["text", "text_", "text_pred"] and len(table) == 2
    row = table.iloc[0]
    assert set(row["text_pred"].split()) <= set(CYCLE_A + CYCLE_B)  # the model's guesses, decoded
    dls = clas_dls(df, None)
    clas = text_classifier_learner(dls, AWD_LSTM, config=CLAS_CONFIG, pretrained=False)
    t = clas.show_results(max_n=3, show=False, trunc_at=2)
    assert list(t.columns) == ["text", "category", "category_pred"] and len(t) == 3
    assert set(t.category_pred) <= {"a", "b"} and all(len(s.split()) <= 3 for s in t.text)  # 2 words + "..."


def test_factories_check_their_data(df):
    dls = clas_dls(df, None)
    with pytest.raises(KeyError, match="no text model meta"):
        language_model_learner(dls, torch.nn.LSTM, pretrained=False)
    with pytest.raises(ValueError, match="no text vocabulary"):
        text_classifier_learner(object(), AWD_LSTM, pretrained=False)
    model = text_classifier_learner(dls, "AWD_LSTM", config=CLAS_CONFIG, pretrained=False, n_out=5).model
    assert model[1].layers[-1][-1].out_features == 5  # arch by registered name; n_out given


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_text_learners_on_cuda(df, tmp_path):
    dls = TextDataLoaders.from_df(
        df, text_col="text", is_lm=True, valid_col="is_valid", bs=8, seq_len=16, device="cuda", **BASE
    )
    learn = language_model_learner(dls, AWD_LSTM, config=LM_CONFIG, pretrained=False, path=tmp_path)
    with learn.quiet():
        learn.fit_one_cycle(1, 1e-2)
    assert next(learn.model.parameters()).is_cuda
    assert len(learn.predict("one two", n_words=3, seed=0).split()) == 5
    learn.save_encoder("enc")
    clas_data = clas_dls(df, dls.vocab)
    clas_data.to("cuda")
    clas = text_classifier_learner(clas_data, AWD_LSTM, config=CLAS_CONFIG, pretrained=False, path=tmp_path)
    clas.load_encoder("enc")
    with clas.quiet():
        clas.fit_one_cycle(1, 1e-2)
    preds, targs = clas.get_preds()
    assert preds.shape == (len(clas_data.valid_ds), 2) and not preds.is_cuda
    assert clas.predict("red green blue")[0] in {"a", "b"}
