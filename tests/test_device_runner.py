"""bench/device/: the bundle's dependency check, and the device runner rehearsed on the CPU.

The runner is the call a lent GPU gets (docs/gpu.md); everything it does that a CPU can do is
run here: the install of a bundle, the environment, gpu_check.py (--quick), two workflow runs
from scratch compared bit for bit, the matrix against the replicate study, the where network;
and the second call's authors part (float64, their stop rule, 3 replicates), finished and cut off.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import REPO, TINY_CONFIG
from packaging.version import Version

sys.path.insert(0, str(REPO / "bench" / "device"))
import runner  # noqa: E402
import wheels  # noqa: E402

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def make_wheel(folder: Path, name: str, version: str, requires: list[str]) -> Path:
    """A minimal valid pure-Python wheel (one empty module) that pip installs offline."""
    module, info = name.replace("-", "_"), f"{name.replace('-', '_')}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {
        f"{module}/__init__.py": b"",
        f"{info}/METADATA": metadata.encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }

    def digest(data: bytes) -> str:
        return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

    record = "".join(f"{path},sha256={digest(data)},{len(data)}\n" for path, data in files.items())
    path = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name_in_zip, data in files.items():
            archive.writestr(name_in_zip, data)
        archive.writestr(f"{info}/RECORD", record + f"{info}/RECORD,,\n")
    return path


def make_jpeg_archive(path: Path, per_class: int) -> None:
    """cifar10/train/<class>/*.jpg of random 32x32 pixels, as the real archive lays them out."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    with tarfile.open(path, "w:gz") as tar:
        for name in CLASSES:
            for i in range(per_class):
                data = io.BytesIO()
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(data, "JPEG")
                info = tarfile.TarInfo(f"cifar10/train/{name}/{i:04d}.jpg")
                info.size = data.tell()
                data.seek(0)
                tar.addfile(info, data)


# ---- the wheels' check ----------------------------------------------------------------------------


def wheel(name: str, version: str, *requires: str) -> wheels.Wheel:
    return wheels.Wheel(name, Version(version), list(requires))


MACHINE = {"packaging": None, "numpy": Version("2.5.2"), "pyyaml": None}


def test_requirements_met_by_a_wheel_or_the_machine_pass():
    carried = [
        wheel("snakemake", "9.27.1", "PyYAML", "connection_pool>=0.0.3", "packaging<26,>=24.0", "numpy>=2"),
        wheel("connection-pool", "0.0.3"),
        wheel("packaging", "25.0"),
    ]
    assert wheels.bundle_problems(carried, MACHINE) == []


def test_a_missing_requirement_is_named():
    carried = [wheel("jsonschema", "4.26.0", "attrs>=22.2.0", "rpds-py>=0.25.0", "referencing>=0.28.4")]
    carried.append(wheel("referencing", "0.37.0", "rpds-py>=0.7.0"))
    problems = wheels.bundle_problems(carried, MACHINE)
    assert problems == [
        "missing: attrs (jsonschema 4.26.0 requires attrs>=22.2.0)",
        "missing: rpds-py (jsonschema 4.26.0 requires rpds-py>=0.25.0)",
        "missing: rpds-py (referencing 0.37.0 requires rpds-py>=0.7.0)",
    ]


def test_requirements_are_evaluated_for_python_3_12_on_linux_without_extras():
    carried = [
        wheel(
            "a",
            "1",
            'exceptiongroup; python_version < "3.11"',
            'pywin32; sys_platform == "win32"',
            'pygments; extra == "reports"',
            'greenlet>=1; platform_machine == "x86_64" and python_version < "3.14"',
        )
    ]
    assert wheels.bundle_problems(carried, MACHINE) == ["missing: greenlet (a 1 requires greenlet>=1)"]


def test_two_versions_and_versions_out_of_range_are_refused():
    carried = [wheel("a", "1", "b<2", "numpy<2.5"), wheel("b", "2"), wheel("b", "1.5")]
    assert wheels.bundle_problems(carried, MACHINE) == [
        "two versions of b: 2 and 1.5",
        "a 1 requires numpy<2.5, but the machine has 2.5.2",
    ]
    assert wheels.bundle_problems([wheel("a", "1", "b<2"), wheel("b", "2")], MACHINE) == [
        "a 1 requires b<2, but the bundle carries 2"
    ]


def test_the_closure_stops_at_the_machines_packages_but_carries_the_pinned_ones():
    installed = {
        "snakemake": wheel("snakemake", "9.27.1", "packaging<26", "pyyaml", "yte", "sqlmodel"),
        "yte": wheel("yte", "1.9.4", "pyyaml"),
        "packaging": wheel("packaging", "25.0"),
        "jsonschema": wheel("jsonschema", "4.26.0", "numpy"),
    }
    carried, unresolved = wheels.carried_closure(installed.get, MACHINE, also_carry=["packaging"])
    assert sorted(carried) == ["jsonschema", "packaging", "snakemake", "yte"]
    assert unresolved == ["sqlmodel, required by snakemake 9.27.1, is installed neither here nor on the machine"]


def test_metadata_is_read_from_a_wheel_file(tmp_path):
    path = make_wheel(tmp_path, "rehearsal-probe", "1.0", ["packaging>=20", 'pywin32; sys_platform == "win32"'])
    found = wheels.read_wheel(path)
    assert (found.name, found.version, found.file) == ("rehearsal-probe", Version("1.0"), path.name)
    assert found.requires == ["packaging>=20", 'pywin32; sys_platform == "win32"']


def test_on_the_machine_requirements_are_checked_against_what_python_finds():
    carried = [wheel("a", "1", "packaging>=24", "b", "numpy<2")]
    found = {"packaging": "25.0", "numpy": "2.5.2"}
    assert wheels.environment_problems(carried, found.get) == [
        "missing: b (a 1 requires b)",
        "a 1 requires numpy<2, Python finds 2.5.2",
    ]


def test_the_machine_list_and_the_roots():
    machine = wheels.machine_packages()
    assert machine["torch"] == Version("2.11.0") and machine["numpy"] == Version("2.5.2")
    assert {"pandas", "matplotlib", "seaborn", "pyyaml", "pillow", "torchvision", "pip"} <= machine.keys()
    pinned = (REPO / "requirements.txt").read_text()
    for root in wheels.ROOTS:
        assert root not in machine and f"\n{root}==" in f"\n{pinned}"
    assert set(wheels.ALSO_CARRY) <= machine.keys()


@pytest.mark.parametrize(
    "requires, missing", [(["packaging"], None), (["packaging", "no-such-dist>=1"], "no-such-dist")]
)
def test_bundle_check_only_fails_naming_a_missing_requirement(tmp_path, requires, missing):
    bundle = tmp_path / "bundle"
    (bundle / "wheels").mkdir(parents=True)
    make_wheel(bundle / "wheels", "rehearsal-probe", "1.0", requires)
    make_jpeg_archive(bundle / runner.ARCHIVE_NAME, per_class=1)
    command = [sys.executable, str(REPO / "bench" / "device" / "bundle.py"), "--check-only", "--bundle", str(bundle)]
    done = subprocess.run(command, capture_output=True, text=True)
    if missing is None:
        assert done.returncode == 0, done.stderr
        assert "1 wheels" in done.stdout and "10 training images" in done.stdout and "of 64.0 MiB" in done.stdout
        assert json.loads((bundle / "manifest.json").read_text())["wheels"][0]["name"] == "rehearsal-probe"
    else:
        assert done.returncode != 0
        assert f"missing: {missing} (rehearsal-probe 1.0 requires {missing}>=1)" in done.stderr


# ---- the runner's own arithmetic ------------------------------------------------------------------


def test_the_replicate_studys_own_mean_passes_and_a_shift_fails():
    study = REPO / "docs" / "replicate-study"
    mean, sd = runner.read_matrix(study / "accuracy.csv"), runner.read_matrix(study / "accuracy_sd.csv")
    same = runner.against_replicates(mean, mean, sd)
    assert (same["cells"], same["mean_abs_difference"], same["outside"]) == (90, 0.0, [])
    shifted = runner.against_replicates({cell: value + 2 for cell, value in mean.items()}, mean, sd)
    assert shifted["mean_abs_difference"] == pytest.approx(2.0) and shifted["max_abs_difference"] == pytest.approx(2)
    assert len(shifted["outside"]) == sum(1 for cell in mean if 2 > 2 * sd[cell])
    assert ("1", "1", pytest.approx(2.0), sd[("1", "1")]) in shifted["outside"]


def test_rule_times_come_from_snakemakes_benchmark_files(tmp_path):
    benchmarks = tmp_path / "results" / "benchmarks"
    benchmarks.mkdir(parents=True)
    (benchmarks / "datasets.tsv").write_text("s\th:m:s\tmax_rss\n5.29\t0:00:05\t759.45\n")
    (benchmarks / "train_lockstep_epoch100.tsv").write_text("s\th:m:s\tmax_rss\n12.5\t0:00:12\t800\n")
    assert runner.rule_seconds(tmp_path) == {"datasets": 5.29, "train_lockstep_epoch100": 12.5}


def test_parts_are_picked_by_name_in_the_order_given():
    assert runner.DEFAULT_PARTS == ("install", "environment", "gpu_check", "workflow", "repeat", "replicate", "where")
    assert runner.part_list("install, environment,authors") == ["install", "environment", "authors"]
    with pytest.raises(argparse.ArgumentTypeError, match="^bogus: the parts are install, "):
        runner.part_list("install,bogus")
    with pytest.raises(argparse.ArgumentTypeError, match="^no part: "):
        runner.part_list(",")


def test_snakemake_merges_the_authors_train_override_into_the_config_files_section():
    """What the runner gives --config: Snakemake reads it as YAML with nested scalars as strings
    and merges the dict key by key into config.yaml's train section (it does not replace it);
    the workflow's config check reads the strings back as numbers."""
    from snakemake.cli import parse_config
    from snakemake.settings.types import ConfigSettings

    from mosaicfocus.runplan.configcheck import check_config

    overrides = {"device": "cuda", "replicates": 3, "train": {**runner.AUTHORS_TRAIN, "epochs_per_job": 200}}
    entries = runner.config_arguments(overrides)
    assert entries[2] == 'train={"dtype": "float64", "stop_loss": 0.001, "epochs_per_job": 200}'
    config = ConfigSettings(config=parse_config(entries), configfiles=[REPO / "config.yaml"]).overwrite_config
    assert config["train"]["stop_loss"] == "0.001"  # as Snakemake hands it over
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    assert check_config(config, schema) == []
    default = yaml.safe_load((REPO / "config.yaml").read_text())["train"]
    assert {key: config["train"][key] for key in default} == {**default, "epochs_per_job": 200}
    assert (default["lr"], default["epochs"]) == (0.01, 200) and default["epochs_per_job"] != 200
    assert (config["train"]["dtype"], config["train"]["stop_loss"], config["replicates"]) == ("float64", 0.001, 3)


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_the_authors_run_is_read_from_its_results_folder(tmp_path):
    """Matrices, stop epochs, times per replicate and the training logs of a run cut off: replicates
    1 and 3 finished, 2 was training."""
    results = tmp_path / "results"
    for run in ("", "replicates/3/"):
        (results / f"{run}eval").mkdir(parents=True)
        (results / f"{run}eval" / "accuracy.csv").write_text("trained_on,1\n1,50.0\n")
    for run, rules in {"": ["source_images", "mosaics", "train_lockstep"], "replicates/2/": ["mosaics"]}.items():
        (results / f"{run}benchmarks").mkdir(parents=True)
        for k, rule in enumerate(rules):
            (results / f"{run}benchmarks" / f"{rule}.tsv").write_text(f"s\th:m:s\n{k + 1.5}\t0:00:01\n")
    (results / "replicates" / "2" / "logs").mkdir(parents=True)
    (results / "replicates" / "2" / "logs" / "train_lockstep.log").write_text(
        "[2026-01-01 10:00:00] train_lockstep (epochs 1..200): training the models ...\n"
        "[2026-01-01 10:00:02] train_lockstep (epochs 1..200): network 1: epoch 1 loss 1.098612, fc3 ...\n"
        "[2026-01-01 10:01:40] train_lockstep (epochs 1..200): network 2: epoch 120 loss 0.001042, fc3 ...\n"
        "[2026-01-01 10:01:40] train_lockstep (epochs 1..200): network 3: epoch 119 loss 0.003215, fc3 ...\n"
    )
    assert runner.replicate_matrices(tmp_path) == [
        "results/eval/accuracy.csv",
        "results/replicates/3/eval/accuracy.csv",
    ]
    assert runner.replicate_seconds(tmp_path) == {
        0: {"source_images": 1.5},
        1: {"mosaics": 2.5, "train_lockstep": 3.5},
        2: {"mosaics": 1.5},
    }
    assert runner.training_progress(tmp_path) == {2: (120, 100.0)}
    # Cut off, the run has no training_health.csv: the stop epochs come from the model records.
    for run, replicate in (("", 1), ("replicates/3/", 3)):
        for level in (1, 2):
            health = {"status": "learned", "stopped_at_epoch": 190 + level if replicate == 1 else None}
            write_json(results / f"{run}models" / f"model_{level}.json", {"meta": {"health": health}})
    healths = runner.model_healths(tmp_path)
    assert [runner.stop_text(healths[r]) for r in healths] == ["191 192", "- -"]
    # Finished, the health table says it (an empty stopped_at_epoch: the model never stopped).
    (results / "training_health.csv").write_text(
        "replicate,trained_on,status,attempts,stopped_at_epoch\n1,1,learned,1,194\n1,2,plateau,1,\n"
    )
    assert runner.model_healths(tmp_path) == {
        1: {1: {"status": "learned", "stopped_at_epoch": 194}, 2: {"status": "plateau", "stopped_at_epoch": None}}
    }


def test_the_authors_models_records_must_hold_the_protocol_and_the_other_settings(tmp_path):
    configured = {"lr": 0.01, "epochs": 200, "batch_size": 256, "threads": 1}
    train = {"lr": 0.01, "epochs": 200, "batch_size": 256, "dtype": "float64", "stop_loss": 0.001, "seed": 5}
    write_json(tmp_path / "results" / "models" / "model_1.json", {"meta": {"train": train, "device": {"type": "cuda"}}})
    assert runner.settings_problems(tmp_path, configured, "cuda") == []
    replaced = {"lr": 0.001, "dtype": "float64", "stop_loss": 0.001}  # a section replaced, not merged
    record = {"meta": {"train": replaced, "device": {"type": "cpu"}}}
    write_json(tmp_path / "results" / "replicates" / "2" / "models" / "model_1.json", record)
    assert runner.settings_problems(tmp_path, configured, "cuda") == [
        "results/replicates/2/models/model_1.json has lr 0.001, not 0.01",
        "results/replicates/2/models/model_1.json has batch_size None, not 256",
        "results/replicates/2/models/model_1.json has epochs None, not 200",
        "results/replicates/2/models/model_1.json was trained on cpu, not cuda",
    ]


# ---- the rehearsal: the whole runner on the CPU ---------------------------------------------------


def make_bundle(root: Path) -> Path:
    """A bundle of one probe wheel and a small JPEG archive."""
    bundle = root / "bundle"
    (bundle / "wheels").mkdir(parents=True)
    make_wheel(bundle / "wheels", "rehearsal-probe", "1.0", ["packaging"])
    make_jpeg_archive(bundle / runner.ARCHIVE_NAME, per_class=20)
    return bundle


def rehearsal_config(path: Path, **train) -> Path:
    """A config made from the tiny one: lock-step (as on a GPU), fewer mosaics, ``train`` set."""
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["mosaics"]["count"] = 120
    config["train"].update(lockstep=True, **train)
    path.write_text(yaml.safe_dump(config))
    return path


def run_sh(root: Path, bundle: Path, configfile: Path, *arguments: str) -> subprocess.CompletedProcess:
    """run.sh with device cpu; its $OUT is root/out."""
    command = ["bash", str(REPO / "bench" / "device" / "run.sh"), "--device", "cpu", "--configfile", str(configfile)]
    command += ["--bundle", str(bundle), "--site", str(root / "site"), "--scratch", str(root / "scratch"), *arguments]
    env = {**os.environ, "OUT": str(root / "out"), "PYTHON": sys.executable}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    """run.sh with device cpu, a config made from the tiny one (lock-step, as on a GPU; fewer
    mosaics and epochs), and a bundle of one probe wheel and a small JPEG archive."""
    root = tmp_path_factory.mktemp("device_rehearsal")
    configfile = rehearsal_config(root / "rehearsal.yaml", epochs=2, epochs_per_job=2)
    arguments = ["--cores", "2", "--quick", "--budget", "500", "--target-seconds", "600", "--where-epochs", "2"]
    done = run_sh(root, make_bundle(root), configfile, *arguments)
    return done, root / "out"


EXPECTED = {
    "install": "PASS",
    "requirements": "PASS",
    "environment": "PASS",
    "gpu_check": "PASS",
    "workflow": "PASS",
    "workflow time": "PASS",
    "repeat": "PASS",
    # A tiny run on random pixels is nowhere near the real experiment's matrix: the FAIL path.
    "replicate": "FAIL",
    "where": "PASS",
}


@pytest.mark.slow
def test_the_rehearsal_passes_every_part_a_cpu_can(rehearsal):
    done, out = rehearsal
    said = {line.split(":")[0] for line in done.stdout.splitlines() if line.startswith(("PASS ", "FAIL "))}
    assert said == {f"{status} {name}" for name, status in EXPECTED.items()}, done.stdout[-6000:]
    assert done.returncode == 1  # the replicate comparison's FAIL
    assert "PASS repeat: second run from scratch in" in done.stdout and "bit for bit the same" in done.stdout
    assert "PASS where: 2 of 2 epochs in" in done.stdout and "(all done)" in done.stdout
    assert "Python 3." in done.stdout and "TF32 switch fp32_precision" in done.stdout


@pytest.mark.slow
def test_the_rehearsal_leaves_its_summary_and_results_under_out(rehearsal):
    done, out = rehearsal
    summary = json.loads((out / "summary.json").read_text())
    assert summary["finished"] and summary["device"] == "cpu"
    assert {v["name"]: v["status"] for v in summary["verdicts"]} == EXPECTED
    assert summary["failed"] == ["replicate"]
    assert set(summary["parts"]) == {"install", "environment", "gpu_check", "workflow", "repeat", "replicate", "where"}
    assert set(summary["parts"]["workflow"]["rules_s"]) >= {"source_images", "mosaics", "datasets", "train_lockstep"}
    text = (out / "summary.txt").read_text().splitlines()
    assert text[-1].startswith("8 PASS, 1 FAIL;") and text[-1].endswith("finished")
    with tarfile.open(out / "run1-results.tar.gz") as tar:
        names = tar.getnames()
    assert "results/accuracy.csv" in names and "results/benchmarks/train_lockstep.tsv" in names
    # What the device tool brings back: at most 8 files, no more than 2 folders down.
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) <= 8 and all(len(p.relative_to(out).parts) <= 3 for p in files)
    assert (out / "console.log").read_text().rstrip().endswith(text[-1])


# ---- the second call: the authors' protocol (issue 27) ---------------------------------------------

AUTHORS_PARTS = ["--parts", "install,environment,authors", "--cores", "1"]


@pytest.fixture(scope="module")
def authors_rehearsal(tmp_path_factory):
    """The second call on the CPU: float64 and the stop rule on the tiny config's 2 epochs (epochs
    of 2 mini-batches: the rule's loss is NaN and never stops training), 3 replicates."""
    root = tmp_path_factory.mktemp("device_authors")
    configfile = rehearsal_config(root / "authors.yaml", epochs=2, epochs_per_job=1)
    done = run_sh(root, make_bundle(root), configfile, *AUTHORS_PARTS, "--budget", "400")
    return done, root / "out"


@pytest.mark.slow
def test_the_authors_part_runs_three_replicates_with_the_protocol(authors_rehearsal):
    done, out = authors_rehearsal
    said = {line.split(":")[0] for line in done.stdout.splitlines() if line.startswith(("PASS ", "FAIL "))}
    assert said == {"PASS install", "PASS requirements", "PASS environment", "PASS authors"}, done.stdout[-6000:]
    assert done.returncode == 0
    # The protocol on top of the config file; one training job per replicate (epochs_per_job = epochs).
    assert 'replicates=3 train={"dtype": "float64", "stop_loss": 0.001, "epochs_per_job": 2}' in done.stdout
    never = " ".join(["-"] * 9)
    assert "PASS authors: 3 replicates in " in done.stdout
    assert f"(float64, stop_loss 0.001); stopped after epoch: r1 {never}; r2 {never}; r3 {never}" in done.stdout
    for replicate in (1, 2, 3):
        assert f"  replicate {replicate}: its training log reaches epoch 2, " in done.stdout
        assert re.search(rf"^  replicate {replicate}: [\d.]+ s of jobs \(.*train_lockstep [\d.]+", done.stdout, re.M)
    assert "  against the CPU replicate study (float32, replicate-study): mean |difference| " in done.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["parts"]) == {"install", "environment", "authors"} and summary["failed"] == []
    authors = summary["parts"]["authors"]
    assert authors["replicate_matrices"] == [
        "results/eval/accuracy.csv",
        "results/replicates/2/eval/accuracy.csv",
        "results/replicates/3/eval/accuracy.csv",
    ]
    assert authors["settings_problems"] == [] and not authors["timed_out"]
    assert "(3 replicate(s))" in (out / "authors-study.txt").read_text()
    with tarfile.open(out / "authors-results.tar.gz") as tar:
        names = set(tar.getnames())
        health = tar.extractfile("results/training_health.csv").read().decode().splitlines()
        record = json.load(tar.extractfile("results/replicates/3/models/model_9.json"))["meta"]
    assert {"results/accuracy.csv", "results/replicates/3/benchmarks/train_lockstep.tsv"} <= names
    assert not [name for name in names if "train_lockstep_epoch" in name or name.endswith(".pt")]
    assert health[0].endswith(",stopped_at_epoch") and len(health) == 28 and health[1].endswith(",")
    # The tiny config's own training settings stayed: the override was merged, not put in its place.
    assert {key: record["train"][key] for key in ("lr", "batch_size", "epochs", "dtype", "stop_loss")} == {
        "lr": 0.02,
        "batch_size": 32,
        "epochs": 2,
        "dtype": "float64",
        "stop_loss": 0.001,
    }
    assert record["health"]["stopped_at_epoch"] is None and len(record["health"]["running_losses"]) == 2
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) <= 8 and all(len(p.relative_to(out).parts) <= 3 for p in files)


@pytest.mark.slow
def test_the_authors_part_cut_off_keeps_what_it_did(tmp_path):
    """Training far too long for its limit: the workflow is stopped, its results archived, and the
    verdict says what was done."""
    configfile = rehearsal_config(tmp_path / "long.yaml", epochs=100000, epochs_per_job=100)
    done = run_sh(tmp_path, make_bundle(tmp_path), configfile, *AUTHORS_PARTS, "--authors-limit", "40")
    out = tmp_path / "out"
    assert done.returncode == 1, done.stdout[-6000:]
    assert re.search(
        r"^FAIL authors: timed out after [\d.]+ s: 0 of 3 replicates' matrices \(none\); "
        r"stopped after epoch: no model record",
        done.stdout,
        re.M,
    ), done.stdout[-6000:]
    assert "  authors-study.txt: not written: no results/accuracy.csv (the run did not finish)" in done.stdout
    assert not (out / "authors-study.txt").exists()
    authors = json.loads((out / "summary.json").read_text())["parts"]["authors"]
    assert authors["timed_out"] and authors["limit_s"] == 40 and authors["archived_files"] > 0
    with tarfile.open(out / "authors-results.tar.gz") as tar:
        names = tar.getnames()
    assert "results/logs/source_images.log" in names and len(names) == authors["archived_files"]
