"""The star-import surface of lamina-text: `from lamina.text.all import *` brings the kernel's surface
(`lamina.core.all`) and every public text name (tokenizing, vocabularies, loaders, blocks, models, learners,
pretrained weights, showing, the shipped sample).

Each module below declares `__all__`.
"""

import pandas as pd  # noqa: F401  (fastai's text surface brings pandas)

from lamina.core.all import *
from lamina.text.blocks import *
from lamina.text.cache import *
from lamina.text.data import *
from lamina.text.defaults import *
from lamina.text.detokenize import *
from lamina.text.folder import *
from lamina.text.learner import *
from lamina.text.loaders import *
from lamina.text.models.awd_lstm import *
from lamina.text.models.core import *
from lamina.text.models.dropout import *
from lamina.text.pretrained import *
from lamina.text.rules import *
from lamina.text.samples import *
from lamina.text.show import *
from lamina.text.tensors import *
from lamina.text.tokenize import *
from lamina.text.tokenize_transform import *
from lamina.text.tokenizers import *
from lamina.text.vocab import *
