"""Mosaics: 9 tiles, one foreground image among 8 backgrounds (docs/protocol.md, "Mosaics").

A mosaic is stored as what it is made of: 9 indices into the source images, the
foreground's position and its label. With the source images that says
everything, in 80 bytes instead of 27,648 of tile pixels; the datasets gather
the tiles as they blend them.
"""

from __future__ import annotations

import numpy as np
import torch

from mosaicfocus.data.design import TILES, training_mosaics
from mosaicfocus.errors import DataSourceError
from mosaicfocus.seeds import derive_seed


def place_foreground(foreground: np.ndarray, backgrounds: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Rows of 9 tiles: ``foreground`` [n] at ``position`` [n], ``backgrounds`` [n, 8]
    filling the other slots in draw order (slot k takes background k before the
    foreground and background k-1 after it)."""
    slot = np.arange(TILES)[None, :]
    column = np.clip(slot - (slot > position[:, None]), 0, TILES - 2)
    return np.where(
        slot == position[:, None],
        foreground[:, None],
        np.take_along_axis(backgrounds, column, axis=1),
    )


def draw_mosaics(
    labels: torch.Tensor,
    foreground: list[int],
    background: list[int],
    count: int,
    seed: int,
) -> dict[str, torch.Tensor]:
    """Choose the source images of every mosaic.

    Returns ``source_index`` [count, 9] (index into the source images, by tile
    position), ``foreground_position`` [count] in 0..8 and ``label`` [count],
    the foreground's class as an index into ``foreground``.
    """
    labels_np = labels.numpy()
    fg_pool = np.flatnonzero(np.isin(labels_np, foreground))
    bg_pool = np.flatnonzero(np.isin(labels_np, background))
    if fg_pool.size == 0 or bg_pool.size == 0:
        which = "foreground" if fg_pool.size == 0 else "background"
        raise DataSourceError(f"The source data has no images of the {which} classes; check the class lists.")
    rng = np.random.Generator(np.random.PCG64(derive_seed(seed, "mosaics")))
    fg_pick = fg_pool[rng.integers(fg_pool.size, size=count)]
    bg_pick = bg_pool[rng.integers(bg_pool.size, size=(count, TILES - 1))]
    position = rng.integers(TILES, size=count)

    source_index = place_foreground(fg_pick, bg_pick, position)
    label_of_class = {cls: i for i, cls in enumerate(foreground)}
    label = (
        np.array([label_of_class[c] for c in labels_np[fg_pick]], dtype=np.int64) if count else np.zeros(0, np.int64)
    )
    return {
        "source_index": torch.from_numpy(source_index.astype(np.int64)),
        "foreground_position": torch.from_numpy(position.astype(np.int64)),
        "label": torch.from_numpy(label),
    }


def gather_tiles(images: torch.Tensor, source_index: torch.Tensor) -> torch.Tensor:
    """The uint8 tiles [count, 9, 3, 32, 32] of the drawn mosaics."""
    return images[source_index.reshape(-1)].reshape(*source_index.shape, *images.shape[1:])


def load_mosaics(mosaics_path, source_path) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict]:
    """The source images, the mosaics drawn from them and the mosaics' metadata,
    refusing mosaics that were drawn from other source images."""
    from mosaicfocus.artifacts import ArtifactError, load_artifact

    source, source_meta = load_artifact(
        source_path,
        "source",
        expect={"images": ((None, 3, 32, 32), torch.uint8), "labels": ((None,), torch.int64)},
    )
    mosaics, meta = load_artifact(
        mosaics_path,
        "mosaics",
        expect={
            "source_index": ((None, TILES), torch.int64),
            "foreground_position": ((None,), torch.int64),
            "label": ((None,), torch.int64),
        },
    )
    images = source["images"]
    index = mosaics["source_index"]
    if meta.get("source") != source_meta.get("params") or (index.numel() and int(index.max()) >= images.shape[0]):
        raise ArtifactError(
            f"{mosaics_path}: was drawn from other source images than {source_path} "
            f"({meta.get('source')!r}, not {source_meta.get('params')!r}); delete it and rerun the workflow."
        )
    return images, mosaics, meta


def mosaic_halves(mosaics: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(the training half: the mosaics of datasets 1..9, the test half: dataset 10's)."""
    half = training_mosaics(mosaics["label"].numel())
    return {k: v[:half] for k, v in mosaics.items()}, {k: v[half:] for k, v in mosaics.items()}
