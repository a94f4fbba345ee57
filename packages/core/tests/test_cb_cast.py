"""CastToTensor, and the Learner's own stripping of tensor subclasses: the model sees plain tensors."""

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data import TensorDataset

from lamina.core.callbacks.cast import CastToTensor
from lamina.core.data.loaders import DataLoaders
from lamina.core.learner.callback import Callback
from lamina.core.learner.learner import Learner
from lamina.core.tensors import TensorBase


class Marked(TensorBase):
    pass


class TypeProbe(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 1)
        self.types = []

    def forward(self, x):
        self.types.append(type(x))
        return self.lin(x)


class TypingAugment(Callback):
    """A batch callback that writes typed tensors back (as a typed batch transform would)."""

    order = 0

    def __init__(self):
        self.ptrs = []

    def before_batch(self):
        x, y = self.xb[0], self.yb[0]
        self.learn.xb = (Marked(x * 2),)
        self.learn.yb = (Marked(y),)
        self.ptrs.append(self.learn.xb[0].data_ptr())


class LossTypes(Callback):
    order = 100

    def __init__(self):
        self.target_types = []

    def before_batch(self):
        self.target_types.append(type(self.yb[0]))


def make(cbs, typed_data=False):
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    if typed_data:
        x, y = Marked(x), Marked(y)
    model = TypeProbe()
    dls = DataLoaders(TorchDataLoader(TensorDataset(x, y), batch_size=4), [])
    return Learner(dls, model, loss_func=F.mse_loss, cbs=cbs, default_cbs=False), model


def test_the_learner_already_strips_types_from_the_loader_batches():
    learn, model = make([], typed_data=True)
    learn.fit(1)
    assert model.types == [torch.Tensor, torch.Tensor]


def test_typed_tensors_written_by_a_callback_reach_the_model_without_cast_to_tensor():
    learn, model = make([TypingAugment()])
    learn.fit(1)
    assert model.types == [Marked, Marked]


def test_cast_to_tensor_strips_them_without_copying():
    aug, losses = TypingAugment(), LossTypes()
    seen_ptrs = []
    learn, model = make([aug, CastToTensor(), losses])
    model.register_forward_pre_hook(lambda m, args: seen_ptrs.append(args[0].data_ptr()))
    learn.fit(1)
    assert model.types == [torch.Tensor, torch.Tensor]
    assert losses.target_types == [torch.Tensor, torch.Tensor]
    assert seen_ptrs == aug.ptrs


def test_cast_to_tensor_goes_through_nested_batches():
    cast = CastToTensor()
    learn, _ = make([cast])
    learn.xb = ({"a": Marked(torch.ones(2)), "b": [Marked(torch.zeros(1))]},)
    learn.yb = (Marked(torch.ones(2)),)
    learn.training = True
    cast("before_batch")
    inner = learn.xb[0]
    assert type(inner["a"]) is torch.Tensor and type(inner["b"][0]) is torch.Tensor
    assert type(learn.yb[0]) is torch.Tensor
