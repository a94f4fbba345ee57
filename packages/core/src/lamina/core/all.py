"""The star-import surface of the kernel: `from lamina.core.all import *`.

Each module below declares `__all__`; this file gathers them so a user (or a domain package's
own `all.py`) gets the whole kernel in one import. Nothing else in the code base star-imports.
"""

import numbers  # noqa: F401  (the paper's examples annotate with numbers.Integral)

import torch  # noqa: F401
import torch.nn.functional as F  # noqa: F401
from torch import nn  # noqa: F401

from lamina.core.basics.collections import *
from lamina.core.basics.functional import *
from lamina.core.basics.meta import *
from lamina.core.callbacks.activation_stats import *
from lamina.core.callbacks.backward_loss import *
from lamina.core.callbacks.cast import *
from lamina.core.callbacks.channels_last import *
from lamina.core.callbacks.compile import *
from lamina.core.callbacks.distributed import *
from lamina.core.callbacks.gan.data import *
from lamina.core.callbacks.gan.learner import *
from lamina.core.callbacks.gan.loss import *
from lamina.core.callbacks.gan.models import *
from lamina.core.callbacks.gan.trainer import *
from lamina.core.callbacks.gradients import *
from lamina.core.callbacks.logging import *
from lamina.core.callbacks.mixed_precision import *
from lamina.core.callbacks.mixup import *
from lamina.core.callbacks.throughput import *
from lamina.core.callbacks.trackers import *
from lamina.core.callbacks.tta import *
from lamina.core.data.archive import *
from lamina.core.data.block import *
from lamina.core.data.blocks import *
from lamina.core.data.collate import *
from lamina.core.data.datasets import *
from lamina.core.data.download import *
from lamina.core.data.external import *
from lamina.core.data.getters import *
from lamina.core.data.load import *
from lamina.core.data.loaders import *
from lamina.core.data.show import *
from lamina.core.data.splitters import *
from lamina.core.data.tfmd_dl import *
from lamina.core.data.tfmd_lists import *
from lamina.core.data.transforms import *
from lamina.core.dispatch import *
from lamina.core.hooks import *
from lamina.core.layers.activations import *
from lamina.core.layers.attention import *
from lamina.core.layers.basic import *
from lamina.core.layers.conv import *
from lamina.core.layers.head import *
from lamina.core.layers.init import *
from lamina.core.layers.linear import *
from lamina.core.layers.merge import *
from lamina.core.layers.norm import *
from lamina.core.layers.pooling import *
from lamina.core.layers.recorded import *
from lamina.core.layers.resblock import *
from lamina.core.layers.upsample import *
from lamina.core.learner.annealing import *
from lamina.core.learner.callback import *
from lamina.core.learner.checkpoint import *
from lamina.core.learner.describe import *
from lamina.core.learner.events import *
from lamina.core.learner.export import *
from lamina.core.learner.learner import *
from lamina.core.learner.lr_finder import *
from lamina.core.learner.params import *
from lamina.core.learner.preds import *
from lamina.core.learner.progress import *
from lamina.core.learner.ranks import *
from lamina.core.learner.recorder import *
from lamina.core.learner.scheduler import *
from lamina.core.learner.suggest import *
from lamina.core.losses import *
from lamina.core.metrics import *
from lamina.core.optim.lookahead import *
from lamina.core.optim.optimizer import *
from lamina.core.optim.optimizers import *
from lamina.core.optim.wrapper import *
from lamina.core.pipeline import *
from lamina.core.plugins import hookimpl, plugin_info, register_class  # noqa: F401
from lamina.core.plugins.specs import ArchitectureSpec, DatasetSpec  # noqa: F401
from lamina.core.tensors import *
from lamina.core.transform import *
