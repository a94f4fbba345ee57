"""TfmdDL: pipelines as hooks, setup on the loader, split gating, decoding, showing; DataLoaders helpers."""

import pytest
import torch

from lamina.core.basics.collections import L
from lamina.core.data.datasets import Datasets
from lamina.core.data.load import DataLoader
from lamina.core.data.loaders import DataLoaders
from lamina.core.data.show import SampleTable
from lamina.core.data.tfmd_dl import TfmdDL, batch_to_samples
from lamina.core.data.tfmd_lists import TfmdLists
from lamina.core.pipeline import Pipeline
from lamina.core.tensors import TensorBase, TensorCategory
from lamina.core.transform import ItemTransform, Transform


class TensorNumber(TensorBase):
    """An input type for these tests."""


def to_number(x):
    return TensorNumber(float(x))


def is_even(x):
    return "even" if x % 2 == 0 else "odd"


class TinyCategorize(Transform):
    order = 1

    def setups(self, items):
        self.vocab = sorted(set(items))

    def encodes(self, x: str):
        return TensorCategory(self.vocab.index(x))

    def decodes(self, x: TensorCategory):
        return self.vocab[int(x)]


class Scale(Transform):
    """A batch transform whose factor is learned at setup from the loader's first batch."""

    def __init__(self):
        super().__init__()
        self.setup_calls, self.factor = 0, None

    def setups(self, dl):
        self.setup_calls += 1
        x, _ = dl.one_batch()
        self.factor = torch.tensor(float(x.abs().max()))

    def encodes(self, x: TensorNumber):
        return x / self.factor

    def decodes(self, x: TensorNumber):
        return x * self.factor


def make_dsets(n=20):
    return Datasets(
        range(n), [[to_number], [is_even, TinyCategorize()]], splits=[range(n - 6), range(n - 6, n)]
    )


def test_hooks_are_pipelines_that_run():
    dl = TfmdDL(
        make_dsets(),
        bs=4,
        after_item=ItemTransform(lambda t: (t[0] + 1, t[1])),
        before_batch=lambda items: items[::-1],
        after_batch=ItemTransform(lambda b: (b[0] * 10, b[1])),
    )
    assert all(isinstance(getattr(dl, h), Pipeline) for h in ("after_item", "before_batch", "after_batch"))
    x, y = dl.one_batch()
    assert x.tolist() == [40.0, 30.0, 20.0, 10.0] and type(x) is TensorNumber and type(y) is TensorCategory
    assert TfmdDL(make_dsets(), bs=4).after_batch.fs == L()


def test_pipelines_set_up_on_the_loader_and_kept_by_new():
    scale = Scale()
    dsets = make_dsets()
    dl = TfmdDL(dsets.train, bs=4, after_batch=scale)
    assert scale.setup_calls == 1 and float(scale.factor) == 3.0  # first batch of the training items: 0..3
    assert dl.one_batch()[0].tolist() == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0])
    valid = dl.new(dsets.valid)
    assert scale.setup_calls == 1 and valid.after_batch.fs[0] is scale and valid.bs == 4
    assert valid.one_batch()[0].tolist() == pytest.approx([14 / 3, 5.0, 16 / 3, 17 / 3])
    assert TfmdDL(dsets.train, bs=4, after_batch=Scale(), do_setup=False).after_batch.fs[0].factor is None


def test_split_idx_comes_from_the_dataset():
    train_only = Transform(lambda x: x + 100, split_idx=0)
    dsets = make_dsets()
    train, valid = TfmdDL(dsets.train, bs=2, after_batch=train_only), None
    valid = train.new(dsets.valid)
    assert train.after_batch.split_idx == 0 and valid.after_batch.split_idx == 1
    assert train.one_batch()[0].tolist() == [100.0, 101.0]
    assert valid.one_batch()[0].tolist() == [14.0, 15.0]


def test_decode_undoes_the_batch_transforms_and_restores_types():
    dsets = make_dsets()
    dl = TfmdDL(dsets.train, bs=4, after_batch=Scale())
    x, y = dl.one_batch()
    dx, dy = dl.decode((x, y))
    assert dx.tolist() == [0.0, 1.0, 2.0, 3.0] and type(dx) is TensorNumber and dx.device.type == "cpu"
    plain = (torch.Tensor(x).as_subclass(torch.Tensor), y.as_subclass(torch.Tensor))
    px, py = dl.decode(plain)  # e.g. what comes back from a model: plain tensors
    assert type(px) is TensorNumber and type(py) is TensorCategory and px.tolist() == dx.tolist()


def test_decode_batch_gives_decoded_samples():
    dl = TfmdDL(make_dsets().train, bs=4, after_batch=Scale())
    samples = dl.decode_batch(dl.one_batch(), max_n=3)
    assert isinstance(samples, L) and len(samples) == 3
    assert [(float(x), y) for x, y in samples] == [(0.0, "even"), (1.0, "odd"), (2.0, "even")]
    not_full = dl.decode_batch(dl.one_batch(), max_n=2, full=False)
    assert [y for _, y in not_full] == ["even", "odd"]


def test_n_inp_from_dataset_or_from_a_batch():
    assert TfmdDL(make_dsets(), bs=2).n_inp == 1
    three = Datasets(range(4), [[to_number], [to_number], [is_even, TinyCategorize()]])
    assert TfmdDL(three, bs=2).n_inp == 2
    plain = TfmdDL([(1.0, 2.0, 3.0)] * 4, bs=2)
    assert plain.n_inp == 2
    plain.n_inp = 1
    assert plain.n_inp == 1 and plain.new().n_inp == 1


def test_show_batch_generic_table_and_show_false():
    dl = TfmdDL(make_dsets().train, bs=4)
    table = dl.show_batch(max_n=3)
    assert isinstance(table, SampleTable) and str(table).splitlines() == [
        "#  x    y",
        "0  0.0  even",
        "1  1.0  odd",
        "2  2.0  even",
    ]
    x, y, samples = dl.show_batch(show=False, max_n=2)
    assert x.tolist() == [0.0, 1.0, 2.0, 3.0] and y.tolist() == [0, 1, 0, 1] and len(samples) == 2


def test_show_batch_unique_repeats_one_item():
    dl = TfmdDL(make_dsets().train, bs=4, shuffle=True)
    table = dl.show_batch(unique=True, max_n=4)
    assert [r[0] for r in table.rows] == ["0.0"] * 4
    assert "get_idxs" not in dl.__dict__


def test_show_batch_of_single_element_items():
    dl = TfmdDL(TfmdLists(range(5), [to_number]), bs=5)
    table = dl.show_batch(max_n=2)
    assert table.columns == ["x"] and table.rows == [["0.0"], ["1.0"]]


def test_show_results_adds_the_decoded_predictions():
    dl = TfmdDL(make_dsets().valid, bs=3)
    b = dl.one_batch()
    preds = torch.tensor([1, 1, 1])  # a plain tensor: typed and decoded like the targets
    table = dl.show_results(b, preds)
    assert table.columns == ["x", "y", "pred"]
    assert table.rows == [["14.0", "even", "odd"], ["15.0", "odd", "odd"], ["16.0", "even", "odd"]]
    x, y, samples, outs = dl.show_results(b, preds, show=False, max_n=2)
    assert list(outs) == [("odd",), ("odd",)] and len(samples) == 2


def test_batch_to_samples_keeps_structure_and_types():
    b = (TensorNumber([1.0, 2.0, 3.0]), ["a", "b", "c"], {"k": torch.tensor([4, 5, 6])})
    samples = batch_to_samples(b, max_n=2)
    assert len(samples) == 2 and samples[1][1] == "b" and samples[1][2] == {"k": torch.tensor(5)}
    assert type(samples[0][0]) is TensorNumber and float(samples[0][0]) == 1.0


def test_to_moves_batches_and_batch_transform_tensors():
    scale = Scale()
    dl = TfmdDL(make_dsets().train, bs=4, after_batch=scale)
    assert dl.to("cpu") is dl and scale.factor.device.type == "cpu" and dl.one_batch()[0].device.type == "cpu"
    dl.to("meta")  # a device other than the CPU that every machine has
    assert dl.device == torch.device("meta") and scale.factor.device.type == "meta"


def test_a_failing_pipeline_setup_names_the_hook():
    class Broken(Transform):
        def setups(self, dl):
            raise RuntimeError("no stats")

    with pytest.raises(RuntimeError, match=r"TfmdDL: setting up `after_batch`.*Broken.setups.*no stats"):
        TfmdDL(make_dsets(), bs=2, after_batch=Broken())


def test_a_failing_item_names_the_item_through_the_loader():
    def explode(x):
        if x == 5:
            raise ValueError("bad five")
        return x

    dl = TfmdDL(TfmdLists(range(8), [explode], do_setup=False), bs=4)
    with pytest.raises(
        Exception, match=r"item 5 \(value 5\) failed in transform 1/1 `[\w.<>]*explode`.*bad five"
    ):
        list(dl)


def test_workers_give_the_same_batches():
    dsets = make_dsets()
    kwargs = dict(bs=4, shuffle=True, seed=5, after_batch=Scale())
    zero = [b[0].tolist() for b in TfmdDL(dsets.train, num_workers=0, **kwargs)]
    two = [b[0].tolist() for b in TfmdDL(dsets.train, num_workers=2, **kwargs)]
    assert zero == two


# ---- DataLoaders helpers -----------------------------------------------------------------------------
def test_from_dsets_accepts_datasets_and_shares_the_setup():
    scale = Scale()
    dsets = make_dsets()
    dls = DataLoaders.from_dsets(dsets.train, dsets.valid, bs=4, after_batch=scale, seed=0)
    assert type(dls.train) is TfmdDL and type(dls.valid) is TfmdDL and scale.setup_calls == 1
    assert dls.train.shuffle and dls.train.drop_last and not dls.valid.shuffle and not dls.valid.drop_last
    assert dls.valid.after_batch.fs[0] is scale
    assert dls.valid.one_batch()[0].tolist()[0] == pytest.approx(14 / float(scale.factor))
    plain = DataLoaders.from_dsets(list(range(8)), list(range(4)), bs=4)
    assert type(plain.train) is DataLoader


def test_test_dl_applies_the_validation_transforms():
    valid_only = Transform(lambda x: x + 0.5, split_idx=1)
    train_only = Transform(lambda x: x - 1000, split_idx=0)
    dsets = Datasets(range(20), [[to_number, valid_only, train_only], [is_even, TinyCategorize()]],
                     splits=[range(14), range(14, 20)])  # fmt: skip
    dls = dsets.dataloaders(bs=4, after_batch=Scale())
    test = dls.test_dl([3, 4, 5])
    assert isinstance(test, TfmdDL) and test.bs == 4 and test.dataset.split_idx == 1
    (x,) = test.one_batch()
    factor = float(dls.train.after_batch.fs[0].factor)
    assert x.tolist() == pytest.approx([3.5 / factor, 4.5 / factor, 5.5 / factor])
    labelled = dls.test_dl([3, 4], with_labels=True, bs=2)
    assert labelled.bs == 2 and labelled.one_batch()[1].tolist() == [1, 0]
    with pytest.raises(ValueError, match="no test items"):
        dls.test_dl([])


def test_test_dl_with_untransformed_validation_data_uses_the_items():
    dls = DataLoaders(DataLoader(list(range(8)), bs=4), DataLoader(list(range(4)), bs=2))
    assert dls.test_dl([7, 8, 9]).one_batch().tolist() == [7, 8]


def test_from_dblock_calls_the_blocks_dataloaders():
    class FakeBlock:
        def dataloaders(self, source, **kwargs):
            return ("built", source, kwargs)

    assert DataLoaders.from_dblock(FakeBlock(), "src", bs=3) == ("built", "src", {"bs": 3})
    with pytest.raises(TypeError, match="needs a DataBlock"):
        DataLoaders.from_dblock(object(), "src")
