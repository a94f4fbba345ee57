"""DataLoaders: the container of a task's loaders, with our loaders and with plain torch ones."""

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data import TensorDataset

from lamina.core.data.load import DataLoader
from lamina.core.data.loaders import DataLoaders


def test_train_valid_and_further_loaders():
    a, b, c = (DataLoader(list(range(k)), bs=2) for k in (4, 6, 8))
    dls = DataLoaders(a, b, c, path="/tmp/x")
    assert dls.train is a and dls.valid is b and dls[2] is c and dls[0] is a
    assert len(dls) == 3 and dls.loaders == [a, b, c] and list(dls) == [a, b, c]
    assert dls.path == Path("/tmp/x")
    assert dls.train_ds == list(range(4)) and dls.valid_ds == list(range(6))


def test_missing_loaders_are_named():
    dls = DataLoaders(DataLoader(list(range(4))))
    with pytest.raises(IndexError, match="no validation loader: it holds 1"):
        _ = dls.valid
    with pytest.raises(IndexError, match="no training loader"):
        _ = DataLoaders().train


def test_device_setter_moves_every_loader():
    dls = DataLoaders(DataLoader(list(range(4)), bs=2), DataLoader(list(range(4)), bs=2))
    assert dls.device is None
    dls.device = "cpu"
    assert dls.device == torch.device("cpu") and all(dl.device == torch.device("cpu") for dl in dls)
    assert dls.to(None) is dls and dls.train.device is None
    assert dls.cpu().valid.device == torch.device("cpu")


def test_device_given_at_construction_and_read_from_loaders():
    dls = DataLoaders(DataLoader(list(range(4))), DataLoader(list(range(4))), device="cpu")
    assert dls.valid.device == torch.device("cpu")
    assert DataLoaders(DataLoader(list(range(4)), device="cpu")).device == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        DataLoaders(DataLoader(list(range(4)))).cuda()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_moves_batches():
    dls = DataLoaders(DataLoader([torch.ones(2)] * 4, bs=2)).cuda()
    assert dls.train.one_batch().is_cuda and dls.device.type == "cuda"


def test_n_inp_comes_from_the_train_loader():
    dl = DataLoader(list(range(4)))
    assert DataLoaders(dl).n_inp == 1
    dl.n_inp = 2
    assert DataLoaders(dl, DataLoader(list(range(2)))).n_inp == 2


def test_from_dsets_shuffles_and_drops_last_on_train_only():
    dls = DataLoaders.from_dsets(list(range(50)), list(range(21)), list(range(5)), bs=8, seed=0)
    assert len(dls) == 3 and all(type(dl) is DataLoader for dl in dls)
    train = [x for b in dls.train for x in b.tolist()]
    assert len(dls.train) == 6 and len(train) == 48 and train != sorted(train)
    assert [x for b in dls.valid for x in b.tolist()] == list(range(21))
    assert (dls.valid.shuffle, dls.valid.drop_last, dls[2].shuffle) == (False, False, False)


def test_from_dsets_options_reach_every_loader():
    dls = DataLoaders.from_dsets(
        list(range(10)),
        list(range(4)),
        bs=4,
        shuffle=False,
        after_item=lambda x: x * 10,
        device="cpu",
        path="p",
    )
    assert dls.train.one_batch().tolist() == [0, 10, 20, 30] and not dls.train.drop_last
    assert dls.valid.one_batch().tolist() == [0, 10, 20, 30] and dls.valid.device == torch.device("cpu")
    assert dls.path == Path("p")
    assert DataLoaders.from_dsets(list(range(10)), drop_last=False).train.drop_last is False
    with pytest.raises(ValueError, match="at least one dataset"):
        DataLoaders.from_dsets()


def test_plain_torch_loaders_are_kept_as_they_are():
    """The paper's 'incrementally adapting PyTorch code' example: plain loaders, untouched."""
    train_ds = TensorDataset(torch.randn(20, 3), torch.randint(0, 2, (20,)))
    valid_ds = TensorDataset(torch.randn(8, 3), torch.randint(0, 2, (8,)))
    train, valid = (
        TorchDataLoader(train_ds, batch_size=4, shuffle=True),
        TorchDataLoader(valid_ds, batch_size=4),
    )
    dls = DataLoaders(train, valid)
    assert dls.train is train and dls.valid is valid and dls.device is None
    assert dls.train_ds is train_ds and dls.valid_ds is valid_ds and dls.n_inp == 1
    dls.device = "cpu"  # nothing to move: recorded for the Learner
    assert dls.device == torch.device("cpu") and dls.train is train
    x, y = next(iter(dls.valid))
    assert x.shape == (4, 3) and y.shape == (4,)


def test_repr_is_readable():
    text = repr(DataLoaders(DataLoader(list(range(4)), bs=2), TorchDataLoader(list(range(3)), batch_size=3)))
    assert text.startswith("DataLoaders(train=DataLoader(dataset=list[4], bs=2")
    assert "valid=torch DataLoader(dataset=list[3], batch_size=3)" in text and "device=None" in text


def test_one_batch_and_show_batch_shortcuts_use_the_training_loader():
    from lamina.core.data.datasets import Datasets

    splits = [list(range(16)), [16, 17]]
    dsets = Datasets(list(range(20)), tfms=[[lambda x: x * 2], [lambda x: x % 2]], splits=splits)
    dls = dsets.dataloaders(bs=4, shuffle_train=False)
    xb, yb = dls.one_batch()
    assert xb.tolist() == [0, 2, 4, 6] and yb.tolist() == [0, 1, 0, 1]
    shown = dls.show_batch(max_n=2, show=False)
    assert shown is not None
