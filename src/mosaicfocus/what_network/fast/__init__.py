"""Speed machinery, behind one door. The science code asks for three things:

- ``Batches(images, device)``: the training images laid out once for fast
  gathering; ``batches[index]`` is one mini-batch in that layout;
- ``features_of(model, device)``: a function from such a batch to the model's fc3
  features (``Module2.features``), for training and scoring alike;
- ``predict(model, images, batch_size)``: argmax of the logits, in batches.

On the CPU they compute conv1 and its pooling in row phases (``phases``) and pool
before each ReLU (``direct``); elsewhere, and for a float64 network
(``train.dtype``), the direct form. Both are the protocol's function: pooling
first is exact, row phases equal it up to float32 rounding.
``MomentumSGD`` and ``reuse_freed_memory`` are the rest of the training side;
``StackedModule2``, ``StackedBatches`` and ``StackedMomentumSGD`` train several
networks in the same kernels (``lockstep``, the GPU path). ``MosaicTiles`` serves
the attention network: the nine tiles of a mini-batch of mosaics, normalised
from the uint8 source images when used, and their alpha-weighted average, in the
same layout. The data stage's own speed code (the exact integer blend, the JPEG
decoder) lives beside it in ``mosaicfocus.data``. Figures and what was tried:
BENCHMARKS.md.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from mosaicfocus.what_network.fast import direct
from mosaicfocus.what_network.fast.memory import reuse_freed_memory
from mosaicfocus.what_network.fast.mosaic import MosaicTiles
from mosaicfocus.what_network.fast.phases import PhasedModule2, to_row_phases
from mosaicfocus.what_network.fast.sgd import MomentumSGD
from mosaicfocus.what_network.fast.stacked import StackedBatches, StackedModule2, StackedMomentumSGD
from mosaicfocus.what_network.model import Module2

__all__ = [
    "Batches",
    "MomentumSGD",
    "MosaicTiles",
    "StackedBatches",
    "StackedModule2",
    "StackedMomentumSGD",
    "features_of",
    "mosaic_tiles",
    "predict",
    "reuse_freed_memory",
    "row_phased",
]


def row_phased(device: torch.device | str, phased: bool | None = None) -> bool:
    """Whether to use row phases: on the CPU, unless told otherwise."""
    return torch.device(device).type == "cpu" if phased is None else phased


class Batches:
    """Images on ``device`` in the layout ``features_of`` takes, gathered a mini-batch at a time."""

    def __init__(self, images: torch.Tensor, device: torch.device | str, phased: bool | None = None):
        self.phased = row_phased(device, phased)
        x = images.to(device)
        x = to_row_phases(x) if self.phased else x.contiguous(memory_format=torch.channels_last)
        self.count, self.channels, self.height, self.width = x.shape
        # Channels-last images as rows of one matrix (a view): index_select of whole rows
        # gathers a batch faster than indexing the 4-D tensor.
        self.rows = x.permute(0, 2, 3, 1).reshape(self.count, -1)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: torch.Tensor) -> torch.Tensor:
        batch = self.rows.index_select(0, index)
        return batch.view(-1, self.height, self.width, self.channels).permute(0, 3, 1, 2)


def mosaic_tiles(images: torch.Tensor, source_index: torch.Tensor, device, phased: bool | None = None) -> MosaicTiles:
    """The mosaics ``source_index`` [n, 9] into uint8 ``images``, their tiles served in ``features_of``'s layout."""
    return MosaicTiles(images, source_index, device, row_phased(device, phased))


def features_of(model: Module2, device: torch.device | str, phased: bool | None = None) -> Callable:
    """``model.features`` for batches laid out by ``Batches`` (same ``device`` and ``phased``)."""
    if row_phased(device, phased):
        return PhasedModule2(model).features
    return lambda x: direct.features(model, x)


@torch.inference_mode()
def predict(model: Module2, images: torch.Tensor, batch_size: int = 500, phased: bool | None = None) -> torch.Tensor:
    """argmax of the logits of every image, ``batch_size`` images at a time (a few hundred
    stay in the CPU caches)."""
    model.eval()
    reuse_freed_memory()
    device, dtype = next(model.parameters()).device, next(model.parameters()).dtype
    phased = row_phased(device, phased) and dtype == torch.float32  # row phases: float32 only
    features = features_of(model, device, phased)
    # Allocated once: small tensors kept from every batch would sit between the batches'
    # large temporaries on the heap, and the C library could not give those back.
    out = torch.empty(images.shape[0], dtype=torch.int64)
    for start in range(0, images.shape[0], batch_size):
        batch = images[start : start + batch_size].to(device, dtype)  # a float64 model scores in float64
        logits = model.fc4(features(to_row_phases(batch) if phased else batch))
        out[start : start + batch_size] = logits.argmax(dim=1).cpu()
    return out
