"""Sample data shipped with lamina-vision (for tests and the demo), with attribution in its folder."""

from __future__ import annotations

from pathlib import Path

__all__ = ["mnist_tiny_path"]

_DATA = Path(__file__).resolve().parent / "sample_data"


def mnist_tiny_path() -> Path:
    """The folder of the shipped MNIST sample (3s and 7s): `train/<digit>/`, `valid/<digit>/`, `test/`,
    `labels.csv`; 28x28 grey PNGs. See its `ATTRIBUTION.md` (MNIST, usually given as CC BY-SA 3.0)."""
    path = _DATA / "mnist_tiny"
    if not (path / "labels.csv").is_file():
        raise FileNotFoundError(
            f"mnist_tiny_path: the MNIST sample is missing from {str(path)!r}; reinstall lamina-vision"
        )
    return path
