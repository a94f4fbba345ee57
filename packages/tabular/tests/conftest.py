"""Fixtures for the lamina-tabular tests: the real sample data (shipped and shared) and a single torch thread.

The models here are small: one thread runs them fastest, and on a shared, busy machine several threads
spin against each other (a batch norm call went from 70 us to 18 ms). The thread count is restored after
each test, so other packages' tests run as configured.
"""

import os
from pathlib import Path

import pandas as pd
import pytest
import torch

from lamina.tabular.samples import load_sample

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
def adult() -> pd.DataFrame:
    """The shipped 2,000-row sample of UCI Adult."""
    return load_sample("adult")


@pytest.fixture
def penguins() -> pd.DataFrame:
    """The shipped Palmer penguins table (344 rows, missing values in every continuous column)."""
    return load_sample("penguins")
