"""tabular_learner for classification, regression and multi-label targets; predict and show_results."""

import numpy as np
import pandas as pd
import pytest
import torch

from lamina.core.data.blocks import CategoryBlock, MultiCategoryBlock
from lamina.core.data.transforms import Normalize
from lamina.core.layers.basic import SigmoidRange
from lamina.core.metrics import accuracy
from lamina.core.plugins import registry
from lamina.tabular.data import TabularDataLoaders
from lamina.tabular.learner import TabularLearner, tabular_learner
from lamina.tabular.model import TabularModel
from lamina.tabular.procs import Categorify, FillMissing
from lamina.tabular.samples import ADULT_CAT_NAMES, ADULT_CONT_NAMES, PENGUIN_CAT_NAMES, PENGUIN_CONT_NAMES

PROCS = [Categorify, FillMissing, Normalize]


@pytest.fixture
def penguin_dls(penguins):
    return TabularDataLoaders.from_df(
        penguins,
        procs=PROCS,
        cat_names=PENGUIN_CAT_NAMES,
        cont_names=PENGUIN_CONT_NAMES,
        y_names="species",
        valid_idx=list(range(0, 344, 5)),
        bs=32,
        seed=0,
    )


def fitted(dls, epochs, lr=1e-2, **kwargs):
    torch.manual_seed(0)
    learn = tabular_learner(dls, **kwargs)
    with learn.quiet():
        learn.fit_one_cycle(epochs, lr)
    return learn


def test_classification(penguin_dls):
    learn = fitted(penguin_dls, 8, metrics=accuracy)
    assert isinstance(learn, TabularLearner) and isinstance(learn.model, TabularModel)
    linears = [m for m in learn.model.modules() if isinstance(m, torch.nn.Linear)]
    assert [lin.out_features for lin in linears] == [200, 100, 3]  # default layers, 3 species
    losses = [row[1] for row in learn.recorder.values]
    assert losses[-1] < losses[0] and learn.recorder.values[-1][-1] > 0.9


def test_predict_returns_the_decoded_row_the_label_and_the_probabilities(penguins, penguin_dls):
    learn = fitted(penguin_dls, 8)
    row, label, probs = learn.predict(penguins.iloc[0])
    assert label == "Adelie" and list(learn.dls.vocab)[int(probs.argmax())] == label
    assert probs.shape == (3,) and float(probs.sum()) == pytest.approx(1.0)
    assert row["island"].tolist() == [penguins.island.iloc[0]] and row["species"].tolist() == ["Adelie"]
    assert row["bill_length_mm"].iloc[0] == pytest.approx(penguins.bill_length_mm.iloc[0], rel=1e-5)
    odd = {"island": "Atlantis", "sex": None, "year": 2007, "bill_length_mm": np.nan, "bill_depth_mm": 18.0,
           "flipper_length_mm": 190.0, "body_mass_g": 3700.0}  # fmt: skip
    row, label, probs = learn.predict(odd)  # an unseen island and missing values
    assert row["island"].tolist() == ["#na#"] and row["bill_length_mm_na"].tolist() == [True]
    assert label in list(learn.dls.vocab) and not torch.isnan(probs).any()
    with pytest.raises(ValueError, match="takes one row"):
        learn.predict(penguins.iloc[:2])
    with pytest.raises(TypeError, match="pandas Series, a dict or a one-row DataFrame"):
        learn.predict([1, 2, 3])


def test_show_results(penguin_dls):
    learn = fitted(penguin_dls, 8)
    shown = learn.show_results(max_n=6, show=False)
    assert len(shown) == 6 and set(shown["species_pred"]) <= {"Adelie", "Chinstrap", "Gentoo"}
    assert (shown["species_pred"] == shown["species"]).mean() > 0.6
    assert shown["island"].isin(["Biscoe", "Dream", "Torgersen"]).all()


def test_regression_with_y_range(adult):
    dls = TabularDataLoaders.from_df(
        adult,
        procs=PROCS,
        cat_names=ADULT_CAT_NAMES,
        cont_names=["education-num", "hours-per-week"],
        y_names="age",
        valid_idx=list(range(1600, 2000)),
        bs=64,
        seed=0,
    )
    learn = fitted(dls, 4, config={"y_range": (10.0, 95.0)})
    assert isinstance(learn.model.layers[-1], SigmoidRange) and learn.model.layers[-1].high == 95.0
    valid_losses = [row[1] for row in learn.recorder.values]
    baseline = float(((adult.age.iloc[1600:] - adult.age.iloc[:1600].mean()) ** 2).mean())
    assert valid_losses[-1] < baseline  # better than always answering the training mean
    row, value, raw = learn.predict(adult.iloc[1700])
    assert isinstance(value, float) and 10.0 < value < 95.0 and row["age"].iloc[0] == pytest.approx(value)
    assert float(raw[0]) == pytest.approx(value)


def test_multi_label(adult):
    df = adult.assign(
        rich=(adult.salary == ">50K").astype(int),
        married=adult["marital-status"].str.startswith("Married").astype(int),
    )
    dls = TabularDataLoaders.from_df(
        df,
        procs=PROCS,
        cat_names=["education", "occupation", "relationship", "sex"],
        cont_names=ADULT_CONT_NAMES,
        y_names=["rich", "married"],
        y_block=MultiCategoryBlock(encoded=True, vocab=["rich", "married"]),
        valid_idx=list(range(1600, 2000)),
        seed=0,
    )
    learn = fitted(dls, 4, n_out=None)
    assert learn.model.layers[-1][0].out_features == 2
    losses = [row[1] for row in learn.recorder.values]
    assert losses[-1] < losses[0]
    husband = df[df.relationship == "Husband"].iloc[0]
    row, labels, probs = learn.predict(husband)
    assert "married" in labels and probs.shape == (2,) and bool(((probs > 0) & (probs < 1)).all())
    assert row["married"].tolist() == [True]


def test_learner_options(penguin_dls):
    learn = tabular_learner(penguin_dls, layers=[16], emb_szs={"island": 7}, config={"ps": 0.1}, n_out=5)
    assert learn.model.embeds[0].weight.shape == (4, 7)
    assert learn.model.layers[-1][0].out_features == 5
    with pytest.raises(TypeError, match="expects TabularDataLoaders"):
        tabular_learner(object())
    with pytest.raises(TypeError, match="unknown argument"):
        tabular_learner(penguin_dls, config={"dropout": 0.1})


def test_integer_labels_with_a_category_block(penguins):
    df = penguins.assign(code=penguins.species.map({"Adelie": 0, "Chinstrap": 1, "Gentoo": 2}))
    dls = TabularDataLoaders.from_df(
        df, procs=PROCS, cat_names=PENGUIN_CAT_NAMES, cont_names=PENGUIN_CONT_NAMES, y_names="code",
        y_block=CategoryBlock(), valid_idx=list(range(0, 344, 5)), bs=32,
    )  # fmt: skip
    assert list(dls.vocab) == [0, 1, 2]
    learn = fitted(dls, 2)
    _, label, _ = learn.predict(df.iloc[0])
    assert label in (0, 1, 2)


def test_registered_with_the_kernel():
    assert registry.learners["tabular"] is tabular_learner
    assert (registry.datasets["ADULT_SAMPLE"].sample / "adult_sample.csv").is_file()  # works offline
    assert registry.classes["lamina.tabular.TabularModel"] is TabularModel
    for name in ("Categorify", "FillMissing", "TabularNormalize", "CategorizeTarget"):
        assert f"lamina.tabular.{name}" in registry.classes


def test_predict_needs_tabular_loaders(penguin_dls):
    learn = tabular_learner(penguin_dls)
    learn.dls = type("Other", (), {"train": None})()
    with pytest.raises(TypeError, match="needs TabularDataLoaders"):
        learn.predict(pd.Series({"island": "Dream"}))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fit_and_predict_on_the_gpu(penguins):
    dls = TabularDataLoaders.from_df(
        penguins, procs=PROCS, cat_names=PENGUIN_CAT_NAMES, cont_names=PENGUIN_CONT_NAMES, y_names="species",
        valid_idx=list(range(0, 344, 5)), bs=32, device="cuda",
    )  # fmt: skip
    learn = fitted(dls, 3, metrics=accuracy)
    assert next(learn.model.parameters()).device.type == "cuda"
    _, label, probs = learn.predict(penguins.iloc[0])
    assert label in list(dls.vocab) and probs.device.type == "cpu"
