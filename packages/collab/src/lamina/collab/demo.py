"""The collab demo (registered through `lamina_demos`): the paper's collaborative-filtering code on ratings.

The MovieLens sample is for non-commercial research use only, so it is not shipped with this package: the
demo downloads it with `untar_data(URLs.ML_SAMPLE)` when the network allows and otherwise trains on a
clearly labelled GENERATED ratings table (`synthetic_ratings`: a seeded low-rank model plus noise). It
prints which source it used and returns it among its figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from lamina.collab.data import CollabDataLoaders
from lamina.collab.learner import collab_learner
from lamina.core.data.download import DownloadError
from lamina.core.data.external import URLs, untar_data

__all__ = ["synthetic_ratings", "load_demo_ratings", "demo", "GENERATED_SOURCE"]

GENERATED_SOURCE = "GENERATED ratings (low-rank model plus noise, seeded; not real data)"


def synthetic_ratings(
    n_users: int = 100,
    n_items: int = 100,
    n_factors: int = 3,
    density: float = 0.6,
    noise: float = 0.4,
    seed: int = 0,
) -> pd.DataFrame:
    """A GENERATED ratings table `userId, movieId, rating` (not real data): each rating is a global mean plus
    a user bias, an item bias and the dot product of `n_factors` random user and item factors, plus gaussian
    noise of std `noise`, rounded to half stars in [0.5, 5]; a random `density` of the (user, item) pairs is
    kept. The same `seed` gives the same table."""
    if not 0 < density <= 1:
        raise ValueError(f"synthetic_ratings: density must be in (0, 1], got {density!r}")
    rng = np.random.default_rng(seed)
    users = rng.normal(0, 0.6, (n_users, n_factors))
    items = rng.normal(0, 0.6, (n_items, n_factors))
    user_bias, item_bias = rng.normal(0, 0.4, n_users), rng.normal(0, 0.5, n_items)
    scores = 3.6 + user_bias[:, None] + item_bias[None, :] + users @ items.T
    scores += rng.normal(0, noise, scores.shape)
    keep = rng.random(scores.shape) < density
    u, i = np.nonzero(keep)
    ratings = np.clip(np.round(scores[u, i] * 2) / 2, 0.5, 5.0)
    return pd.DataFrame({"userId": u + 1, "movieId": i * 10 + 1, "rating": ratings.astype(np.float32)})


def load_demo_ratings() -> tuple[pd.DataFrame, str]:
    """`(ratings, source)`: MovieLens' sample through `untar_data(URLs.ML_SAMPLE)`, or, when it cannot be
    downloaded (offline), `synthetic_ratings()` with `source == GENERATED_SOURCE`."""
    try:
        path = untar_data(URLs.ML_SAMPLE)
        return pd.read_csv(path / "ratings.csv"), f"MovieLens sample (URLs.ML_SAMPLE, {path})"
    except (DownloadError, OSError) as e:
        print(f"collab demo: URLs.ML_SAMPLE is not available ({type(e).__name__}: {str(e)[:120]}...)")
        return synthetic_ratings(), GENERATED_SOURCE


def _mse(preds: torch.Tensor, targets: torch.Tensor) -> float:
    return float(((preds.reshape(-1) - targets.reshape(-1)) ** 2).mean())


def _save_pictures(out_dir: Path, learn: Any, dls: CollabDataLoaders, source: str) -> list[Path]:
    try:
        from matplotlib.figure import Figure  # no pyplot: no backend or window needed
    except ImportError:
        print("collab demo: matplotlib is not installed, so no picture (pip install matplotlib)")
        return []
    train = dls.train.dataset.decode().items
    item_means = train.groupby(dls.item_name)[dls.rating_name].mean()
    biases = learn.model.bias(list(item_means.index)).numpy()
    fig = Figure(figsize=(10, 4), layout="constrained")
    loss_ax, bias_ax = fig.subplots(1, 2)
    loss_ax.plot(learn.recorder.losses, label="train (smoothed)")
    loss_ax.set(xlabel="batch", ylabel="MSE", title="training loss")
    loss_ax.legend()
    bias_ax.scatter(item_means.to_numpy(), biases, s=8)
    bias_ax.set(xlabel="mean training rating of the item", ylabel="learned item bias", title="item biases")
    fig.suptitle(f"collab_learner on {source}", fontsize=9)
    path = out_dir / "collab_training.png"
    fig.savefig(path, dpi=80)
    return [path]


def demo(out_dir: Path, quick: bool = False) -> dict[str, Any]:
    """Train `collab_learner(dls, n_factors=50, y_range=[0, 5.5])` (and its `use_nn=True` variant) on the
    ratings of `load_demo_ratings`; print the validation MSE against predicting the mean, and the items
    with the highest and lowest learned bias; save a picture into `out_dir`. Returns the figures.

    The models are tiny, so the demo trains on one torch thread (several threads only contend on a busy
    machine); the thread count is restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run_demo(Path(out_dir), quick)
    finally:
        torch.set_num_threads(threads)


def _run_demo(out_dir: Path, quick: bool) -> dict[str, Any]:
    out_dir.mkdir(parents=True, exist_ok=True)
    ratings, source = load_demo_ratings()
    print(f"collab demo: data source: {source}; {len(ratings)} ratings")
    epochs = 3 if quick else 5
    torch.manual_seed(42)
    dls = CollabDataLoaders.from_df(ratings, bs=64, seed=42)
    learn = collab_learner(dls, n_factors=50, y_range=[0, 5.5])
    with learn.no_bar():
        learn.fit_one_cycle(epochs, 5e-3)
    preds, targets = learn.get_preds()
    train_mean = float(dls.train.tensors.ys.mean())
    baseline = _mse(torch.full_like(targets, train_mean), targets)
    dot_mse = _mse(preds, targets)
    torch.manual_seed(42)
    nn_learn = collab_learner(dls, use_nn=True, layers=[100], y_range=[0, 5.5])
    with nn_learn.quiet():
        nn_learn.fit_one_cycle(epochs, 5e-3)
    nn_mse = _mse(nn_learn.get_preds()[0], targets)
    print(
        f"validation MSE: EmbeddingDotBias {dot_mse:.3f}, EmbeddingNN {nn_mse:.3f}; predicting the training "
        f"mean {baseline:.3f} (ratio {dot_mse / baseline:.2f})"
    )
    items = [o for o in dls.classes[dls.item_name] if o != "#na#"]
    order = np.argsort(learn.model.bias(items).numpy())
    lowest, highest = [items[i] for i in order[:3]], [items[i] for i in order[-3:]]
    print(f"items with the lowest learned bias: {lowest}; highest: {highest}")
    pictures = _save_pictures(out_dir, learn, dls, source)
    return {
        "source": "generated" if source == GENERATED_SOURCE else "MovieLens ML_SAMPLE",
        "valid_mse": round(dot_mse, 4),
        "valid_mse_nn": round(nn_mse, 4),
        "mean_baseline_mse": round(baseline, 4),
        "pictures": [p.name for p in pictures],
    }
