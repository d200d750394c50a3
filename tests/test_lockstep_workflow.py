"""The lock-step path through the workflow (the GPU path, run here on the CPU), and the device policy."""

import json
import re
import shutil

import pandas as pd
import pytest
import torch
from conftest import planned_jobs, snakemake

from mosaicfocus.runplan.resources import CUDA_HOST_MB

pytestmark = pytest.mark.slow

LOCKSTEP = "train={lockstep: true, epochs_per_job: 20}"


def with_data_of(run, workdir):
    """A new working directory holding ``run``'s source images, mosaics and datasets (mtimes kept)."""
    shutil.copytree(run / "results" / "data", workdir / "results" / "data")
    return workdir


@pytest.fixture(scope="module")
def lockstep_run(tiny_run, tmp_path_factory):
    workdir = with_data_of(tiny_run, tmp_path_factory.mktemp("lockstep_run"))
    result = snakemake(workdir, "--config", LOCKSTEP)
    jobs = planned_jobs(result.stdout + result.stderr)
    assert jobs == {"train_lockstep_chunk": 1, "train_lockstep": 1, "report": 1, "study": 1, "all": 1}
    return workdir


def files_under(results):
    return sorted(
        str(p.relative_to(results))
        for p in results.rglob("*")
        if p.is_file() and not p.is_relative_to(results / "logs") and not p.is_relative_to(results / "benchmarks")
    )


def test_lockstep_job_writes_the_per_model_jobs_files(tiny_run, lockstep_run):
    per_model, lockstep = files_under(tiny_run / "results"), files_under(lockstep_run / "results")
    # The per-model run here made no training states (one job per model); the lock-step run
    # resumed once, from the nine states of epoch 20.
    states = [f"models/states/model_{f}_epoch20.pt" for f in range(1, 10)]
    assert sorted(set(lockstep) - set(states)) == per_model
    for name in ("eval/train3_test7.json", "models/model_3.json"):
        ours = json.loads((lockstep_run / "results" / name).read_text())
        theirs = json.loads((tiny_run / "results" / name).read_text())
        assert ours.keys() == theirs.keys(), name
    assert (lockstep_run / "results" / "models" / "loss_5.tsv").read_text().splitlines()[0] == (
        tiny_run / "results" / "models" / "loss_5.tsv"
    ).read_text().splitlines()[0]


def test_lockstep_records_say_which_trainer_and_device(lockstep_run):
    for focus in range(1, 10):
        record = json.loads((lockstep_run / "results" / "models" / f"model_{focus}.json").read_text())["meta"]
        assert record["trainer"] == "lockstep" and record["trained_on"] == focus
        assert (
            record["device"]["type"] == "cpu"
            and record["device"]["capability"] == torch.backends.cpu.get_cpu_capability()
        )
        evaluation = json.loads((lockstep_run / "results" / "eval" / f"train{focus}_test{focus}.json").read_text())
        assert evaluation["device"] == record["device"]
        # The diagonal is the training set scored with the final weights, as the health record says.
        assert evaluation["accuracy"] == pytest.approx(record["health"]["train_accuracy"])
        assert evaluation["trained_on"] == focus and evaluation["tested_on"] == focus


def test_lockstep_matrix_is_complete_and_learned(lockstep_run):
    import pandas as pd

    matrix = pd.read_csv(lockstep_run / "results" / "accuracy.csv", index_col="trained_on")
    assert matrix.shape == (9, 10) and matrix.notna().all().all()
    assert matrix.loc[9, "9"] > 90  # the foreground-only model learns the synthetic data, as per model
    health = pd.read_csv(lockstep_run / "results" / "training_health.csv")
    assert list(health["trained_on"]) == list(range(1, 10))


def test_the_lockstep_run_agrees_with_the_per_model_run_within_the_unit_tests_tolerance(tiny_run, lockstep_run):
    """The two runs of tiny.yaml: the lock-step one adds train.lockstep and train.epochs_per_job,
    which change no weight, and has the per-model run's data files.

    The two trainers differ by float32 rounding, which training amplifies once a network leaves
    the plateau (test_lockstep): after tiny.yaml's 30 epochs their matrices differ by up to 33
    points (measured on AVX2; rows 4 and 7 took other paths), so the cells are not compared.
    What is: the same parameters made every score; each model's losses within the unit test's
    LOSS_TOLERANCE over the steps it covers (12 epochs of 8 steps: 9 epochs of tiny.yaml's 10)
    while the network is on the plateau; and the lock-step job's matrix against the per-model
    evaluation of the same weights, cell for cell (all 90 equal as measured; one image's argmax
    may flip on a near tie, since the stacked forward pass rounds otherwise)."""
    from test_lockstep import LOSS_TOLERANCE

    from mosaicfocus.artifacts import load_weights
    from mosaicfocus.data.datasets import load_dataset
    from mosaicfocus.what_network.evaluation import accuracy, predict
    from mosaicfocus.what_network.model import Module2

    runs = {"single": tiny_run / "results", "lockstep": lockstep_run / "results"}
    for j in range(1, 11):
        name = f"data/dataset_{j}.pt"
        assert (runs["single"] / name).read_bytes() == (runs["lockstep"] / name).read_bytes(), name
    for focus in range(1, 10):
        single, lockstep = (json.loads((r / "models" / f"model_{focus}.json").read_text()) for r in runs.values())
        single, lockstep = single["meta"], lockstep["meta"]
        assert single["train"] == lockstep["train"] and single["model_seed"] == lockstep["model_seed"], focus
        for dataset in range(1, 11):
            name = f"eval/train{focus}_test{dataset}.json"
            hashes = {json.loads((r / name).read_text())["config_sha256"] for r in runs.values()}
            assert len(hashes) == 1, name

    horizon = 12 * 8 // 10  # the unit test's steps, in tiny.yaml's epochs (300 images, batches of 32)
    health = {key: pd.read_csv(r / "training_health.csv", index_col="trained_on") for key, r in runs.items()}
    for focus in range(1, 10):
        # epochs before the first that fell below 0.9 ln 3 in either run (NaN: it never left the plateau)
        left = min(h.loc[focus, "learning_epoch"] for h in health.values())
        epochs = horizon if pd.isna(left) else min(horizon, int(left) - 1)
        single, lockstep = (pd.read_csv(r / "models" / f"loss_{focus}.tsv", sep="\t") for r in runs.values())
        assert (single["attempt"] == 1).all() and (lockstep["attempt"] == 1).all(), focus
        assert epochs >= 5 and list(lockstep["loss"][:epochs]) == pytest.approx(
            list(single["loss"][:epochs]), rel=LOSS_TOLERANCE
        ), focus

    data = {j: load_dataset(runs["lockstep"] / "data" / f"dataset_{j}.pt", j)[:2] for j in range(1, 11)}
    for focus in range(1, 10):
        models = runs["lockstep"] / "models"
        state, meta = load_weights(models / f"model_{focus}.pt", models / f"model_{focus}.json")
        model = Module2(meta["train"]["outputs"])
        model.load_state_dict(state)
        for j, (images, labels) in data.items():
            per_model = accuracy(predict(model, images), labels)
            scored = json.loads((runs["lockstep"] / "eval" / f"train{focus}_test{j}.json").read_text())
            assert abs(scored["correct"] - per_model["correct"]) <= 1, (focus, j, scored["correct"], per_model)


def test_lockstep_training_in_one_job_gives_the_same_bits_as_resumed(lockstep_run, tmp_path):
    workdir = with_data_of(lockstep_run, tmp_path)
    snakemake(workdir, "--config", "train={lockstep: true}", "--until", "train_lockstep")
    for focus in range(1, 10):
        name = f"model_{focus}.pt"
        a = torch.load(lockstep_run / "results" / "models" / name, weights_only=True)
        b = torch.load(workdir / "results" / "models" / name, weights_only=True)
        assert all(torch.equal(a[k], b[k]) for k in a), name
        assert (workdir / "results" / "eval" / f"train{focus}_test10.json").read_text() == (
            lockstep_run / "results" / "eval" / f"train{focus}_test10.json"
        ).read_text()


def claimed_gpu(tmp_path):
    node = tmp_path / "nvidia0"
    node.write_text("")
    return {"MOSAICFOCUS_GPU_DEVICE_NODES": str(tmp_path / "nvidia[0-9]*")}


def test_a_dry_run_on_a_gpu_host_plans_one_lockstep_job_per_replicate(tmp_path):
    result = snakemake(
        tmp_path,
        "-n",
        "--config",
        "device=auto",
        "replicates=2",
        "train={epochs: 200}",
        extra_env=claimed_gpu(tmp_path),
    )
    output = result.stdout + result.stderr
    jobs = planned_jobs(output)
    assert jobs["train_lockstep"] == 2 and jobs["train_lockstep_chunk"] == 2
    assert "train" not in jobs and "evaluate" not in jobs
    blocks = [block for _, block in re.findall(r"rule (train_lockstep\w*):\n((?:    .*\n)+)", output)]
    assert len(blocks) == 4 and all("gpu=1" in block for block in blocks)
    # The CUDA libraries' host memory is declared on top of the datasets.
    assert all(int(re.search(r"mem_mb=(\d+)", block).group(1)) > CUDA_HOST_MB for block in blocks), blocks


def test_the_same_dry_run_without_a_gpu_plans_per_model_cpu_jobs(tmp_path):
    result = snakemake(tmp_path, "-n", "--config", "device=auto", "replicates=2", "train={epochs: 200}")
    jobs = planned_jobs(result.stdout + result.stderr)
    assert jobs["train"] == 18 and jobs["evaluate"] == 18 and "train_lockstep" not in jobs
    assert "gpu=1" not in result.stdout + result.stderr


def test_a_gpu_torch_cannot_use_is_refused_before_any_job(tmp_path):
    result = snakemake(tmp_path, "--config", "device=auto", extra_env=claimed_gpu(tmp_path), check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Invalid configuration (nothing was run)" in output
    assert f"torch {torch.__version__}" in output and "cannot use it" in output
    assert "set device: cpu" in output and "torch wheel built for a CUDA version" in output
    assert not (tmp_path / "results" / "data").exists()
