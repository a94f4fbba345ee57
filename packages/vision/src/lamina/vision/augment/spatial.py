"""The coordinate augmentations: flips, dihedral symmetries, rotations, zooms, perspective warps and random
resized crops, each an `AffineCoordTfm` with one matrix step, so any run of them merges into ONE resampling
(`setup_aug_tfms`)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from lamina.vision.augment.affine import AffineCoordTfm, projective
from lamina.vision.augment.matrices import affine_mat, dihedral_mat, flip_mat, rotate_mat, warp_mat, zoom_mat
from lamina.vision.augment.rand import rand_log_uniform, rand_uniform

__all__ = ["Flip", "Dihedral", "Rotate", "Zoom", "Warp", "RandomResizedCropGPU"]


class _AffineAug(AffineCoordTfm):
    """An `AffineCoordTfm` with one matrix step drawn per image with probability `p`."""

    per_item_p = True

    def __init__(
        self,
        p: float,
        batch: bool,
        size: int | tuple[int, int] | None,
        mode: str,
        pad_mode: str,
        align_corners: bool,
        **kwargs: Any,
    ):
        super().__init__(
            aff_fs=self._mat,
            size=size,
            mode=mode,
            pad_mode=pad_mode,
            align_corners=align_corners,
            p=p,
            **kwargs,
        )
        self.batch = bool(batch)

    def _mat(self, x: Tensor) -> Tensor:
        raise NotImplementedError


class Flip(_AffineAug):
    """Flip each image left-right with probability `p` (`batch=True`: one draw for the whole batch).

    `size`, `mode`, `pad_mode`, `align_corners`: as in `AffineCoordTfm`."""

    def __init__(
        self,
        p: float = 0.5,
        draw: Any = None,
        size: int | tuple[int, int] | None = None,
        mode: str = "bilinear",
        pad_mode: str = "reflection",
        align_corners: bool = True,
        batch: bool = False,
        **kwargs: Any,
    ):
        super().__init__(p, batch, size, mode, pad_mode, align_corners, **kwargs)
        self.draw = draw

    def _mat(self, x: Tensor) -> Tensor:
        return flip_mat(x, self.p, self.draw, self.batch, self.generator)


class Dihedral(_AffineAug):
    """Apply one of the 8 flips/rotations by 90 degrees (`dihedral_mat`) to each image with probability `p`.

    `size`, `mode`, `pad_mode`, `align_corners`: as in `AffineCoordTfm`."""

    def __init__(
        self,
        p: float = 0.5,
        draw: Any = None,
        size: int | tuple[int, int] | None = None,
        mode: str = "bilinear",
        pad_mode: str = "reflection",
        align_corners: bool = True,
        batch: bool = False,
        **kwargs: Any,
    ):
        super().__init__(p, batch, size, mode, pad_mode, align_corners, **kwargs)
        self.draw = draw

    def _mat(self, x: Tensor) -> Tensor:
        return dihedral_mat(x, self.p, self.draw, self.batch, self.generator)


class Rotate(_AffineAug):
    """Rotate each image with probability `p` by an angle uniform in `[-max_deg, max_deg]` degrees
    (`draw`: fixed degrees; positive = anticlockwise).

    `size`, `mode`, `pad_mode`, `align_corners`: as in `AffineCoordTfm`."""

    def __init__(
        self,
        max_deg: float = 10.0,
        p: float = 0.5,
        draw: Any = None,
        size: int | tuple[int, int] | None = None,
        mode: str = "bilinear",
        pad_mode: str = "reflection",
        align_corners: bool = True,
        batch: bool = False,
        **kwargs: Any,
    ):
        super().__init__(p, batch, size, mode, pad_mode, align_corners, **kwargs)
        self.max_deg, self.draw = max_deg, draw

    def _mat(self, x: Tensor) -> Tensor:
        return rotate_mat(x, self.max_deg, self.p, self.draw, self.batch, self.generator)


class Zoom(_AffineAug):
    """Zoom into each image with probability `p` by a factor uniform in `[min_zoom, max_zoom]`, centred at
    a random point (`draw`: the factor; `draw_x`/`draw_y` in 0..1: the centre, 0.5 = the image's centre).

    `size`, `mode`, `pad_mode`, `align_corners`: as in `AffineCoordTfm`."""

    def __init__(
        self,
        min_zoom: float = 1.0,
        max_zoom: float = 1.1,
        p: float = 0.5,
        draw: Any = None,
        draw_x: Any = None,
        draw_y: Any = None,
        size: int | tuple[int, int] | None = None,
        mode: str = "bilinear",
        pad_mode: str = "reflection",
        align_corners: bool = True,
        batch: bool = False,
        **kwargs: Any,
    ):
        if min_zoom <= 0 or max_zoom < min_zoom:
            raise ValueError(f"Zoom: need 0 < min_zoom <= max_zoom, got ({min_zoom}, {max_zoom})")
        super().__init__(p, batch, size, mode, pad_mode, align_corners, **kwargs)
        self.min_zoom, self.max_zoom = min_zoom, max_zoom
        self.draw, self.draw_x, self.draw_y = draw, draw_x, draw_y

    def _mat(self, x: Tensor) -> Tensor:
        return zoom_mat(
            x,
            self.min_zoom,
            self.max_zoom,
            self.p,
            self.draw,
            self.draw_x,
            self.draw_y,
            self.batch,
            self.generator,
        )


class Warp(_AffineAug):
    """Perspective-warp each image with probability `p` by magnitudes uniform in `[-magnitude, magnitude]`
    on each axis (`warp_mat`); a projective matrix, so it still composes into the one resampling and
    points follow it exactly.

    `size`, `mode`, `pad_mode`, `align_corners`: as in `AffineCoordTfm`."""

    def __init__(
        self,
        magnitude: float = 0.2,
        p: float = 0.5,
        draw_x: Any = None,
        draw_y: Any = None,
        size: int | tuple[int, int] | None = None,
        mode: str = "bilinear",
        pad_mode: str = "reflection",
        align_corners: bool = True,
        batch: bool = False,
        **kwargs: Any,
    ):
        if not 0 <= magnitude < 1:
            raise ValueError(f"Warp: magnitude must be in [0, 1), got {magnitude}")
        super().__init__(p, batch, size, mode, pad_mode, align_corners, **kwargs)
        self.magnitude, self.draw_x, self.draw_y = magnitude, draw_x, draw_y

    @projective
    def _mat(self, x: Tensor) -> Tensor:
        return warp_mat(x, self.magnitude, self.p, self.draw_x, self.draw_y, self.batch, self.generator)


class RandomResizedCropGPU(AffineCoordTfm):
    """Batch version of `RandomResizedCrop`: on training batches, crop each image to a random area fraction
    in `[min_scale, max_scale]` with a width/height ratio log-uniform in `ratio` (clipped to the image) at a
    random place, and resize to `size`; on validation batches, take the largest centred crop with the aspect
    of `size`, of `valid_scale` times its side, and resize it. Runs on both splits (`split_idx=None`).
    """

    def __init__(
        self,
        size: int | tuple[int, int],
        min_scale: float = 0.08,
        ratio: tuple[float, float] = (3 / 4, 4 / 3),
        mode: str = "bilinear",
        valid_scale: float = 1.0,
        max_scale: float = 1.0,
        pad_mode: str = "reflection",
        align_corners: bool = True,
        batch: bool = False,
        **kwargs: Any,
    ):
        if size is None:
            raise ValueError("RandomResizedCropGPU: needs the output size")
        if not 0 < min_scale <= max_scale <= 1:
            raise ValueError(
                f"RandomResizedCropGPU: need 0 < min_scale <= max_scale <= 1, got {min_scale}, {max_scale}"
            )
        if not 0 < valid_scale <= 1:
            raise ValueError(f"RandomResizedCropGPU: valid_scale must be in (0, 1], got {valid_scale}")
        if len(ratio) != 2 or not 0 < ratio[0] <= ratio[1]:
            raise ValueError(
                f"RandomResizedCropGPU: ratio must be (low, high) with 0 < low <= high, got {ratio}"
            )
        super().__init__(size=size, mode=mode, pad_mode=pad_mode, align_corners=align_corners, **kwargs)
        self.split_idx = None
        self.min_scale, self.max_scale, self.ratio, self.valid_scale = (
            min_scale,
            max_scale,
            tuple(ratio),
            valid_scale,
        )
        self.batch = bool(batch)
        self._add_step(self._train_mat, 0, is_matrix=True)
        self._add_step(self._valid_mat, 1, is_matrix=True)

    def _train_mat(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2], x.shape[-1]
        area = rand_uniform(x, self.min_scale, self.max_scale, self.generator, self.batch)
        ratio = rand_log_uniform(x, self.ratio[0], self.ratio[1], self.generator, self.batch)
        fw = torch.sqrt(area * ratio * (h / w)).clamp(max=1.0)  # crop width / image width
        fh = torch.sqrt(area / ratio * (w / h)).clamp(max=1.0)
        cx = (1 - fw) * rand_uniform(x, -1.0, 1.0, self.generator, self.batch)
        cy = (1 - fh) * rand_uniform(x, -1.0, 1.0, self.generator, self.batch)
        zeros = torch.zeros_like(fw)
        return _crop(fw, fh, cx, cy, zeros)

    def _valid_mat(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2], x.shape[-1]
        out_h, out_w = self.size
        aspect = (out_w / out_h) * (h / w)  # crop width fraction / crop height fraction
        fw, fh = (1.0, 1.0 / aspect) if aspect >= 1 else (aspect, 1.0)
        ones = torch.ones(x.shape[0], device=x.device)
        zeros = torch.zeros_like(ones)
        return _crop(ones * fw * self.valid_scale, ones * fh * self.valid_scale, zeros, zeros, zeros)


def _crop(fw: Tensor, fh: Tensor, cx: Tensor, cy: Tensor, zeros: Tensor) -> Tensor:
    """Matrices sampling the region of width/height fractions `fw`/`fh` centred at `(cx, cy)`."""
    return affine_mat(fw, zeros, cx, zeros, fh, cy)
