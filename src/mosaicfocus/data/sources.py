"""Source images: the CIFAR-10 training split as one uint8 tensor plus labels.

Three sources give the same result shape (``images`` uint8 [N, 3, 32, 32],
``labels`` int64 [N], ``classes`` list of names in label order):

- ``cifar10``: torchvision's CIFAR10 (downloads when it is not in ``root``),
- ``imagefolder``: ``<root>/<split>/<class>/*`` in any format PIL reads,
- ``synthetic``: a procedurally generated, learnable 10-class set for demos and tests.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from mosaicfocus.data.classes import CIFAR10_CLASSES
from mosaicfocus.data.imagefolder import IMAGE_EXTENSIONS, image_files, imagefolder_classes
from mosaicfocus.data.jpeg import decode_plain_jpegs
from mosaicfocus.errors import DataSourceError
from mosaicfocus.seeds import derive_seed

IMAGE_SIZE = 32


def load_cifar10(root: str | os.PathLike, train: bool = True, download: bool = True):
    """CIFAR-10 through torchvision; the download is the default for users with internet."""
    from torchvision.datasets import CIFAR10

    try:
        dataset = CIFAR10(root=str(root), train=train, download=download)
    except Exception as exc:  # URLError, RuntimeError("Dataset not found"), checksum errors
        raise DataSourceError(
            f"CIFAR-10 is not in data.root={str(root)!r} and could not be downloaded "
            f"({type(exc).__name__}: {exc}). Fix: run where the internet is reachable, or put "
            f"the python version of CIFAR-10 (cifar-10-batches-py/) under that root, or use a "
            f"local copy with `data: {{source: imagefolder, root: <dir with train/<class>/*.jpg>}}`, "
            f"or `data: {{source: synthetic}}` for an offline demo."
        ) from None
    images = torch.from_numpy(np.ascontiguousarray(dataset.data.transpose(0, 3, 1, 2)))
    labels = torch.tensor(dataset.targets, dtype=torch.int64)
    return images, labels, list(dataset.classes)


def _decode(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            if image.mode != "RGB":
                raise DataSourceError(
                    f"{path}: image mode is {image.mode!r}, expected 'RGB'. "
                    f"Fix: convert the folder's images to 3-channel RGB."
                )
            if image.size != (IMAGE_SIZE, IMAGE_SIZE):
                image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    except DataSourceError:
        raise
    except Exception as exc:
        raise DataSourceError(
            f"{path}: cannot be decoded as an image ({type(exc).__name__}: {exc}). Fix: remove or replace the file."
        ) from None


def load_imagefolder(root: str | os.PathLike, split: str = "train", workers: int = 4):
    """Read ``<root>/<split>/<class>/*``; images not 32x32 are resized, others kept as they are."""
    classes = imagefolder_classes(root, split)
    files: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        class_files = image_files(Path(root) / split / name)
        if not class_files:
            raise DataSourceError(
                f"{Path(root) / split / name} holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))}). "
                f"Fix: add its images or remove the empty class folder."
            )
        files += class_files
        labels += [label] * len(class_files)
    decoded = decode_plain_jpegs(files, IMAGE_SIZE, workers)
    if decoded is not None:
        return decoded, torch.tensor(labels, dtype=torch.int64), classes
    images = np.empty((len(files), IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)

    def decode_into(index: int) -> None:
        images[index] = _decode(files[index])

    # PIL releases the GIL while decoding, so threads scale over the cores.
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(decode_into, range(len(files)), chunksize=256))
    tensor = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    return tensor, torch.tensor(labels, dtype=torch.int64), classes


def make_synthetic(per_class: int, seed: int, classes: list[str] | None = None):
    """A learnable 10-class stand-in for CIFAR-10, made from the seed.

    Each class is a sinusoidal grating with its own orientation, spatial
    frequency and colour; every image gets a random phase, contrast, brightness
    and pixel noise. A small CNN learns it, and blending tiles at low focus
    makes it hard, as with real images.
    """
    classes = list(classes or CIFAR10_CLASSES)
    n_classes = len(classes)
    rng = np.random.Generator(np.random.PCG64(derive_seed(seed, "synthetic")))
    palette = rng.uniform(0.15, 1.0, size=(n_classes, 3))
    orientation = np.arange(n_classes) * np.pi / n_classes
    frequency = 1.5 + (np.arange(n_classes) % 3)
    labels = np.repeat(np.arange(n_classes), per_class)
    rng.shuffle(labels)
    n = labels.size
    coords = np.arange(IMAGE_SIZE) / IMAGE_SIZE
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    theta = orientation[labels][:, None, None]
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1, 1))
    wave = np.sin(2 * np.pi * frequency[labels][:, None, None] * (xx * np.cos(theta) + yy * np.sin(theta)) + phase)
    contrast = rng.uniform(0.25, 0.45, size=(n, 1, 1, 1))
    brightness = rng.uniform(0.35, 0.65, size=(n, 1, 1, 1))
    pixels = brightness + contrast * wave[:, None] * palette[labels][:, :, None, None]
    pixels += rng.normal(0.0, 0.06, size=pixels.shape)
    images = np.clip(np.rint(pixels * 255), 0, 255).astype(np.uint8)
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)), classes


def first_per_class(images: torch.Tensor, labels: torch.Tensor, classes: list[str], per_class: int):
    """The first ``per_class`` images of every class, in source order; refuses a class with fewer."""
    counts = torch.bincount(labels, minlength=len(classes))
    short = [f"{classes[c]} ({int(n)})" for c, n in enumerate(counts) if n < per_class]
    if short:
        raise DataSourceError(
            f"data.images_per_class: {per_class} is more than the source holds for {', '.join(short)}; "
            f"use a smaller number, or null for every image."
        )
    keep = torch.cat([torch.nonzero(labels == c).flatten()[:per_class] for c in range(len(classes))])
    keep = keep.sort().values
    return images[keep], labels[keep]


def load_source(
    source: str,
    root: str | None,
    seed: int,
    synthetic_per_class: int,
    workers: int = 2,
    images_per_class: int | None = None,
    split: str = "train",
):
    """The ``train`` split (the study's data) or the ``test`` split (held-out mosaics)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if source == "cifar10":
        images, labels, classes = load_cifar10(root, train=split == "train")
    elif source == "imagefolder":
        images, labels, classes = load_imagefolder(root, split, workers=workers)
    elif source == "synthetic":
        # The test split is another draw of the same classes: new phases, contrasts and noise.
        images, labels, classes = make_synthetic(
            synthetic_per_class, seed if split == "train" else derive_seed(seed, "test")
        )
    else:
        raise DataSourceError(f"data.source={source!r} is unknown; use cifar10, imagefolder or synthetic.")
    if images_per_class is not None:
        images, labels = first_per_class(images, labels, classes, images_per_class)
    return images, labels, classes


def class_indices(names: list[str], classes: list[str], key: str) -> list[int]:
    """Map configured class names to label indices, naming any that are not in the data."""
    missing = [name for name in names if name not in classes]
    if missing:
        raise DataSourceError(
            f"{key}: {', '.join(map(repr, missing))} not among the data's classes "
            f"({', '.join(classes)}). Fix: use class names exactly as the data names them."
        )
    return [classes.index(name) for name in names]
