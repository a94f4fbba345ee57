"""Acceptance on the real MovieLens sample (6,031 ratings of 100 users x 100 movies, shared data).

- The paper's code runs as written. With the default learning rate (1e-3) three one-cycle epochs only
  start the descent: validation MSE about 1.5 (from 2.0 untrained), still above predicting the training
  mean (0.87). A hand-written PyTorch loop (AdamW with the same betas/eps/weight decay, OneCycleLR, same
  model) lands at the same place, so this is the schedule, not the library.
- At the learning rate of fastai's collab lessons (5e-3), three epochs reach a validation MSE of 0.62
  against 0.87 for the training mean: a factor 0.71 (0.70-0.75 over seeds 0-4). We assert below 0.8x.
  The `use_nn=True` variant reaches a factor 0.72 (0.71-0.80 over seeds); we assert below 0.85x.
- The learned biases rank the movies and the users: the Spearman correlation of an item's bias with its
  mean training rating is about 0.9 (users: about 0.8); we assert above 0.7 for both.
"""

import numpy as np
import pandas as pd
import pytest
import torch

from lamina.collab.data import CollabDataLoaders, UnseenIdError
from lamina.collab.learner import collab_learner

DOT_FACTOR = 0.8
NN_FACTOR = 0.85


def _mean_baseline(dls) -> float:
    """Validation MSE of predicting the training ratings' mean."""
    train = dls.train.tensors.ys.double()
    valid = dls.valid.tensors.ys.double()
    return float(((valid - train.mean()) ** 2).mean())


def _valid_mse(learn) -> float:
    preds, targets = learn.get_preds()
    return float(((preds.double().reshape(-1) - targets.double().reshape(-1)) ** 2).mean())


def _spearman(a, b) -> float:
    return float(pd.Series(np.asarray(a)).rank().corr(pd.Series(np.asarray(b)).rank()))


@pytest.fixture
def trained(ratings):
    """The paper's learner trained at lr 5e-3 (under a second)."""
    torch.manual_seed(42)
    dls = CollabDataLoaders.from_df(ratings, bs=64, seed=42)
    learn = collab_learner(dls, n_factors=50, y_range=[0, 5.5])
    with learn.quiet():
        learn.fit_one_cycle(3, 5e-3)
    return ratings, dls, learn


def test_paper_code_runs(ratings):
    torch.manual_seed(42)
    dls = CollabDataLoaders.from_df(ratings, bs=64, seed=42)
    learn = collab_learner(dls, n_factors=50, y_range=[0, 5.5])
    untrained = _valid_mse(learn)
    with learn.quiet():
        learn.fit_one_cycle(3)
    valid_losses = [row[1] for row in learn.recorder.values]
    assert len(valid_losses) == 3
    assert valid_losses[0] > valid_losses[1] > valid_losses[2]
    assert valid_losses[-1] < 0.85 * untrained  # about 2.0 before training, 1.5 after
    assert valid_losses[-1] == pytest.approx(_valid_mse(learn), rel=1e-4)


def test_validation_mse_well_below_predicting_the_mean(trained):
    _, dls, learn = trained
    baseline, mse = _mean_baseline(dls), _valid_mse(learn)
    assert 0.8 < baseline < 0.95  # the spread of the real ratings (std 0.96)
    assert mse < DOT_FACTOR * baseline, f"valid MSE {mse:.3f} vs mean baseline {baseline:.3f}"


def test_neural_variant_trains(ratings):
    torch.manual_seed(42)
    dls = CollabDataLoaders.from_df(ratings, bs=64, seed=42)
    learn = collab_learner(dls, use_nn=True, y_range=[0, 5.5])
    with learn.quiet():
        learn.fit_one_cycle(3, 5e-3)
    baseline, mse = _mean_baseline(dls), _valid_mse(learn)
    assert mse < NN_FACTOR * baseline, f"valid MSE {mse:.3f} vs mean baseline {baseline:.3f}"


def test_biases_and_weights_by_movie_id(trained):
    ratings, dls, learn = trained
    train = ratings.loc[dls.train.dataset.items.index]
    movie_means = train.groupby("movieId")["rating"].mean()
    movie_ids = list(movie_means.index)  # ids as in the CSV, not vocabulary positions
    biases = learn.model.bias(movie_ids)
    assert biases.shape == (len(movie_ids),)
    assert _spearman(biases, movie_means.to_numpy()) > 0.7
    user_means = train.groupby("userId")["rating"].mean()
    assert _spearman(learn.model.bias(list(user_means.index), is_item=False), user_means.to_numpy()) > 0.7
    weights = learn.model.weight(movie_ids)
    assert weights.shape == (len(movie_ids), 50)
    position = dls.classes["movieId"].o2i[movie_ids[3]]
    assert torch.equal(weights[3], learn.model.i_weight.weight.detach()[position])
    best, worst = movie_means.idxmax(), movie_means.idxmin()
    assert float(learn.model.bias([best])) > float(learn.model.bias([worst]))


def test_unseen_user_is_named_at_prediction(trained):
    ratings, _, learn = trained
    unseen = int(ratings.userId.max()) + 1
    with pytest.raises(UnseenIdError, match=f"'userId' value\\(s\\) {unseen} .*not in the training data"):
        learn.predict({"userId": unseen, "movieId": int(ratings.movieId[0])})
    rating = learn.predict({"userId": int(ratings.userId[0]), "movieId": int(ratings.movieId[0])})[1]
    assert 0 < rating < 5.5
