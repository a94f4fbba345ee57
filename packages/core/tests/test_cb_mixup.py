"""MixUp and CutMix: inputs blended, targets turned into soft labels or losses mixed, validation untouched."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data import TensorDataset

from lamina.core.callbacks.mixup import CutMix, MixUp
from lamina.core.data.loaders import DataLoaders
from lamina.core.learner.callback import Callback
from lamina.core.learner.learner import Learner
from lamina.core.losses import CrossEntropyLossFlat

N_CLASSES = 3


class Probe(Callback):
    """Keeps the batch before (order -50) and after (order 50) the mixing callbacks ran, and the loss."""

    def __init__(self, order):
        self.order = order
        self.seen = []

    def before_batch(self):
        self.seen.append(("batch", self.training, self.xb[0].clone(), self.yb[0].clone(), self.xb[0]))

    def after_loss(self):
        self.seen.append(("loss", self.training, self.pred.detach().clone(), self.loss.detach().clone()))


def image_data(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, 6, 6, generator=g)
    y = torch.randint(0, N_CLASSES, (n,), generator=g)
    return x, y


def classifier():
    return nn.Sequential(nn.Flatten(), nn.Linear(2 * 6 * 6, N_CLASSES))


def learner(cb, y_transform=None, loss_func=None, bs=8):
    x, y = image_data()
    if y_transform is not None:
        y = y_transform(y)
    ds = TensorDataset(x, y)
    dls = DataLoaders(TorchDataLoader(ds, batch_size=bs), TorchDataLoader(ds, batch_size=bs))
    before, after = Probe(-50), Probe(50)
    learn = Learner(
        dls,
        classifier(),
        loss_func=loss_func or CrossEntropyLossFlat(),
        cbs=[cb, before, after],
        default_cbs=False,
    )
    return learn, before, after


def train_batches(probe, kind):
    return [s for s in probe.seen if s[0] == kind and s[1]]


def test_mixup_blends_inputs_and_mixes_the_losses_of_class_targets():
    torch.manual_seed(0)
    learn, before, after = learner(MixUp(0.4))
    learn.fit(1)
    mix = learn.mix_up
    _, _, x, y, _ = train_batches(before, "batch")[-1]
    _, _, x_mixed, y_after, _ = train_batches(after, "batch")[-1]
    lam, perm = mix.lam, mix.perm
    assert (lam >= 0.5).all() and (lam <= 1).all() and not torch.equal(perm, torch.arange(8))
    expected = lam.view(-1, 1, 1, 1) * x + (1 - lam.view(-1, 1, 1, 1)) * x[perm]
    torch.testing.assert_close(x_mixed, expected)
    assert torch.equal(y_after, y)  # class indices stay; the loss mixes instead
    _, _, pred, loss = train_batches(after, "loss")[-1]
    per_item = lam * F.cross_entropy(pred, y, reduction="none") + (1 - lam) * F.cross_entropy(
        pred, y[perm], reduction="none"
    )
    torch.testing.assert_close(loss, per_item.mean())
    assert not torch.isclose(loss, F.cross_entropy(pred, y))


def test_mixup_turns_one_hot_targets_into_soft_labels():
    torch.manual_seed(1)
    learn, before, after = learner(
        MixUp(0.4), y_transform=lambda y: F.one_hot(y, N_CLASSES).float(), loss_func=nn.BCEWithLogitsLoss()
    )
    learn.fit(1)
    mix = learn.mix_up
    assert not mix.mixes_loss
    _, _, _, y, _ = train_batches(before, "batch")[-1]
    _, _, _, y_soft, _ = train_batches(after, "batch")[-1]
    lam, perm = mix.lam.view(-1, 1), mix.perm
    torch.testing.assert_close(y_soft, lam * y + (1 - lam) * y[perm])
    torch.testing.assert_close(y_soft.sum(1), torch.ones(8))
    assert ((y_soft > 0) & (y_soft < 1)).any()  # soft, where the partner has another class
    _, _, pred, loss = train_batches(after, "loss")[-1]
    torch.testing.assert_close(loss, F.binary_cross_entropy_with_logits(pred, y_soft))


def test_validation_is_not_mixed():
    learn, before, after = learner(MixUp(0.4))
    learn.fit(1)
    valid_before = [s for s in before.seen if s[0] == "batch" and not s[1]]
    valid_after = [s for s in after.seen if s[0] == "batch" and not s[1]]
    assert valid_before and all(torch.equal(a[2], b[2]) for a, b in zip(valid_before, valid_after))
    valid_losses = [s for s in after.seen if s[0] == "loss" and not s[1]]
    _, _, pred, loss = valid_losses[-1]
    torch.testing.assert_close(loss, F.cross_entropy(pred, valid_before[-1][3]))


def test_mixed_loss_follows_the_loss_reduction():
    torch.manual_seed(2)
    learn, _, after = learner(MixUp(0.4), loss_func=nn.CrossEntropyLoss(reduction="sum"))
    learn.fit(1)
    mix = learn.mix_up
    _, _, pred, loss = train_batches(after, "loss")[-1]
    _, _, _, y, _ = train_batches(after, "batch")[-1]
    lam, perm = mix.lam, mix.perm
    expected = (lam * F.cross_entropy(pred, y, reduction="none")).sum() + (
        (1 - lam) * F.cross_entropy(pred, y[perm], reduction="none")
    ).sum()
    torch.testing.assert_close(loss, expected)
    assert learn.loss_func.reduction == "sum"  # restored


def test_function_losses_with_a_reduction_argument_work_and_others_are_refused():
    learn, _, _ = learner(MixUp(0.4), loss_func=F.cross_entropy)
    learn.fit(1)

    def no_reduction(pred, y):
        return F.cross_entropy(pred, y)

    learn, _, _ = learner(MixUp(0.4), loss_func=no_reduction)
    with pytest.raises(TypeError, match="reduction"):
        learn.fit(1)


def test_mixup_refuses_integer_inputs():
    ds = TensorDataset(torch.randint(0, 5, (8, 3)), torch.randint(0, 2, (8,)))
    model = nn.Sequential(nn.Embedding(5, 2), nn.Flatten(), nn.Linear(6, 2))
    learn = Learner(
        DataLoaders(TorchDataLoader(ds, batch_size=4), []),
        model,
        loss_func=CrossEntropyLossFlat(),
        cbs=MixUp(),
        default_cbs=False,
    )
    with pytest.raises(TypeError, match="only floating tensors"):
        learn.fit(1)


def test_cutmix_pastes_a_box_of_the_partner_and_weighs_by_its_area():
    torch.manual_seed(3)
    learn, before, after = learner(CutMix(1.0))
    learn.fit(1)
    mix = learn.cut_mix
    _, _, x, y, loader_batch = train_batches(before, "batch")[-1]
    _, _, x_cut, _, _ = train_batches(after, "batch")[-1]
    top, bottom, left, right = mix.box
    perm = mix.perm
    inside = torch.zeros(6, 6, dtype=torch.bool)
    inside[top:bottom, left:right] = True
    assert torch.equal(x_cut[..., inside], x[perm][..., inside])
    assert torch.equal(x_cut[..., ~inside], x[..., ~inside])
    kept = 1 - inside.float().mean()
    torch.testing.assert_close(mix.lam, torch.full((8,), kept.item()))
    _, _, pred, loss = train_batches(after, "loss")[-1]
    expected = kept * F.cross_entropy(pred, y) + (1 - kept) * F.cross_entropy(pred, y[perm])
    torch.testing.assert_close(loss, expected)
    assert torch.equal(loader_batch, x)  # the loader's batch was not written to


def test_cutmix_boxes_vary_and_stay_inside_the_image():
    cut = CutMix(1.0)
    torch.manual_seed(4)
    boxes = [cut._random_box(6, 10, lam) for lam in torch.rand(50).tolist()]
    assert len(set(boxes)) > 10
    for top, bottom, left, right in boxes:
        assert 0 <= top <= bottom <= 6 and 0 <= left <= right <= 10


def test_cutmix_needs_one_image_input():
    ds = TensorDataset(torch.randn(8, 4), torch.randint(0, 2, (8,)))
    learn = Learner(
        DataLoaders(TorchDataLoader(ds, batch_size=4), []),
        nn.Linear(4, 2),
        loss_func=CrossEntropyLossFlat(),
        cbs=CutMix(),
        default_cbs=False,
    )
    with pytest.raises(TypeError, match="CutMix: needs one image batch"):
        learn.fit(1)


def test_alpha_must_be_positive():
    with pytest.raises(ValueError, match="alpha"):
        MixUp(0)


def test_mixup_trains_a_classifier():
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(N_CLASSES, 2, 6, 6, generator=g) * 2
    y = torch.randint(0, N_CLASSES, (96,), generator=g)
    x = centers[y] + 0.5 * torch.randn(96, 2, 6, 6, generator=g)
    ds = TensorDataset(x, y)
    torch.manual_seed(0)
    dls = DataLoaders(TorchDataLoader(ds, batch_size=16, shuffle=True), TorchDataLoader(ds, batch_size=32))
    learn = Learner(dls, classifier(), loss_func=CrossEntropyLossFlat(), lr=1e-2, cbs=MixUp(0.4))
    with learn.quiet():
        learn.fit(5)
    preds, targets = learn.get_preds()
    assert (preds.argmax(1) == targets).float().mean() > 0.9
