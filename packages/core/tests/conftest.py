"""Shared fixtures for the kernel's tests."""

import os
from pathlib import Path

import pytest

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
