"""The star-import surface of lamina-collab: `from lamina.collab.all import *` brings the tabular surface
(which brings the kernel's, `lamina.core.all`) and every public collab name."""

from lamina.collab.data import *
from lamina.collab.learner import *
from lamina.collab.models import *
from lamina.tabular.all import *
