"""lamina.vision: the vision domain plugin. Import the public surface from `lamina.vision.all`."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lamina-vision")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
