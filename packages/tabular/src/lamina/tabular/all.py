"""The star-import surface of lamina-tabular: `from lamina.tabular.all import *` brings the kernel's
surface (`lamina.core.all`) and every public tabular name.

Each module below declares `__all__`. The kernel's `Normalize` (in its surface) stands for
`TabularNormalize` in `procs`, so `procs=[Categorify, FillMissing, Normalize]` reads as in fastai.
"""

import numpy as np  # fastai's tabular surface brings pandas and numpy too
import pandas as pd

from lamina.core.all import *
from lamina.core.data.blocks import CategoryBlock, MultiCategoryBlock, RegressionBlock
from lamina.core.data.transforms import Normalize
from lamina.tabular.binning import *
from lamina.tabular.checks import *
from lamina.tabular.core import *
from lamina.tabular.data import *
from lamina.tabular.discretize import *
from lamina.tabular.export import *
from lamina.tabular.helpers import *
from lamina.tabular.learner import *
from lamina.tabular.loader import *
from lamina.tabular.model import *
from lamina.tabular.procs import *
from lamina.tabular.samples import *
from lamina.tabular.show import *
from lamina.tabular.table import *
from lamina.tabular.targets import *
