"""Faults and bad input: refused before any job, files checked by name, runs reproducible.

Every case here goes through the workflow as a user would run it; the unit
tests of the same checks are in test_config.py and test_artifacts.py.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO, SNAKEFILE, SNAKEMAKE, TINY_CONFIG, planned_jobs, snakemake
from PIL import Image

from mosaicfocus.provenance import config_digest

pytestmark = pytest.mark.slow

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def image_folder(root: Path, per_class: int = 3, size: int = 32) -> Path:
    """``root/train/<class>/NNNN.png``: small random RGB images, the layout of the CIFAR copy."""
    rng = np.random.default_rng(0)
    for name in CLASSES:
        folder = root / "train" / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels, "RGB").save(folder / f"{i:04d}.png")
    return root


def imagefolder_config(root: Path) -> str:
    return f"data={{source: imagefolder, root: {root}}}"


def _missing_root(tmp):
    return [imagefolder_config(tmp / "nowhere")], "has no folder 'train'"


def _no_class_folders(tmp):
    (tmp / "data" / "train").mkdir(parents=True)
    return [imagefolder_config(tmp / "data")], "train has no class folders"


def _empty_class(tmp):
    root = image_folder(tmp / "data")
    for image in (root / "train" / "deer").iterdir():
        image.unlink()
    return [imagefolder_config(root)], f"{root}/train/deer: class 'deer' holds no images"


def _no_images_at_all(tmp):
    root = image_folder(tmp / "data")
    for image in (root / "train").glob("*/*.png"):
        image.unlink()
    return [imagefolder_config(root)], f"{root}/train/airplane: class 'airplane' holds no images"


def _grayscale_image(tmp):
    root = image_folder(tmp / "data")
    Image.new("L", (32, 32), 128).save(root / "train" / "cat" / "0000.png")
    return [imagefolder_config(root)], f"{root}/train/cat/0000.png: image mode is 'L', only 'RGB' is accepted"


def _rgba_image(tmp):
    root = image_folder(tmp / "data")
    Image.new("RGBA", (32, 32)).save(root / "train" / "ship" / "0002.png")
    return [imagefolder_config(root)], f"{root}/train/ship/0002.png: image mode is 'RGBA'"


def _not_an_image(tmp):
    root = image_folder(tmp / "data")
    (root / "train" / "frog" / "0000.png").write_bytes(b"not a png at all")
    return [imagefolder_config(root)], f"{root}/train/frog/0000.png: cannot be read as an image"


def _slice_larger_than_folder(tmp):
    root = image_folder(tmp / "data")
    config = f"data={{source: imagefolder, root: {root}, images_per_class: 4}}"
    return [config], "data.images_per_class: 4 is more than the source holds: class 'airplane' has 3 images"


def plain(*args):
    return lambda tmp: (list(args[:-1]), args[-1])


BAD_INPUT = {
    "unknown-key": plain("trian={epochs: 3}", "(top level): unknown key(s) ['trian']"),
    "unknown-nested-key": plain("train={lr_rate: 0.1}", "train: unknown key(s) ['lr_rate']; allowed keys here:"),
    "lr-zero": plain("train={lr: 0}", "train.lr: 0 is out of range; it must be > 0"),
    "lr-negative": plain("train={lr: -0.5}", "train.lr: -0.5 is out of range; it must be > 0"),
    "epochs-zero": plain("train={epochs: 0}", "train.epochs: 0 is out of range; it must be >= 1"),
    "epochs-fraction": plain("train={epochs: 2.5}", "train.epochs: '2.5' is not of type integer"),
    "epochs-boolean": plain("train={epochs: true}", "train.epochs: 'true' is not of type integer"),
    "batch-zero": plain("train={batch_size: 0}", "train.batch_size: 0 is out of range; it must be >= 1"),
    "batch-text": plain("train={batch_size: big}", "train.batch_size: 'big' is not of type integer"),
    "momentum-one": plain("train={momentum: 1}", "train.momentum: 1 is out of range; it must be < 1"),
    "threads-zero": plain("train={threads: 0}", "train.threads: 0 is out of range; it must be >= 1"),
    "eval-batch-negative": plain("evaluate={batch_size: -5}", "evaluate.batch_size: -5 is out of range"),
    "mosaics-zero": plain("mosaics={count: 0}", "mosaics.count: 0 is out of range; it must be >= 2"),
    "mosaics-odd": plain("mosaics={count: 601}", "mosaics.count: 601 must be a multiple of 2"),
    "seed-negative": plain("seed=-1", "seed: -1 is out of range; it must be >= 0"),
    "section-not-a-mapping": plain("train=5", "train: 5 is not of type object"),
    "device-unknown": plain("device=gpu", "device: 'gpu' is not allowed; use one of ['auto', 'cpu', 'cuda']"),
    "source-unknown": plain("data={source: mnist}", "data.source: 'mnist' is not allowed"),
    "foreground-empty": plain("foreground_classes=[]", "foreground_classes: must list at least 1 item(s)"),
    "background-empty": plain("background_classes=[]", "background_classes: must list at least 1 item(s)"),
    "foreground-twice": plain(
        "foreground_classes=[bird,bird]", "foreground_classes: ['bird', 'bird'] lists an item twice"
    ),
    "classes-overlap": plain(
        "foreground_classes=[airplane,cat]",
        "background_classes=[cat,dog]",
        "foreground_classes and background_classes overlap in ['cat']",
    ),
    "foreground-absent": plain(
        "foreground_classes=[airplane,aeroplane]", "foreground_classes: ['aeroplane'] not in the data's classes"
    ),
    "background-absent": plain(
        "background_classes=[cat,unicorn]", "background_classes: ['unicorn'] not in the data's classes"
    ),
    "more-foreground-than-outputs": plain(
        "model={outputs: 2}", "foreground_classes has 3 classes but model.outputs is 2"
    ),
    "slice-larger-than-synthetic": plain(
        "data={source: synthetic, synthetic_per_class: 60, images_per_class: 61}",
        "data.images_per_class: 61 is more than the source holds: class 'airplane' has 60 images",
    ),
    "cuda-without-gpu": plain("device=cuda", "device: 'cuda', but this machine has no CUDA device"),
    "imagefolder-missing": _missing_root,
    "imagefolder-no-class-folders": _no_class_folders,
    "imagefolder-empty-class": _empty_class,
    "imagefolder-no-images": _no_images_at_all,
    "image-grayscale": _grayscale_image,
    "image-rgba": _rgba_image,
    "image-undecodable": _not_an_image,
    "slice-larger-than-imagefolder": _slice_larger_than_folder,
}


@pytest.mark.parametrize("case", BAD_INPUT, ids=list(BAD_INPUT))
def test_bad_input_is_refused_before_any_job(case, tmp_path):
    if case == "cuda-without-gpu" and Path("/dev/nvidia0").exists():
        pytest.skip("this host has a GPU")
    config, expected = BAD_INPUT[case](tmp_path)
    workdir = tmp_path / "run"
    result = snakemake(workdir, "--config", *config, check=False, extra_env={"CUDA_VISIBLE_DEVICES": ""})
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "Invalid configuration (nothing was run)" in output, output[-3000:]
    assert expected in output, output[-3000:]
    assert not (workdir / "results").exists()


def test_bad_image_after_the_sampled_ones_stops_the_source_job_by_name(tmp_path):
    """Parse time reads the first and last header of each class; the job decodes all of them."""
    root = image_folder(tmp_path / "data")
    Image.new("L", (32, 32), 128).save(root / "train" / "dog" / "0001.png")
    result = snakemake(tmp_path / "run", "--config", imagefolder_config(root), "--until", "source_images", check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert f"{root}/train/dog/0001.png: image mode is 'L', expected 'RGB'" in output
    assert not (tmp_path / "run" / "results" / "data" / "source_images.pt").exists()


def test_images_of_another_size_are_resized_not_refused(tmp_path):
    root = image_folder(tmp_path / "data", size=48)
    snakemake(tmp_path / "run", "--config", imagefolder_config(root), "--until", "source_images")
    source = torch.load(tmp_path / "run" / "results" / "data" / "source_images.pt", weights_only=True)
    assert source["tensors"]["images"].shape == (30, 3, 32, 32)


def test_images_per_class_takes_the_first_images_of_each_class(tmp_path):
    root = image_folder(tmp_path / "data", per_class=5)
    config = f"data={{source: imagefolder, root: {root}, images_per_class: 2}}"
    snakemake(tmp_path / "run", "--config", config, "--until", "source_images")
    source = torch.load(tmp_path / "run" / "results" / "data" / "source_images.pt", weights_only=True)
    assert torch.bincount(source["tensors"]["labels"]).tolist() == [2] * 10
    first_deer = np.array(Image.open(root / "train" / "deer" / "0000.png")).transpose(2, 0, 1).copy()
    assert torch.equal(source["tensors"]["images"][8], torch.from_numpy(first_deer))


# ---------------------------------------------------------------- reproducibility


def mosaics_of(tmp_path: Path, name: str, root: Path, seed: int) -> dict:
    workdir = tmp_path / name
    snakemake(
        workdir, "--config", imagefolder_config(root), f"seed={seed}", "mosaics={count: 40}", "--until", "mosaics"
    )
    return {
        "source": (workdir / "results" / "data" / "source_images.pt").read_bytes(),
        "mosaics": (workdir / "results" / "data" / "mosaics.pt").read_bytes(),
        "drawn": torch.load(workdir / "results" / "data" / "mosaics.pt", weights_only=True)["tensors"],
    }


def test_the_seed_is_really_used_by_the_workflow(tmp_path):
    # An image folder does not depend on the seed, so any difference comes from the mosaic draw.
    root = image_folder(tmp_path / "data", per_class=4)
    first = mosaics_of(tmp_path, "seed1", root, seed=1)
    again = mosaics_of(tmp_path, "seed1_again", root, seed=1)
    other = mosaics_of(tmp_path, "seed2", root, seed=2)
    assert first["source"] == again["source"] == other["source"]
    assert first["mosaics"] == again["mosaics"]
    assert not torch.equal(first["drawn"]["source_index"], other["drawn"]["source_index"])
    assert not torch.equal(first["drawn"]["foreground_position"], other["drawn"]["foreground_position"])


def test_every_evaluation_records_what_produced_it(tiny_run):
    records = [json.loads(p.read_text()) for p in sorted((tiny_run / "results" / "eval").glob("*.json"))]
    assert len(records) == 90
    for record in records:
        produced_by = {key: record[key] for key in ("source", "mosaics", "weighting", "train")}
        assert record["config_sha256"] == config_digest(produced_by)
        assert set(record["versions"]) >= {"python", "torch", "numpy"}
    assert records[0]["source"] == {"source": "synthetic", "seed": 7, "per_class": 60}
    assert records[0]["train"]["lr"] == 0.02 and records[0]["mosaics"]["count"] == 600
    assert records[0]["weighting"] == {"weighting": "linear"}
    assert len({r["config_sha256"] for r in records}) == 1


# ---------------------------------------------------------------- corrupt files placed by hand


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _move_a_tile(path: Path) -> None:
    payload = torch.load(path, weights_only=True)
    payload["tensors"]["source_index"][5, 0] += 1
    torch.save(payload, path)


def _other_model(path: Path) -> None:
    shutil.copyfile(path.with_name("model_4.pt"), path)


CORRUPTIONS = {
    "truncated-mosaics": ("results/data/mosaics.pt", _truncate, "cannot be read as a mosaics file"),
    "altered-mosaics": ("results/data/mosaics.pt", _move_a_tile, "tensor 'source_index' fails its CRC-32 check"),
    "truncated-dataset": ("results/data/dataset_4.pt", _truncate, "cannot be read as a dataset file"),
    "another-models-weights": ("results/models/model_5.pt", _other_model, "does not match the shape, dtype or CRC-32"),
}


@pytest.mark.parametrize("case", CORRUPTIONS, ids=list(CORRUPTIONS))
def test_a_damaged_file_stops_its_consumer_by_name(case, tiny_run, tmp_path):
    workdir = tmp_path / "run"
    shutil.copytree(tiny_run, workdir, symlinks=True)  # copy2: mtimes kept, nothing looks newer
    relative, damage, reason = CORRUPTIONS[case]
    accuracy_before = (workdir / "results" / "accuracy.csv").read_bytes()
    damage(workdir / relative)  # the new mtime makes Snakemake rerun its consumers
    result = snakemake(workdir, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert f"{relative}: " in output and reason in output, output[-4000:]
    # No job wrote a number from the damaged file: the matrix is the one of the intact run.
    assert (workdir / "results" / "accuracy.csv").read_bytes() == accuracy_before
    report_log = workdir / "results" / "logs" / "report.log"
    assert report_log.stat().st_mtime_ns == (tiny_run / "results" / "logs" / "report.log").stat().st_mtime_ns


# ---------------------------------------------------------------- kill -9 in the middle of training


def fingerprint(workdir: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mtime of every result file (logs and benchmarks aside: reruns rewrite them)."""
    prints = {}
    for path in sorted((workdir / "results").rglob("*")):
        relative = path.relative_to(workdir).as_posix()
        if path.is_file() and not relative.startswith(("results/logs/", "results/benchmarks/")):
            prints[relative] = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
    return prints


def test_kill_9_mid_training_then_rerun(tiny_run, tmp_path):
    workdir = tmp_path / "run"
    models = workdir / "results" / "models"
    command = [*SNAKEMAKE, "--snakefile", str(SNAKEFILE), "--directory", str(workdir), "--cores", "2"]
    command += ["--configfile", str(TINY_CONFIG)]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )

    def training_in_progress() -> bool:
        finished = {p.stem for p in models.glob("model_*.pt")}
        logs = (workdir / "results" / "logs").glob("train_*.log")
        running = [log for log in logs if log.stem.replace("train", "model") not in finished]
        return len(finished) >= 2 and any("epoch 3 loss" in log.read_text() for log in running)

    try:
        deadline = time.monotonic() + 600
        while not training_in_progress():
            assert process.poll() is None, "the run ended before it could be interrupted"
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # Snakemake and its running jobs, as a power cut would
        process.wait()

    finished = {int(p.stem.split("_")[1]) for p in models.glob("model_*.pt")}
    assert 2 <= len(finished) < 9
    # An evaluation killed after its last file but before Snakemake recorded it as done
    # still carries Snakemake's incomplete markers: it is redone.
    markers = (workdir / ".snakemake" / "incomplete").glob("*")
    incomplete = {base64.b64decode(marker.name).decode() for marker in markers}
    evaluations = [p.stem for p in (workdir / "results" / "eval").glob("*.json")]
    evaluated = {
        i
        for i in finished
        if sum(e.startswith(f"train{i}_") for e in evaluations) == 10
        and not any(path.startswith(f"results/eval/train{i}_") for path in incomplete)
    }
    before = fingerprint(workdir)
    # Files of finished jobs; an interrupted job may have left some of its outputs
    # (a loss table is written before the weights): those are redone.
    finished_files = {
        path: value
        for path, value in before.items()
        if not path.startswith(("results/models/", "results/eval/"))
        or any(path.startswith((f"results/models/model_{i}.", f"results/models/loss_{i}.")) for i in finished)
        or any(path.startswith(f"results/eval/train{i}_") for i in evaluated)
    }

    # What the user sees first names its fix: the stale lock (--unlock) or, when an
    # evaluation was writing its files at the kill, Snakemake's check for incomplete
    # files, which comes before the lock (--rerun-incomplete).
    locked = snakemake(workdir, check=False)
    said = locked.stdout + locked.stderr
    assert locked.returncode == 1 and ("--unlock" in said or "--rerun-incomplete" in said), said[-3000:]
    snakemake(workdir, "--unlock")
    dry = snakemake(workdir, "-n", "--rerun-incomplete")
    planned = planned_jobs(dry.stdout + dry.stderr)
    assert planned == {"train": 9 - len(finished), "evaluate": 9 - len(evaluated), "report": 1, "study": 1, "all": 1}

    snakemake(workdir, "--rerun-incomplete")
    after = fingerprint(workdir)
    assert {path: after[path] for path in finished_files} == finished_files
    assert (workdir / "results" / "accuracy.csv").read_bytes() == (tiny_run / "results" / "accuracy.csv").read_bytes()
    for i in range(1, 10):  # the same weights, byte for byte, as the uninterrupted run's
        ours, theirs = (run / "results" / "models" / f"model_{i}.pt" for run in (workdir, tiny_run))
        assert ours.read_bytes() == theirs.read_bytes(), f"model_{i}.pt"
    assert not list((workdir / "results").rglob("*.tmp"))


# ---------------------------------------------------------------- static guarantees


def calls_in(paths):
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                yield path, node


def test_every_torch_load_is_weights_only():
    sources = [*(REPO / "src" / "mosaicfocus").rglob("*.py"), *(REPO / "workflow" / "scripts").glob("*.py")]
    loads = [(p, c) for p, c in calls_in(sources) if ast.unparse(c.func) == "torch.load"]
    assert loads, "no torch.load found: the scan is broken"
    for path, call in loads:
        flags = {k.arg: ast.unparse(k.value) for k in call.keywords}
        assert flags.get("weights_only") == "True", f"{path.name}:{call.lineno}: {ast.unparse(call)}"


ATOMIC_WRITERS = {
    "save_artifact",
    "save_weights",
    "write_text_atomic",
    "write_json_atomic",
    "atomic_path",
    "torch_save_atomic",
}


# The package's writers of job outputs (what_network/modelfiles.py, losstable.py), each built on one of the above.
PACKAGE_WRITERS = {"write_loss_table", "write_evaluation"}


def test_package_writers_write_through_atomic_writers():
    functions = {}
    for module in ("modelfiles.py", "losstable.py"):
        source = ast.parse((REPO / "src" / "mosaicfocus" / "what_network" / module).read_text())
        functions.update({f.name: f for f in source.body if isinstance(f, ast.FunctionDef)})
    for name in PACKAGE_WRITERS:
        called = {ast.unparse(c.func).split(".")[-1] for c in ast.walk(functions[name]) if isinstance(c, ast.Call)}
        assert called & ATOMIC_WRITERS, f"modelfiles.{name} writes without an atomic writer"


def test_scripts_write_their_outputs_only_through_atomic_writers():
    """A call that takes a snakemake.output path must be an atomic writer (or just pass the names on)."""
    scripts = sorted((REPO / "workflow" / "scripts").glob("*.py"))
    seen = set()
    for path, call in calls_in(scripts):
        arguments = [*call.args, *(k.value for k in call.keywords)]
        if not any("snakemake.output" in ast.unparse(arg) for arg in arguments):
            continue
        name = ast.unparse(call.func).split(".")[-1]
        seen.add(name)
        assert name in ATOMIC_WRITERS | PACKAGE_WRITERS | {"zip", "dict", "list", "enumerate", "Path", "len"}, (
            f"{path.name}:{call.lineno}: {ast.unparse(call)} writes an output without a temp file + rename"
        )
    assert seen & ATOMIC_WRITERS, "no atomic write found: the scan is broken"
