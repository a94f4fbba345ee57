"""Kernel data transforms: Categorize & co, CategoryMap, OneHotEncode, ToTensor, Normalize, Cuda."""

import numpy as np
import pandas as pd
import pytest
import torch

from lamina.core.data.datasets import Datasets
from lamina.core.data.tfmd_lists import TfmdLists
from lamina.core.data.transforms import (
    NA_LABEL,
    Categorize,
    Category,
    CategoryMap,
    Cuda,
    EncodedMultiCategorize,
    MultiCategorize,
    MultiCategory,
    Normalize,
    OneHotEncode,
    RegressionSetup,
    ToTensor,
    UnknownLabelError,
    broadcast_vec,
    one_hot,
    one_hot_decode,
)
from lamina.core.tensors import TensorBase, TensorCategory, TensorMultiCategory


class TensorPicture(TensorBase):
    """A domain-like semantic type for the `tensor_type` tests."""


# ---- CategoryMap --------------------------------------------------------------------------------------
def test_category_map_sorted_distinct_labels_and_indices():
    vocab = CategoryMap(["b", "a", "b", "c"])
    assert list(vocab) == ["a", "b", "c"]
    assert vocab.o2i == {"a": 0, "b": 1, "c": 2}
    assert vocab.map_objs(["c", "a"]) == [2, 0]
    assert vocab.map_ids([1, 2]) == ["b", "c"]


def test_category_map_unsorted_keeps_first_appearance_and_skips_missing():
    vocab = CategoryMap(["z", None, "a", float("nan"), "z"], sort=False)
    assert list(vocab) == ["z", "a"]


def test_category_map_add_na_maps_unknown_to_zero():
    vocab = CategoryMap(["x", "y"], add_na=True)
    assert list(vocab) == [NA_LABEL, "x", "y"]
    assert vocab.index_of("never seen") == 0
    assert vocab.unknown(["x", "q", "q"]) == ["q"]


def test_category_map_keeps_pandas_categorical_order():
    col = pd.Series(["lo", "hi", "mid"], dtype=pd.CategoricalDtype(["lo", "mid", "hi"], ordered=True))
    assert list(CategoryMap(col)) == ["lo", "mid", "hi"]


def test_category_map_numpy_and_tensor_scalars_are_plain_keys():
    vocab = CategoryMap([np.int64(3), 1, torch.tensor(2)])
    assert list(vocab) == [1, 2, 3] and all(type(o) is int for o in vocab)


def test_category_map_clear_errors():
    with pytest.raises(TypeError, match="sort=False"):
        CategoryMap([1, "a"])
    with pytest.raises(TypeError, match="MultiCategorize"):
        CategoryMap([["a", "b"], ["c"]])


# ---- Categorize ---------------------------------------------------------------------------------------
def test_categorize_learns_vocab_from_training_items_only():
    labels = ["cat", "dog", "cat", "bird"]
    tl = TfmdLists(labels, [Categorize()], splits=[[0, 1, 2], [3]])
    cat = tl.tfms[0]
    assert list(cat.vocab) == ["cat", "dog"] and cat.c == 2
    assert type(tl[1]) is TensorCategory and int(tl[1]) == 1


def test_categorize_encode_decode_round_trip():
    cat = Categorize()
    cat.setup(["b", "a", "c"])
    x = cat("c")
    assert type(x) is TensorCategory and x.dim() == 0 and int(x) == 2
    decoded = cat.decode(x)
    assert type(decoded) is Category and decoded == "c"
    assert list(cat.decode(TensorCategory(torch.tensor([0, 2])))) == ["a", "c"]


def test_categorize_unknown_label_error_names_label_and_vocab():
    cat = Categorize()
    cat.setup(["3", "7"])
    with pytest.raises(KeyError) as info:
        cat("9")
    message = str(info.value)
    assert "'9'" in message and "['3', '7']" in message and "add_na=True" in message
    assert isinstance(info.value, UnknownLabelError)


def test_categorize_add_na_maps_unknown_to_na():
    cat = Categorize(add_na=True)
    cat.setup(["3", "7"])
    assert list(cat.vocab) == [NA_LABEL, "3", "7"]
    assert int(cat("9")) == 0 and cat.decode(cat("9")) == NA_LABEL


def test_categorize_given_vocab_and_sort_flag():
    assert list(Categorize(vocab=["b", "a"]).vocab) == ["a", "b"]
    unsorted = Categorize(vocab=["b", "a"], sort=False)
    unsorted.setup(["z"])  # a given vocab is kept at setup
    assert list(unsorted.vocab) == ["b", "a"] and int(unsorted("a")) == 1


def test_categorize_without_setup_says_so():
    with pytest.raises(RuntimeError, match="no vocabulary"):
        Categorize()("a")


def test_category_shows_as_title():
    assert Category("dog").show(ctx={}) == {"category": "dog"}
    assert MultiCategory(["a", "b"]).show(ctx={}) == {"category": "a;b"}


# ---- multi-label --------------------------------------------------------------------------------------
def test_multicategorize_then_one_hot_encode():
    items = [["a", "c"], ["b"], [], ["c"]]
    tl = TfmdLists(items, [MultiCategorize(), OneHotEncode()], splits=[[0, 1, 2], [3]])
    mc, ohe = tl.tfms.fs
    assert list(mc.vocab) == ["a", "b", "c"] and ohe.c == 3
    x = tl[0]
    assert type(x) is TensorMultiCategory and x.tolist() == [1.0, 0.0, 1.0] and x.dtype == torch.float32
    assert tl[2].tolist() == [0.0, 0.0, 0.0]
    assert list(tl.decode(x)) == ["a", "c"] and type(tl.decode(x)) is MultiCategory


def test_multicategorize_unknown_labels_named():
    mc = MultiCategorize()
    mc.setup([["a"], ["b"]])
    with pytest.raises(KeyError, match=r"\['z'\]"):
        mc(["a", "z"])
    assert mc.unknown([["a", "z"], ["y"]]) == ["z", "y"]


def test_multicategorize_single_string_is_one_label():
    mc = MultiCategorize(vocab=["ab", "c"])
    assert mc("ab").tolist() == [0]


def test_one_hot_encode_needs_class_count():
    with pytest.raises(ValueError, match="pass c="):
        OneHotEncode().setup([[1]])
    assert OneHotEncode(c=4)(TensorMultiCategory(torch.tensor([3]))).tolist() == [0, 0, 0, 1]


def test_one_hot_helpers():
    assert one_hot([0, 2], 3).tolist() == [1.0, 0.0, 1.0]
    assert one_hot_decode(torch.tensor([0.0, 1.0, 0.7]), ["a", "b", "c"]) == ["b", "c"]
    with pytest.raises(IndexError, match="out of range"):
        one_hot([5], 3)


def test_encoded_multicategorize():
    emc = EncodedMultiCategorize(["x", "y", "z"])
    x = emc([0, 1, 1])
    assert type(x) is TensorMultiCategory and x.tolist() == [0.0, 1.0, 1.0] and emc.c == 3
    assert list(emc.decode(x)) == ["y", "z"]
    with pytest.raises(ValueError, match="3 labels"):
        emc([1, 0])


# ---- regression, ToTensor -----------------------------------------------------------------------------
def test_regression_setup_floats_and_counts_outputs():
    rs = RegressionSetup()
    rs.setup([[1, 2], [3, 4]])
    assert rs.c == 2
    out = rs([1, 2])
    assert out.dtype == torch.float32 and out.tolist() == [1.0, 2.0]
    scalar = RegressionSetup()
    scalar.setup([3, 4])
    assert scalar.c == 1 and scalar(3).item() == 3.0
    with pytest.raises(TypeError, match="not a number"):
        scalar("abc")


def test_to_tensor_converts_numeric_arrays_and_leaves_others():
    t = ToTensor()
    out = t(np.arange(3))
    assert isinstance(out, torch.Tensor) and out.tolist() == [0, 1, 2]
    assert t("text") == "text"
    assert t((np.ones(2), 5))[1] == 5  # tuples element by element


# ---- Normalize ----------------------------------------------------------------------------------------
def test_broadcast_vec_shapes_per_channel_stats():
    mean, std = broadcast_vec(1, 4, [1.0, 2.0, 3.0], [0.5, 0.5, 0.5], cuda=False)
    assert mean.shape == (1, 3, 1, 1) and std.shape == (1, 3, 1, 1)
    with pytest.raises(ValueError, match="dim=4"):
        broadcast_vec(4, 4, [1.0])


def test_normalize_from_stats_and_decode_round_trip():
    norm = Normalize.from_stats([0.5, 0.25], [0.5, 2.0], cuda=False)
    x = TensorBase(torch.rand(3, 2, 4, 4))
    y = torch.tensor([1, 0, 1])
    xn, yn = norm((x, y))
    assert type(xn) is TensorBase and yn is y
    expected_c0 = (x[:, 0] - 0.5) / 0.5
    expected_c1 = (x[:, 1] - 0.25) / 2.0
    assert torch.allclose(xn[:, 0], expected_c0) and torch.allclose(xn[:, 1], expected_c1)
    back, _ = norm.decode((xn, yn))
    assert torch.allclose(back, x, atol=1e-6)


def test_normalize_stats_from_a_batch_at_setup():
    torch.manual_seed(0)
    x = TensorBase(torch.rand(64, 3, 5, 5) * 4 + 2)
    targets = torch.zeros(64)

    class OneBatch:  # what a data loader offers Normalize at setup
        n_inp = 1

        def one_batch(self):
            return (x, targets)

    norm = Normalize()
    norm.setup(OneBatch())
    assert norm.mean.shape == (1, 3, 1, 1)
    xn, _ = norm((x, targets))
    per_channel = xn.as_subclass(torch.Tensor).transpose(0, 1).reshape(3, -1)
    assert torch.allclose(per_channel.mean(1), torch.zeros(3), atol=1e-5)
    assert torch.allclose(per_channel.std(1), torch.ones(3), atol=1e-4)
    back, _ = norm.decode((xn, targets))
    assert torch.allclose(back, x, atol=1e-5)


def test_normalize_on_a_real_loader_through_datasets():
    items = list(range(50))
    tfms = [[lambda o: TensorBase(torch.full((2, 3, 3), float(o)))], [lambda o: o % 2]]
    dsets = Datasets(items, tfms, splits=[range(40), range(40, 50)])
    dls = dsets.dataloaders(bs=40, shuffle_train=False, after_batch=[Normalize()])
    x, _ = dls.train.one_batch()
    assert abs(float(x.mean())) < 1e-5 and abs(float(x.std()) - 1) < 0.05
    decoded_x, _ = dls.train.decode((x, _))
    assert torch.allclose(decoded_x[:, 0, 0, 0], torch.arange(40.0), atol=1e-4)


def test_normalize_kernel_default_touches_only_typed_inputs():
    norm = Normalize(mean=1.0, std=2.0, axes=(0,))
    x, y = TensorBase(torch.full((2, 2), 3.0)), TensorBase(torch.full((2,), 3.0))
    xn, yn = norm((x, y))
    assert torch.equal(xn, torch.ones(2, 2)) and yn is y  # n_inp=1: the target is left alone
    plain = torch.full((2, 2), 3.0)
    assert norm((plain, y))[0] is plain  # plain tensors are not "marked" inputs
    norm.n_inp = 2
    assert torch.equal(norm((x, y))[1], torch.ones(2))


def test_normalize_tensor_type_chosen_by_a_domain():
    norm = Normalize(mean=1.0, std=2.0, axes=(0,), tensor_type=TensorPicture)
    pic, other = TensorPicture(torch.full((2,), 5.0)), TensorBase(torch.full((2,), 5.0))
    out = norm((other, pic))
    assert out[0] is other and torch.equal(out[1], torch.full((2,), 2.0)) and type(out[1]) is TensorPicture

    class PictureNormalize(Normalize):
        tensor_type = TensorPicture

    assert torch.equal(PictureNormalize(mean=1.0, std=2.0)(pic), torch.full((2,), 2.0))
    with pytest.raises(TypeError, match="tensor class"):
        Normalize(tensor_type=int)


def test_normalize_clear_errors():
    with pytest.raises(ValueError, match="nothing to compute"):
        Normalize().setup(None)

    class Batches:
        n_inp = 1

        def __init__(self, b):
            self.b = b

        def one_batch(self):
            return self.b

    with pytest.raises(TypeError, match="no part of the batch"):
        Normalize().setup(Batches((torch.zeros(2, 3), torch.zeros(2))))
    with pytest.raises(ValueError, match="axes"):
        Normalize().setup(Batches((TensorBase(torch.zeros(2, 3)), torch.zeros(2))))
    with pytest.raises(RuntimeError, match="no mean/std"):
        Normalize()(TensorBase(torch.zeros(2)))


# ---- Cuda ---------------------------------------------------------------------------------------------
def test_cuda_moves_the_batch_and_decodes_to_cpu():
    tfm = Cuda(device="cpu")
    b = (TensorBase(torch.ones(2)), [torch.zeros(1)])
    out = tfm(b)
    assert out[0].device.type == "cpu" and type(out[0]) is TensorBase and isinstance(out[1], list)
    assert tfm.decode(out)[0].device.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_on_gpu_round_trip():
    tfm = Cuda()
    out = tfm((TensorCategory(torch.tensor([1, 2])),))
    assert out[0].device.type == "cuda" and type(out[0]) is TensorCategory
    assert tfm.decode(out)[0].device.type == "cpu"
    norm = Normalize.from_stats([0.5], [0.5])  # stats on the default device, used on the batch's device
    xn = norm(TensorBase(torch.ones(2, 1, 2, 2, device="cuda")))
    assert xn.device.type == "cuda" and torch.allclose(xn.cpu(), torch.ones(2, 1, 2, 2))
