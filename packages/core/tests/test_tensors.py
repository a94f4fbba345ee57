"""Behaviour of semantic tensors (`TensorBase` and friends) and the tensor helpers."""

import copy
import io
import pickle
from collections import namedtuple

import numpy as np
import pytest
import torch

from lamina.core.tensors import (
    TensorBase,
    TensorCategory,
    TensorMultiCategory,
    _rebuild_typed,
    as_plain,
    cast,
    default_device,
    retain_type,
    retain_types,
    tensor,
    to_cpu,
    to_detach,
    to_device,
    to_float,
    to_half,
)


class TensorImage(TensorBase):
    pass


class TensorImageBW(TensorImage):
    pass


class TensorMask(TensorBase):
    pass


def _img(**meta):
    return TensorImage(torch.arange(6.0).reshape(2, 3), **meta)


# construction -----------------------------------------------------------------------------------------


def test_construct_from_tensor_shares_data_and_sets_metadata():
    base = torch.zeros(4)
    t = TensorImage(base, img_size=(2, 2), label="x")
    assert type(t) is TensorImage
    assert t.__dict__ == {"img_size": (2, 2), "label": "x"}
    assert t.label == "x" and t.img_size == (2, 2)
    base[0] = 7.0
    assert t[0].item() == 7.0  # no copy


def test_construct_from_ndarray_list_and_scalar():
    arr = np.arange(3, dtype=np.float32)
    t = TensorBase(arr)
    arr[0] = 42.0
    assert t[0].item() == 42.0  # ndarray memory shared
    lst = TensorCategory([1, 2, 3])
    assert type(lst) is TensorCategory and lst.dtype == torch.int64 and lst.tolist() == [1, 2, 3]
    s = TensorBase(2.5)
    assert s.shape == () and s.item() == 2.5


def test_construct_from_typed_tensor_keeps_its_metadata_and_adds_new():
    t = TensorImageBW(_img(img_size=(2, 3)), pil_mode="L")
    assert type(t) is TensorImageBW and t.img_size == (2, 3) and t.pil_mode == "L"


def test_metadata_may_not_hide_tensor_attributes():
    with pytest.raises(ValueError, match="`shape`.*torch.Tensor"):
        TensorImage(torch.ones(1), shape=(1,))


def test_construct_bad_input_names_the_class():
    with pytest.raises(TypeError, match=r"TensorImage\(\): cannot make a tensor from object"):
        TensorImage(object())
    with pytest.raises(TypeError, match=r"TensorImage\(\) needs data"):
        TensorImage()


def test_category_classes():
    c = TensorMultiCategory([0, 1, 1])
    assert isinstance(c, TensorCategory) and isinstance(c, TensorBase) and isinstance(c, torch.Tensor)


# type and metadata survive ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "op",
    [
        lambda t: t + 1,
        lambda t: 1 + t,
        lambda t: t * t,
        lambda t: -t,
        lambda t: t[0],
        lambda t: t[:, 1:],
        lambda t: t[torch.tensor([1, 0])],
        lambda t: t.to("cpu"),
        lambda t: t.to(torch.float64),
        lambda t: t.cpu(),
        lambda t: t.clone(),
        lambda t: t.float(),
        lambda t: t.view(3, 2),
        lambda t: t.permute(1, 0),
        lambda t: t.sum(),
        lambda t: torch.exp(t),
        lambda t: torch.nn.functional.relu(t),
        lambda t: torch.where(t > 2, t, torch.zeros_like(t)),
    ],
)
def test_type_and_metadata_survive_ops(op):
    t = _img(img_size=(2, 3))
    r = op(t)
    assert type(r) is TensorImage
    assert r.img_size == (2, 3)
    assert r is t or r.__dict__ is not t.__dict__  # a new result owns its metadata dict (no-op .to returns t)


def test_results_are_correct_values():
    t = _img()
    plain = torch.arange(6.0).reshape(2, 3)
    assert torch.equal(as_plain(t * t + 1), plain * plain + 1)
    assert torch.equal(as_plain(t[:, 1]), plain[:, 1])


def test_cat_and_stack_of_one_type():
    a, b = _img(img_size=1), _img(img_size=1)
    for r, shape in [
        (torch.cat([a, b]), (4, 3)),
        (torch.stack((a, b)), (2, 2, 3)),
        (torch.cat((a, b), dim=1), (2, 6)),
    ]:
        assert type(r) is TensorImage and r.img_size == 1 and r.shape == shape


def test_tuple_and_structseq_results_are_typed():
    t = _img(img_size=1)
    parts = t.split(1)
    assert isinstance(parts, tuple) and all(type(p) is TensorImage and p.img_size == 1 for p in parts)
    mx = t.max(dim=0)
    assert type(mx).__name__ == "max" and type(mx.values) is TensorImage and type(mx.indices) is TensorImage
    assert mx.values.tolist() == [3.0, 4.0, 5.0]


def test_iteration_yields_typed_rows():
    rows = list(_img(img_size=1))
    assert len(rows) == 2 and all(type(r) is TensorImage and r.img_size == 1 for r in rows)
    with pytest.raises(TypeError, match="0-d"):
        iter(TensorImage(1.0))


def test_scalars_lists_and_numpy_are_plain_python():
    t = _img()
    assert type(t.sum().item()) is float and t.sum().item() == 15.0
    assert t.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    n = t.numpy()
    assert type(n) is np.ndarray and n.shape == (2, 3)
    assert float(t[0, 1]) == 1.0 and int(t[1, 0]) == 3 and bool(t[0, 1])
    assert type(t.shape) is torch.Size and t.dim() == 2 and len(t) == 2


def test_inplace_ops_return_the_same_object():
    t = _img(img_size=1)
    r = t.add_(1)
    assert r is t and t[0, 0].item() == 1.0
    t += 1
    assert type(t) is TensorImage and t.img_size == 1 and t[0, 0].item() == 2.0
    t[0, 0] = 10.0
    assert t[0, 0].item() == 10.0


def test_inplace_shape_changes_stay_consistent():
    t = _img(img_size=1)
    _ = t + 1  # the plain alias of t is now cached
    assert t.unsqueeze_(0) is t
    assert t.shape == (1, 2, 3) and (t + 1).shape == (1, 2, 3)
    t.squeeze_(0)
    assert tuple(t.shape) == (2, 3) and torch.Tensor.as_subclass(t, torch.Tensor).shape == (2, 3)
    t.resize_(6)
    assert t.shape == (6,) and (t * 2).shape == (6,)


def test_out_argument_fills_the_typed_tensor():
    t, out = _img(), TensorImage(torch.empty(0), tag="out")
    r = torch.add(t, 1, out=out)
    assert r is out and out.shape == (2, 3) and out.tag == "out" and out[1, 2].item() == 6.0


def test_repr_and_hash():
    t = _img()
    assert repr(t).startswith("TensorImage([[0., 1., 2.],")
    w = torch.ones(1, requires_grad=True)
    y = TensorImage(w * 2) * 3
    assert repr(y) == f"TensorImage([6.], grad_fn=<{type(y.grad_fn).__name__}>)"  # y's own grad_fn
    assert f"{t.sum():.1f}" == "15.0" and f"{t}" == repr(t)
    assert len({t, t, _img()}) == 2  # identity hash, stable across calls
    assert {t: "v"}[t] == "v"


# mixing types -----------------------------------------------------------------------------------------


def test_more_specific_subclass_wins():
    base = TensorBase(torch.ones(3), note="base")
    img = TensorImage(torch.ones(3), img_size="img")
    for r in (base + img, img + base, torch.cat([base, img])):
        assert type(r) is TensorImage and r.img_size == "img"


def test_unrelated_subclasses_first_argument_wins():
    img = TensorImage(torch.ones(3), img_size="img")
    mask = TensorMask(torch.ones(3), codes="mask")
    r1, r2 = img + mask, mask + img
    assert type(r1) is TensorImage and r1.img_size == "img" and "codes" not in r1.__dict__
    assert type(r2) is TensorMask and r2.codes == "mask"


def test_plain_tensors_never_change_the_type():
    img = TensorImage(torch.ones(3), img_size=1)
    plain = torch.ones(3)
    for r in (plain + img, img + plain, plain * img, torch.stack([plain, img])):
        assert type(r) is TensorImage and r.img_size == 1


# copying, pickling, saving ---------------------------------------------------------------------------


def test_deepcopy_copies_data_and_metadata():
    t = _img(info={"a": [1]})
    c = copy.deepcopy(t)
    assert type(c) is TensorImage and torch.equal(as_plain(c), as_plain(t))
    c[0, 0] = 99.0
    c.info["a"].append(2)
    assert t[0, 0].item() == 0.0 and t.info == {"a": [1]}


def test_deepcopy_of_a_leaf_keeps_requires_grad_and_refuses_non_leaves():
    leaf = TensorImage(torch.ones(2), img_size=1).requires_grad_()
    c = copy.deepcopy(leaf)
    assert c.requires_grad and c.img_size == 1 and type(c) is TensorImage
    with pytest.raises(RuntimeError, match="not a graph leaf"):
        copy.deepcopy(leaf * 2)


def test_pickle_roundtrip():
    t = _img(img_size=(2, 3))
    r = pickle.loads(pickle.dumps(t))
    assert type(r) is TensorImage and r.img_size == (2, 3) and torch.equal(as_plain(r), as_plain(t))


def test_torch_save_load_and_weights_only_behaviour():
    t = _img(img_size=(2, 3))
    buf = io.BytesIO()
    torch.save({"x": t, "y": TensorCategory([1])}, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    assert type(loaded["x"]) is TensorImage and loaded["x"].img_size == (2, 3)
    assert type(loaded["y"]) is TensorCategory
    buf.seek(0)
    with pytest.raises(pickle.UnpicklingError, match="_rebuild_typed"):
        torch.load(buf, weights_only=True)
    buf.seek(0)
    with torch.serialization.safe_globals([_rebuild_typed, TensorImage, TensorCategory]):
        allowed = torch.load(buf, weights_only=True)
    assert type(allowed["x"]) is TensorImage and allowed["x"].img_size == (2, 3)


# autograd ---------------------------------------------------------------------------------------------


def test_gradients_flow_through_typed_ops():
    w = torch.ones(3, requires_grad=True)
    y = TensorImage(w * 2, img_size=1)
    (y * y).sum().backward()
    assert torch.equal(w.grad, torch.full((3,), 8.0))


def test_typed_leaf_gets_its_grad():
    t = TensorImage(torch.ones(3), img_size=1)
    _ = t + 1  # cache a plain alias before requires_grad_ changes the tensor
    t.requires_grad_()
    assert t.requires_grad and t.is_leaf
    (t * 3).sum().backward()
    assert t.grad is not None and t.grad.tolist() == [3.0, 3.0, 3.0]


def test_hooks_and_retain_grad_on_a_typed_tensor_see_its_uses():
    w = torch.ones(2, requires_grad=True)
    t = TensorImage(w * 1)
    seen = []
    t.register_hook(lambda g: seen.append(g.tolist()))
    t.retain_grad()
    (t * 3).sum().backward()
    assert seen == [[3.0, 3.0]] and t.grad.tolist() == [3.0, 3.0]


def test_autograd_grad_with_respect_to_a_typed_intermediate():
    w = torch.ones(2, requires_grad=True)
    mid = TensorImage(w * 1) * 2  # a typed result that requires grad
    loss = (mid * mid).sum()
    (g,) = torch.autograd.grad(loss, mid, retain_graph=True)
    assert g.tolist() == [4.0, 4.0]
    loss.backward(inputs=[mid])
    assert mid.grad.tolist() == [4.0, 4.0] and w.grad is None


def test_ops_under_no_grad_do_not_break_later_gradients():
    w = torch.ones(2, requires_grad=True)
    t = TensorImage(w * 1)
    with torch.no_grad():
        assert not (t + 1).requires_grad
    (t * 2).sum().backward()
    assert w.grad.tolist() == [2.0, 2.0]


# retain_type, cast, tensor -----------------------------------------------------------------------------


def test_retain_type_retypes_a_plain_result_of_a_typed_input():
    img = _img(img_size=(2, 3))
    out = torch.Tensor.as_subclass(img * 2, torch.Tensor)
    r = retain_type(out, img)
    assert type(r) is TensorImage and r.img_size == (2, 3)


def test_retain_type_with_explicit_type_and_metadata_rules():
    new = TensorImage(torch.ones(2), img_size="new")
    old = TensorImage(torch.ones(2), img_size="old", extra=1)
    r = retain_type(new, old)
    assert r.img_size == "new" and r.extra == 1  # only what `new` lacks is copied
    assert type(retain_type(torch.ones(1), typ=TensorMask)) is TensorMask
    bw = TensorImageBW(torch.ones(1))
    assert type(retain_type(bw, _img())) is TensorImageBW  # already more specific: unchanged
    assert type(retain_type(torch.ones(1), TensorMask(torch.ones(1)))) is TensorMask
    unrelated = retain_type(TensorMask(torch.ones(1)), _img(img_size=1))
    assert type(unrelated) is TensorMask and "img_size" not in unrelated.__dict__  # unrelated: untouched
    more = retain_type(TensorImageBW(torch.ones(1)), _img(img_size=1))
    assert type(more) is TensorImageBW and more.img_size == 1
    assert type(retain_type(torch.ones(1), TensorImage)) is TensorImage  # `old` may be a class
    assert type(retain_type(TensorMask(torch.ones(1)), typ=TensorImage)) is TensorImage  # explicit typ wins
    with pytest.raises(TypeError, match="torch.Tensor subclass"):
        retain_type(torch.ones(1), typ=int)


def test_retain_type_leaves_non_tensors_alone():
    assert retain_type("text", _img()) == "text"
    assert retain_type(3, typ=TensorImage) == 3
    plain = torch.ones(1)
    assert retain_type(plain) is plain


def test_retain_types_elementwise():
    x, y = _img(img_size=1), TensorCategory([1])
    res = retain_types((torch.ones(1), torch.zeros(1), "s"), (x, y, None))
    assert [type(o) for o in res] == [TensorImage, TensorCategory, str]
    nested = retain_types(((torch.ones(1),), torch.ones(1)), ((x,), y))
    assert type(nested[0][0]) is TensorImage and type(nested[1]) is TensorCategory
    with pytest.raises(ValueError, match="2 new items but 1 old"):
        retain_types((torch.ones(1), torch.ones(1)), (x,))


def test_cast():
    img = _img(img_size=1)
    m = cast(img, TensorMask)
    assert type(m) is TensorMask and m.img_size == 1 and m.data_ptr() == img.data_ptr()
    p = cast(img, torch.Tensor)
    assert type(p) is torch.Tensor
    assert type(cast([1, 2], TensorCategory)) is TensorCategory
    assert cast(img, TensorImage) is img
    with pytest.raises(TypeError, match="must be a class"):
        cast(img, "TensorMask")


def test_tensor_helper():
    assert tensor(1, 2, 3).tolist() == [1, 2, 3]
    arrays = [np.ones(2), np.zeros(2)]
    assert tensor(arrays).shape == (2, 2)
    assert tensor([torch.ones(2), torch.ones(2)]).shape == (2, 2)
    t = torch.ones(2)
    assert tensor(t) is t
    assert tensor([1.0, 2.0], dtype=torch.float64).dtype == torch.float64
    with pytest.raises(ValueError, match="different shapes"):
        tensor([np.ones(2), np.ones(3)])
    with pytest.raises(TypeError, match="cannot make a tensor from object"):
        tensor(object())


# batch helpers ----------------------------------------------------------------------------------------

Pair = namedtuple("Pair", "a b")


def _batch():
    return {"x": (_img(img_size=1), [TensorCategory([1])]), "p": Pair(torch.ones(1, dtype=torch.float64), 3)}


def test_as_plain_strips_recursively():
    b = as_plain(_batch())
    x, (y,) = b["x"][0], b["x"][1]
    assert type(x) is torch.Tensor and type(y) is torch.Tensor
    assert isinstance(b["p"], Pair) and b["p"].b == 3 and isinstance(b["x"][1], list)


def test_device_and_dtype_helpers():
    b = _batch()
    moved = to_device(b, "cpu")
    assert type(moved["x"][0]) is TensorImage and moved["x"][0].img_size == 1
    assert to_cpu(b)["x"][0].device.type == "cpu"
    g = TensorImage(torch.ones(2, requires_grad=True) * 2)
    assert not to_detach({"g": g})["g"].requires_grad
    assert type(to_detach(g)) is TensorImage
    f = to_float(b)
    assert f["p"].a.dtype == torch.float32 and f["x"][1][0].dtype == torch.int64
    h = to_half(b)
    assert h["x"][0].dtype == torch.float16 and type(h["x"][0]) is TensorImage
    assert h["x"][1][0].dtype == torch.int64


def test_typed_items_survive_dataloader_collation_in_workers():
    from torch.utils.data import DataLoader

    items = [(TensorImage(torch.full((3,), float(i)), img_size=(1, 3)), TensorCategory(i)) for i in range(4)]
    for workers in (0, 1):
        x, y = next(iter(DataLoader(items, batch_size=4, num_workers=workers)))
        assert type(x) is TensorImage and x.img_size == (1, 3) and x.shape == (4, 3)
        assert type(y) is TensorCategory and y.tolist() == [0, 1, 2, 3]


def test_default_device():
    assert default_device(False) == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if (
        not torch.cuda.is_available()
        and getattr(torch.backends, "mps", None)
        and torch.backends.mps.is_available()
    ):
        expected = "mps"
    assert default_device().type == expected
    assert to_device(torch.ones(1)).device.type == expected


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_type_and_metadata_survive_cuda_round_trip():
    t = _img(img_size=1)
    g = t.cuda()
    assert type(g) is TensorImage and g.img_size == 1 and g.is_cuda
    assert type(g * 2) is TensorImage
    back = to_cpu(to_device({"t": t}, "cuda"))["t"]
    assert type(back) is TensorImage and back.img_size == 1 and back.device.type == "cpu"
