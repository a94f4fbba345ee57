"""Vision blocks and getters: `ImageBlock`, `MaskBlock`, `PointBlock`, `BBoxBlock`, `BBoxLblBlock`,
`get_image_files`, `get_annotations`, `bb_pad`.

Unreadable images. By default a file that cannot be read fails the step with an error naming it.
`ImageBlock(skip_bad=True)` instead checks every image once when the `Datasets` is built (a full decode
of each file, on a few threads), warns ONCE with the count and the first names (`UnreadableImageWarning`),
and the data loaders drop those samples (the kernel `DataLoader` drops an item that comes out of
`after_item` as None): `DropUnreadable`, an item transform the block adds, turns a sample holding an
`UnreadableImage` marker into None. The `Datasets` keeps its length; batches holding a skipped item are
one item shorter. A file that goes bad after the check (or a test item) is skipped the same way, with a
warning of its own.
"""

from __future__ import annotations

import json
import mimetypes
import os
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

import lamina.vision.show  # noqa: F401 - registers the vision cases of show_batch / show_results
from lamina.core.basics.collections import L
from lamina.core.data.blocks import TransformBlock
from lamina.core.data.getters import get_files
from lamina.core.data.transforms import NA_LABEL, MultiCategorize
from lamina.core.losses import CrossEntropyLossFlat, MSELossFlat
from lamina.core.tensors import TensorMultiCategory
from lamina.core.transform import ItemTransform, Transform
from lamina.vision.core import LabeledBBox, TensorBBox, TensorMask, TensorPoint
from lamina.vision.image import ImageReadError, PILBase, PILImage, PILMask, load_image
from lamina.vision.transforms import IntToFloatTensor, PointScaler

__all__ = [
    "image_extensions",
    "get_image_files",
    "ImageGetter",
    "get_annotations",
    "UnreadableImage",
    "UnreadableImageWarning",
    "ImageReader",
    "DropUnreadable",
    "AddMaskCodes",
    "BBoxLabeler",
    "bb_pad",
    "clip_remove_empty",
    "ImageBlock",
    "MaskBlock",
    "PointBlock",
    "BBoxBlock",
    "BBoxLblBlock",
    "VISION_BLOCKS",
]

_COMMON_IMAGE_EXTENSIONS = {
    ".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".gif", ".bmp", ".dib", ".tif", ".tiff", ".webp", ".ppm",
    ".pgm", ".pbm", ".pnm", ".ico", ".tga", ".jp2", ".j2k", ".pcx", ".sgi", ".eps", ".im", ".icns",
}  # fmt: skip
image_extensions: set[str] = _COMMON_IMAGE_EXTENSIONS | {
    ext for ext, kind in mimetypes.types_map.items() if kind.startswith("image/")
}
"""File extensions (lower case, with the dot) that `get_image_files` treats as images."""


# ---- getters --------------------------------------------------------------------------------------------
def get_image_files(
    path: str | os.PathLike, recurse: bool = True, folders: str | Iterable[str] | None = None
) -> L:
    """The image files under `path` (extensions in `image_extensions`, any case), sorted; `recurse=False`
    looks in `path` alone; `folders` keeps only those subfolders of `path`."""
    return get_files(path, extensions=image_extensions, recurse=recurse, folders=folders)


def ImageGetter(suf: str = "", recurse: bool = True, folders: str | Iterable[str] | None = None):
    """A `get_items` function: `get_image_files(path / suf, recurse, folders)`."""

    def _get(path: str | os.PathLike) -> L:
        return get_image_files(Path(path) / suf, recurse=recurse, folders=folders)

    _get.__name__ = _get.__qualname__ = "ImageGetter"
    return _get


def get_annotations(fname: str | os.PathLike, prefix: str | os.PathLike | None = None) -> tuple[list, list]:
    """Read a COCO-style annotation file: `(image names, [(boxes, labels), ...])`, one entry per image that
    has at least one box. Boxes are `[x_min, y_min, x_max, y_max]` (from COCO's `[x, y, w, h]`), labels the
    category names. `prefix` is put before each file name (a folder `Path`, or a string prefix)."""
    fname = Path(fname)
    try:
        data = json.loads(fname.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"get_annotations: no annotation file {str(fname)!r}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"get_annotations: {str(fname)!r} is not valid JSON: {e}") from e
    try:
        classes = {c["id"]: c["name"] for c in data["categories"]}
        boxes: dict[Any, list] = defaultdict(list)
        labels: dict[Any, list] = defaultdict(list)
        for a in data["annotations"]:
            x, y, w, h = a["bbox"]
            if a["category_id"] not in classes:
                raise ValueError(f"annotation {a.get('id')!r} has unknown category_id {a['category_id']!r}")
            boxes[a["image_id"]].append([x, y, x + w, y + h])
            labels[a["image_id"]].append(classes[a["category_id"]])
        names = {o["id"]: o["file_name"] for o in data["images"] if o["id"] in boxes}
    except KeyError as e:
        raise ValueError(f"get_annotations: {str(fname)!r} is not COCO-style: missing key {e}") from e
    except (TypeError, ValueError) as e:
        raise ValueError(f"get_annotations: {str(fname)!r}: {e}") from e
    missing = [k for k in boxes if k not in names]
    if missing:
        raise ValueError(
            f"get_annotations: {str(fname)!r}: annotations refer to unknown image ids {missing[:5]}"
        )
    ids = list(names)

    def with_prefix(name: str) -> str:
        if prefix is None:
            return name
        return str(Path(prefix) / name) if isinstance(prefix, os.PathLike) else f"{prefix}{name}"

    return [with_prefix(names[k]) for k in ids], [(boxes[k], labels[k]) for k in ids]


# ---- reading images, skipping the unreadable ones ------------------------------------------------------
class UnreadableImageWarning(UserWarning):
    """Images that could not be read and are skipped (`ImageBlock(skip_bad=True)`)."""


class UnreadableImage:
    """Marks an image that could not be read (`source`, and the `reason`); its sample is dropped."""

    __slots__ = ("source", "reason")

    def __init__(self, source: Any, reason: str):
        self.source, self.reason = source, reason

    def __repr__(self) -> str:
        return f"UnreadableImage({_name(self.source)!r}: {self.reason})"


def _name(source: Any) -> str:
    return f"<{len(source)} bytes>" if isinstance(source, (bytes, bytearray)) else str(source)


def _key(source: Any) -> str | None:
    return str(source) if isinstance(source, (str, os.PathLike)) else None


_READ_ERRORS = (ImageReadError, FileNotFoundError, IsADirectoryError, PermissionError)
_SHOWN_NAMES = 5


class ImageReader(Transform):
    """Type transform of `ImageBlock`/`MaskBlock`: `cls.create(source)`.

    With `skip_bad`, a source that cannot be read gives an `UnreadableImage` instead of an error, and
    `setups` checks every item once (all splits) and warns once with the count.
    """

    def __init__(self, cls: type[PILBase] = PILImage, skip_bad: bool = False):
        super().__init__()
        if not (isinstance(cls, type) and hasattr(cls, "create")):
            raise TypeError(f"ImageReader: cls must be an image class with `create`, got {cls!r}")
        self.cls, self.skip_bad = cls, skip_bad
        self.train_setup = False if skip_bad else None  # the check covers every split
        self.bad: dict[str, str] = {}

    @property
    def name(self) -> str:
        return f"ImageReader({self.cls.__name__}{', skip_bad=True' if self.skip_bad else ''})"

    @name.setter
    def name(self, value: str) -> None:
        self._name = value

    def setups(self, items: Any) -> None:
        if not self.skip_bad or items is None:
            return
        sources = list(items)
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            reasons = list(pool.map(_read_problem, sources))
        self.bad = {_key(s) or _name(s): r for s, r in zip(sources, reasons) if r is not None}
        if self.bad:
            shown = "; ".join(f"{k!r} ({r})" for k, r in list(self.bad.items())[:_SHOWN_NAMES])
            more = f"; and {len(self.bad) - _SHOWN_NAMES} more" if len(self.bad) > _SHOWN_NAMES else ""
            warnings.warn(
                f"ImageBlock(skip_bad=True): {len(self.bad)} of {len(sources)} images cannot be read and are "
                f"skipped by the data loaders: {shown}{more}",
                UnreadableImageWarning,
                stacklevel=2,
            )

    def encodes(self, x):
        if not self.skip_bad:
            return self.cls.create(x)
        key = _key(x)
        if key is not None and key in self.bad:
            return UnreadableImage(x, self.bad[key])
        try:
            return self.cls.create(x)
        except _READ_ERRORS as e:
            self.bad[key or _name(x)] = str(e)
            warnings.warn(
                f"ImageBlock(skip_bad=True): skipping unreadable image: {e}",
                UnreadableImageWarning,
                stacklevel=2,
            )
            return UnreadableImage(x, str(e))


def _read_problem(source: Any) -> str | None:
    """Why `source` cannot be read as an image (None when it can, or when it is not a file name or bytes:
    an array or an image in memory has nothing to check)."""
    if not isinstance(source, (str, os.PathLike, bytes, bytearray)):
        return None
    try:
        load_image(source)
    except _READ_ERRORS as e:
        return str(e)
    return None


class DropUnreadable(ItemTransform):
    """Item transform: a sample holding an `UnreadableImage` becomes None (the data loader drops it)."""

    order = -10

    def encodes(self, x):
        if x is None or isinstance(x, UnreadableImage):
            return None
        if isinstance(x, tuple) and any(isinstance(p, UnreadableImage) for p in x):
            return None
        return x


# ---- masks, boxes ---------------------------------------------------------------------------------------
class AddMaskCodes(Transform):
    """Give decoded masks their class names (`codes`), so they show with a fixed colour per class."""

    def __init__(self, codes: Sequence[str] | None = None):
        super().__init__()
        self.codes = None if codes is None else [str(c) for c in codes]
        self.c = None if codes is None else len(self.codes)

    def decodes(self, o: TensorMask):
        if self.codes is not None:
            o.codes = self.codes
        return o


class BBoxLabeler(ItemTransform):
    """Decoding a detection sample: its label indices become a `LabeledBBox` (the boxes with their class
    names) that shows itself; padding boxes (label `'#na#'`) are left out of the picture."""

    def setups(self, dl: Any) -> None:
        self.vocab = getattr(dl, "vocab", None) or getattr(getattr(dl, "dataset", None), "vocab", None)

    def decodes(self, x):
        if not isinstance(x, tuple):
            return x
        parts = list(x)
        for i, p in enumerate(parts):
            if (
                isinstance(p, TensorBBox)
                and i + 1 < len(parts)
                and isinstance(parts[i + 1], TensorMultiCategory)
            ):
                labels = parts[i + 1].reshape(-1).tolist()
                vocab = getattr(self, "vocab", None)
                names = [vocab[int(j)] for j in labels] if vocab is not None else [str(j) for j in labels]
                parts[i + 1] = LabeledBBox(p, names)
        return tuple(parts)


def clip_remove_empty(bbox: TensorBBox, label: torch.Tensor) -> tuple[TensorBBox, torch.Tensor]:
    """Clip scaled boxes to -1..1 and drop those with no area (and their labels)."""
    if bbox.shape[0] != label.shape[0]:
        raise ValueError(
            f"clip_remove_empty: {bbox.shape[0]} boxes but {label.shape[0]} labels; give one label per box"
        )
    bbox = bbox.clamp(-1, 1)
    keep = ((bbox[:, 2] - bbox[:, 0]) * (bbox[:, 3] - bbox[:, 1])) > 0
    keep = keep.as_subclass(torch.Tensor)
    return bbox[keep], label[keep]


def bb_pad(samples: list, *, pad_idx: int = 0) -> list:
    """`before_batch` of detection: in each sample, clip its (scaled) boxes, drop the empty ones with their
    labels, then pad every sample to the largest box count with zero boxes labelled `pad_idx` (`'#na#'`).
    (`pad_idx` is keyword-only: a transform case dispatches on its positional parameters.)"""
    if not samples:
        return samples
    where = _bbox_positions(samples[0])
    if where is None:
        return samples
    i, j = where
    cleaned = []
    for s in samples:
        s = list(s)
        if not (isinstance(s[i], TensorBBox) and isinstance(s[j], torch.Tensor)):
            raise TypeError(f"bb_pad: every sample needs boxes at position {i} and labels at {j}, got {s!r}")
        s[i], s[j] = clip_remove_empty(s[i], s[j])
        cleaned.append(s)
    n = max(s[i].shape[0] for s in cleaned)
    out = []
    for s in cleaned:
        extra = n - s[i].shape[0]
        if extra:
            s[i] = torch.cat([s[i], s[i].new_zeros(extra, 4)])
            s[j] = torch.cat([s[j], s[j].new_full((extra,), pad_idx)])
        out.append(tuple(s))
    return out


def _bbox_positions(sample: Any) -> tuple[int, int] | None:
    """(position of the boxes, position of their labels: the tensor after them) in a sample."""
    if not isinstance(sample, (tuple, list)):
        return None
    for i, p in enumerate(sample):
        if isinstance(p, TensorBBox) and i + 1 < len(sample) and isinstance(sample[i + 1], torch.Tensor):
            return i, i + 1
    return None


# ---- blocks ---------------------------------------------------------------------------------------------
def ImageBlock(cls: type[PILBase] = PILImage, skip_bad: bool = False) -> TransformBlock:
    """Images read by `cls.create` (`PILImage`, `PILImageBW`, ...), turned into `TensorImage`s by `ToTensor`
    and into floats by `IntToFloatTensor`. `skip_bad=True` skips unreadable files (see the module doc)."""
    return TransformBlock(
        type_tfms=ImageReader(cls, skip_bad=skip_bad),
        item_tfms=DropUnreadable() if skip_bad else None,
        batch_tfms=IntToFloatTensor,
    )


def MaskBlock(codes: Sequence[str] | None = None, skip_bad: bool = False) -> TransformBlock:
    """Segmentation masks (`PILMask`, then `TensorMask`) with class names `codes`; default loss
    `CrossEntropyLossFlat(axis=1)` (classes on the channel axis of the predictions)."""
    return TransformBlock(
        type_tfms=[ImageReader(PILMask, skip_bad=skip_bad), AddMaskCodes(codes=codes)],
        item_tfms=DropUnreadable() if skip_bad else None,
        batch_tfms=IntToFloatTensor,
        loss_func=CrossEntropyLossFlat(axis=1),
    )


def PointBlock() -> TransformBlock:
    """Key points `(n, 2)` in pixels (`TensorPoint.create`), scaled to -1..1 by `PointScaler`; default loss
    `MSELossFlat`."""
    return TransformBlock(type_tfms=TensorPoint.create, item_tfms=PointScaler, loss_func=MSELossFlat())


def BBoxBlock() -> TransformBlock:
    """Bounding boxes `(n, 4)` in pixels (`TensorBBox.create`), scaled to -1..1 by `PointScaler`; batches are
    padded to a common box count by `bb_pad` (`before_batch`)."""
    return TransformBlock(
        type_tfms=TensorBBox.create, item_tfms=PointScaler, dls_kwargs={"before_batch": bb_pad}
    )


def BBoxLblBlock(vocab: Iterable | None = None, add_na: bool = True) -> TransformBlock:
    """The labels of the boxes (one list per image): `MultiCategorize` (with `'#na#'` first, the label of
    padding boxes) and `BBoxLabeler` for showing. Put it right after `BBoxBlock`."""
    if not add_na and vocab is not None and NA_LABEL not in list(vocab):
        warnings.warn("BBoxLblBlock(add_na=False): padding boxes get label 0, a real class", stacklevel=2)
    return TransformBlock(type_tfms=MultiCategorize(vocab=vocab, add_na=add_na), item_tfms=BBoxLabeler)


VISION_BLOCKS: dict[str, Any] = {
    "ImageBlock": ImageBlock,
    "MaskBlock": MaskBlock,
    "PointBlock": PointBlock,
    "BBoxBlock": BBoxBlock,
    "BBoxLblBlock": BBoxLblBlock,
}
"""The blocks lamina-vision registers (for `lamina_blocks`)."""
