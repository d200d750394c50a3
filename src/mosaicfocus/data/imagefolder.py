"""Folder layout of an image-folder source; torch-free so the Snakefile can check it at parse time."""

from __future__ import annotations

import os
from pathlib import Path

from mosaicfocus.errors import DataSourceError

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


def listed_classes(root: str | os.PathLike, split: str = "train") -> list[str] | None:
    """``imagefolder_classes``, or None where the folder cannot be listed (the config check names why)."""
    try:
        return imagefolder_classes(root, split)
    except (OSError, DataSourceError):
        return None


def image_files(class_dir: Path) -> list[Path]:
    return [class_dir / name for name in image_names(class_dir)]


def image_names(class_dir: Path) -> list[str]:
    """Sorted names of the image files directly in ``class_dir``; one directory listing, no file opened."""
    with os.scandir(class_dir) as entries:
        return sorted(
            entry.name
            for entry in entries
            if os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS and entry.is_file()
        )


def header_problem(path: Path) -> str | None:
    """Why the image at ``path`` cannot be used, from its header alone (PIL reads no pixels here)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            mode = image.mode
    except (OSError, UnidentifiedImageError) as exc:
        return f"{path}: cannot be read as an image ({type(exc).__name__}); remove or replace the file."
    if mode != "RGB":
        return (
            f"{path}: image mode is {mode!r}, only 'RGB' is accepted (grayscale, RGBA or "
            f"palette images are refused, not guessed); convert the folder's images to 3-channel RGB."
        )
    return None


def imagefolder_check(root: str | os.PathLike, split: str = "train") -> tuple[dict[str, int], list[str]]:
    """Images per class and the problems found, cheap enough for every parse.

    Lists every class folder (50,000 CIFAR files list in well under a second)
    and reads the headers of the first and last image of each class; the
    source job decodes every image and refuses any other bad one by name.
    """
    split_dir = Path(root) / split
    counts: dict[str, int] = {}
    problems: list[str] = []
    for name in imagefolder_classes(root, split):
        class_dir = split_dir / name
        names = image_names(class_dir)
        counts[name] = len(names)
        if not names:
            problems.append(
                f"{class_dir}: class {name!r} holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))}); "
                f"add its images or remove the empty class folder."
            )
            continue
        for file_name in dict.fromkeys([names[0], names[-1]]):
            problem = header_problem(class_dir / file_name)
            if problem:
                problems.append(problem)
    return counts, problems
