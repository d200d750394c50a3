"""Replicates, held-out mosaics from the test split, Dirichlet focus and the HTML report."""

import json
import subprocess
import sys

import pandas as pd
import pytest
import torch
from conftest import SNAKEFILE, TINY_CONFIG, planned_jobs, snakemake

pytestmark = pytest.mark.slow

VARIANTS = [
    "--config",
    "replicates=2",
    "heldout={enabled: true, count: 120}",
    "weighting=dirichlet",
    "dirichlet_alpha=0.5",
    "train={epochs: 4}",
]


@pytest.fixture(scope="module")
def variant_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("variants")
    snakemake(workdir, *VARIANTS)
    return workdir


def load(path):
    return torch.load(path, weights_only=True)


def test_every_matrix_has_the_protocol_shape(variant_run):
    results = variant_run / "results"
    for name in ("accuracy.csv", "accuracy_sd.csv", "accuracy_heldout.csv", "accuracy_heldout_sd.csv"):
        matrix = pd.read_csv(results / name, index_col="trained_on")
        assert matrix.shape == (9, 10) and list(matrix.index) == list(range(1, 10)), name
        assert matrix.notna().all().all(), name
    for prefix in ("", "replicates/2/"):
        for split in ("", "_heldout"):
            assert len(list((results / f"{prefix}eval{split}").glob("train*_test*.json"))) == 90
    for name in ("accuracy_heatmap.png", "accuracy_heldout_heatmap.png", "training_loss.png"):
        assert (results / "plots" / name).read_bytes()[:4] == b"\x89PNG"


def test_mean_and_sd_are_over_the_replicates(variant_run):
    results = variant_run / "results"
    for split in ("", "_heldout"):
        first = pd.read_csv(results / f"eval{split}" / "accuracy.csv", index_col="trained_on")
        second = pd.read_csv(results / "replicates" / "2" / f"eval{split}" / "accuracy.csv", index_col="trained_on")
        mean = pd.read_csv(results / f"accuracy{split}.csv", index_col="trained_on")
        sd = pd.read_csv(results / f"accuracy{split}_sd.csv", index_col="trained_on")
        pd.testing.assert_frame_equal(mean, (first + second) / 2)
        pd.testing.assert_frame_equal(sd, (first - second).abs() / 2**0.5, atol=1e-9)


def test_replicates_have_independent_seeds(variant_run):
    data = variant_run / "results"
    one = load(data / "data" / "mosaics.pt")
    two = load(data / "replicates" / "2" / "data" / "mosaics.pt")
    assert one["meta"]["params"]["seed"] == 7 and two["meta"]["params"]["seed"] != 7
    assert not torch.equal(one["tensors"]["source_index"], two["tensors"]["source_index"])
    model_one = load(data / "models" / "model_5.pt")
    model_two = load(data / "replicates" / "2" / "models" / "model_5.pt")
    assert not torch.equal(model_one["conv1.weight"], model_two["conv1.weight"])


def test_heldout_images_never_appear_in_training(variant_run):
    data = variant_run / "results" / "data"
    train_source = load(data / "source_images.pt")["tensors"]["images"].flatten(1)
    heldout = load(data / "mosaics_heldout.pt")
    assert heldout["meta"]["params"]["count"] == 120
    test_source = load(data / "source_images_heldout.pt")
    tiles = test_source["tensors"]["images"].flatten(1)[heldout["tensors"]["source_index"].flatten()]
    seen = {bytes(row.numpy()) for row in train_source}
    assert not any(bytes(tile.numpy()) in seen for tile in tiles)
    assert test_source["meta"]["params"]["split"] == "test"
    assert load(data / "dataset_heldout_3.pt")["tensors"]["images"].shape == (60, 3, 32, 32)


def test_dirichlet_datasets_are_noisy_but_keep_dataset_9(variant_run):
    from mosaicfocus.data.datasets import focus_dataset, foregrounds

    data = variant_run / "results" / "data"
    mosaics = load(data / "mosaics.pt")["tensors"]
    source = load(data / "source_images.pt")["tensors"]["images"]
    half = mosaics["source_index"].shape[0] // 2
    index, position = mosaics["source_index"][:half], mosaics["foreground_position"][:half]
    level_3 = load(data / "dataset_3.pt")
    assert level_3["meta"]["weighting"] == {
        "weighting": "dirichlet",
        "alpha": 0.5,
        "seed": level_3["meta"]["weighting"]["seed"],
    }
    images = level_3["tensors"]["images"]
    assert images.min() >= -1 and images.max() <= 1
    assert (images - focus_dataset(source, index, position, 3)).abs().mean() > 0.05
    assert torch.equal(load(data / "dataset_9.pt")["tensors"]["images"], foregrounds(source, index, position))
    # The weighting is part of what produced every score, so linear and Dirichlet runs hash apart.
    record = json.loads((variant_run / "results" / "eval" / "train3_test3.json").read_text())
    assert record["weighting"] == level_3["meta"]["weighting"]


def test_html_report_holds_the_plots_and_captions(variant_run):
    report = variant_run / "report.html"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--snakefile",
            str(SNAKEFILE),
            "--directory",
            str(variant_run),
            "--configfile",
            str(TINY_CONFIG),
            "--report",
            str(report),
            *VARIANTS,
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    html = report.read_text(errors="replace")
    for text in (
        "accuracy_heatmap.png",
        "accuracy_heldout_heatmap.png",
        "training_loss.png",
        "accuracy_sd.csv",
        "held-out mosaics",
        "Standard deviation of the accuracy",
        "training_health.csv",
        "accuracy_learned_heatmap.png",
        "study_difference.png",
        "Training health of every model",
    ):
        assert text in html, text


@pytest.mark.parametrize(
    "override, expected",
    [
        (["replicates=2"], {"mosaics": 1, "datasets": 1, "train": 9, "evaluate": 9, "report": 1, "study": 1, "all": 1}),
        (
            ["heldout={enabled: true}"],
            {"source_images": 1, "mosaics": 1, "datasets": 1, "evaluate": 9, "report": 1, "study": 1, "all": 1},
        ),
        (["weighting=dirichlet"], {"datasets": 1, "train": 9, "evaluate": 9, "report": 1, "study": 1, "all": 1}),
        (["dirichlet_alpha=3.0"], {}),
    ],
    ids=["add-replicate", "enable-heldout", "dirichlet", "alpha-unused-when-linear"],
)
def test_options_rerun_only_what_they_change(tiny_run, override, expected):
    result = snakemake(tiny_run, "-n", "--config", *override)
    assert planned_jobs(result.stdout + result.stderr) == expected
