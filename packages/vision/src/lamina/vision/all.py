"""The star-import surface of lamina-vision: `from lamina.vision.all import *` brings the kernel's surface
(`lamina.core.all`) and every public vision name.

Each module below declares `__all__`. Names shared with the kernel are the kernel's objects, extended
rather than replaced, and are re-imported explicitly below so it is plain which one a user gets:
- `ToTensor`: the kernel's transform; `lamina.vision.transforms` adds its PIL image and mask cases.
- `Normalize`: the kernel's transform (vision has none of its own); `vision_learner` adds it with
  `tensor_type=TensorImage`, so it normalises images wherever they sit in a batch and leaves masks alone.
- `show_batch` / `show_results`: the kernel's type-dispatched functions; `lamina.vision.show` adds the
  image cases.
"""

from lamina.core.all import *
from lamina.core.data.show import show_batch, show_results  # the dispatchers vision extends
from lamina.core.data.transforms import Normalize, ToTensor  # the kernel's, extended by vision
from lamina.vision.arch_meta import *
from lamina.vision.augment import *
from lamina.vision.core import *
from lamina.vision.data import *
from lamina.vision.export import *
from lamina.vision.factories import *
from lamina.vision.geometry import *
from lamina.vision.image import *
from lamina.vision.interpret import *
from lamina.vision.learner import *
from lamina.vision.models.resnet import *
from lamina.vision.models.sequential import *
from lamina.vision.models.unet import *
from lamina.vision.models.weights import *
from lamina.vision.models.xresnet import *
from lamina.vision.samples import *
from lamina.vision.show import *
from lamina.vision.transforms import *
