"""TabDataLoader and TabularDataLoaders: tensors made once, batches cut by index, decoding, test_dl."""

import numpy as np
import pandas as pd
import pytest
import torch

from lamina.core.data.blocks import MultiCategoryBlock
from lamina.core.data.transforms import Normalize
from lamina.core.losses import BCEWithLogitsLossFlat, CrossEntropyLossFlat, MSELossFlat
from lamina.tabular.core import TabularPandas
from lamina.tabular.data import TabularDataLoaders
from lamina.tabular.loader import TabDataLoader, TabularTensors
from lamina.tabular.procs import Categorify, FillMissing
from lamina.tabular.samples import (
    ADULT_CAT_NAMES,
    ADULT_CONT_NAMES,
    PENGUIN_CAT_NAMES,
    PENGUIN_CONT_NAMES,
    sample_csv,
)

PROCS = [Categorify, FillMissing, Normalize]


def adult_dls(adult, **kwargs):
    kwargs.setdefault("valid_idx", list(range(1600, 2000)))
    return TabularDataLoaders.from_df(
        adult, procs=PROCS, cat_names=ADULT_CAT_NAMES, cont_names=ADULT_CONT_NAMES, y_names="salary", **kwargs
    )


def test_batches_are_rows_of_the_processed_table(adult):
    dls = adult_dls(adult, bs=64, seed=0)
    train = dls.train
    assert (train.shuffle, train.drop_last, dls.valid.shuffle) == (True, True, False)
    assert (len(train), len(dls.valid)) == (1600 // 64, -(-400 // 64))
    cats, conts, ys = dls.valid.one_batch()
    assert (cats.dtype, conts.dtype, ys.dtype) == (torch.int64, torch.float32, torch.int64)
    assert (cats.shape, conts.shape, ys.shape) == ((64, 8), (64, 5), (64,))
    valid_items = dls.valid.dataset.items
    assert cats.tolist() == valid_items[ADULT_CAT_NAMES].iloc[:64].to_numpy().tolist()
    assert conts.numpy() == pytest.approx(valid_items[ADULT_CONT_NAMES].iloc[:64].to_numpy())
    assert ys.tolist() == valid_items["salary"].iloc[:64].tolist()
    seen = torch.cat([b[1][:, 0] for b in train])
    assert len(seen) == 25 * 64  # every batch full, the last partial one dropped


def test_an_epoch_covers_every_row_once_and_the_tensors_are_made_once(adult, monkeypatch):
    dls = adult_dls(adult, bs=100, seed=0, drop_last=False)
    calls = []
    original = TabularTensors.from_tabular.__func__
    monkeypatch.setattr(
        TabularTensors, "from_tabular", classmethod(lambda cls, to: calls.append(1) or original(cls, to))
    )
    train = dls.train
    order = []
    for _ in range(2):
        ages = torch.cat([b[1][:, 0] for b in train])
        order.append(ages)
    expected = np.sort(train.dataset.items["age"].to_numpy())
    assert np.sort(order[0].numpy()) == pytest.approx(expected)  # each row once per epoch
    assert not torch.equal(order[0], order[1])  # shuffled anew each epoch
    unshuffled = train.new(shuffle=False)
    assert torch.equal(unshuffled.one_batch()[0], unshuffled.tensors.cats[:100])
    assert calls == []  # iterating and new() reuse the tensors made when the loader was built


def test_create_batch_is_called_once_per_batch(adult):
    dls = adult_dls(adult, bs=128)
    seen = []

    class Counting(TabDataLoader):
        def create_batch(self, items):
            seen.append(len(items))
            return super().create_batch(items)

    dl = Counting(dls.valid.dataset, bs=128)
    batches = list(dl)
    assert seen == [128, 128, 128, 16] and len(batches) == 4


def test_loss_by_target_type(adult):
    assert isinstance(adult_dls(adult).loss_func, CrossEntropyLossFlat)
    reg = TabularDataLoaders.from_df(
        adult,
        procs=PROCS,
        cat_names=ADULT_CAT_NAMES,
        cont_names=["hours-per-week"],
        y_names="age",
        valid_idx=[0, 1],
    )
    assert isinstance(reg.loss_func, MSELossFlat)
    assert reg.one_batch()[2].shape == (64, 1) and reg.one_batch()[2].dtype == torch.float32
    df = adult.assign(rich=(adult.salary == ">50K").astype(int), male=(adult.sex == "Male").astype(int))
    multi = TabularDataLoaders.from_df(
        df,
        procs=PROCS,
        cat_names=["workclass"],
        cont_names=["age"],
        y_names=["rich", "male"],
        y_block=MultiCategoryBlock(encoded=True, vocab=["rich", "male"]),
    )
    assert isinstance(multi.loss_func, BCEWithLogitsLossFlat) and multi.c == 2
    assert multi.one_batch()[2].shape == (64, 2)


def test_show_batch_is_decoded(adult, capsys):
    dls = adult_dls(adult, bs=16, shuffle=False)
    shown = dls.show_batch(max_n=5)
    printed = capsys.readouterr().out
    expected = (
        adult.iloc[:5][ADULT_CAT_NAMES + ADULT_CONT_NAMES + ["salary"]].fillna("#na#").reset_index(drop=True)
    )
    pd.testing.assert_frame_equal(shown.astype(object), expected.astype(object))
    assert "Self-emp-not-inc" in printed or adult.iloc[0]["workclass"] in printed
    assert str(adult.iloc[0]["age"]) in printed


def test_show_results_puts_decoded_predictions_beside_the_rows(adult):
    dls = adult_dls(adult, bs=8)
    b = dls.valid.one_batch()
    out = torch.tensor([0, 1, 1, 0, 0, 0, 1, 0])
    shown = dls.valid.show_results(b, out, max_n=4, show=False)
    assert shown["salary_pred"].tolist() == ["<=50K", ">50K", ">50K", "<=50K"]
    assert shown["salary"].tolist() == adult["salary"].iloc[1600:1604].tolist()
    scores = torch.tensor([[0.9, 0.1], [0.2, 0.8]])  # class scores are argmaxed
    assert dls.valid.decode_preds(scores)["salary_pred"].tolist() == ["<=50K", ">50K"]


def test_test_dl_applies_the_learned_procs(penguins):
    dls = TabularDataLoaders.from_df(
        penguins,
        procs=PROCS,
        cat_names=PENGUIN_CAT_NAMES,
        cont_names=PENGUIN_CONT_NAMES,
        y_names="species",
        valid_idx=list(range(300, 344)),
    )
    assert dls.cat_names == PENGUIN_CAT_NAMES + [f"{n}_na" for n in PENGUIN_CONT_NAMES]
    new = pd.DataFrame(
        {
            "island": ["Atlantis", "Dream"],
            "sex": [None, "male"],
            "year": [2007, 2031],
            "bill_length_mm": [np.nan, 40.0],
            "bill_depth_mm": [18.0, 17.0],
            "flipper_length_mm": [200.0, np.nan],
            "body_mass_g": [4000.0, 3900.0],
        }
    )
    dl = dls.test_dl(new)
    cats, conts = dl.one_batch()  # no targets in the new rows
    names = dls.cat_names
    assert (
        cats[0, names.index("island")] == 0 and cats[0, names.index("sex")] == 0
    )  # unseen / missing -> #na#
    assert cats[1, names.index("year")] == 0  # a year the training rows never had
    assert cats[0, names.index("bill_length_mm_na")] == dls.classes["bill_length_mm_na"].o2i[True]
    assert not torch.isnan(conts).any()
    decoded = dl.decode((cats, conts)).items
    fill = next(p for p in dls.procs if isinstance(p, FillMissing))
    assert decoded["bill_length_mm"].iloc[0] == pytest.approx(fill.fill_values["bill_length_mm"], rel=1e-5)
    assert decoded["island"].tolist() == ["#na#", "Dream"]
    labelled = dls.test_dl(penguins.iloc[:3])
    assert labelled.one_batch()[2].tolist() == [dls.vocab.o2i[s] for s in penguins.species.iloc[:3]]
    assert len(dls.test_dl(penguins.iloc[:3], with_labels=False).one_batch()) == 2


def test_from_csv_and_dataloaders_settings():
    dls = TabularDataLoaders.from_csv(
        sample_csv("penguins"),
        procs=PROCS,
        cat_names=PENGUIN_CAT_NAMES,
        y_names="species",
        valid_idx=list(range(40)),
        bs=16,
        val_bs=40,
        seed=3,
    )
    assert dls.cont_names == PENGUIN_CONT_NAMES  # every other column
    assert dls.valid.bs == 40 and len(dls.valid) == 1
    assert dls.train.seed == 3
    only_train = TabularPandas(
        pd.read_csv(sample_csv("penguins")), PROCS, PENGUIN_CAT_NAMES, PENGUIN_CONT_NAMES, "species"
    )
    assert len(only_train.dataloaders(bs=32)) == 1  # no validation rows: one loader
    with pytest.raises(FileNotFoundError, match="no CSV file"):
        TabularDataLoaders.from_csv("/nowhere/table.csv")


def test_loader_errors_name_the_missing_proc(penguins):
    no_categorify = TabularPandas(
        penguins, [FillMissing, Normalize], PENGUIN_CAT_NAMES, PENGUIN_CONT_NAMES, "species"
    )
    with pytest.raises(TypeError, match="column 'island' holds .* values, not class indices; add Categorify"):
        no_categorify.dataloaders()
    no_fill = TabularPandas(
        penguins, [Categorify, Normalize], PENGUIN_CAT_NAMES, PENGUIN_CONT_NAMES, "species"
    )
    with pytest.raises(ValueError, match="column 'bill_length_mm' has 2 missing value.*add FillMissing"):
        no_fill.dataloaders()
    raw = TabularPandas(penguins, PROCS, PENGUIN_CAT_NAMES, PENGUIN_CONT_NAMES, "species", do_setup=False)
    with pytest.raises(RuntimeError, match="not processed"):
        TabDataLoader(raw)


def test_worker_processes_give_the_same_batches(adult):
    ours = [b[1] for b in adult_dls(adult, bs=200, seed=0, num_workers=2).train]
    single = [b[1] for b in adult_dls(adult, bs=200, seed=0).train]
    assert len(ours) == 8 and all(torch.equal(a, b) for a, b in zip(ours, single))


def test_samples_ship_with_the_package(adult, penguins, shared_data):
    full = pd.read_csv(shared_data / "tabular_sample" / "adult.csv")
    assert list(adult.columns) == list(full.columns) and len(adult) == 2000
    assert len(penguins) == 344 and penguins.species.nunique() == 3
    with pytest.raises(KeyError, match="no shipped sample 'iris'"):
        sample_csv("iris")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_batches_go_to_the_device(adult):
    dls = adult_dls(adult, device="cuda")
    assert all(t.device.type == "cuda" for t in dls.train.one_batch())
