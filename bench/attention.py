"""Speed of the attention network's training step (focus + what network), one thread, batch 256.

    .venv/bin/python bench/attention.py [--mosaics 5120] [--epochs 3] [--direct]

Prints mosaics/s and images/s (a mosaic is ten CNN passes: nine tiles through the focus
network, their average through the what network) per epoch, the share of the float32
matmul peak the step reaches, and the share of a step spent gathering and normalising
the tiles. Synthetic source images: the step's cost does not depend on the pixels.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))

import torch  # noqa: E402
from benchmark import CONV1_MACS, FORWARD_MACS, TRAIN_FLOP_PER_IMAGE, matmul_gflops  # noqa: E402

from mosaicfocus.data.mosaics import draw_mosaics  # noqa: E402
from mosaicfocus.data.sources import make_synthetic  # noqa: E402
from mosaicfocus.what_network import fast  # noqa: E402
from mosaicfocus.what_network.training import TrainConfig  # noqa: E402
from mosaicfocus.where_network.attention import train_attention  # noqa: E402

# Nine tiles whose input needs no gradient, and the average, whose input does (the alphas).
FLOP_PER_MOSAIC = 9 * TRAIN_FLOP_PER_IMAGE + 2 * 3 * FORWARD_MACS
assert TRAIN_FLOP_PER_IMAGE == 2 * (3 * FORWARD_MACS - CONV1_MACS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mosaics", type=int, default=5120)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--direct", action="store_true", help="direct conv1, not row phases")
    args = parser.parse_args()
    torch.set_num_threads(1)
    peak = max(matmul_gflops(1, 1024, 10) for _ in range(3))
    print(f"float32 matmul peak, 1 thread: {peak:,.1f} GFLOP/s")
    images, labels, _ = make_synthetic(1000, seed=1)
    mosaics = draw_mosaics(labels, [0, 1, 2], list(range(3, 10)), args.mosaics, seed=2)
    config = TrainConfig(lr=0.01, momentum=0.9, batch_size=256, outputs=3, restarts=0)
    rates = []

    def log(line: str) -> None:
        rates.append(float(line.rsplit("(", 1)[1].split()[0].replace(",", "")))

    train_attention(images, mosaics, config, 1, args.epochs, log=log, phased=False if args.direct else None)
    best = max(rates)
    print(f"training step, batch 256: mosaics/s per epoch {', '.join(f'{r:,.0f}' for r in rates)}")
    print(
        f"best {best:,.0f} mosaics/s = {10 * best:,.0f} images/s (9 tiles + 1 average), "
        f"{100 * best * FLOP_PER_MOSAIC / 1e9 / peak:.0f}% of the matmul peak"
    )
    tiles = fast.mosaic_tiles(images, mosaics["source_index"], "cpu", not args.direct)
    batch = torch.arange(256)
    started = time.perf_counter()
    for _ in range(20):
        tiles[batch]
    gather = (time.perf_counter() - started) / 20
    share = 100 * gather * best / 256
    print(f"gathering and normalising a batch's tiles: {1e3 * gather:.1f} ms, {share:.1f}% of a step")


if __name__ == "__main__":
    main()
