"""Per-image 3x3 matrices of the coordinate augmentations (one per item of a batch, drawn on its device).

Convention: a matrix maps an OUTPUT position to the INPUT position it samples, in normalised coordinates
(-1..1 across the image, x right, y down), as `F.affine_grid`/`F.grid_sample` use them. So the image
content moves by the inverse matrix, points and boxes are mapped with the inverse, and a product
`M1 @ M2` applies the content change of `M1` first, then that of `M2`.

Every `*_mat(x, ...)` takes the batch `x` (only its batch size, device and height/width are read) and
returns a float32 tensor `(bs, 3, 3)`. Its `p` is the probability, per image, that the image is changed;
`draw`-style arguments fix the random values (a number, one value per image, or a function of `x`);
`batch=True` draws one value for the whole batch. A fixed `draw` replaces the random values only: `p`
still decides which images change (pass `p=1.` to apply the drawn values to every image).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from lamina.vision.augment.rand import batch_size_of, rand_mask, rand_uniform, resolve_draw

__all__ = [
    "affine_mat",
    "identity_mat",
    "flip_mat",
    "dihedral_mat",
    "rotate_mat",
    "zoom_mat",
    "warp_mat",
    "homography",
    "transform_points",
]

Draw = float | Sequence[float] | Tensor | Callable[[Tensor], Any] | None


def affine_mat(*ms: Tensor) -> Tensor:
    """A batch of 3x3 matrices `[[m0, m1, m2], [m3, m4, m5], [0, 0, 1]]` from six tensors of shape `(bs,)`."""
    if len(ms) != 6:
        raise ValueError(f"affine_mat: needs the 6 entries of the top two rows, got {len(ms)}")
    m0 = ms[0]
    zeros, ones = torch.zeros_like(m0), torch.ones_like(m0)
    return torch.stack([*ms, zeros, zeros, ones], dim=-1).reshape(*m0.shape, 3, 3)


def identity_mat(x: Tensor) -> Tensor:
    """The identity matrix for each item of batch `x`."""
    return torch.eye(3, device=x.device).expand(batch_size_of(x), 3, 3).clone()


def _height_width(x: Tensor) -> tuple[int, int]:
    if x.dim() < 3:
        raise ValueError(
            f"expected a batch of images (bs, C, H, W) or masks (bs, H, W), got shape {tuple(x.shape)}"
        )
    return x.shape[-2], x.shape[-1]


def flip_mat(
    x: Tensor,
    p: float = 0.5,
    draw: Draw = None,
    batch: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Left-right flips: `-1` on x for the flipped images (`draw`: which images may flip, nonzero = flip;
    `p` still applies)."""
    do = (
        resolve_draw(draw, x, lambda: torch.ones(batch_size_of(x), device=x.device), "flip_mat(draw=...)")
        != 0
    )
    sx = torch.where(do & rand_mask(x, p, generator, batch), -1.0, 1.0)
    zeros = torch.zeros_like(sx)
    return affine_mat(sx, zeros, zeros, zeros, torch.ones_like(sx), zeros)


def dihedral_mat(
    x: Tensor,
    p: float = 0.5,
    draw: Draw = None,
    batch: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One of the 8 symmetries of the square per image (`draw`: 0..7; bit 0 flips x, bit 1 flips y, bit 2
    transposes). On a non-square image the transposing ones also squash it to the same size."""
    k = resolve_draw(
        draw, x, lambda: torch.floor(rand_uniform(x, 0.0, 8.0, generator, batch)).clamp(max=7.0),
        "dihedral_mat(draw=...)",
    )  # fmt: skip
    if draw is not None and bool(((k < 0) | (k > 7) | (k != k.round())).any()):
        raise ValueError("dihedral_mat(draw=...): values must be integers 0..7")
    k = torch.where(rand_mask(x, p, generator, batch), k, 0.0).long()
    fx = 1.0 - 2.0 * (k & 1).float()
    fy = 1.0 - 2.0 * ((k >> 1) & 1).float()
    t = ((k >> 2) & 1).float()
    zeros = torch.zeros_like(fx)
    return affine_mat(fx * (1 - t), fx * t, zeros, fy * t, fy * (1 - t), zeros)


def rotate_mat(
    x: Tensor,
    max_deg: float = 10.0,
    p: float = 0.5,
    draw: Draw = None,
    batch: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Rotations about the centre by an angle uniform in `[-max_deg, max_deg]` degrees (`draw`: degrees);
    positive is anticlockwise on screen. Angles are kept in pixel space, so a non-square image is rotated,
    not sheared."""
    deg = resolve_draw(
        draw, x, lambda: rand_uniform(x, -max_deg, max_deg, generator, batch), "rotate_mat(draw=...)"
    )
    deg = torch.where(rand_mask(x, p, generator, batch), deg, 0.0)
    h, w = _height_width(x)
    theta = deg * (math.pi / 180.0)
    c, s = torch.cos(theta), torch.sin(theta)
    zeros = torch.zeros_like(c)
    return affine_mat(c, -s * (h / w), zeros, s * (w / h), c, zeros)


def zoom_mat(
    x: Tensor,
    min_zoom: float = 1.0,
    max_zoom: float = 1.1,
    p: float = 0.5,
    draw: Draw = None,
    draw_x: Draw = None,
    draw_y: Draw = None,
    batch: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Zooms in by a factor uniform in `[min_zoom, max_zoom]` (`draw`: the factor), centred at a random
    position of the image (`draw_x`/`draw_y` in 0..1: 0 keeps the left/top edge, 0.5 the centre)."""
    if min_zoom <= 0 or max_zoom < min_zoom:
        raise ValueError(f"zoom_mat: need 0 < min_zoom <= max_zoom, got ({min_zoom}, {max_zoom})")
    zoom = resolve_draw(
        draw, x, lambda: rand_uniform(x, min_zoom, max_zoom, generator, batch), "zoom_mat(draw=...)"
    )
    zoom = torch.where(rand_mask(x, p, generator, batch), zoom, 1.0)
    col = resolve_draw(draw_x, x, lambda: rand_uniform(x, 0.0, 1.0, generator, batch), "zoom_mat(draw_x=...)")
    row = resolve_draw(draw_y, x, lambda: rand_uniform(x, 0.0, 1.0, generator, batch), "zoom_mat(draw_y=...)")
    s = 1.0 / zoom
    zeros = torch.zeros_like(s)
    return affine_mat(s, zeros, (1 - s) * (2 * col - 1), zeros, s, (1 - s) * (2 * row - 1))


_CORNERS = ((-1.0, -1.0), (1.0, -1.0), (-1.0, 1.0), (1.0, 1.0))
_CORNERS_ON: dict[torch.device, Tensor] = {}


def _corners(device: torch.device) -> Tensor:
    """The 4 corners `(4, 2)` on `device`, copied there once (no host-to-device copy per batch)."""
    found = _CORNERS_ON.get(device)
    if found is None:
        found = _CORNERS_ON[device] = torch.tensor(_CORNERS, device=device)
    return found


def homography(src: Tensor, dst: Tensor) -> Tensor:
    """The projective matrices `(bs, 3, 3)` mapping each set of 4 points `src` `(bs, 4, 2)` onto `dst`."""
    if src.shape[-2:] != (4, 2) or dst.shape != src.shape:
        raise ValueError(
            f"homography: needs two (bs, 4, 2) point sets, got {tuple(src.shape)}, {tuple(dst.shape)}"
        )
    x, y = src[..., 0], src[..., 1]
    u, v = dst[..., 0], dst[..., 1]
    ones, zeros = torch.ones_like(x), torch.zeros_like(x)
    rows_u = torch.stack([x, y, ones, zeros, zeros, zeros, -u * x, -u * y], dim=-1)
    rows_v = torch.stack([zeros, zeros, zeros, x, y, ones, -v * x, -v * y], dim=-1)
    a = torch.cat([rows_u, rows_v], dim=-2)  # (bs, 8, 8)
    b = torch.cat([u, v], dim=-1).unsqueeze(-1)
    h = torch.linalg.solve_ex(a, b)[0].squeeze(-1)
    return torch.cat([h, torch.ones_like(h[..., :1])], dim=-1).reshape(*h.shape[:-1], 3, 3)


def warp_mat(
    x: Tensor,
    magnitude: float = 0.2,
    p: float = 0.5,
    draw_x: Draw = None,
    draw_y: Draw = None,
    batch: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Perspective warps (projective matrices): as if the camera turned about the vertical axis by
    `draw_x` and about the horizontal axis by `draw_y`, each uniform in `[-magnitude, magnitude]`.

    With magnitude `m` on x, the sampled region's left edge spans `1 - m` of the height and its right edge
    `1 + m` (and likewise for y on the top and bottom edges)."""
    mask = rand_mask(x, p, generator, batch)
    mx = resolve_draw(
        draw_x, x, lambda: rand_uniform(x, -magnitude, magnitude, generator, batch), "warp(draw_x)"
    )
    my = resolve_draw(
        draw_y, x, lambda: rand_uniform(x, -magnitude, magnitude, generator, batch), "warp(draw_y)"
    )
    mx, my = torch.where(mask, mx, 0.0), torch.where(mask, my, 0.0)
    corners = _corners(x.device).expand(batch_size_of(x), 4, 2)
    sx, sy = corners[..., 0], corners[..., 1]
    dst = torch.stack([sx * (1 + my[:, None] * sy), sy * (1 + mx[:, None] * sx)], dim=-1)
    return homography(corners, dst)


def transform_points(mat: Tensor, pts: Tensor) -> Tensor:
    """Points `(bs, n, 2)` mapped by the (projective) matrices `mat` `(bs, 3, 3)`."""
    lin = pts @ mat[:, :2, :2].transpose(1, 2) + mat[:, None, :2, 2]
    w = pts @ mat[:, 2:, :2].transpose(1, 2) + mat[:, None, 2:, 2]
    return lin / w
