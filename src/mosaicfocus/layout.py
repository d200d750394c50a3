"""Folder layout of an image-folder source; torch-free so the Snakefile can check it at parse time."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import DataSourceError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def imagefolder_classes(root: str | os.PathLike, split: str = "train") -> list[str]:
    """Class names of ``<root>/<split>/<class>/``, sorted; checks the layout."""
    split_dir = Path(root) / split
    if not split_dir.is_dir():
        raise DataSourceError(
            f"data.root={str(root)!r} has no folder {split!r} ({split_dir} does not exist). "
            f"Fix: point data.root at a folder laid out as <root>/{split}/<class>/*.jpg "
            f"(for the CIFAR-10 archive: extract it and use <dir>/cifar10)."
        )
    classes = sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataSourceError(
            f"{split_dir} has no class folders. Fix: lay the images out as {split_dir}/<class>/*.jpg."
        )
    return classes


def image_files(class_dir: Path) -> list[Path]:
    return sorted(
        p for p in class_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
    )
