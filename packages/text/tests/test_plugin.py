"""lamina-text is found through its `lamina` entry point and registers its datasets."""

from pathlib import Path

import importlib_metadata
import pytest

from lamina.core.plugins import AUTOLOAD_ENV, plugin_info, registry, reset_plugins
from lamina.core.plugins.testing import project_on_path

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture
def text_plugin(monkeypatch):
    """lamina-text as installed (the real installation, else its metadata written from pyproject)."""
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    with project_on_path(PROJECT):
        reset_plugins()
        yield
    reset_plugins()


def test_found_through_the_entry_point(text_plugin):
    (entry_point,) = importlib_metadata.entry_points(group="lamina", name="text")
    assert entry_point.value == "lamina.text.plugin"
    assert entry_point.dist.name == "lamina-text"
    info = {i.name: i for i in plugin_info()}["text"]
    assert (info.status, info.distribution, info.module) == ("loaded", "lamina-text", "lamina.text.plugin")
    assert set(info.registered) == {"datasets"}
    assert {"IMDB", "IMDB_SAMPLE", "WIKITEXT", "WIKITEXT_TINY"} <= set(info.registered["datasets"])


def test_registers_the_public_dataset_addresses(text_plugin):
    expected = {
        "IMDB": "https://s3.amazonaws.com/fast-ai-nlp/imdb.tgz",
        "IMDB_SAMPLE": "https://s3.amazonaws.com/fast-ai-sample/imdb_sample.tgz",
        "WIKITEXT": "https://s3.amazonaws.com/fast-ai-nlp/wikitext-103.tgz",
        "WIKITEXT_TINY": "https://s3.amazonaws.com/fast-ai-nlp/wikitext-2.tgz",
    }
    for name, url in expected.items():
        assert registry.datasets[name].url == url
        assert registry.datasets.owner(name) == "text"
    assert registry.datasets["IMDB_SAMPLE"].size == 571_827
