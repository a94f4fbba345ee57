"""Shared fixtures for lamina-text's tests: the sample data and an isolated token cache."""

import os
from pathlib import Path

import pandas as pd
import pytest

from lamina.text.cache import CACHE_ENV

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real sample datasets: `$LAMINA_SHARED_DATA`, else `../shared/data` beside the repo."""
    path = Path(os.environ.get("LAMINA_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not path.exists():
        pytest.fail(f"sample data not found at {path}; set LAMINA_SHARED_DATA")
    return path


@pytest.fixture(scope="session")
def texts_df(shared_data) -> pd.DataFrame:
    """The 2,000 labelled review snippets (`label,text,is_valid`)."""
    return pd.read_csv(shared_data / "text_sample" / "texts.csv")


@pytest.fixture(autouse=True)
def _private_token_cache(tmp_path, monkeypatch):
    """Every test caches tokens under its own temporary folder, never in the user's cache."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "token_cache"))
