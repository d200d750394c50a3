"""End to end: the where network on the tiny config, beside a finished what-network experiment."""

import json
import shutil

import pandas as pd
import pytest
import torch
from conftest import copy_checkout, edited, planned_jobs, snakemake

from mosaicfocus.artifacts import load_artifact, load_weights
from mosaicfocus.what_network.evaluation import accuracy, predict
from mosaicfocus.what_network.model import Module2

pytestmark = pytest.mark.slow

ATTENTION = "attention={enabled: true, epochs: 3, trajectory_every: 2}"
ATTENTION_JOBS = {"attention": 1, "evaluate_attention": 1, "attention_report": 1, "all": 1}


def plan(workdir, *args):
    result = snakemake(workdir, "-n", *args)
    return planned_jobs(result.stdout + result.stderr)


def copy_run(tiny_run, target):
    """A copy of the finished tiny run (files and Snakemake's records), to add the attention model to."""
    shutil.copytree(tiny_run, target, symlinks=True)
    return target


@pytest.fixture(scope="module")
def attention_run(tiny_run, tmp_path_factory):
    workdir = copy_run(tiny_run, tmp_path_factory.mktemp("attention") / "run")
    result = snakemake(workdir, "--config", ATTENTION)
    return workdir, planned_jobs(result.stdout + result.stderr)


def test_enabling_attention_reruns_nothing_of_the_what_network_experiment(tiny_run, attention_run):
    assert plan(tiny_run, "--config", ATTENTION) == ATTENTION_JOBS
    workdir, ran = attention_run
    assert ran == ATTENTION_JOBS
    assert plan(workdir, "--config", ATTENTION) == {}
    # Switching it off again asks for nothing either: the default run is the study's experiment.
    assert plan(workdir) == {}
    # A different attention setting reruns the attention jobs only.
    other = "attention={enabled: true, epochs: 3, trajectory_every: 2, lr: 0.05}"
    assert plan(workdir, "--config", other) == ATTENTION_JOBS
    # A sweep of attention keys shares the what networks: per point its attention jobs and the
    # point's report and study (which read the shared evaluations), nothing else.
    swept = plan(workdir, "--config", ATTENTION, "sweep={attention.lr: [0.02, 0.05]}")
    jobs = {"attention": 2, "evaluate_attention": 2, "attention_report": 2, "report": 2, "study": 2}
    assert swept == {**jobs, "sweep": 1, "all": 1}


def test_an_edit_of_the_where_network_reruns_only_its_jobs(attention_run, tmp_path):
    """The code digest (docs/code.md): attention.py is imported by the where network's
    training script alone; its evaluation and report rerun because their inputs do."""
    workdir, _ = attention_run
    checkout = copy_checkout(tmp_path / "checkout")
    attention = checkout / "src" / "mosaicfocus" / "where_network" / "attention.py"
    text = attention.read_text()
    with edited(attention, text, text + "\n_EDITED_BY_THE_TEST = 1\n"):
        result = snakemake(workdir, "-n", "--config", ATTENTION, snakefile=checkout / "Snakefile")
    assert planned_jobs(result.stdout + result.stderr) == ATTENTION_JOBS


def test_the_attention_run_writes_its_outputs(attention_run):
    workdir, _ = attention_run
    results = workdir / "results"
    focus = json.loads((results / "attention" / "focus.json").read_text())
    assert focus["test"]["mosaics"] == 300 and focus["training"]["mosaics"] == 300
    counts = sum(focus["test"][c] for c in ("ftpt", "ffpt", "ftpf", "ffpf"))
    assert counts == pytest.approx(100)
    assert focus["test"]["effective_focus"] == pytest.approx(9 * focus["test"]["foreground_alpha"])
    epochs = pd.read_csv(results / "attention" / "epochs.tsv", sep="\t")
    assert list(epochs["epoch"]) == [1, 2, 3] and (epochs["attempt"] == 1).all()
    trajectory = pd.read_csv(results / "attention" / "trajectory.tsv", sep="\t")
    assert list(trajectory["epoch"]) == [2, 3]  # every 2 epochs and the last
    # The last trajectory point is the final what network: the row's scores.
    for dataset in (1, 10):
        row = json.loads((results / "attention" / "eval" / f"attention_test{dataset}.json").read_text())
        assert row["accuracy"] == pytest.approx(trajectory[f"accuracy_{dataset}"].iloc[-1])
    # The column: what network 4 on the learned-focus blend, scored again here.
    state, _ = load_weights(results / "models" / "model_4.pt", results / "models" / "model_4.json")
    model = Module2(3)
    model.load_state_dict(state)
    learned, _ = load_artifact(results / "attention" / "learned_focus.pt", "dataset")
    cell = json.loads((results / "attention" / "eval" / "train4_learned.json").read_text())
    assert cell["accuracy"] == accuracy(predict(model, learned["images"]), learned["labels"])["accuracy"]
    mosaics = pd.read_csv(results / "attention" / "mosaics.tsv", sep="\t")
    assert len(mosaics) == 300 and mosaics["mosaic"].iloc[0] == 300
    # Tables for people, nothing reads them back: six significant digits (reporting.matrices.write_csv).
    matrix = pd.read_csv(results / "accuracy_attention.csv", index_col="trained_on")
    assert matrix.shape == (10, 11) and matrix.loc["attention", "learned"] == pytest.approx(
        json.loads((results / "attention" / "eval" / "attention_learned.json").read_text())["accuracy"], rel=1e-5
    )
    assert matrix.loc["4", "learned"] == pytest.approx(cell["accuracy"], rel=1e-5)
    table = pd.read_csv(results / "attention_focus.csv")
    assert list(table["replicate"]) == [1] and table.loc[0, "ftpt"] == pytest.approx(focus["test"]["ftpt"], rel=1e-5)
    for name in ("accuracy_attention_heatmap.png", "attention_alphas.png", "attention_trajectory.png"):
        assert (results / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The run it describes, from its records, on the what networks' run (attention_run.json, .txt).
    described = json.loads((results / "attention_run.json").read_text())
    assert described["train"] == {**focus["train"], "epochs": 3} and described["seeds"] == {"1": focus["seed"]}
    assert described["what_network"] == json.loads((results / "run.json").read_text())
    assert {"attention", "evaluate_attention", "mosaics", "source_images"} <= set(described["code"])
    text = (results / "attention_run.txt").read_text()
    assert "3 epochs, SGD lr 0.02" in text and "The what networks it sits on (run.txt):\nImages: synthetic" in text
    from mosaicfocus.runplan.joblog import job_memory

    jobs = {job["job"]: job for job in job_memory(results) if "attention" in job["job"]}
    assert set(jobs) == {"attention", "evaluate_attention", "attention_report"}
    assert all(0 < job["peak_mb"] <= job["declared_mb"] for job in jobs.values()), jobs


def test_the_same_seed_gives_the_same_attention_model_twice(tiny_run, attention_run, tmp_path):
    workdir = copy_run(tiny_run, tmp_path / "again")
    snakemake(workdir, "--config", ATTENTION, "--until", "attention")
    for name in ("model.pt", "epochs.tsv", "trajectory.tsv", "mosaics.tsv", "focus.json"):
        first = (attention_run[0] / "results" / "attention" / name).read_bytes()
        assert (workdir / "results" / "attention" / name).read_bytes() == first, name
    a = torch.load(attention_run[0] / "results" / "attention" / "learned_focus.pt", weights_only=True)
    b = torch.load(workdir / "results" / "attention" / "learned_focus.pt", weights_only=True)
    assert torch.equal(a["tensors"]["images"], b["tensors"]["images"])


def test_a_dead_attention_model_is_restarted_on_record(tiny_run, tmp_path):
    """lr 1e38 overflows the joint model in its first epoch: each attempt diverges."""
    workdir = copy_run(tiny_run, tmp_path / "restart")
    config = "attention={enabled: true, epochs: 2, trajectory_every: 1, lr: 1.0e+38, restarts: 1}"
    result = snakemake(workdir, "--config", config, "--until", "attention")
    assert planned_jobs(result.stdout + result.stderr) == {"attention": 1}
    focus = json.loads((workdir / "results" / "attention" / "focus.json").read_text())
    assert focus["health"]["status"] == "dead" and focus["health"]["attempts"] == 2
    (abandoned,) = focus["health"]["abandoned"]
    assert abandoned["attempt"] == 1 and abandoned["epoch"] == 1 and abandoned["reason"].startswith("diverged")
    epochs = pd.read_csv(workdir / "results" / "attention" / "epochs.tsv", sep="\t")
    assert list(epochs["attempt"]) == [1, 2, 2] and list(epochs["epoch"]) == [1, 1, 2]
    log = (workdir / "results" / "logs" / "attention.log").read_text()
    assert "attempt 1 (seed" in log and "attempt 2: re-initialised with seed" in log


def test_attention_with_heldout_mosaics_plans_both_splits(tiny_run):
    jobs = plan(tiny_run, "--config", ATTENTION, "heldout={enabled: true, count: 200}")
    assert jobs["attention"] == 1 and jobs["evaluate_attention"] == 2 and jobs["attention_report"] == 1
    assert "train" not in jobs
