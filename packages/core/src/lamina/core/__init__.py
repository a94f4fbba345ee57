"""lamina.core: the Lamina kernel. Import the public surface from `lamina.core.all`."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lamina-core")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
