"""Fixtures for the lamina-collab tests: the real ratings sample (shared data) and a single torch thread.

The MovieLens sample is not shipped with the package (its licence is non-commercial): the tests read
`ratings_sample/ratings.csv` from the shared data folder, `$LAMINA_SHARED_DATA` or `../shared/data` beside
the repo. The models are small: one torch thread runs them fastest on a shared, busy machine; the thread
count is restored after each test.
"""

import os
from pathlib import Path

import pandas as pd
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[3]


def shared_data_dir() -> Path:
    """The real sample datasets: `$LAMINA_SHARED_DATA`, else `../shared/data` beside the repo."""
    return Path(os.environ.get("LAMINA_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.exists():
        pytest.fail(f"sample data not found at {path}; set LAMINA_SHARED_DATA")
    return path


@pytest.fixture(autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def ratings_csv(shared_data) -> Path:
    """The MovieLens ratings sample: 6,031 ratings, the 100 most active users x the 100 most rated movies."""
    return shared_data / "ratings_sample" / "ratings.csv"


@pytest.fixture
def ratings(ratings_csv) -> pd.DataFrame:
    df = pd.read_csv(ratings_csv)
    assert list(df.columns) == ["userId", "movieId", "rating", "timestamp"] and len(df) == 6_031
    return df
