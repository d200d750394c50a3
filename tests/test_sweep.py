"""Sweeps: the grid, its folders, what grid points share, the tidy table and the figures."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import planned_jobs, snakemake

from mosaicfocus.reporting.sweep import transfer_summary
from mosaicfocus.runplan.runs import (
    apply_point,
    grid,
    point_prefix,
    point_values,
    split_run,
    stage_values,
    sweep_problems,
    typed_sweep,
)

SWEEP = {"train.lr": [0.001, 0.01], "dirichlet_alpha": [1e-05, 1.0]}


def test_grid_and_folder_names_follow_paramspace():
    points = grid(SWEEP)
    assert points[0] == {"train.lr": 0.001, "dirichlet_alpha": 1e-05} and len(points) == 4
    assert point_prefix(points[0]) == "sweep/train.lr~0.001/dirichlet_alpha~1e-05/"
    assert point_values("sweep/train.lr~0.001/dirichlet_alpha~1e-05/", SWEEP) == points[0]
    assert grid({}) == [{}] and point_prefix({}) == ""
    with pytest.raises(ValueError, match="train.lr~0.5 is not a value of the sweep"):
        point_values("sweep/train.lr~0.5/", SWEEP)


def test_a_run_is_a_point_and_a_replicate():
    assert split_run("sweep/train.lr~0.001/replicates/3/") == ("sweep/train.lr~0.001/", "replicates/3/")
    assert split_run("replicates/2/") == ("", "replicates/2/")
    assert split_run("") == ("", "")


def test_a_files_folder_names_only_the_keys_that_change_it():
    point = {"seed": 3, "dirichlet_alpha": 0.1, "train.lr": 0.001}
    assert stage_values(point, "datasets", "imagefolder") == {"seed": 3, "dirichlet_alpha": 0.1}
    assert stage_values(point, "mosaics", "imagefolder") == {"seed": 3}
    assert stage_values(point, "source", "imagefolder") == {}
    assert stage_values(point, "source", "synthetic") == {"seed": 3}  # synthetic images are drawn from the seed
    assert stage_values(point, "train", "imagefolder") == point


def test_apply_point_sets_dotted_keys_on_a_copy():
    config = {"seed": 1, "train": {"lr": 0.01, "epochs": 200}, "sweep": {"train.lr": [0.1]}}
    point = apply_point(config, {"train.lr": 0.1})
    assert point == {"seed": 1, "train": {"lr": 0.1, "epochs": 200}}
    assert config["train"]["lr"] == 0.01


def _validate(config):
    problems = []
    if config["train"]["lr"] <= 0:
        problems.append(f"train.lr: {config['train']['lr']!r} is out of range; it must be > 0")
    return problems


def test_sweep_values_are_checked_like_their_key():
    config = {"weighting": "linear", "train": {"lr": 0.01}}
    problems = sweep_problems(
        {**config, "sweep": {"train.lr": [0.01, -1], "optimizer": ["adam"], "train.momentum": []}}, _validate
    )
    assert "sweep: train.lr: -1 is out of range; it must be > 0" in problems
    assert any(p.startswith("sweep: 'optimizer' cannot be swept; sweepable keys:") for p in problems)
    assert "sweep: train.momentum: give a non-empty list of values, got []" in problems
    assert sweep_problems({**config, "sweep": {"dirichlet_alpha": [0.1, 1.0]}}, _validate) == [
        "sweep: dirichlet_alpha changes nothing with weighting: linear; set weighting: dirichlet"
    ]
    assert sweep_problems({**config, "sweep": {"train.lr": [0.1, 0.1]}}, _validate) == [
        "sweep: train.lr: repeated values [0.1, 0.1]"
    ]


def test_sweep_values_given_as_text_are_typed_by_their_key():
    def coerce(config):
        config["train"]["lr"] = float(config["train"]["lr"])
        return []

    assert typed_sweep({"train": {"lr": 0.01}, "sweep": {"train.lr": ["0.001", "0.1"]}}, coerce) == {
        "train.lr": [0.001, 0.1]
    }


def test_transfer_summary_averages_off_diagonal_and_dataset_10():
    rows = [
        {"train.lr": lr, "replicate": 1, "trained_on": 1, "tested_on": j, "accuracy": acc, "status": "learned"}
        for lr, cells in ((0.1, {1: 100, 2: 50, 3: 70, 10: 40}), (0.2, {1: 90, 2: 30, 3: 30, 10: 60}))
        for j, acc in cells.items()
    ]
    summary = transfer_summary(pd.DataFrame(rows), "train.lr").set_index("train.lr")
    assert summary.loc[0.1, "off_diagonal"] == 60 and summary.loc[0.1, "dataset_10"] == 40
    assert summary.loc[0.2, "off_diagonal"] == 30 and summary.loc[0.2, "dataset_10"] == 60


# ---------------------------------------------------------------- the workflow


def test_a_learning_rate_sweep_builds_the_data_once_and_trains_every_point(tmp_path):
    result = snakemake(tmp_path, "-n", "--config", "sweep={train.lr: [0.001, 0.01, 0.03, 0.1]}")
    assert planned_jobs(result.stdout + result.stderr) == {
        "source_images": 1,
        "mosaics": 1,
        "datasets": 1,
        "train": 36,
        "evaluate": 36,
        "report": 4,
        "study": 4,
        "sweep": 1,
        "all": 1,
    }


def test_an_alpha_sweep_shares_the_source_images_and_mosaics(tmp_path):
    result = snakemake(tmp_path, "-n", "--config", "weighting=dirichlet", "sweep={dirichlet_alpha: [0.1, 10.0]}")
    jobs = planned_jobs(result.stdout + result.stderr)
    assert {k: jobs[k] for k in ("source_images", "mosaics", "datasets", "train")} == {
        "source_images": 1,
        "mosaics": 1,
        "datasets": 2,
        "train": 18,
    }


def test_a_seed_sweep_on_synthetic_data_draws_new_source_images(tmp_path):
    result = snakemake(tmp_path, "-n", "--config", "sweep={seed: [1, 2]}", "replicates=2")
    jobs = planned_jobs(result.stdout + result.stderr)
    assert {k: jobs[k] for k in ("source_images", "mosaics", "datasets", "train")} == {
        "source_images": 2,
        "mosaics": 4,
        "datasets": 4,
        "train": 36,
    }


def test_a_bad_sweep_value_is_named_before_any_job(tmp_path):
    result = snakemake(tmp_path, "--config", "sweep={train.lr: [0.01, -1]}", check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Invalid configuration (nothing was run)" in output
    assert "sweep: train.lr: -1 is out of range; it must be > 0" in output
    assert not (tmp_path / "results").exists()


LR_SWEEP = ("--config", "sweep={train.lr: [0.02, 0.05]}", "train={epochs: 3}")


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tiny_sweep")
    snakemake(workdir, *LR_SWEEP)
    return workdir


@pytest.mark.slow
def test_the_tidy_table_has_a_row_per_point_replicate_and_cell(tiny_sweep):
    tidy = pd.read_csv(tiny_sweep / "results" / "sweep" / "accuracy.csv")
    assert list(tidy.columns) == ["train.lr", "replicate", "trained_on", "tested_on", "accuracy", "status"]
    assert len(tidy) == 2 * 90 and sorted(tidy["train.lr"].unique()) == [0.02, 0.05]
    assert tidy["train.lr"].dtype == float and set(tidy["status"]) <= {"learned", "plateau", "dead"}
    point = tidy[tidy["train.lr"] == 0.05].pivot(index="trained_on", columns="tested_on", values="accuracy")
    own = pd.read_csv(tiny_sweep / "results" / "sweep" / "train.lr~0.05" / "accuracy.csv", index_col="trained_on")
    assert np.allclose(point.to_numpy(), own.to_numpy(), rtol=1e-5, atol=0)  # six significant digits
    for png in ("accuracy_heatmaps.png", "summary_train.lr.png"):
        assert (tiny_sweep / "results" / "sweep" / "plots" / png).read_bytes()[:4] == b"\x89PNG"
    # every point is a whole experiment, and the data are shared, not copied
    for lr in ("0.02", "0.05"):
        folder = tiny_sweep / "results" / "sweep" / f"train.lr~{lr}"
        assert (folder / "training_health.csv").is_file() and (folder / "plots" / "accuracy_heatmap.png").is_file()
        assert not (folder / "data").exists()
    assert (tiny_sweep / "results" / "data" / "dataset_1.pt").is_file()
    # Which run made each point: its values beside its run.json's seeds, devices and code.
    runs = json.loads((tiny_sweep / "results" / "sweep" / "runs.json").read_text())["points"]
    assert [(p["point"], p["values"]) for p in runs] == [
        ("sweep/train.lr~0.02/", {"train.lr": 0.02}),
        ("sweep/train.lr~0.05/", {"train.lr": 0.05}),
    ]
    own_run = json.loads((tiny_sweep / "results" / "sweep" / "train.lr~0.05" / "run.json").read_text())
    assert runs[1]["code"] == own_run["code"] and runs[1]["replicate_seeds"] == own_run["replicate_seeds"] == {"1": 7}
    text = (tiny_sweep / "results" / "sweep" / "runs.txt").read_text()
    assert "train.lr=0.05 (results/sweep/train.lr~0.05/run.json): 1 replicate(s), seeds 1: 7" in text


@pytest.mark.slow
def test_what_produced_a_score_hashes_apart_for_points_one_training_setting_apart(tiny_sweep):
    """The two points differ in train.lr alone: each point's 90 evaluations share one
    config_sha256, and the two points' differ (test_workflow: equal configs hash alike)."""
    hashes = {}
    for lr in ("0.02", "0.05"):
        records = [
            json.loads(p.read_text())
            for p in (tiny_sweep / "results" / "sweep" / f"train.lr~{lr}" / "eval").glob("*.json")
        ]
        assert len(records) == 90
        hashes[lr] = {record["config_sha256"] for record in records}
        assert len(hashes[lr]) == 1, lr
    assert hashes["0.02"] != hashes["0.05"]


@pytest.mark.slow
def test_compare_works_between_two_points(tiny_sweep):
    sweep = tiny_sweep / "results" / "sweep"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mosaicfocus.reporting.compare",
            str(sweep / "train.lr~0.02"),
            str(sweep / "train.lr~0.05"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "mean |difference|" in result.stdout


@pytest.mark.slow
def test_adding_a_value_runs_only_the_new_point_and_removing_one_deletes_nothing(tiny_sweep):
    added = snakemake(tiny_sweep, "-n", "--config", "sweep={train.lr: [0.02, 0.05, 0.1]}", "train={epochs: 3}")
    assert planned_jobs(added.stdout + added.stderr) == {
        "train": 9,
        "evaluate": 9,
        "report": 1,
        "study": 1,
        "sweep": 1,
        "all": 1,
    }
    removed = snakemake(tiny_sweep, "-n", "--config", "sweep={train.lr: [0.05]}", "train={epochs: 3}")
    assert planned_jobs(removed.stdout + removed.stderr) == {"sweep": 1, "all": 1}
    assert (tiny_sweep / "results" / "sweep" / "train.lr~0.02" / "accuracy.csv").is_file()


@pytest.mark.slow
def test_the_html_report_holds_every_point_and_the_grid(tiny_sweep):
    report = tiny_sweep / "report.html"
    result = snakemake(tiny_sweep, "--report", str(report), *LR_SWEEP)
    assert result.returncode == 0
    html = report.read_text(errors="replace")
    for text in ("accuracy_heatmaps.png", "summary_train.lr.png", "train.lr~0.02", "train.lr~0.05", "tidy"):
        assert text in html, text
