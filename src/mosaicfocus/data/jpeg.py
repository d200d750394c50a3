"""An image folder of plain JPEGs decoded by libjpeg-turbo, a list per call."""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch


def decode_plain_jpegs(files: list[Path], image_size: int, workers: int = 2) -> torch.Tensor | None:
    """Every file with torchvision's libjpeg-turbo, a list per call, or None to leave them to PIL.

    One C++ call decodes a whole list, much faster than PIL on threads that take
    turns on the GIL between files (BENCHMARKS.md), with the same pixels (checked
    on all 50,000 CIFAR-10 images; tests/test_data_source.py checks a sample). None when any file is not a
    32x32 3-channel JPEG or does not decode: the PIL path then resizes it, or
    names the bad file.
    """
    if not files or any(path.suffix.lower() not in (".jpg", ".jpeg") for path in files):
        return None
    with warnings.catch_warnings():
        # torchvision 0.29 deprecates its image decoders; once they are gone the
        # import fails and PIL does the work.
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            from torchvision.io import ImageReadMode, decode_jpeg, read_file
        except ImportError:
            return None

        def decode_part(part: list[Path]) -> list[torch.Tensor]:
            return decode_jpeg([read_file(str(path)) for path in part], mode=ImageReadMode.UNCHANGED)

        workers = max(1, workers)
        step = -(-len(files) // workers)
        parts = [files[i : i + step] for i in range(0, len(files), step)]
        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                decoded = [image for part in pool.map(decode_part, parts) for image in part]
        except Exception:  # a corrupt or empty file; PIL says which
            return None
    if any(tuple(image.shape) != (3, image_size, image_size) for image in decoded):
        return None
    return torch.stack(decoded)
