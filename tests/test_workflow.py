"""End to end: the workflow on the tiny synthetic config and on a slice of real CIFAR-10."""

import json
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import torch
from conftest import REPO, SNAKEMAKE, TINY_CONFIG, planned_jobs, snakemake

pytestmark = pytest.mark.slow


def test_tiny_run_produces_every_output(tiny_run):
    evaluations = sorted((tiny_run / "results" / "eval").glob("train*_test*.json"))
    assert len(evaluations) == 90
    record = json.loads((tiny_run / "results" / "eval" / "train9_test10.json").read_text())
    assert {"trained_on", "tested_on", "accuracy", "correct", "total"} <= set(record)
    assert record["accuracy"] == pytest.approx(100 * record["correct"] / record["total"])
    assert record["total"] == 300

    matrix = pd.read_csv(tiny_run / "results" / "accuracy.csv", index_col="trained_on")
    assert matrix.shape == (9, 10)
    assert list(matrix.index) == list(range(1, 10))
    assert list(matrix.columns) == [str(j) for j in range(1, 11)]
    assert ((matrix >= 0) & (matrix <= 100)).all().all()
    # The synthetic data is learnable: the model trained on foregrounds alone beats chance clearly.
    assert matrix.loc[9, "9"] > 90 and matrix.loc[9, "10"] > 80
    for name in ("accuracy_heatmap.png", "accuracy_learned_heatmap.png", "training_loss.png", "study_difference.png"):
        png = tiny_run / "results" / "plots" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_tiny_run_records_the_health_of_every_model(tiny_run):
    health = pd.read_csv(tiny_run / "results" / "training_health.csv")
    assert list(health["trained_on"]) == list(range(1, 10)) and set(health["replicate"]) == {1}
    assert set(health["status"]) <= {"learned", "plateau", "dead"} and (health["attempts"] == 1).all()
    for _, row in health.iterrows():
        record = json.loads((tiny_run / "results" / "models" / f"model_{row.trained_on}.json").read_text())
        assert record["meta"]["health"]["status"] == row.status
        # The table is for people: six significant digits (reporting.matrices.write_csv).
        assert record["meta"]["health"]["final_loss"] == pytest.approx(row.final_loss, rel=1e-5)
        # The diagonal is the training set scored with the final weights: the same number.
        evaluation = json.loads(
            (tiny_run / "results" / "eval" / f"train{row.trained_on}_test{row.trained_on}.json").read_text()
        )
        assert evaluation["accuracy"] == pytest.approx(row.train_accuracy, rel=1e-5)
    learned = pd.read_csv(tiny_run / "results" / "accuracy_learned.csv", index_col="trained_on")
    matrix = pd.read_csv(tiny_run / "results" / "accuracy.csv", index_col="trained_on")
    for _, row in health.iterrows():
        if row.status == "learned":
            assert learned.loc[row.trained_on].equals(matrix.loc[row.trained_on])
        else:
            assert learned.loc[row.trained_on].isna().all()
    # Synthetic data: the published CIFAR-10 tables do not apply, and the study says so instead of comparing.
    study = (tiny_run / "results" / "study_comparison.txt").read_text()
    assert study.startswith("The published study's 2 tables of this experiment do not apply to this run")
    assert "  - data.source is synthetic" in study and "Spearman" not in study
    command = subprocess.run(
        [sys.executable, "-m", "mosaicfocus.reporting.compare", "--study", str(tiny_run / "results")],
        capture_output=True,
        text=True,
        check=True,
    )
    # compare --study says what the study says; the study then names the run and its own code.
    assert study.startswith(command.stdout) and "The run compared (from its records" in study
    assert "synthetic images (60 per class, not CIFAR-10)" in study and "This comparison: study code " in study


def test_a_dead_network_is_restarted_and_the_restarts_are_on_record(tmp_path):
    """lr 1e38 overflows every network in its first epoch: each attempt dies, deterministically."""
    snakemake(tmp_path, "--config", "train={lr: 1.0e+38, restarts: 2, epochs: 3, epochs_per_job: 2}")
    health = pd.read_csv(tmp_path / "results" / "training_health.csv")
    assert (health["status"] == "dead").all() and (health["attempts"] == 3).all()
    assert (health["died_at_epoch"] == 1).all()
    assert (
        health.loc[0, "abandoned"].startswith("attempt 1 (seed ") and "attempt 2 (seed " in health.loc[0, "abandoned"]
    )
    record = json.loads((tmp_path / "results" / "models" / "model_4.json").read_text())["meta"]["health"]
    assert [a["attempt"] for a in record["abandoned"]] == [1, 2]
    assert all(a["epoch"] == 1 and a["reason"].startswith("diverged") for a in record["abandoned"])
    assert len({a["seed"] for a in record["abandoned"]}) == 2
    losses = pd.read_csv(tmp_path / "results" / "models" / "loss_4.tsv", sep="\t")
    assert list(losses["attempt"]) == [1, 2, 3, 3, 3] and list(losses["epoch"]) == [1, 1, 1, 2, 3]
    log = (tmp_path / "results" / "logs" / "train_4_epoch2.log").read_text()
    assert "attempt 1 (seed" in log and "abandoned at epoch 1" in log and "attempt 3: re-initialised" in log
    report_log = (tmp_path / "results" / "logs" / "report.log").read_text()
    assert "0 learned, 0 plateau, 9 dead" in report_log
    assert pd.read_csv(tmp_path / "results" / "accuracy_learned.csv", index_col="trained_on").isna().all().all()


def test_tiny_run_artifacts_have_the_protocol_shapes(tiny_run):
    mosaics = torch.load(tiny_run / "results" / "data" / "mosaics.pt", weights_only=True)
    # Indices into the source images, no pixels.
    assert set(mosaics["tensors"]) == {"source_index", "foreground_position", "label"}
    assert mosaics["tensors"]["source_index"].shape == (600, 9)
    for j in range(1, 11):
        data = torch.load(tiny_run / "results" / "data" / f"dataset_{j}.pt", weights_only=True)
        assert data["tensors"]["images"].shape == (300, 3, 32, 32)
        assert data["meta"]["dataset"] == j
    state = torch.load(tiny_run / "results" / "models" / "model_4.pt", weights_only=True)
    assert state["fc4.weight"].shape == (3, 10)
    losses = pd.read_csv(tiny_run / "results" / "models" / "loss_4.tsv", sep="\t")
    assert list(losses["epoch"]) == list(range(1, 31))
    log = (tiny_run / "results" / "logs" / "train_4.log").read_text()
    assert "epoch 30 loss" in log and "health: " in log


def test_dataset_10_holds_the_foregrounds_of_the_held_back_half_of_the_mosaics(tiny_run):
    """Datasets 1..9 blend mosaics 0..count/2-1; dataset 10 is the normalised foregrounds of the
    rest (docs/protocol.md), in their order: its metadata and its images say so."""
    data = tiny_run / "results" / "data"
    source = torch.load(data / "source_images.pt", weights_only=True)["tensors"]
    mosaics = torch.load(data / "mosaics.pt", weights_only=True)["tensors"]
    count = mosaics["label"].numel()
    half = count // 2
    for j in range(1, 10):
        assert torch.load(data / f"dataset_{j}.pt", weights_only=True)["meta"]["mosaic_range"] == [0, half], j
    ten = torch.load(data / "dataset_10.pt", weights_only=True)
    assert ten["meta"]["mosaic_range"] == [half, count]
    rows = torch.arange(half, count)
    foreground = mosaics["source_index"][rows, mosaics["foreground_position"][rows]]
    # ToTensor then Normalize(0.5, 0.5), computed in float64 and rounded once
    expected = (source["images"][foreground].double() / 127.5 - 1).float()
    assert torch.equal(ten["tensors"]["images"], expected)
    assert torch.equal(ten["tensors"]["labels"], mosaics["label"][half:])


def test_finished_run_has_nothing_to_do(tiny_run):
    result = snakemake(tiny_run, "-n")
    assert "Nothing to be done" in result.stdout + result.stderr


def test_every_file_the_workflow_writes_is_a_declared_output(tiny_run):
    # Undeclared files are invisible to Snakemake: never moved by storage plugins,
    # never checked for staleness. (It lists logs and benchmarks too; those are declared
    # in log: and benchmark:, which it does not count as outputs.)
    result = snakemake(tiny_run, "--list-untracked")
    listed = [line.strip() for line in (result.stdout + result.stderr).splitlines()]
    untracked = [path for path in listed if path.startswith("results/")]
    assert untracked, "snakemake --list-untracked printed no paths; its output format changed"
    assert [p for p in untracked if not p.startswith(("results/logs/", "results/benchmarks/"))] == []


@pytest.mark.parametrize(
    "override, expected",
    [
        (["--config", "train={lr: 0.03}"], {"train": 9, "evaluate": 9, "report": 1, "study": 1, "all": 1}),
        (["--config", "train={epochs: 31}"], {"train": 9, "evaluate": 9, "report": 1, "study": 1, "all": 1}),
        (["--config", "evaluate={batch_size: 64}"], {"evaluate": 9, "report": 1, "study": 1, "all": 1}),
        (
            ["--config", "mosaics={count: 400}"],
            {"mosaics": 1, "datasets": 1, "train": 9, "evaluate": 9, "report": 1, "study": 1, "all": 1},
        ),
        (
            ["--config", "seed=8"],
            {
                "source_images": 1,
                "mosaics": 1,
                "datasets": 1,
                "train": 9,
                "evaluate": 9,
                "report": 1,
                "study": 1,
                "all": 1,
            },
        ),
        (["--config", "train={threads: 2}"], {}),
        (
            ["--config", "train={epochs_per_job: 10}"],
            {"train_chunk": 18, "train": 9, "evaluate": 9, "report": 1, "study": 1, "all": 1},
        ),
        # The model jobs carry their resolved device: a run made on the CPU is trained and scored again
        # on a GPU (per model, or in one lock-step job where train.lockstep is left to auto). TF32
        # changes CUDA's arithmetic only: the CPU jobs stay (test_plan: it is a param of the CUDA ones).
        (
            ["--config", "device=cuda", "train={lockstep: false}"],
            {"train": 9, "evaluate": 9, "report": 1, "study": 1, "all": 1},
        ),
        (["--config", "device=cuda"], {"train_lockstep": 1, "report": 1, "study": 1, "all": 1}),
        (["--config", "tf32=true"], {}),
    ],
    ids=[
        "lr",
        "epochs",
        "eval-batch",
        "mosaic-count",
        "seed",
        "threads-only",
        "split-training",
        "device-cuda",
        "device-cuda-lockstep",
        "tf32-on-cpu",
    ],
)
def test_only_invalidated_steps_rerun(tiny_run, override, expected):
    result = snakemake(tiny_run, "-n", *override)
    assert planned_jobs(result.stdout + result.stderr) == expected


def test_same_config_twice_gives_the_same_matrix(tiny_run, tmp_path):
    snakemake(tmp_path)
    first = (tiny_run / "results" / "accuracy.csv").read_bytes()
    assert (tmp_path / "results" / "accuracy.csv").read_bytes() == first
    # What produced the scores hashes alike (test_sweep: a training setting apart hashes apart).
    for name in ("train1_test1.json", "train9_test10.json"):
        ours, theirs = (json.loads((run / "results" / "eval" / name).read_text()) for run in (tmp_path, tiny_run))
        assert ours["config_sha256"] == theirs["config_sha256"], name
    for j in (1, 9):
        a = torch.load(tiny_run / "results" / "models" / f"model_{j}.pt", weights_only=True)
        b = torch.load(tmp_path / "results" / "models" / f"model_{j}.pt", weights_only=True)
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_training_split_into_jobs_gives_the_same_bits(tiny_run, tmp_path):
    """Three jobs of 10 epochs per model (tiny.yaml has 30) resume bit for bit."""
    result = snakemake(tmp_path, "--config", "train={epochs_per_job: 10}")
    assert planned_jobs(result.stdout + result.stderr)["train_chunk"] == 18
    states = sorted(p.name for p in (tmp_path / "results" / "models" / "states").iterdir())
    assert states == sorted(f"model_{f}_epoch{e}.pt" for f in range(1, 10) for e in (10, 20))
    for focus in range(1, 10):
        name = f"model_{focus}.pt"
        a = torch.load(tiny_run / "results" / "models" / name, weights_only=True)
        b = torch.load(tmp_path / "results" / "models" / name, weights_only=True)
        assert all(torch.equal(a[k], b[k]) for k in a), name
        loss = f"loss_{focus}.tsv"
        assert (tmp_path / "results" / "models" / loss).read_text() == (
            tiny_run / "results" / "models" / loss
        ).read_text()
    assert (tmp_path / "results" / "accuracy.csv").read_bytes() == (tiny_run / "results" / "accuracy.csv").read_bytes()
    # a state that no job of this split ends at is refused by name
    bad = snakemake(
        tmp_path, "-n", "results/models/states/model_1_epoch7.pt", "--config", "train={epochs_per_job: 10}", check=False
    )
    assert bad.returncode != 0
    assert "No training job ends at epoch 7" in bad.stdout + bad.stderr


def test_bad_config_is_refused_before_any_job(tmp_path):
    result = snakemake(tmp_path, "--config", "train={lr: -1}", "device=tpu", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "Invalid configuration (nothing was run)" in output
    assert "train.lr: -1 is out of range; it must be > 0" in output
    assert "device: 'tpu' is not allowed; use one of ['auto', 'cpu', 'cuda']" in output
    assert not (tmp_path / "results").exists()


def test_missing_imagefolder_root_is_refused_before_any_job(tmp_path):
    result = snakemake(tmp_path, "--config", f"data={{source: imagefolder, root: {tmp_path / 'nowhere'}}}", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "has no folder 'train'" in output and "Fix: point data.root" in output
    assert not (tmp_path / "results").exists()


def test_unknown_class_is_refused_before_any_job(tmp_path):
    result = snakemake(tmp_path, "--config", "foreground_classes=[airplane,aeroplane]", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "['aeroplane'] not in the data's classes" in output


def test_cifar10_without_internet_fails_with_a_fix(tmp_path):
    """The download path is real; offline it must stop with one clear message."""
    result = snakemake(
        tmp_path,
        "--config",
        f"data={{source: cifar10, root: {tmp_path / 'cifar'}}}",
        "--until",
        "source_images",
        check=False,
        extra_env={"no_proxy": "", "https_proxy": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9"},
    )
    output = result.stdout + result.stderr
    log = (tmp_path / "results" / "logs" / "source_images.log").read_text()
    assert result.returncode != 0
    assert "could not be downloaded" in log and "source: imagefolder" in log
    assert "could not be downloaded" in output


def assert_sharp_focus_learned(results):
    """The networks trained on sharp focus learned the real images of the slice, by the health rule
    and by a wide margin over chance on the foregrounds of the held-back mosaics (dataset 10).
    Measured on 2 AVX2 cores: models 4-9 learned, 7-9 leaving the plateau in epoch 8 of 30; on
    dataset 10 they score 90.8-93.0% against 34.2% for always naming its commonest class."""
    matrix = pd.read_csv(results / "accuracy.csv", index_col="trained_on")
    assert matrix.shape == (9, 10) and ((matrix >= 0) & (matrix <= 100)).all().all()
    health = pd.read_csv(results / "training_health.csv", index_col="trained_on")
    assert (health.loc[[7, 8, 9], "status"] == "learned").all(), health
    labels = torch.load(results / "data" / "dataset_10.pt", weights_only=True)["tensors"]["labels"]
    chance = 100 * torch.bincount(labels).max().item() / labels.numel()
    assert (matrix.loc[[7, 8, 9], "10"] > chance + 35).all(), (matrix["10"], chance)


def test_real_cifar10_slice_end_to_end(cifar_slice, tmp_path):
    snakemake(
        tmp_path,
        "--config",
        f"data={{source: imagefolder, root: {cifar_slice}}}",
        "mosaics={count: 800}",
    )
    source = torch.load(tmp_path / "results" / "data" / "source_images.pt", weights_only=True)
    assert source["tensors"]["images"].shape == (1200, 3, 32, 32)
    assert source["meta"]["classes"][:3] == ["airplane", "automobile", "bird"]
    assert_sharp_focus_learned(tmp_path / "results")
    # CIFAR-10 at the study's design: the published tables apply, and the study compares.
    study = (tmp_path / "results" / "study_comparison.txt").read_text()
    assert study.startswith("Against the published study's 2 tables") and "Spearman rank correlation" in study


def test_rule_scripts_run_the_package_of_their_own_checkout_as_frozen(tmp_path):
    """A second checkout run with this checkout's environment (whose editable install puts
    this src/ on sys.path) must run its own code: the Snakefile its checkout's src/, every
    script the copy of it frozen for the run (docs/code.md)."""
    copy = tmp_path / "checkout"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(".git", ".venv", ".snakemake", "results", "__pycache__"))
    marker = tmp_path / "imports.txt"
    init = copy / "src" / "mosaicfocus" / "__init__.py"
    init.write_text(
        init.read_text() + "\nimport os as _os\n\nif _os.environ.get('MARKER'):\n"
        "    open(_os.environ['MARKER'], 'a').write(__file__ + '\\n')\n"
    )
    subprocess.run(
        [*SNAKEMAKE, "results/data/source_images.pt", "--cores", "1", "--configfile", str(TINY_CONFIG)],
        cwd=copy,
        check=True,
        capture_output=True,
        env={**os.environ, "MARKER": str(marker)},
    )
    imported = marker.read_text().splitlines()
    frozen = list((copy / ".snakemake" / "mosaicfocus-code").glob("*/src/mosaicfocus/__init__.py"))
    assert len(frozen) == 1 and frozen[0].read_text() == init.read_text()
    assert set(imported) == {str(init), str(frozen[0])}, imported


def test_no_job_holds_more_memory_than_it_declared(tiny_run):
    """Each job's peak (its log's high-water mark and Snakemake's benchmark sample) against
    the mem_mb its rule computed (mosaicfocus.runplan.resources), and its wall time against its
    runtime: a regression in either shows here."""
    from mosaicfocus.runplan.joblog import job_memory

    jobs = {job["job"]: job for job in job_memory(tiny_run / "results")}
    benchmarked = {"source_images", "mosaics", "datasets"} | {
        f"{rule}_{focus}" for rule in ("train", "evaluate") for focus in range(1, 10)
    }
    assert set(jobs) == benchmarked | {"report", "study"}
    assert {name for name, job in jobs.items() if job["max_rss_mb"] is not None} == benchmarked
    over = [
        job
        for job in jobs.values()
        if not 0 < job["peak_mb"] <= job["declared_mb"]
        or (job["max_rss_mb"] or 0) > job["declared_mb"]
        or (job["wall_s"] or 0) > 60 * job["declared_min"]
    ]
    assert not over, over
