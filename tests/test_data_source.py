"""Reading an image folder: the batched libjpeg-turbo path and the PIL path agree."""

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from mosaicfocus.data.jpeg import decode_plain_jpegs
from mosaicfocus.data.sources import _decode, load_imagefolder
from mosaicfocus.errors import MosaicFocusError


def _folder(tmp_path, cifar_root, per_class=15):
    for class_dir in sorted((cifar_root / "train").iterdir())[:3]:
        target = tmp_path / "train" / class_dir.name
        target.mkdir(parents=True)
        for image in sorted(class_dir.iterdir())[:per_class]:
            shutil.copy(image, target / image.name)
    return tmp_path


def test_batched_jpeg_decode_gives_the_pil_pixels(tmp_path, cifar_root):
    root = _folder(tmp_path, cifar_root)
    files = sorted((root / "train").glob("*/*"))
    fast = decode_plain_jpegs(files, 32)
    assert fast is not None and fast.shape == (45, 3, 32, 32) and fast.dtype == torch.uint8
    by_pil = torch.from_numpy(np.stack([_decode(path) for path in files]).transpose(0, 3, 1, 2))
    assert torch.equal(fast, by_pil)
    images, labels, classes = load_imagefolder(root, "train")
    assert torch.equal(images, fast) and labels.tolist() == [0] * 15 + [1] * 15 + [2] * 15


def _rgb_jpeg(path, size=32, mode="RGB"):
    pixels = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).convert(mode).save(path, quality=90)


def test_files_the_batched_path_cannot_take_go_to_pil(tmp_path):
    (tmp_path / "train" / "cat").mkdir(parents=True)
    (tmp_path / "train" / "dog").mkdir(parents=True)
    _rgb_jpeg(tmp_path / "train" / "cat" / "a.jpg")
    _rgb_jpeg(tmp_path / "train" / "dog" / "b.jpg", size=40)  # resized by PIL
    assert decode_plain_jpegs(sorted((tmp_path / "train").glob("*/*")), 32) is None
    images, _, _ = load_imagefolder(tmp_path, "train")
    assert images.shape == (2, 3, 32, 32)

    _rgb_jpeg(tmp_path / "train" / "dog" / "b.jpg", mode="L")
    with pytest.raises(MosaicFocusError, match=r"dog/b\.jpg: image mode is 'L'"):
        load_imagefolder(tmp_path, "train")

    data = (tmp_path / "train" / "cat" / "a.jpg").read_bytes()
    _rgb_jpeg(tmp_path / "train" / "dog" / "b.jpg")
    (tmp_path / "train" / "cat" / "a.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(MosaicFocusError, match=r"cat/a\.jpg: cannot be decoded"):
        load_imagefolder(tmp_path, "train")
