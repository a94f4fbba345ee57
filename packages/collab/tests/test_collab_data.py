"""CollabDataLoaders: a ratings table as tabular loaders with the user and item as categories."""

import numpy as np
import pandas as pd
import pytest
import torch

from lamina.collab.data import CollabDataLoaders, UnseenIdError
from lamina.tabular.checks import MissingColumnError
from lamina.tabular.data import TabularDataLoaders
from lamina.tabular.procs import Categorify


@pytest.fixture
def tiny() -> pd.DataFrame:
    """Ratings with the columns in an unusual order and a spare column."""
    return pd.DataFrame(
        {
            "stars": [1.0, 2.0, 3.0, 4.0, 5.0, 4.5, 3.5, 2.5, 1.5, 0.5],
            "who": ["ann", "bob", "cid", "ann", "bob", "cid", "ann", "bob", "cid", "ann"],
            "what": ["x", "y", "z", "y", "z", "x", "z", "x", "y", "x"],
            "note": list("abcdefghij"),
        }
    )


def test_defaults_are_the_first_three_columns(ratings):
    dls = CollabDataLoaders.from_df(ratings, bs=64, seed=42)
    assert isinstance(dls, CollabDataLoaders) and isinstance(dls, TabularDataLoaders)
    assert (dls.user_name, dls.item_name, dls.rating_name) == ("userId", "movieId", "rating")
    assert dls.cat_names == ["userId", "movieId"] and dls.cont_names == [] and dls.y_names == ["rating"]
    assert "timestamp" not in dls.tabular.all_col_names


def test_built_on_tabular_pandas_with_categorify(ratings):
    dls = CollabDataLoaders.from_df(ratings, seed=0)
    assert any(isinstance(p, Categorify) for p in dls.procs)
    classes = dls.classes
    assert set(classes) == {"userId", "movieId"}
    train = ratings.iloc[np.sort(_train_positions(dls, ratings))]
    for name in ("userId", "movieId"):
        assert classes[name][0] == "#na#"
        assert list(classes[name])[1:] == sorted(train[name].unique().tolist())


def _train_positions(dls, ratings) -> np.ndarray:
    """The positions in `ratings` of the training rows (the table keeps the original index)."""
    return ratings.index.get_indexer(dls.train.dataset.items.index)


def test_valid_pct_and_seed(ratings):
    dls = CollabDataLoaders.from_df(ratings, valid_pct=0.1, seed=1)
    assert len(dls.valid.dataset) == int(0.1 * len(ratings))
    assert len(dls.train.dataset) + len(dls.valid.dataset) == len(ratings)
    again = CollabDataLoaders.from_df(ratings, valid_pct=0.1, seed=1)
    other = CollabDataLoaders.from_df(ratings, valid_pct=0.1, seed=2)
    valid_rows = list(dls.valid.dataset.items.index)
    assert list(again.valid.dataset.items.index) == valid_rows
    assert list(other.valid.dataset.items.index) != valid_rows
    assert torch.equal(dls.one_batch()[0], again.one_batch()[0])  # the seed fixes the shuffling too


def test_batches_hold_user_and_item_indices_and_the_rating(ratings):
    dls = CollabDataLoaders.from_df(ratings, bs=32, seed=42)
    x_cat, x_cont, y = dls.one_batch()
    assert x_cat.shape == (32, 2) and x_cat.dtype == torch.int64
    assert x_cont.shape == (32, 0)
    assert y.shape == (32, 1) and y.dtype == torch.float32
    users = [dls.classes["userId"][i] for i in x_cat[:, 0].tolist()]
    items = [dls.classes["movieId"][i] for i in x_cat[:, 1].tolist()]
    lookup = ratings.set_index(["userId", "movieId"])["rating"]
    expected = [lookup[(u, m)] for u, m in zip(users, items)]
    assert y[:, 0].tolist() == pytest.approx(expected)


def test_named_columns_and_other_kwargs(tiny):
    dls = CollabDataLoaders.from_df(
        tiny, valid_pct=0.2, user_name="who", item_name="what", rating_name="stars", seed=0, bs=4, val_bs=2
    )
    assert (dls.user_name, dls.item_name, dls.rating_name) == ("who", "what", "stars")
    assert list(dls.classes["who"]) == ["#na#", *sorted(set(dls.train.dataset.items.index.map(tiny["who"])))]
    assert dls.train.bs == 4 and dls.valid.bs == 2
    assert dls.show_batch(show=False).columns.tolist() == ["who", "what", "stars"]


def test_from_csv(ratings_csv, ratings):
    dls = CollabDataLoaders.from_csv(ratings_csv, seed=42, bs=16)
    assert dls.train.bs == 16
    assert len(dls.train.dataset) + len(dls.valid.dataset) == len(ratings)
    with pytest.raises(FileNotFoundError, match="no CSV file at"):
        CollabDataLoaders.from_csv(ratings_csv.parent / "nope.csv")


def test_path_is_kept(ratings, tmp_path):
    assert CollabDataLoaders.from_df(ratings, path=tmp_path, seed=0).path == tmp_path


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"user_name": "user"}, MissingColumnError, "user_name names the column 'user'"),
        ({"rating_name": "ratings"}, MissingColumnError, "Close matches: 'rating'"),
        ({"item_name": "userId"}, ValueError, "three different columns"),
        ({"valid_pct": 1.5}, ValueError, "valid_pct"),
    ],
)
def test_bad_arguments_are_named(ratings, kwargs, error, message):
    with pytest.raises(error, match=message):
        CollabDataLoaders.from_df(ratings, **kwargs)


def test_bad_tables_are_explained(ratings):
    with pytest.raises(TypeError, match="pandas DataFrame"):
        CollabDataLoaders.from_df(ratings.to_numpy())
    with pytest.raises(ValueError, match="no rows"):
        CollabDataLoaders.from_df(ratings.iloc[:0])
    with pytest.raises(MissingColumnError, match="only 2 column"):
        CollabDataLoaders.from_df(ratings[["userId", "movieId"]])
    holes = ratings.copy()
    holes.loc[7, "movieId"] = np.nan
    with pytest.raises(ValueError, match=r"'movieId' has 1 missing value\(s\) \(e.g. row 7\)"):
        CollabDataLoaders.from_df(holes)
    words = ratings.astype({"rating": object})
    words.loc[3, "rating"] = "good"
    with pytest.raises(ValueError, match="'good'"):
        CollabDataLoaders.from_df(words)


def test_test_dl_processes_known_pairs(ratings):
    dls = CollabDataLoaders.from_df(ratings, seed=42)
    new = pd.DataFrame({"userId": [15, 15], "movieId": [1, 10]})
    x_cat, _ = dls.test_dl(new).one_batch()
    assert [dls.classes["userId"][i] for i in x_cat[:, 0].tolist()] == [15, 15]
    assert [dls.classes["movieId"][i] for i in x_cat[:, 1].tolist()] == [1, 10]


def test_test_dl_names_unseen_users_and_items(ratings):
    dls = CollabDataLoaders.from_df(ratings, seed=42)
    with pytest.raises(UnseenIdError, match=r"'userId' value\(s\) 99999, 123456 \(first at row 1\)") as info:
        dls.test_dl(pd.DataFrame({"userId": [15, 99999, 123456], "movieId": [1, 1, 1]}))
    assert info.value.column == "userId" and info.value.values == [99999, 123456]
    with pytest.raises(UnseenIdError, match="'movieId' value"):
        dls.test_dl(pd.DataFrame({"userId": [15], "movieId": [-4]}))
    with pytest.raises(UnseenIdError, match="str values but the vocabulary holds int values"):
        dls.test_dl(pd.DataFrame({"userId": ["15"], "movieId": [1]}))
    with pytest.raises(ValueError, match="'userId' has 1 missing value"):
        dls.test_dl(pd.DataFrame({"userId": [None], "movieId": [1]}))
