"""collab_learner and CollabLearner.predict: the model it builds, its options, prediction, errors."""

import pandas as pd
import pytest
import torch

from lamina.collab.data import CollabDataLoaders, UnseenIdError
from lamina.collab.learner import CollabLearner, collab_learner
from lamina.collab.models import EmbeddingDotBias, EmbeddingNN
from lamina.core.layers.basic import SigmoidRange
from lamina.core.losses import L1LossFlat, MSELossFlat
from lamina.core.plugins import registry
from lamina.tabular.data import TabularDataLoaders
from lamina.tabular.model import emb_sz_rule
from lamina.tabular.procs import Categorify


@pytest.fixture
def dls(ratings) -> CollabDataLoaders:
    return CollabDataLoaders.from_df(ratings, bs=64, seed=42)


def test_dot_product_model_by_default(dls):
    learn = collab_learner(dls, n_factors=20, y_range=[0, 5.5])
    assert isinstance(learn, CollabLearner)
    model = learn.model
    assert isinstance(model, EmbeddingDotBias)
    assert model.u_weight.weight.shape == (101, 20) and model.i_weight.weight.shape == (101, 20)
    assert model.y_range == (0.0, 5.5)
    assert (model.user_name, model.item_name) == ("userId", "movieId")
    assert isinstance(learn.loss_func, MSELossFlat)
    assert collab_learner(dls).model.u_weight.weight.shape[1] == 50  # n_factors defaults to 50


def test_neural_model(dls):
    learn = collab_learner(dls, use_nn=True, y_range=(0, 5.5))
    model = learn.model
    assert isinstance(model, EmbeddingNN)
    assert [tuple(e.weight.shape) for e in model.embeds] == [(101, emb_sz_rule(101))] * 2
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [50, 1]  # layers default to [n_factors]
    assert isinstance(model.layers[-1], SigmoidRange)


def test_neural_model_options(dls):
    learn = collab_learner(
        dls,
        use_nn=True,
        emb_szs={"movieId": 7},
        layers=[32, 16],
        config={"y_range": (1, 5), "embed_p": 0.2, "use_bn": False},
    )
    model = learn.model
    assert [tuple(e.weight.shape) for e in model.embeds] == [(101, emb_sz_rule(101)), (101, 7)]
    assert [m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear)] == [32, 16, 1]
    assert model.emb_drop.p == 0.2
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules())
    assert (model.layers[-1].low, model.layers[-1].high) == (1, 5)
    override = collab_learner(dls, use_nn=True, y_range=(0, 9), config={"y_range": (1, 5)})
    assert override.model.layers[-1].high == 9


def test_learner_options_are_passed_on(dls):
    learn = collab_learner(dls, loss_func=L1LossFlat(), lr=3e-3, wd=0.1)
    assert isinstance(learn.loss_func, L1LossFlat)
    assert (learn.lr, learn.wd) == (3e-3, 0.1)


def test_bad_data_and_arguments_are_explained(dls, ratings):
    with pytest.raises(TypeError, match="collab_learner expects CollabDataLoaders"):
        collab_learner(ratings)
    tabular = TabularDataLoaders.from_df(
        ratings,
        procs=[Categorify],
        cat_names=["userId", "movieId"],
        cont_names=["timestamp"],
        y_names="rating",
    )
    with pytest.raises(ValueError, match="exactly two categorical columns"):
        collab_learner(tabular)
    with pytest.raises(ValueError, match="layers only apply to the neural model"):
        collab_learner(dls, layers=[10])
    with pytest.raises(TypeError, match="tabular_config: unknown argument"):
        collab_learner(dls, use_nn=True, config={"dropout": 0.5})
    with pytest.raises(TypeError, match="emb_szs maps column names"):
        collab_learner(dls, use_nn=True, emb_szs=[4, 4])


def test_predict_one_pair(dls, ratings):
    torch.manual_seed(0)
    learn = collab_learner(dls, n_factors=10, y_range=(0, 5.5))
    with learn.quiet():
        learn.fit_one_cycle(1, 5e-3)
    row, rating, raw = learn.predict({"userId": 15, "movieId": 1, "rating": 99.0})
    assert 0 < rating < 5.5 and rating == pytest.approx(float(raw))
    assert row.loc[0, "userId"] == 15 and row.loc[0, "movieId"] == 1
    assert row.loc[0, "rating"] == pytest.approx(rating)  # the given rating is replaced by the prediction
    x = torch.tensor([[dls.classes["userId"].o2i[15], dls.classes["movieId"].o2i[1]]])
    learn.model.eval()
    assert rating == pytest.approx(float(learn.model(x).detach()), rel=1e-5)
    series_rating = learn.predict(ratings.iloc[0])[1]
    frame_rating = learn.predict(ratings.iloc[[0]])[1]
    expected = learn.predict({"userId": int(ratings.userId[0]), "movieId": int(ratings.movieId[0])})[1]
    assert series_rating == pytest.approx(expected) and frame_rating == pytest.approx(expected)


def test_predict_names_an_unseen_user_or_item(dls):
    learn = collab_learner(dls, n_factors=5)
    with pytest.raises(UnseenIdError, match=r"CollabLearner.predict: 'userId' value\(s\) 424242"):
        learn.predict({"userId": 424242, "movieId": 1})
    with pytest.raises(UnseenIdError, match=r"'movieId' value\(s\) 7") as info:
        learn.predict(pd.Series({"userId": 15, "movieId": 7}))
    assert info.value.values == [7]
    with pytest.raises(TypeError, match="expects a row as a dict"):
        learn.predict([15, 1])


def test_registered_as_the_collab_learner_factory():
    assert registry.learners["collab"] is collab_learner
    assert registry.learners.owner("collab") == "collab"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_trains_and_predicts_on_cuda(ratings):
    torch.manual_seed(0)
    dls = CollabDataLoaders.from_df(ratings, bs=64, seed=42, device="cuda")
    learn = collab_learner(dls, n_factors=10, y_range=(0, 5.5))
    with learn.quiet():
        learn.fit_one_cycle(1, 5e-3)
    assert next(learn.model.parameters()).device.type == "cuda"
    assert learn.model.bias([1, 10]).device.type == "cpu"
    assert 0 < learn.predict({"userId": 15, "movieId": 1})[1] < 5.5
