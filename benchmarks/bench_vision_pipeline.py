"""The whole vision input pipeline, images per second: decode -> RandomResizedCrop -> batch augmentation ->
normalize, lamina against a per-image CPU pipeline written in plain PIL + torch. Same images, 2 workers.

Images: generated JPEGs (quality 90) of 320x240 with smooth colour gradients, shapes and noise, written once
to a temporary folder (seeded, so every run reads the same files), labelled by folder (2 classes); both sides
read the 90% that lamina's splitter puts in the training set.

- lamina: `DataBlock(ImageBlock, CategoryBlock)` with `item_tfms=RandomResizedCrop(128, min_scale=0.35)` and
  `batch_tfms=[*aug_transforms(max_warp=0), Normalize.from_stats(*imagenet_stats)]` (flip, rotation, zoom in
  one resampling of the whole batch; brightness and contrast in one pass), training loader, bs 64,
  `num_workers=2` (persistent). Decoding and the crop run in the workers, the batch transforms in the
  main process.
- plain: a `torch.utils.data.Dataset` whose `__getitem__` does, per image, what a classic CPU pipeline does:
  PIL decode, random resized crop (`Image.resize` with a box), random flip, rotation and zoom as one PIL
  affine transform, brightness and contrast with `ImageEnhance`, then `torch.from_numpy`, scaling to 0..1
  and normalisation; a `torch.utils.data.DataLoader` (bs 64, 2 persistent workers, shuffled) batches them.

Each repeat is one epoch over every image, after a warm-up epoch that starts the workers. The two sides are
interleaved; the script prints the median images/s of each and RATIO = lamina images/s / plain images/s
(above 1: lamina is faster). Wall-clock time (workers run in other processes); one torch thread per process,
as a 2-core machine shared by loader workers wants. `--device cuda` runs lamina's batch transforms on the
GPU (the batches of both sides end on the GPU).

    python benchmarks/bench_vision_pipeline.py [--quick] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageEnhance

from lamina.core.data.block import DataBlock
from lamina.core.data.blocks import CategoryBlock
from lamina.core.data.getters import parent_label
from lamina.core.data.splitters import RandomSplitter
from lamina.core.data.transforms import Normalize
from lamina.vision.arch_meta import imagenet_stats
from lamina.vision.augment import aug_transforms
from lamina.vision.data import ImageBlock, get_image_files
from lamina.vision.transforms import RandomResizedCrop

SIZE, BS, WORKERS = 128, 64, 2
MIN_SCALE = 0.35
MEAN, STD = (torch.tensor(v).view(3, 1, 1) for v in imagenet_stats)


# ---- the images ---------------------------------------------------------------------------------------
def make_images(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """`n` JPEGs of 320x240 in `folder/<class>/`, half in each of two classes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:240, 0:320].astype(np.float32)
    files = []
    for i in range(n):
        label = "a" if i % 2 == 0 else "b"
        (folder / label).mkdir(parents=True, exist_ok=True)
        c = rng.uniform(0, 255, size=(3, 3))
        img = c[:, 0, None, None] + c[:, 1, None, None] * xx / 320 + c[:, 2, None, None] * yy / 240
        cy, cx, r = rng.uniform(40, 200), rng.uniform(40, 280), rng.uniform(15, 60)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
        img[:, disc] = rng.uniform(0, 255, size=(3, 1))
        img = img.transpose(1, 2, 0) / 2 + rng.normal(0, 12, size=(240, 320, 3))
        path = folder / label / f"{i:05d}.jpg"
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, quality=90)
        files.append(path)
    return files


# ---- lamina ---------------------------------------------------------------------------------------------
def lamina_loader(folder: Path, device: str):
    dblock = DataBlock(
        blocks=(ImageBlock, CategoryBlock),
        get_items=get_image_files,
        get_y=parent_label,
        splitter=RandomSplitter(valid_pct=0.1, seed=0),
        item_tfms=RandomResizedCrop(SIZE, min_scale=MIN_SCALE),
        batch_tfms=[*aug_transforms(max_warp=0.0), Normalize.from_stats(*imagenet_stats, cuda=False)],
    )
    dls = dblock.dataloaders(
        folder, bs=BS, num_workers=WORKERS, persistent_workers=True, seed=0, device=torch.device(device)
    )
    return dls.train


# ---- plain PIL + torch, one image at a time ----------------------------------------------------------------
def _crop_box(w: int, h: int) -> tuple[float, float, float, float]:
    for _ in range(10):
        area = random.uniform(MIN_SCALE, 1.0) * w * h
        ratio = math.exp(random.uniform(math.log(3 / 4), math.log(4 / 3)))
        cw, ch = math.sqrt(area * ratio), math.sqrt(area / ratio)
        if cw <= w and ch <= h:
            left, top = random.uniform(0, w - cw), random.uniform(0, h - ch)
            return left, top, left + cw, top + ch
    side = min(w, h)
    return (w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2


def _affine(img: Image.Image) -> Image.Image:
    """Flip (p=0.5), rotation up to 10 degrees and zoom 1..1.1 (each p=0.75), as one PIL affine transform."""
    flip = -1.0 if random.random() < 0.5 else 1.0
    angle = math.radians(random.uniform(-10, 10)) if random.random() < 0.75 else 0.0
    zoom = random.uniform(1.0, 1.1) if random.random() < 0.75 else 1.0
    cx = cy = SIZE / 2
    cos, sin = math.cos(angle) / zoom, math.sin(angle) / zoom
    # output pixel (x, y) reads input pixel A @ (x - c, y - c) + c: the inverse of flip, rotate, zoom
    a, b, d, e = flip * cos, -sin, flip * sin, cos
    data = (a, b, cx - a * cx - b * cy, d, e, cy - d * cx - e * cy)
    return img.transform((SIZE, SIZE), Image.AFFINE, data, resample=Image.BILINEAR)


def _lighting(img: Image.Image) -> Image.Image:
    if random.random() < 0.75:
        img = ImageEnhance.Brightness(img).enhance(random.uniform(0.8, 1.2))
    if random.random() < 0.75:
        img = ImageEnhance.Contrast(img).enhance(random.uniform(0.8, 1.25))
    return img


class PlainDataset(torch.utils.data.Dataset):
    def __init__(self, files: list[Path]):
        self.files = files
        self.labels = [0 if f.parent.name == "a" else 1 for f in files]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        img = Image.open(self.files[i]).convert("RGB")
        img = img.resize((SIZE, SIZE), Image.BILINEAR, box=_crop_box(*img.size))
        img = _lighting(_affine(img))
        x = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).float().div_(255)
        return (x - MEAN) / STD, self.labels[i]


def _seed_worker(worker_id: int) -> None:
    random.seed(torch.initial_seed() % 2**32)
    torch.set_num_threads(1)


def plain_loader(files: list[Path]) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(
        PlainDataset(files),
        batch_size=BS,
        shuffle=True,
        drop_last=True,
        num_workers=WORKERS,
        persistent_workers=True,
        worker_init_fn=_seed_worker,
    )


# ---- measuring ------------------------------------------------------------------------------------------
def images_per_second(loader, device: str) -> float:
    """One epoch; batches end on `device` (the plain loader's are moved there, as a training loop does)."""
    start, n = time.perf_counter(), 0
    for x, _ in loader:
        x = x.to(device, non_blocking=True)
        if tuple(x.shape[1:]) != (3, SIZE, SIZE):
            raise AssertionError(f"unexpected batch shape {tuple(x.shape)}")
        n += x.shape[0]
    if device == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - start)


def check_same_kind_of_batches(ours, plain) -> None:
    """Both sides make normalised 3x128x128 float batches of the same images with similar statistics."""
    x1, _ = next(iter(ours))
    x2, _ = next(iter(plain))
    x1 = x1.as_subclass(torch.Tensor).cpu()
    assert x1.dtype == x2.dtype == torch.float32 and x1.shape == x2.shape, (x1.shape, x2.shape)
    m1, m2 = float(x1.mean()), float(x2.mean())
    assert abs(m1 - m2) < 0.5, f"batch means differ too much: lamina {m1:.3f}, plain {m2:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and repeats (under ~10 s)")
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), default="cpu", help="where lamina's batch transforms run"
    )
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available")
    n_images, repeats = (192, 3) if args.quick else (1024, 5)
    torch.set_num_threads(1)
    random.seed(0)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_images(folder, n_images)
        ours = lamina_loader(folder, args.device)
        plain = plain_loader(list(ours.dataset.items))  # the same (training) images
        check_same_kind_of_batches(ours, plain)
        for loader in (ours, plain):  # warm-up: start the persistent workers
            images_per_second(loader, args.device)
        lamina, baseline = [], []
        for _ in range(repeats):
            lamina.append(images_per_second(ours, args.device))
            baseline.append(images_per_second(plain, args.device))
        del ours, plain
    ours_med, plain_med = statistics.median(lamina), statistics.median(baseline)
    print(
        f"vision pipeline on {args.device}: {n_images} JPEGs 320x240 -> {SIZE}x{SIZE}, bs {BS}, "
        f"{WORKERS} workers, {repeats} repeats"
    )
    print(f"  lamina (RandomResizedCrop + aug_transforms + Normalize): {ours_med:8.1f} images/s (median)")
    print(f"  plain PIL + torch, per image:                           {plain_med:8.1f} images/s (median)")
    print(f"RATIO lamina/plain images per second: {ours_med / plain_med:.2f}")


if __name__ == "__main__":
    main()
