"""Reports describe the run their records say, not the configuration read at report time."""

import copy
import json

import pytest
from conftest import REPO, TINY_CONFIG, snakemake

from mosaicfocus.reporting.run_description import RecordsDisagree, describe_run, format_description
from mosaicfocus.runplan.plan import config_disagreements

RECORD = {
    "trained_on": 1,
    "model_seed": 11,
    "trainer": "single",
    "data": {
        "source": {"source": "synthetic", "seed": 7, "per_class": 60},
        "foreground_classes": ["airplane", "automobile", "bird"],
        "mosaics": {"count": 600, "seed": 7, "foreground_classes": ["airplane"], "background_classes": ["cat"]},
        "weighting": {"weighting": "linear"},
    },
    "train": {"lr": 0.02, "momentum": 0.9, "batch_size": 32, "restarts": 3, "outputs": 3, "epochs": 30, "seed": 7},
    "device": {"type": "cpu", "processor": "AMD EPYC", "capability": "AVX2", "torch": "2.14.1"},
    "code": {"train": {"digest": "ab" * 32, "commit": "c0ffee" * 6, "dirty": False}},
}


def records(replicates=2, change=None):
    found, paths = {}, {}
    for r in range(1, replicates + 1):
        for f in range(1, 10):
            meta = copy.deepcopy(RECORD)
            meta.update(trained_on=f, model_seed=100 * r + f)
            meta["train"]["seed"] = meta["data"]["mosaics"]["seed"] = 7 if r == 1 else 1000 + r
            if change and change[0] == (r, f):
                change[1](meta)
            found[r, f], paths[r, f] = meta, f"results/r{r}/models/model_{f}.json"
    return found, paths


def test_a_run_is_described_once_with_its_seeds_per_replicate():
    described = describe_run(*records())
    assert described["replicates"] == 2
    assert described["train"] == {
        "lr": 0.02,
        "momentum": 0.9,
        "batch_size": 32,
        "restarts": 3,
        "outputs": 3,
        "epochs": 30,
    }
    assert described["replicate_seeds"] == {1: 7, 2: 1002}
    assert described["model_seeds"][2] == [201 + k for k in range(9)]
    assert described["code"]["train"]["digests"] == ["ab" * 32]
    text = format_description(described)
    assert "synthetic images (60 per class, not CIFAR-10)" in text
    assert "30 epochs, SGD lr 0.02" in text and "2 replicate(s), seeds 1: 7, 2: 1002" in text


def test_records_that_describe_two_runs_are_refused_by_name():
    def other_lr(meta):
        meta["train"]["lr"] = 0.05

    with pytest.raises(
        RecordsDisagree,
        match=r"train is .*'lr': 0.02.* in results/r1/models/model_1.json "
        r"but .*'lr': 0.05.* in results/r2/models/model_4.json",
    ):
        describe_run(*records(change=((2, 4), other_lr)))


def test_two_versions_of_a_jobs_code_are_shown_as_a_mix():
    def other_code(meta):
        meta["code"]["train"]["digest"] = "cd" * 32

    described = describe_run(*records(change=((1, 3), other_code)))
    assert described["code"]["train"]["digests"] == ["ab" * 32, "cd" * 32]
    assert "MIXED" in format_description(described)


def test_config_disagreements_name_each_differing_setting():
    described = describe_run(*records())
    expected = json.loads(json.dumps({k: described[k] for k in ("train", "replicates", "replicate_seeds")}))
    assert config_disagreements(described, expected) == []
    expected["train"]["epochs"] = 200
    expected["replicate_seeds"]["1"] = 2024
    assert config_disagreements(described, expected) == [
        "train.epochs: the run has 30, this configuration 200",
        "replicate_seeds.1: the run has 7, this configuration 2024",
    ]


@pytest.mark.slow
def test_the_tiny_runs_description_matches_its_config_and_another_config_gets_no_report(tiny_run, tmp_path):
    described = json.loads((tiny_run / "results" / "run.json").read_text())
    assert described["train"]["epochs"] == 30 and described["source"]["source"] == "synthetic"
    assert "not CIFAR-10" in (tiny_run / "results" / "run.txt").read_text()
    report = tmp_path / "report.html"
    refused = snakemake(tiny_run, "--report", str(report), configfile=REPO / "config.yaml", check=False)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0 and not report.exists()
    assert "train.epochs: the run has 30, this configuration 200" in output
    assert "--configfile" in output
    made = snakemake(tiny_run, "--report", str(report), configfile=TINY_CONFIG, check=False)
    assert made.returncode == 0 and report.is_file(), made.stderr[-3000:]
