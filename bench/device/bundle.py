"""Fill bench/device/bundle/ (git-ignored) with what the device machine lacks, and check it.

    .venv/bin/python bench/device/bundle.py                 # download, check, print the size
    .venv/bin/python bench/device/bundle.py --check-only    # check the bundle already there

The bundle: ``wheels/``, Snakemake, jsonschema and every distribution they need that the
machine's list (machine-packages.txt) lacks, for CPython 3.12 on manylinux x86-64, at the
versions of this project's own environment (the interpreter running this script: the
resolved list), one version each; ``cifar10-jpg.tar.gz``, the CIFAR-10 JPEG archive; and
``manifest.json``. Before anything travels it checks every wheel's Requires-Dist for the
machine (wheels.bundle_problems) and fails naming what is missing, and it checks that the
bundle and the working tree fit the 64 MiB a device call carries. Then run on the device:
``bash bench/device/run.sh`` with ``bench/device/bundle`` carried (docs/gpu.md).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

from wheels import (  # noqa: E402
    Wheel,
    bundle_problems,
    canonical,
    carried_closure,
    machine_packages,
    read_wheels,
)

BUNDLE = HERE / "bundle"
ARCHIVE_NAME = "cifar10-jpg.tar.gz"
DEFAULT_ARCHIVE = REPO.parent / "shared" / "data" / ARCHIVE_NAME
CARRY_LIMIT = 64 * 2**20  # what one device call carries: the working tree and the carried paths
# The machine's glibc is at least 2.28 (its torch wheels need it); pip matches these tags exactly.
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_5_x86_64")
TARGET = ["--python-version", "3.12", "--implementation", "cp", *(f"--platform={p}" for p in PLATFORMS)]


def installed_here(name: str) -> Wheel | None:
    """A distribution of this interpreter's environment (the project's resolved pins)."""
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return None
    from packaging.version import Version

    return Wheel(dist.metadata["Name"], Version(dist.version), dist.requires or [])


def pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True)


def fetch_wheel(wheel: Wheel, folder: Path, scratch: Path) -> str:
    """The wheel of ``wheel``'s exact version for the machine, into ``folder``; a distribution
    published only as source (pure Python, e.g. connection-pool) is built into a py3-none-any wheel."""
    pin = f"{wheel.name}=={wheel.version}"
    got = pip("download", "--quiet", "--no-deps", "--only-binary=:all:", *TARGET, "--dest", str(folder), pin)
    if got.returncode == 0:
        return "downloaded"
    built = scratch / canonical(wheel.name)
    made = pip("wheel", "--quiet", "--no-deps", "--no-binary=:all:", "--wheel-dir", str(built), pin)
    files = list(built.glob("*.whl"))
    if made.returncode != 0 or len(files) != 1 or not files[0].name.endswith("-py3-none-any.whl"):
        raise SystemExit(
            f"no wheel of {pin} for CPython 3.12 manylinux x86-64, and no pure-Python wheel could be built:\n"
            f"{got.stderr[-1500:]}\n{made.stderr[-1500:]}"
        )
    shutil.move(str(files[0]), folder / files[0].name)
    return "built from source (pure Python)"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_archive(path: Path) -> int:
    """Images under cifar10/train/ in the archive (refuses one without them)."""
    with tarfile.open(path) as tar:
        images = sum(1 for m in tar if m.isfile() and m.name.startswith("cifar10/train/"))
    if not images:
        raise SystemExit(f"{path}: no cifar10/train/<class>/* images in it")
    return images


def working_tree_bytes(exclude: Path) -> int:
    """What a device call sends besides the carried paths: tracked and untracked, not ignored, files."""
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    total = 0
    for name in set(filter(None, listed.split("\0"))):
        path = REPO / name
        if exclude in path.parents or not os.path.lexists(path):
            continue
        total += os.lstat(path).st_size
    return total


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=BUNDLE)
    parser.add_argument("--cifar", type=Path, default=DEFAULT_ARCHIVE, help=f"the {ARCHIVE_NAME} to carry")
    parser.add_argument("--check-only", action="store_true", help="check the bundle there, download nothing")
    args = parser.parse_args()
    machine = machine_packages()
    wheels_dir = args.bundle / "wheels"
    started = time.perf_counter()
    if not args.check_only:
        carried, unresolved = carried_closure(installed_here, machine)
        if unresolved:
            raise SystemExit("cannot resolve for the machine:\n  " + "\n  ".join(unresolved))
        shutil.rmtree(wheels_dir, ignore_errors=True)
        wheels_dir.mkdir(parents=True)
        with tempfile.TemporaryDirectory() as scratch:
            for name in sorted(carried):
                how = fetch_wheel(carried[name], wheels_dir, Path(scratch))
                print(f"  {carried[name].name} {carried[name].version}: {how}", flush=True)
        archive = args.bundle / ARCHIVE_NAME
        if not archive.exists() or sha256(archive) != sha256(args.cifar):
            shutil.copyfile(args.cifar, archive)
    wheels = read_wheels(wheels_dir)
    problems = bundle_problems(wheels, machine)
    if problems:
        raise SystemExit("the bundle would leave requirements unmet on the machine:\n  " + "\n  ".join(problems))
    archive = args.bundle / ARCHIVE_NAME
    images = check_archive(archive)
    manifest = {
        "made": time.strftime("%Y-%m-%d %H:%M"),
        "for": "CPython 3.12, " + ", ".join(PLATFORMS),
        "wheels": [
            {"file": w.file, "name": w.name, "version": str(w.version), "bytes": (wheels_dir / w.file).stat().st_size}
            for w in wheels
        ],
        "archive": {"file": ARCHIVE_NAME, "bytes": archive.stat().st_size, "sha256": sha256(archive)},
        "training_images": images,
    }
    (args.bundle / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    bundle_size, tree_size = folder_bytes(args.bundle), working_tree_bytes(args.bundle)
    wheels_size = folder_bytes(wheels_dir)
    print(
        f"bundle {args.bundle.relative_to(REPO) if args.bundle.is_relative_to(REPO) else args.bundle}: "
        f"{len(wheels)} wheels {mib(wheels_size)}, {ARCHIVE_NAME} {mib(archive.stat().st_size)} "
        f"({images:,} training images), {mib(bundle_size)} in all; working tree {mib(tree_size)}; "
        f"a device call carries {mib(bundle_size + tree_size)} of {mib(CARRY_LIMIT)}"
    )
    print(f"every Requires-Dist of the {len(wheels)} wheels is met for CPython 3.12 on Linux x86-64 by a wheel")
    print(f"or by the machine's packages ({len(machine)} listed); {time.perf_counter() - started:.0f} s")
    if bundle_size + tree_size > CARRY_LIMIT:
        raise SystemExit(f"too large: {mib(bundle_size + tree_size)} > {mib(CARRY_LIMIT)}; carry a smaller slice")


if __name__ == "__main__":
    main()
