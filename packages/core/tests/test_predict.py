"""predict, get_preds (full) and show_results on a tiny real task: integers labelled even/odd."""

import math

import pytest
import torch
from torch import nn

from lamina.core.data.block import DataBlock
from lamina.core.data.blocks import CategoryBlock, TransformBlock
from lamina.core.data.show import SampleTable
from lamina.core.data.splitters import IndexSplitter
from lamina.core.data.transforms import RegressionSetup
from lamina.core.layers.basic import Lambda, View
from lamina.core.learner.callback import Callback
from lamina.core.learner.export import load_learner
from lamina.core.learner.learner import Learner
from lamina.core.learner.synth import synth_learner


def parity(n):
    return "even" if n % 2 == 0 else "odd"


@pytest.fixture(scope="module")
def learn():
    torch.manual_seed(0)
    dblock = DataBlock(
        blocks=(TransformBlock(type_tfms=RegressionSetup()), CategoryBlock()),
        get_y=parity,
        splitter=IndexSplitter(range(80, 100)),
    )
    dls = dblock.dataloaders(list(range(100)), bs=16)
    first = nn.Linear(1, 1)
    with torch.no_grad():
        first.weight.fill_(math.pi)
        first.bias.zero_()
    first.requires_grad_(False)
    model = nn.Sequential(View(-1, 1), first, Lambda(torch.cos), nn.Linear(1, 2))
    learn = Learner(dls, model, lr=0.1)
    learn.logger = lambda *a: None
    with learn.no_bar():
        learn.fit_one_cycle(3)
    return learn


def test_predict_returns_the_label_its_index_and_probabilities(learn):
    for n, label in ((7, "odd"), (10, "even"), (123, "odd")):
        decoded, idx, probs = learn.predict(n)
        assert decoded == label and isinstance(decoded, str)
        assert idx.ndim == 0 and learn.dls.vocab[int(idx)] == label
        assert probs.shape == (2,) and probs.sum().item() == pytest.approx(1.0, abs=1e-6)
        assert int(probs.argmax()) == int(idx)


def test_predict_agrees_with_get_preds_and_gives_the_input(learn):
    preds, _ = learn.get_preds(dl=learn.dls.test_dl([7, 10]))
    (inp, decoded, idx, probs) = learn.predict(10, with_input=True)
    assert float(inp) == 10.0 and decoded == "even"
    torch.testing.assert_close(probs, preds[1])
    # an item already through the type transform: skip it
    _, idx_t, probs_t = learn.predict(torch.tensor(10.0), rm_type_tfms=1)
    torch.testing.assert_close(probs_t, probs)


def test_predict_after_export_and_load_learner(learn, tmp_path):
    loaded = load_learner(learn.export(tmp_path / "parity.lamina"))
    for n in (3, 8):
        a, b = learn.predict(n), loaded.predict(n)
        assert a[0] == b[0] and int(a[1]) == int(b[1])
        torch.testing.assert_close(a[2], b[2])


def test_get_preds_decoded_losses_and_activation(learn):
    preds, targs, decoded, losses = learn.get_preds(with_decoded=True, with_loss=True)
    assert preds.shape == (20, 2) and torch.allclose(preds.sum(1), torch.ones(20))  # softmax by default
    assert torch.equal(decoded, preds.argmax(1))
    raw, _ = learn.get_preds(act=lambda x: x)
    torch.testing.assert_close(losses, nn.functional.cross_entropy(raw, targs, reduction="none"))
    assert learn.loss_func.reduction == "mean"  # switched back after with_loss


def test_get_preds_from_inside_a_fit_with_inner(tmp_path):
    seen = []

    class PredsEachEpoch(Callback):
        order = 70

        def after_epoch(self):
            preds, _ = self.learn.get_preds(inner=True)
            seen.append(preds.shape)

    learn = synth_learner(cbs=PredsEachEpoch())
    learn.logger = lambda *a: None
    with learn.no_bar():
        learn.fit(2)
    assert seen == [torch.Size([32, 1])] * 2 and len(learn.recorder.values) == 2


def test_show_results_shows_inputs_targets_and_predictions(learn, capsys):
    table = learn.show_results(max_n=4, shuffle=False)
    assert isinstance(table, SampleTable)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["#", "x", "y", "pred"]
    rows = [line.split() for line in lines[1:]]
    assert len(rows) == 4
    for _, x, y, pred in rows:
        assert y == parity(int(float(x))) and pred in ("even", "odd")
    learn.show_results(dl=learn.dls.valid, max_n=2)
    assert len(capsys.readouterr().out.strip().splitlines()) == 3


def test_predict_without_a_lamina_pipeline_is_explained():
    learn = synth_learner()
    with pytest.raises(TypeError, match="no Lamina loader"):
        learn.predict(1.0)
