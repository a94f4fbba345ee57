"""lamina-collab is found through its `lamina` entry point and registers its datasets."""

from pathlib import Path

import importlib_metadata
import pytest

from lamina.core.plugins import AUTOLOAD_ENV, plugin_info, registry, reset_plugins
from lamina.core.plugins.testing import project_on_path

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture
def collab_plugin(monkeypatch):
    """lamina-collab as installed (the real installation, else its metadata written from pyproject)."""
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    with project_on_path(PROJECT):
        reset_plugins()
        yield
    reset_plugins()


def test_found_through_the_entry_point(collab_plugin):
    (entry_point,) = importlib_metadata.entry_points(group="lamina", name="collab")
    assert entry_point.value == "lamina.collab.plugin"
    assert entry_point.dist.name == "lamina-collab"
    info = {i.name: i for i in plugin_info()}["collab"]
    assert (info.status, info.distribution, info.module) == (
        "loaded",
        "lamina-collab",
        "lamina.collab.plugin",
    )
    assert {"ML_SAMPLE", "ML_100k"} <= set(info.registered["datasets"])


def test_registers_the_public_dataset_addresses(collab_plugin):
    assert (
        registry.datasets["ML_SAMPLE"].url == "https://s3.amazonaws.com/fast-ai-sample/movie_lens_sample.tgz"
    )
    assert registry.datasets["ML_SAMPLE"].size == 51_790
    assert registry.datasets["ML_100k"].url == "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
    assert registry.datasets["ML_100k"].size is None
    assert registry.datasets.owner("ML_100k") == "collab"


def test_registers_the_learner_factory_and_the_demo(collab_plugin):
    from lamina.collab.demo import demo
    from lamina.collab.learner import collab_learner

    info = {i.name: i for i in plugin_info()}["collab"]
    assert "collab" in info.registered["learners"] and "collab" in info.registered["demos"]
    assert registry.learners["collab"] is collab_learner
    assert registry.demos["collab"] is demo
    assert registry.learners.owner("collab") == registry.demos.owner("collab") == "collab"


def test_model_classes_are_registered_once_by_their_module(collab_plugin):
    from lamina.collab.models import EmbeddingDotBias, EmbeddingNN

    registry.learners["collab"]  # loading the plugins imports the models
    assert registry.classes.name_of(EmbeddingDotBias) == "lamina.collab.EmbeddingDotBias"
    assert registry.classes.name_of(EmbeddingNN) == "lamina.collab.EmbeddingNN"
    assert registry.classes.owner("lamina.collab.EmbeddingDotBias") == "lamina.collab.models"
