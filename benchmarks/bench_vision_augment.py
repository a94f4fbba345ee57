"""Batch augmentation speed: lamina's `aug_transforms()` vs plain PyTorch on the batch vs a PIL image loop.

A batch of 64 RGB images of 128x128 (real photographs from the shared detection sample, resized; random
pixels when the data is missing), float in [0, 1]. Cases:

- `affine`: flip + rotation + zoom only (`aug_transforms(max_warp=0, max_lighting=0)`), against a
  hand-written batch equivalent: per-image draws, 3x3 matrices, `F.affine_grid` + `F.grid_sample`.
- `default`: the full default `aug_transforms()` (flip, perspective warp, rotation, zoom, brightness,
  contrast), against the same hand-written batch code plus the perspective grid (a homography solved per
  image) and the lighting on logits.
- `PIL loop`: what a per-image CPU pipeline does for `default` without the warp: for each image, random
  flip, rotation, zoom (crop + resize), brightness and contrast with PIL, then conversion to a float batch.

The two batch sides are interleaved (one repeat each, alternating) and the script prints per-case medians
(ms per batch, images/s) and RATIO = lamina / plain PyTorch. CUDA cases run too when a GPU is present.

Usage: python benchmarks/bench_vision_augment.py [--quick] [--device cpu|cuda|all]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageEnhance

from lamina.vision.augment import aug_transforms
from lamina.vision.core import TensorImage

BS, SIZE = 64, 128
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "detection_sample" / "train"


def load_images() -> list[Image.Image]:
    files = sorted(DATA.glob("*.jpg")) if DATA.is_dir() else []
    if not files:
        rng = np.random.default_rng(0)
        return [Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)) for _ in range(BS)]
    imgs = [Image.open(f).convert("RGB").resize((SIZE, SIZE), Image.BILINEAR) for f in files]
    return [imgs[i % len(imgs)] for i in range(BS)]


def to_batch(imgs: list[Image.Image]) -> torch.Tensor:
    arr = np.stack([np.asarray(im) for im in imgs])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float().div_(255)


# ---- the hand-written plain PyTorch baseline ---------------------------------------------------------------
def _uniform(bs: int, lo: float, hi: float, dev: torch.device) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(bs, device=dev)


def _homographies(mx: torch.Tensor, my: torch.Tensor) -> torch.Tensor:
    bs, dev = mx.shape[0], mx.device
    src = torch.tensor([[-1.0, -1], [1, -1], [-1, 1], [1, 1]], device=dev).expand(bs, 4, 2)
    sx, sy = src[..., 0], src[..., 1]
    dst = torch.stack([sx * (1 + my[:, None] * sy), sy * (1 + mx[:, None] * sx)], dim=-1)
    x, y, u, v = sx, sy, dst[..., 0], dst[..., 1]
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    a = torch.cat(
        [
            torch.stack([x, y, one, zero, zero, zero, -u * x, -u * y], -1),
            torch.stack([zero, zero, zero, x, y, one, -v * x, -v * y], -1),
        ],
        dim=1,
    )
    h = torch.linalg.solve(a, torch.cat([u, v], 1).unsqueeze(-1)).squeeze(-1)
    return torch.cat([h, torch.ones_like(h[:, :1])], 1).reshape(bs, 3, 3)


def plain_augment(x: torch.Tensor, warp: bool, lighting: bool) -> torch.Tensor:
    """Flip (p=.5), [warp 0.2], rotate 10 deg, zoom 1..1.1 (p=.75 each), [brightness, contrast 0.2 (.75)]."""
    bs, _, h, w = x.shape
    dev = x.device
    eye = torch.eye(3, device=dev).expand(bs, 3, 3)
    flip = eye.clone()
    flip[:, 0, 0] = torch.where(torch.rand(bs, device=dev) < 0.5, -1.0, 1.0)
    mats = [flip]
    if warp:
        on = torch.rand(bs, device=dev) < 0.75
        mx = torch.where(on, _uniform(bs, -0.2, 0.2, dev), 0.0)
        my = torch.where(on, _uniform(bs, -0.2, 0.2, dev), 0.0)
        mats.append(_homographies(mx, my))
    theta = torch.where(torch.rand(bs, device=dev) < 0.75, _uniform(bs, -10, 10, dev), 0.0) * (math.pi / 180)
    rot = eye.clone()
    rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = (
        theta.cos(),
        -theta.sin(),
        theta.sin(),
        theta.cos(),
    )
    mats.append(rot)
    s = 1 / torch.where(torch.rand(bs, device=dev) < 0.75, _uniform(bs, 1.0, 1.1, dev), 1.0)
    zoom = eye.clone()
    zoom[:, 0, 0], zoom[:, 1, 1] = s, s
    zoom[:, 0, 2] = (1 - s) * _uniform(bs, -1, 1, dev)
    zoom[:, 1, 2] = (1 - s) * _uniform(bs, -1, 1, dev)
    mats.append(zoom)
    m = mats[0]
    for o in mats[1:]:
        m = m @ o
    if warp:
        base = F.affine_grid(torch.eye(2, 3, device=dev)[None], [1, 1, h, w], align_corners=True).reshape(
            1, -1, 2
        )
        hom = torch.cat([base, torch.ones_like(base[..., :1])], -1) @ m.transpose(1, 2)
        grid = (hom[..., :2] / hom[..., 2:]).reshape(bs, h, w, 2)
    else:
        grid = F.affine_grid(m[:, :2], [bs, 1, h, w], align_corners=True)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=True)
    if lighting:
        b = torch.where(torch.rand(bs, device=dev) < 0.75, _uniform(bs, 0.4, 0.6, dev), 0.5)
        c = torch.where(
            torch.rand(bs, device=dev) < 0.75,
            torch.exp(_uniform(bs, math.log(0.8), -math.log(0.8), dev)),
            1.0,
        )
        logits = torch.logit(out.clamp(1e-7, 1 - 1e-7))
        out = torch.sigmoid((logits + torch.logit(b)[:, None, None, None]) * c[:, None, None, None])
    return out


# ---- the per-image PIL loop ----------------------------------------------------------------------
def pil_augment(imgs: list[Image.Image]) -> torch.Tensor:
    out = []
    for im in imgs:
        if random.random() < 0.5:
            im = im.transpose(Image.FLIP_LEFT_RIGHT)
        if random.random() < 0.75:
            im = im.rotate(random.uniform(-10, 10), resample=Image.BILINEAR)
        if random.random() < 0.75:
            z = random.uniform(1.0, 1.1)
            cw = SIZE / z
            x0, y0 = random.uniform(0, SIZE - cw), random.uniform(0, SIZE - cw)
            im = im.resize((SIZE, SIZE), Image.BILINEAR, box=(x0, y0, x0 + cw, y0 + cw))
        if random.random() < 0.75:
            im = ImageEnhance.Brightness(im).enhance(random.uniform(0.8, 1.2))
        if random.random() < 0.75:
            im = ImageEnhance.Contrast(im).enhance(random.uniform(0.8, 1.2))
        out.append(im)
    return to_batch(out)


# ---- timing --------------------------------------------------------------------------------------
def _timed(f, sync) -> float:
    sync()
    t0 = time.perf_counter()
    f()
    sync()
    return time.perf_counter() - t0


def lamina_runner(tfms, x):
    def run():
        b = TensorImage(x)
        for t in tfms:
            b = t(b, split_idx=0)
        return b

    return run


def bench_device(device: str, imgs: list[Image.Image], repeats: int, warmup: int) -> None:
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    x = to_batch(imgs).to(dev)
    cases = {
        "affine": (aug_transforms(max_warp=0.0, max_lighting=0.0), dict(warp=False, lighting=False)),
        "default": (aug_transforms(), dict(warp=True, lighting=True)),
    }
    print(f"\n== {device} ({torch.get_num_threads()} threads), batch {BS} x 3 x {SIZE} x {SIZE} ==")
    print(f"{'case':<10}{'lamina ms':>12}{'plain ms':>12}{'RATIO':>8}{'lamina img/s':>15}{'plain img/s':>14}")
    for name, (tfms, kw) in cases.items():
        ours, plain = lamina_runner(tfms, x), (lambda kw=kw: plain_augment(x, **kw))
        for _ in range(warmup):  # allocator, kernels, caches
            ours(), plain()
        t_ours, t_plain = [], []
        for _ in range(repeats):
            t_ours.append(_timed(ours, sync))
            t_plain.append(_timed(plain, sync))
        mo, mp = statistics.median(t_ours), statistics.median(t_plain)
        print(f"{name:<10}{mo * 1e3:>12.2f}{mp * 1e3:>12.2f}{mo / mp:>8.2f}{BS / mo:>15.0f}{BS / mp:>14.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (under ~10 s)")
    parser.add_argument("--device", default="all", choices=["cpu", "cuda", "all"])
    args = parser.parse_args()
    repeats = 5 if args.quick else 25
    torch.manual_seed(0)
    random.seed(0)
    imgs = load_images()
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    for device in devices:
        if device == "cuda" and not torch.cuda.is_available():
            print("\n(cuda: no GPU here, skipped)")
            continue
        bench_device(device, imgs, repeats, warmup=1 if args.quick else 3)
    pil_repeats = 3 if args.quick else 7
    times = [_timed(lambda: pil_augment(imgs), lambda: None) for _ in range(pil_repeats)]
    m = statistics.median(times)
    print("\nPIL per-image loop (flip, rotate, zoom, brightness, contrast; no warp) + to float batch, CPU:")
    print(f"  {m * 1e3:.1f} ms per batch of {BS}, {BS / m:.0f} images/s")


if __name__ == "__main__":
    main()
