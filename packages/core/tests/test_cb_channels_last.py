"""ChannelsLast: model weights and 4-d inputs in channels-last format, same results, switches."""

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data import TensorDataset

from lamina.core.callbacks.channels_last import ChannelsLast
from lamina.core.data.loaders import DataLoaders
from lamina.core.learner.learner import Learner
from lamina.core.optim.optimizers import SGD

CL = torch.channels_last


def conv_model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 2),
    )


def image_dls():
    g = torch.Generator().manual_seed(0)
    ds = TensorDataset(torch.randn(16, 3, 6, 6, generator=g), torch.randint(0, 2, (16,), generator=g))
    return DataLoaders(TorchDataLoader(ds, batch_size=8), TorchDataLoader(ds, batch_size=16))


def fit(cbs):
    model = conv_model()
    seen = []
    model.register_forward_pre_hook(lambda m, args: seen.append(args[0].is_contiguous(memory_format=CL)))
    learn = Learner(
        image_dls(), model, loss_func=F.cross_entropy, opt_func=SGD, lr=0.1, cbs=cbs, default_cbs=False
    )
    learn.fit(1)
    return learn, seen


def test_channels_last_converts_the_model_and_the_inputs_with_the_same_results():
    learn, seen = fit([ChannelsLast()])
    conv = learn.model[0]
    assert conv.weight.is_contiguous(memory_format=CL) and not conv.weight.is_contiguous()
    assert seen and all(seen)
    ref, ref_seen = fit([])
    assert not any(ref_seen)
    for a, b in zip(learn.model.parameters(), ref.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    # the saved state loads into a plain model
    plain = conv_model()
    plain.load_state_dict(learn.model.state_dict())
    x = torch.randn(2, 3, 6, 6)
    learn.model.eval(), plain.eval()
    torch.testing.assert_close(learn.model(x), plain(x))


def test_inputs_that_are_not_4d_images_are_left_alone():
    ds = TensorDataset(torch.randn(16, 5), torch.randn(16, 1))
    model = nn.Linear(5, 1)
    seen = []
    model.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    learn = Learner(
        DataLoaders(TorchDataLoader(ds, batch_size=8), []),
        model,
        loss_func=F.mse_loss,
        cbs=ChannelsLast(),
        default_cbs=False,
    )
    learn.fit(1)
    assert all(x.is_contiguous() for x in seen)


def test_switches():
    learn = Learner(image_dls(), conv_model(), loss_func=F.cross_entropy, default_cbs=False)
    assert learn.to_channels_last() is learn
    learn.to_channels_last()
    assert sum(isinstance(cb, ChannelsLast) for cb in learn.cbs) == 1
    learn.fit(1)
    assert learn.model[0].weight.is_contiguous(memory_format=CL)
    learn.to_contiguous()
    assert not any(isinstance(cb, ChannelsLast) for cb in learn.cbs)
    assert learn.model[0].weight.is_contiguous()
