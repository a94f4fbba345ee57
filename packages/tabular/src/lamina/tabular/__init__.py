"""lamina.tabular: the tabular domain plugin. Import the public surface from `lamina.tabular.all`."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lamina-tabular")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
