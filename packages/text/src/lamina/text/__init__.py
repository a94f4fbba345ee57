"""lamina.text: the text domain plugin. Import the public surface from `lamina.text.all`."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lamina-text")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
