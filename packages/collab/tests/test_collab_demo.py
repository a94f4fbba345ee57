"""The collab demo: MovieLens' sample through untar_data when it can be had, else GENERATED ratings."""

import importlib.util
import shutil

import numpy as np
import pytest
import torch

from lamina.collab import demo as demo_module
from lamina.collab.demo import GENERATED_SOURCE, demo, load_demo_ratings, synthetic_ratings
from lamina.core.data.download import DownloadUnreachableError


def test_synthetic_ratings_are_seeded_half_stars_in_range():
    a, b, c = synthetic_ratings(seed=3), synthetic_ratings(seed=3), synthetic_ratings(seed=4)
    assert list(a.columns) == ["userId", "movieId", "rating"]
    assert a.equals(b) and not a.equals(c)
    assert a.rating.between(0.5, 5.0).all() and ((a.rating * 2) % 1 == 0).all()
    assert a.userId.nunique() == 100 and a.movieId.nunique() == 100
    assert 0.5 < len(a) / 10_000 < 0.7  # density 0.6
    assert not a.duplicated(["userId", "movieId"]).any()
    with pytest.raises(ValueError, match="density"):
        synthetic_ratings(density=0)


def test_synthetic_ratings_follow_a_low_rank_model():
    dense = synthetic_ratings(density=1.0, noise=0.0, n_factors=2)
    matrix = dense.pivot(index="userId", columns="movieId", values="rating").to_numpy()
    centred = matrix - matrix.mean()
    energy = np.linalg.svd(centred, compute_uv=False) ** 2
    energy /= energy.sum()
    # biases (rank 2) + 2 factors: 4 components hold 96% of the variance; the rest is half-star rounding
    # and clipping, no other component above 0.3%
    assert energy[:4].sum() > 0.9 and energy[4:].max() < 0.01


def _offline(url):
    raise DownloadUnreachableError("could not reach the host (test)", url=str(url))


def test_falls_back_to_generated_ratings_offline_and_says_so(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(demo_module, "untar_data", _offline)
    ratings, source = load_demo_ratings()
    assert source == GENERATED_SOURCE and ratings.equals(synthetic_ratings())
    torch.set_num_threads(2)
    figures = demo(tmp_path / "out", quick=True)
    assert torch.get_num_threads() == 2  # the demo trains on one thread and restores the count
    printed = capsys.readouterr().out
    assert "data source: GENERATED ratings" in printed
    assert figures["source"] == "generated"
    assert figures["valid_mse"] < 0.7 * figures["mean_baseline_mse"]
    assert figures["valid_mse_nn"] < 0.7 * figures["mean_baseline_mse"]
    if importlib.util.find_spec("matplotlib") is not None:
        assert figures["pictures"] == ["collab_training.png"]
        assert (tmp_path / "out" / "collab_training.png").stat().st_size > 10_000
    else:
        assert figures["pictures"] == [] and "no picture" in printed


def test_uses_the_movielens_sample_when_untar_data_finds_it(monkeypatch, tmp_path, ratings_csv, capsys):
    folder = tmp_path / "movie_lens_sample"
    folder.mkdir()
    shutil.copy(ratings_csv, folder / "ratings.csv")
    monkeypatch.setattr(demo_module, "untar_data", lambda url: folder)
    ratings, source = load_demo_ratings()
    assert len(ratings) == 6_031 and "MovieLens sample" in source
    figures = demo(tmp_path / "out", quick=True)
    assert figures["source"] == "MovieLens ML_SAMPLE"
    assert "data source: MovieLens sample" in capsys.readouterr().out
    assert figures["valid_mse"] < 0.8 * figures["mean_baseline_mse"]
