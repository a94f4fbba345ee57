"""export / load_learner for collab learners: EmbeddingDotBias (with its user/item vocabularies, so `weight`
and `bias` by id keep working) and EmbeddingNN, in this process and in a fresh one."""

import json
import os
import subprocess
import sys

import pytest
import torch

from lamina.collab.data import CollabDataLoaders, UnseenIdError
from lamina.collab.learner import CollabLearner, collab_learner
from lamina.collab.models import EmbeddingDotBias, EmbeddingNN
from lamina.core.learner.export import load_learner
from lamina.tabular.export import as_tabular_learner, load_tabular_learner


def fitted(ratings, **kwargs):
    dls = CollabDataLoaders.from_df(ratings, bs=256, seed=42)
    torch.manual_seed(0)
    learn = collab_learner(dls, y_range=(0, 5.5), **kwargs)
    with learn.quiet():
        learn.fit_one_cycle(2, 5e-3)
    return learn


def same_preds(a, b, rows):
    pa, _ = a.get_preds(dl=a.dls.test_dl(rows))
    pb, _ = b.get_preds(dl=b.dls.test_dl(rows))
    torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    return pa


def test_dot_bias_round_trips_with_its_vocabularies(ratings, tmp_path):
    learn = fitted(ratings, n_factors=8)
    loaded = load_learner(learn.export(tmp_path / "ratings.lamina"))
    model = loaded.model
    assert isinstance(model, EmbeddingDotBias) and isinstance(loaded.dls, CollabDataLoaders)
    assert (model.user_name, model.item_name) == ("userId", "movieId")
    assert (loaded.dls.user_name, loaded.dls.item_name, loaded.dls.rating_name) == (
        "userId",
        "movieId",
        "rating",
    )
    movies = list(ratings["movieId"].unique()[:5])
    torch.testing.assert_close(model.bias(movies), learn.model.bias(movies), rtol=0, atol=0)
    torch.testing.assert_close(model.weight(movies), learn.model.weight(movies), rtol=0, atol=0)
    users = list(ratings["userId"].unique()[:3])
    torch.testing.assert_close(
        model.bias(users, is_item=False), learn.model.bias(users, is_item=False), rtol=0, atol=0
    )
    with pytest.raises(KeyError, match="not in the item vocabulary"):
        model.bias([-1])
    preds = same_preds(learn, loaded, ratings.iloc[:40].drop(columns=["rating"]))
    assert bool(((preds >= 0) & (preds <= 5.5)).all())


def test_predict_after_loading_and_unseen_ids(ratings, tmp_path):
    learn = fitted(ratings, n_factors=8)
    loaded = load_tabular_learner(learn.export(tmp_path / "ratings.lamina"))
    assert isinstance(loaded, CollabLearner)
    row = {"userId": int(ratings["userId"].iloc[0]), "movieId": int(ratings["movieId"].iloc[9])}
    _, rating, out = loaded.predict(row)
    ref_rating, ref_out = learn.predict(row)[1:]
    assert rating == ref_rating and 0 <= rating <= 5.5
    torch.testing.assert_close(out, ref_out, rtol=0, atol=0)
    with pytest.raises(UnseenIdError, match="were not in the training data"):
        loaded.predict({"userId": -5, "movieId": row["movieId"]})
    with pytest.raises(UnseenIdError):
        loaded.dls.test_dl(ratings.iloc[:3].assign(movieId=-1))


def test_neural_model_round_trips(ratings, tmp_path):
    learn = fitted(ratings, use_nn=True, layers=[16])
    loaded = as_tabular_learner(load_learner(learn.export(tmp_path / "nn.lamina")))
    assert isinstance(loaded.model, EmbeddingNN) and isinstance(loaded, CollabLearner)
    same_preds(learn, loaded, ratings.iloc[100:150])
    row = ratings.iloc[123]
    assert loaded.predict(row)[1] == learn.predict(row)[1]


def test_vocabs_are_checked(ratings):
    with pytest.raises(ValueError, match="user vocabulary 'u' has 2 values for n_users=3"):
        EmbeddingDotBias(4, 3, 2, vocabs=(("u", ["#na#", 1]), ("i", ["#na#", 7])))
    with pytest.raises(ValueError, match="vocabs must be"):
        EmbeddingDotBias(4, 2, 2, vocabs=(("u", ["#na#", 1]),))
    model = EmbeddingDotBias(4, 2, 3, vocabs={"u": ["#na#", 1], "i": ["#na#", "a", "b"]})
    assert model.weight(["b", "a"]).shape == (2, 4) and model.bias([1], is_item=False).shape == (1,)


_FRESH_PROCESS = """
import json, sys
import pandas as pd
from lamina.core.learner.export import load_learner
learn = load_learner(sys.argv[1])
rows = pd.read_csv(sys.argv[2])
preds, _ = learn.get_preds(dl=learn.dls.test_dl(rows))
print(json.dumps({"preds": preds.tolist(), "bias": learn.model.bias(list(rows["movieId"])).tolist()}))
"""


def test_a_fresh_process_loads_and_predicts_the_same(ratings, tmp_path):
    learn = fitted(ratings, n_factors=8)
    file = learn.export(tmp_path / "ratings.lamina")
    rows = ratings.iloc[:25][["userId", "movieId"]]
    rows_file = tmp_path / "rows.csv"
    rows.to_csv(rows_file, index=False)
    expected, _ = learn.get_preds(dl=learn.dls.test_dl(rows))
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
    assert got["bias"] == pytest.approx(learn.model.bias(list(rows["movieId"])).tolist(), abs=1e-7)
