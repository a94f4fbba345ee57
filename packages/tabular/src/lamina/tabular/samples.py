"""The small tables shipped with lamina-tabular (`sample_data/`, see its ATTRIBUTION.md): offline data for
demos and tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = [
    "SAMPLE_DIR",
    "SAMPLES",
    "ADULT_CAT_NAMES",
    "ADULT_CONT_NAMES",
    "PENGUIN_CAT_NAMES",
    "PENGUIN_CONT_NAMES",
    "sample_csv",
    "load_sample",
]

SAMPLE_DIR = Path(__file__).resolve().parent / "sample_data"
SAMPLES: dict[str, str] = {"adult": "adult_sample.csv", "penguins": "penguins.csv"}

# The column roles of the samples (targets: Adult `salary`, penguins `species`).
ADULT_CAT_NAMES = [
    "workclass",
    "education",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native-country",
]
ADULT_CONT_NAMES = ["age", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
PENGUIN_CAT_NAMES = ["island", "sex", "year"]
PENGUIN_CONT_NAMES = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]


def sample_csv(name: str) -> Path:
    """The path of shipped sample `name`: 'adult' (2,000 rows of UCI Adult) or 'penguins' (344 rows)."""
    if name not in SAMPLES:
        raise KeyError(f"sample_csv: no shipped sample {name!r}; the samples are {sorted(SAMPLES)}")
    return SAMPLE_DIR / SAMPLES[name]


def load_sample(name: str) -> pd.DataFrame:
    """Shipped sample `name` as a DataFrame (empty cells are missing values)."""
    return pd.read_csv(sample_csv(name))
