"""The tabular demo trains on the shipped samples and writes its tables."""

from lamina.core.plugins import registry
from lamina.tabular.demo import demo


def test_demo_beats_the_majority_class_and_writes_its_tables(tmp_path):
    figures = demo(tmp_path, quick=True)
    assert figures["adult accuracy"] > 0.80  # majority class ('<=50K') is about 0.76 in the sample
    assert figures["penguins accuracy"] > 0.90  # majority class is about 0.44
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == [
        "adult_show_batch.html",
        "adult_show_results.html",
        "penguins_show_batch.html",
        "penguins_show_results.html",
    ]
    assert "<table" in (tmp_path / "adult_show_results.html").read_text()


def test_demo_is_registered_for_the_main_job():
    assert registry.demos["tabular"] is demo
