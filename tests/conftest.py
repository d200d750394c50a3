"""Shared fixtures: running the workflow in a scratch folder, and real CIFAR-10 slices."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
TINY_CONFIG = REPO / "tests" / "config" / "tiny.yaml"
# An optional local copy of CIFAR-10 as JPEG class folders (cifar10/{train,test}/<class>/*.jpg);
# the tests that need it are skipped where it is absent.
CIFAR_ARCHIVE = Path(
    os.environ.get("MOSAICFOCUS_CIFAR_ARCHIVE", REPO.parent / "shared" / "data" / "cifar10-jpg.tar.gz")
)
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def snakemake(
    workdir: Path,
    *args: str,
    configfile: Path | None = TINY_CONFIG,
    check: bool = True,
    extra_env: dict | None = None,
    snakefile: Path = SNAKEFILE,
):
    """Run the workflow with ``workdir`` as its working directory; return the CompletedProcess."""
    cmd = [*SNAKEMAKE, "--snakefile", str(snakefile), "--directory", str(workdir), "--cores", "2"]
    if configfile is not None:
        cmd += ["--configfile", str(configfile)]
    cmd += list(args)
    result = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0", **(extra_env or {})}
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
        )
    return result


def planned_jobs(output: str) -> dict[str, int]:
    """Job counts per rule from the 'Job stats' table of a (dry) run; {} for nothing to do."""
    counts: dict[str, int] = {}
    if "Job stats:" not in output:
        return counts
    table = output.split("Job stats:", 1)[1]
    for line in table.splitlines()[3:]:
        match = re.fullmatch(r"(\w+)\s+(\d+)", line.strip())
        if not match:
            break
        if match.group(1) != "total":
            counts[match.group(1)] = int(match.group(2))
    return counts


def copy_checkout(target: Path) -> Path:
    """The workflow's code (Snakefile, workflow/, src/, profiles/, config.yaml) copied to
    ``target``, for tests that edit it; the same content digests as this checkout's."""
    target.mkdir(parents=True)
    for name in ("Snakefile", "config.yaml"):
        shutil.copy2(REPO / name, target / name)
    for name in ("workflow", "src", "profiles", "envs"):
        shutil.copytree(REPO / name, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return target


@contextmanager
def edited(path: Path, old: str, new: str):
    """``path`` with ``old`` replaced by ``new`` (which must occur once) until the block ends."""
    original = path.read_text()
    assert original.count(old) == 1, f"{path}: {old!r} occurs {original.count(old)} times"
    path.write_text(original.replace(old, new))
    try:
        yield path
    finally:
        path.write_text(original)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The whole workflow on the tiny synthetic config, run once per session."""
    workdir = tmp_path_factory.mktemp("tiny_run")
    snakemake(workdir)
    return workdir


@pytest.fixture(scope="session")
def cifar_root(tmp_path_factory) -> Path:
    """The local CIFAR-10 copy (CIFAR_ARCHIVE), extracted once per session."""
    if not CIFAR_ARCHIVE.exists():
        pytest.skip(f"real CIFAR-10 copy not found at {CIFAR_ARCHIVE}")
    target = tmp_path_factory.mktemp("cifar10_jpg")
    with tarfile.open(CIFAR_ARCHIVE) as archive:
        archive.extractall(target, filter="data")
    return target / "cifar10"


@pytest.fixture(scope="session")
def cifar_slice(cifar_root, tmp_path_factory) -> Path:
    """An image folder with the first 120 training images of each real CIFAR-10 class."""
    root = tmp_path_factory.mktemp("cifar10_slice")
    for class_dir in sorted((cifar_root / "train").iterdir()):
        target = root / "train" / class_dir.name
        target.mkdir(parents=True)
        for image in sorted(class_dir.iterdir())[:120]:
            shutil.copy(image, target / image.name)
    return root
