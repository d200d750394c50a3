"""What `--cifar` means in every bench script: the local CIFAR-10 JPEG copy, given either as

- the archive, a .tar.gz such as cifar10-jpg.tar.gz holding cifar10/train/<class>/*.jpg, extracted once
  to a temporary folder that is removed when the script is done with it, or
- the extracted folder, the one holding train/<class>/.

    with cifar_folder(args.cifar) as folder:   # folder / "train" / <class> / *.jpg
        ...
"""

from __future__ import annotations

import contextlib
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

HELP = (
    "the CIFAR-10 JPEG copy: its archive (.tar.gz holding cifar10/train/<class>/*.jpg, extracted to a "
    "temporary folder) or the extracted folder holding train/<class>/"
)


def _holding_train(folder: Path) -> Path | None:
    """``folder`` if it holds train/, else the one folder directly inside it that does."""
    if (folder / "train").is_dir():
        return folder
    inside = [sub for sub in sorted(folder.iterdir()) if (sub / "train").is_dir()]
    return inside[0] if len(inside) == 1 else None


@contextlib.contextmanager
def cifar_folder(cifar: str | Path) -> Iterator[Path]:
    """The folder holding train/<class>/ for ``--cifar cifar``; an archive's extracted copy lasts as long
    as the ``with`` block. Anything else stops the script with a message saying what was expected."""
    cifar = Path(cifar)
    if cifar.is_dir():
        if not (cifar / "train").is_dir():
            raise SystemExit(f"--cifar {cifar}: this folder has no train/; give the one holding train/<class>/")
        yield cifar
        return
    if not cifar.is_file() or not tarfile.is_tarfile(cifar):
        raise SystemExit(f"--cifar {cifar}: neither a folder holding train/<class>/ nor a .tar.gz archive")
    with tempfile.TemporaryDirectory(prefix="mosaicfocus-cifar-") as scratch:
        with tarfile.open(cifar) as tar:
            tar.extractall(scratch, filter="data")
        folder = _holding_train(Path(scratch))
        if folder is None:
            raise SystemExit(f"--cifar {cifar}: the archive holds no train/ folder at its top or one level down")
        yield folder
