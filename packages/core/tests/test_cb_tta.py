"""learn.tta(): augmented passes with the training transforms, blended with the plain pass."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data import TensorDataset

from lamina.core.callbacks.tta import tta_loader
from lamina.core.data.datasets import Datasets
from lamina.core.data.loaders import DataLoaders
from lamina.core.learner.learner import Learner
from lamina.core.transform import Transform

N = 12
SPLITS = (list(range(8)), list(range(8, N)))


def as_x(i):
    return torch.tensor([float(i)])


def as_y(i):
    return torch.tensor([float(i % 3)])


class ShiftInTraining(Transform):
    """A deterministic "augmentation": +10, in the training split only."""

    split_idx = 0

    def encodes(self, x: torch.Tensor):
        return x + 10


class Scale(Transform):
    """A batch transform applied in every split (like a normalisation)."""

    def encodes(self, x: torch.Tensor):
        return x * 2


class Doubler(nn.Module):
    """pred = 3 * x + 1, fixed."""

    def forward(self, x):
        return 3 * x + 1


def learner(shuffle=True, item_tfms=True, batch_tfms=None):
    x_tfms = [as_x, ShiftInTraining()] if item_tfms else [as_x]
    dsets = Datasets(range(N), [x_tfms, [as_y]], splits=SPLITS)
    dls = dsets.dataloaders(bs=3, shuffle_train=shuffle, after_batch=batch_tfms)
    return Learner(dls, Doubler(), loss_func=F.mse_loss, default_cbs=False)


def expected(items, shift, scale=1.0):
    x = torch.tensor([[float(i)] for i in items])
    return 3 * (x + shift) * scale + 1


def test_tta_blends_the_augmented_and_the_plain_predictions():
    learn = learner()
    preds, targets = learn.tta(n=3)
    valid = SPLITS[1]
    aug, plain = expected(valid, 10), expected(valid, 0)
    torch.testing.assert_close(preds, 0.25 * plain + 0.75 * aug)
    torch.testing.assert_close(targets, torch.tensor([[float(i % 3)] for i in valid]))


def test_tta_beta_none_and_use_max():
    learn = learner()
    (aug, plain), _ = learn.tta(beta=None)
    valid = SPLITS[1]
    torch.testing.assert_close(aug, expected(valid, 10))
    torch.testing.assert_close(plain, expected(valid, 0))
    maxed, _ = learn.tta(use_max=True)
    torch.testing.assert_close(maxed, expected(valid, 10))


def test_random_augmentations_are_averaged_over_the_passes():
    class Jitter(Transform):
        split_idx = 0

        def encodes(self, x: torch.Tensor):
            return x + torch.randint(0, 2, ()).float()  # 0 or 1 at random

    dsets = Datasets(range(N), [[as_x, Jitter()], [as_y]], splits=SPLITS)
    learn = Learner(dsets.dataloaders(bs=4), Doubler(), loss_func=F.mse_loss, default_cbs=False)
    torch.manual_seed(0)
    (aug, plain), _ = learn.tta(n=40, beta=None)
    shift = (aug - plain) / 3  # per item: the mean of 40 draws of 0/1
    assert ((shift > 0.2) & (shift < 0.8)).all()
    assert len(set(shift.flatten().tolist())) > 1


def test_tta_on_the_shuffled_training_set_keeps_the_dataset_order():
    learn = learner(shuffle=True)
    preds, targets = learn.tta(ds_idx=0, n=2)
    train = SPLITS[0]
    torch.testing.assert_close(preds, 0.25 * expected(train, 0) + 0.75 * expected(train, 10))
    torch.testing.assert_close(targets, torch.tensor([[float(i % 3)] for i in train]))


def test_added_transforms_join_the_loaders_own():
    class Plus100(Transform):
        split_idx = 0
        order = 5

        def encodes(self, x: torch.Tensor):
            return x + 100

    learn = learner(item_tfms=False, batch_tfms=[Scale()])
    (aug, plain), _ = learn.tta(item_tfms=[Plus100()], beta=None)
    valid = SPLITS[1]
    torch.testing.assert_close(plain, expected(valid, 0, scale=2))  # Scale kept
    torch.testing.assert_close(aug, expected(valid, 100, scale=2))
    (aug, _), _ = learn.tta(batch_tfms=[Plus100()], beta=None)
    x = torch.tensor([[float(i)] for i in valid])
    torch.testing.assert_close(aug, 3 * (2 * x + 100) + 1)  # Scale (order 0), then Plus100 (order 5)
    # the learner's loaders are unchanged
    assert len(learn.dls.valid.after_item.fs) == 0 and len(learn.dls.valid.after_batch.fs) == 1
    preds, _ = learn.get_preds()
    torch.testing.assert_close(preds, expected(valid, 0, scale=2))


def test_a_plain_torch_loader_gives_equal_passes_and_refuses_added_transforms():
    x = torch.arange(8.0).unsqueeze(1)
    ds = TensorDataset(x, x)
    dls = DataLoaders(TorchDataLoader(ds, batch_size=3, shuffle=True), TorchDataLoader(ds, batch_size=3))
    learn = Learner(dls, Doubler(), loss_func=F.mse_loss, default_cbs=False)
    preds, targets = learn.tta(ds_idx=0)
    torch.testing.assert_close(preds, 3 * x + 1)
    torch.testing.assert_close(targets, x)
    with pytest.raises(TypeError, match="item_tfms/batch_tfms need a lamina loader"):
        learn.tta(item_tfms=[ShiftInTraining()])


def test_bad_arguments():
    learn = learner()
    with pytest.raises(ValueError, match="n must be"):
        learn.tta(n=0)
    with pytest.raises(ValueError, match="beta"):
        learn.tta(beta=1.5)


def test_tta_loader_is_in_order_and_complete():
    learn = learner(shuffle=True)
    dl = tta_loader(learn.dls.train)
    assert not dl.shuffle and not dl.drop_last and len(dl) == 3
