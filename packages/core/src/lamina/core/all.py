"""The star-import surface of the kernel: `from lamina.core.all import *`."""

from lamina.core.basics.meta import delegates, funcs_kwargs, patch, patch_to

__all__ = ["delegates", "funcs_kwargs", "patch", "patch_to"]
