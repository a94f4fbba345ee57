"""export / load_learner for tabular learners: procs with their learned state, classification, regression and
multi-label targets, in this process and in a fresh one, from a plain-data file."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from lamina.core.data.blocks import CategoryBlock, MultiCategoryBlock, RegressionBlock
from lamina.core.data.transforms import Normalize
from lamina.core.learner.export import load_learner
from lamina.core.learner.learner import Learner
from lamina.core.plugins.manager import reset_plugins
from lamina.tabular.binning import BinStrategy
from lamina.tabular.data import TabularDataLoaders
from lamina.tabular.discretize import Discretize
from lamina.tabular.export import as_tabular_learner, load_tabular_learner
from lamina.tabular.learner import TabularLearner, tabular_learner
from lamina.tabular.procs import Categorify, FillMissing, FillStrategy, TabularNormalize
from lamina.tabular.samples import (
    ADULT_CAT_NAMES,
    ADULT_CONT_NAMES,
    PENGUIN_CAT_NAMES,
    PENGUIN_CONT_NAMES,
    load_sample,
)

VALID = list(range(0, 344, 5))


def fitted(dls, **kwargs):
    torch.manual_seed(0)
    learn = tabular_learner(dls, layers=[32, 16], **kwargs)
    with learn.quiet():
        learn.fit_one_cycle(2, 1e-2)
    return learn


def penguin_dls(penguins, y_names="species", y_block=None, procs=None):
    procs = procs or [FillMissing, Discretize(n_bins=6), Categorify, Normalize]
    return TabularDataLoaders.from_df(
        penguins,
        procs=procs,
        cat_names=PENGUIN_CAT_NAMES,
        cont_names=PENGUIN_CONT_NAMES,
        y_names=y_names,
        y_block=y_block,
        valid_idx=VALID,
        bs=32,
        seed=0,
    )


@pytest.fixture(scope="module")
def penguin_rows():
    from lamina.tabular.samples import load_sample

    return load_sample("penguins")


@pytest.fixture(scope="module")
def classifier(penguin_rows):
    return fitted(penguin_dls(penguin_rows))


def new_rows(df):
    """Rows the model never saw as they are: missing values, an unseen category, values beyond the bins."""
    rows = df.iloc[[3, 10, 150, 250, 300, 339]].copy()
    rows.loc[rows.index[1], "island"] = "Atlantis"
    rows.loc[rows.index[2], "body_mass_g"] = 9000.0
    return rows


def same_preds(a, b, rows):
    pa, _ = a.get_preds(dl=a.dls.test_dl(rows))
    pb, _ = b.get_preds(dl=b.dls.test_dl(rows))
    torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    return pa


def test_classifier_round_trips_with_every_proc_state(classifier, penguin_rows, tmp_path):
    loaded = load_learner(classifier.export(tmp_path / "penguins.lamina"))
    dls, ref = loaded.dls, classifier.dls
    assert isinstance(dls, TabularDataLoaders) and len(dls.valid.dataset) == 0  # no rows travel
    assert dls.cat_names == ref.cat_names and dls.cont_names == ref.cont_names and dls.y_names == ["species"]
    assert {k: list(v) for k, v in dls.classes.items()} == {k: list(v) for k, v in ref.classes.items()}
    assert list(dls.vocab) == ["Adelie", "Chinstrap", "Gentoo"] and dls.c == 3
    procs = {type(p): p for p in dls.procs}
    ref_procs = {type(p): p for p in ref.procs}
    assert procs[FillMissing].fill_values == ref_procs[FillMissing].fill_values
    assert procs[FillMissing].na_dict == ref_procs[FillMissing].na_dict
    assert procs[TabularNormalize].means == ref_procs[TabularNormalize].means
    assert procs[TabularNormalize].stds == ref_procs[TabularNormalize].stds
    edges, ref_edges = procs[Discretize].edges, ref_procs[Discretize].edges
    assert set(edges) == set(ref_edges) and all(np.array_equal(edges[k], ref_edges[k]) for k in edges)
    rows = new_rows(penguin_rows)
    preds = same_preds(classifier, loaded, rows)
    assert preds.shape == (6, 3)
    assert loaded.loss_func.__class__ is classifier.loss_func.__class__


def test_predict_after_loading_gives_the_same_row_label_and_probabilities(classifier, penguin_rows, tmp_path):
    file = classifier.export(tmp_path / "penguins.lamina")
    loaded = load_tabular_learner(file)
    assert isinstance(loaded, TabularLearner)
    for i in (0, 3, 200):  # row 3 has missing values
        frame, label, probs = loaded.predict(penguin_rows.iloc[i])
        ref_frame, ref_label, ref_probs = classifier.predict(penguin_rows.iloc[i])
        assert label == ref_label and label in ("Adelie", "Chinstrap", "Gentoo")
        torch.testing.assert_close(probs, ref_probs, rtol=0, atol=0)
        pd.testing.assert_frame_equal(frame, ref_frame)
    assert as_tabular_learner(loaded) is loaded


def test_regression_round_trips(penguin_rows, tmp_path):
    df = penguin_rows.dropna(subset=["body_mass_g"]).reset_index(drop=True)
    conts = [c for c in PENGUIN_CONT_NAMES if c != "body_mass_g"]
    dls = TabularDataLoaders.from_df(
        df,
        procs=[FillMissing(FillStrategy.mode), Categorify, Normalize],
        cat_names=PENGUIN_CAT_NAMES + ["species"],
        cont_names=conts,
        y_names="body_mass_g",
        y_block=RegressionBlock(),
        valid_idx=list(range(0, len(df), 5)),
        bs=32,
    )
    learn = fitted(dls, y_range=(2500.0, 6500.0))
    loaded = as_tabular_learner(load_learner(learn.export(tmp_path / "mass.lamina")))
    assert loaded.dls.c == 1 and loaded.dls.vocab is None
    preds = same_preds(learn, loaded, df.iloc[:12].drop(columns=["body_mass_g"]))
    assert preds.shape == (12, 1) and bool(((preds > 2500) & (preds < 6500)).all())
    _, value, _ = loaded.predict(df.iloc[7])
    assert isinstance(value, float) and value == learn.predict(df.iloc[7])[1]


def test_multi_label_round_trips(penguin_rows, tmp_path):
    df = penguin_rows.copy()
    labels = ["is_adelie", "is_big"]
    df["is_adelie"] = (df["species"] == "Adelie").astype(int)
    df["is_big"] = (df["body_mass_g"].fillna(0) > 4500).astype(int)
    dls = TabularDataLoaders.from_df(
        df,
        procs=[Categorify, FillMissing(FillStrategy.constant, fill_vals={"bill_depth_mm": 17.0}), Normalize],
        cat_names=PENGUIN_CAT_NAMES,
        cont_names=PENGUIN_CONT_NAMES,
        y_names=labels,
        y_block=MultiCategoryBlock(encoded=True, vocab=labels),
        valid_idx=VALID,
        bs=32,
    )
    learn = fitted(dls)
    loaded = load_tabular_learner(learn.export(tmp_path / "tags.lamina"))
    assert list(loaded.dls.vocab) == labels
    fill = next(p for p in loaded.dls.procs if isinstance(p, FillMissing))
    assert fill.fill_strategy is FillStrategy.constant and fill.fill_values["bill_depth_mm"] == 17.0
    same_preds(learn, loaded, df.iloc[:20])
    _, tags, probs = loaded.predict(df.iloc[3])
    ref_tags, ref_probs = learn.predict(df.iloc[3])[1:]
    assert tags == ref_tags and set(tags) <= set(labels)
    torch.testing.assert_close(probs, ref_probs, rtol=0, atol=0)


def test_adult_with_text_categories_and_quantile_bins(adult, tmp_path):
    dls = TabularDataLoaders.from_df(
        adult,
        procs=[Categorify, FillMissing, Discretize(n_bins=8, strategy=BinStrategy.quantile), Normalize],
        cat_names=ADULT_CAT_NAMES,
        cont_names=ADULT_CONT_NAMES,
        y_names="salary",
        y_block=CategoryBlock(),
        valid_idx=list(range(0, 2000, 4)),
        bs=64,
    )
    learn = fitted(dls)
    loaded = load_learner(learn.export(tmp_path / "adult.lamina"))
    assert "age_bin" in loaded.dls.classes
    assert list(loaded.dls.classes["age_bin"]) == list(learn.dls.classes["age_bin"])  # pd.Interval labels
    rows = adult.iloc[:50].copy()
    rows.loc[rows.index[0], "workclass"] = np.nan
    rows.loc[rows.index[1], "age"] = 120
    same_preds(learn, loaded, rows)


_FRESH_PROCESS = """
import json, sys
import pandas as pd
from lamina.core.learner.export import load_learner
learn = load_learner(sys.argv[1])
rows = pd.read_json(sys.argv[2], orient="split")
preds, _ = learn.get_preds(dl=learn.dls.test_dl(rows))
from lamina.tabular.export import as_tabular_learner
_, label, probs = as_tabular_learner(learn).predict(rows.iloc[0])
print(json.dumps({"preds": preds.tolist(), "label": label, "probs": probs.tolist()}))
"""


def test_a_fresh_process_loads_and_predicts_the_same(classifier, penguin_rows, tmp_path):
    file = classifier.export(tmp_path / "penguins.lamina")
    rows = new_rows(penguin_rows)
    rows_file = tmp_path / "rows.json"
    rows.to_json(rows_file, orient="split")
    rows = pd.read_json(rows_file, orient="split")  # what the other process reads
    expected, _ = classifier.get_preds(dl=classifier.dls.test_dl(rows))
    _, label, probs = classifier.predict(rows.iloc[0])
    done = subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS, str(file), str(rows_file)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    torch.testing.assert_close(torch.tensor(got["preds"]), expected, rtol=0, atol=1e-6)
    assert got["label"] == label
    assert got["probs"] == pytest.approx(probs.tolist(), abs=1e-6)


def test_the_file_is_plain_data_and_loads_after_a_registry_reset(classifier, penguin_rows, tmp_path):
    file = classifier.export(tmp_path / "penguins.lamina")
    payload = torch.load(file, weights_only=True)
    assert payload["pickled_parts"] == []
    assert payload["data"]["handler"] == "lamina.tabular.TabDataLoader"
    reset_plugins()  # the plugins load again on the next registry read, as in a new session
    loaded = load_learner(file)
    same_preds(classifier, loaded, penguin_rows.iloc[:10])


def test_as_tabular_learner_refuses_other_learners(classifier):
    from lamina.core.data.loaders import DataLoaders

    plain = Learner(DataLoaders([], []), torch.nn.Linear(1, 1), loss_func=torch.nn.MSELoss())
    with pytest.raises(TypeError, match="not TabularDataLoaders"):
        as_tabular_learner(plain)
    assert as_tabular_learner(classifier) is classifier


def test_load_learner_rebuilds_the_tabular_learner_class_so_predict_works(tmp_path):
    df = load_sample("penguins")
    dls = TabularDataLoaders.from_df(
        df,
        procs=[Categorify, FillMissing, Normalize],
        cat_names=["island", "sex"],
        cont_names=["bill_length_mm", "flipper_length_mm"],
        y_names="species",
        valid_idx=list(range(0, 344, 5)),
        bs=32,
    )
    learn = tabular_learner(dls, layers=[16])
    with learn.quiet():
        learn.fit(1, 1e-2)
    expected = learn.predict(df.iloc[3])
    loaded = load_learner(learn.export(tmp_path / "penguins.lamina"))
    assert isinstance(loaded, TabularLearner)
    got = loaded.predict(df.iloc[3])
    assert got[1] == expected[1] and torch.allclose(got[2], expected[2], atol=1e-6)
