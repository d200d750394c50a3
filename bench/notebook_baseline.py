"""The original study's way of running the experiment, kept as the benchmark's baseline.

Written the way the notebooks did it: Python loops that build every mosaic and
every blended image one at a time, ``ToTensor`` + ``Normalize`` applied per
image, a float64 ("double") network, and a per-sample ``DataLoader`` over a
``TensorDataset`` for training and for scoring. It is seeded so its numbers are
comparable run to run, and it does the same work as the workflow: draw the
mosaics, make the ten datasets, train one model per focus level, score every
model on every dataset.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from mosaicfocus.what_network.model import Module2


def to_normalized_tensor(image_hwc: np.ndarray) -> torch.Tensor:
    """ToTensor() then Normalize(0.5, 0.5) for one HxWx3 uint8 image."""
    tensor = torch.from_numpy(image_hwc.transpose(2, 0, 1).copy()).double() / 255.0
    return (tensor - 0.5) / 0.5


def build_mosaics(images_hwc: np.ndarray, labels: list[int], foreground: list[int], count: int, seed: int):
    """Per-mosaic loop: pick a foreground, eight backgrounds and a position."""
    rng = random.Random(seed)
    fg_pool = [i for i, label in enumerate(labels) if label in foreground]
    bg_pool = [i for i, label in enumerate(labels) if label not in foreground]
    mosaics, positions, mosaic_labels = [], [], []
    for _ in range(count):
        fg = rng.choice(fg_pool)
        backgrounds = [rng.choice(bg_pool) for _ in range(8)]
        position = rng.randrange(9)
        tiles = []
        for slot in range(9):
            source = fg if slot == position else backgrounds.pop(0)
            tiles.append(to_normalized_tensor(images_hwc[source]))
        mosaics.append(tiles)
        positions.append(position)
        mosaic_labels.append(foreground.index(labels[fg]))
    return mosaics, positions, mosaic_labels


def focus_dataset(mosaics, positions, level: int) -> torch.Tensor:
    """Per-image loop: the weighted sum of the nine tiles at one focus level."""
    images = []
    for tiles, position in zip(mosaics, positions):
        blended = torch.zeros(3, 32, 32, dtype=torch.float64)
        for slot, tile in enumerate(tiles):
            weight = level / 9 if slot == position else (9 - level) / 72
            blended += weight * tile
        images.append(blended)
    return torch.stack(images)


def ten_datasets(mosaics, positions, labels):
    half = len(mosaics) // 2
    first = torch.tensor(labels[:half])
    datasets = {level: (focus_dataset(mosaics[:half], positions[:half], level), first) for level in range(1, 10)}
    foregrounds = torch.stack([tiles[position] for tiles, position in zip(mosaics[half:], positions[half:])])
    datasets[10] = (foregrounds, torch.tensor(labels[half:]))
    return datasets


def train(images: torch.Tensor, labels: torch.Tensor, epochs: int, seed: int, lr=0.01, momentum=0.9, batch_size=256):
    torch.manual_seed(seed)
    model = Module2(3).double()
    loader = DataLoader(TensorDataset(images, labels), batch_size=batch_size, shuffle=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    criterion = nn.CrossEntropyLoss()
    losses = []
    for _ in range(epochs):
        running, seen = 0.0, 0
        for inputs, targets in loader:
            optimizer.zero_grad()
            loss = criterion(model(inputs), targets)
            loss.backward()
            optimizer.step()
            running += loss.item() * inputs.shape[0]
            seen += inputs.shape[0]
        losses.append(running / seen)
    return model, losses


def score(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size=256) -> float:
    correct = total = 0
    with torch.no_grad():
        for inputs, targets in DataLoader(TensorDataset(images, labels), batch_size=batch_size):
            correct += (model(inputs).argmax(1) == targets).sum().item()
            total += targets.shape[0]
    return 100.0 * correct / total


def run_experiment(images_hwc: np.ndarray, labels: list[int], count: int, epochs: int, seed: int) -> dict:
    """The whole reduced experiment; returns the 9x10 accuracy matrix as {(i, j): percent}."""
    mosaics, positions, mosaic_labels = build_mosaics(images_hwc, labels, [0, 1, 2], count, seed)
    datasets = ten_datasets(mosaics, positions, mosaic_labels)
    matrix = {}
    for level in range(1, 10):
        model, _ = train(*datasets[level], epochs=epochs, seed=seed + level)
        for tested in range(1, 11):
            matrix[level, tested] = score(model, *datasets[tested])
    return matrix
