"""Reports describe the run their records say, not the configuration read at report time."""

import copy
import json
import re

import pytest
from conftest import REPO, TINY_CONFIG, snakemake

from mosaicfocus.reporting.run_description import (
    SWEPT_IN_DESCRIPTION,
    RecordsDisagree,
    describe_attention_run,
    describe_run,
    describe_sweep,
    format_attention_description,
    format_description,
    format_sweep,
)
from mosaicfocus.runplan.plan import config_disagreements
from mosaicfocus.runplan.runs import SWEEPABLE

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


# -- the where network's report ----------------------------------------------------------------

CODE = {"digest": "ef" * 32, "commit": "c0ffee" * 6, "dirty": False}
MOSAICS_CODE = {"digest": "12" * 32, "commit": "c0ffee" * 6, "dirty": False}


def what_run(replicates=2):
    """The what networks' run as the point's run.json holds it (keys read back as text)."""
    return json.loads(json.dumps(describe_run(*records(replicates))))


def where_records(replicates=2, change=None):
    """focus.json, model.json's meta and two scores per replicate of a where network on ``what_run``'s
    mosaics (replicate 1 seed 7, r >= 2 seed 1000 + r, as ``records`` makes them)."""
    focus, metas, scores = {}, {}, []
    for r in range(1, replicates + 1):
        made_by = {
            "seed": 500 + r,
            "train": {"outputs": 3, "lr": 0.05, "momentum": 0.8, "batch_size": 16, "restarts": 2, "epochs": 40},
            "mosaics": {**copy.deepcopy(RECORD["data"]["mosaics"]), "seed": 7 if r == 1 else 1000 + r},
            "code": {"attention": CODE, "mosaics": MOSAICS_CODE},
        }
        focus[r] = {"test": {"effective_focus": 3.0}, "health": {"status": "learned"}, **copy.deepcopy(made_by)}
        metas[r] = {**copy.deepcopy(made_by), "device": RECORD["device"], "health": {"status": "learned"}}
        for tested_on in (1, "learned"):
            score = {"trained_on": "attention", "tested_on": tested_on, "device": RECORD["device"]}
            scores.append({**score, "code": {"evaluate_attention": {**CODE, "digest": "34" * 32}}})
    if change:
        change(focus, metas)
    paths = {
        "focus": {r: f"results/r{r}/attention/focus.json" for r in focus},
        "records": {r: f"results/r{r}/attention/model.json" for r in focus},
        "run": "results/run.json",
    }
    return focus, metas, scores, what_run(replicates), paths


def test_the_training_line_names_the_number_type_and_the_authors_stop():
    plain = format_description(describe_run(*records()))
    assert "restarts 3, float32;" in plain and "stop" not in plain

    def authors(meta):
        meta["train"].update(dtype="float64", stop_loss=0.001)

    found, paths = records(replicates=1)
    for meta in found.values():
        authors(meta)
    text = format_description(describe_run(found, paths))
    assert "restarts 3, float64, stopped at the authors' loss <= 0.001 (train.stop_loss);" in text


def test_the_where_networks_run_is_described_from_its_records_and_the_run_it_sits_on():
    described = describe_attention_run(*where_records())
    assert described["train"] == {
        "outputs": 3,
        "lr": 0.05,
        "momentum": 0.8,
        "batch_size": 16,
        "restarts": 2,
        "epochs": 40,
    }
    assert described["seeds"] == {1: 501, 2: 502} and described["replicates"] == 2
    assert described["mosaics"] == {k: v for k, v in RECORD["data"]["mosaics"].items() if k != "seed"}
    assert described["devices"] == [RECORD["device"]]
    # Every job behind it, from its records' code lineages (provenance.code_versions).
    assert list(described["code"]) == ["attention", "evaluate_attention", "mosaics"]
    assert described["code"]["evaluate_attention"]["digests"] == ["34" * 32]
    assert described["what_network"] == what_run()
    text = format_attention_description(described)
    assert "trained jointly on the training half of each replicate's 600 mosaics (the what networks' own)" in text
    assert "40 epochs, SGD lr 0.05, momentum 0.8, batch 16, restarts 2" in text
    assert "2 replicate(s), seeds 1: 501, 2: 502" in text
    assert "attention efefefefefef from c0ffeec0ff" in text and "evaluate_attention 343434343434" in text
    # Then the what networks' run, as run.txt says it.
    assert text.endswith("The what networks it sits on (run.txt):\n" + format_description(what_run()))


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        (
            lambda focus, metas: metas[2]["train"].update(lr=0.1),
            r"records of replicate 2 come from different runs: train is .*'lr': 0.05.* in "
            r"results/r2/attention/focus.json but .*'lr': 0.1.* in results/r2/attention/model.json",
        ),
        (
            lambda focus, metas: [m["train"].update(epochs=80) for m in (focus[2], metas[2])],
            r"describe different runs: the where network's training is .*'epochs': 40.* in "
            r"results/r1/attention/focus.json but .*'epochs': 80.* in results/r2/attention/focus.json",
        ),
        (
            lambda focus, metas: [m["mosaics"].update(count=1200) for r in (1, 2) for m in (focus[r], metas[r])],
            r"the where network and the what networks were trained on different mosaics: .*'count': 1200.* "
            r"in results/r1/attention/focus.json but .*'count': 600.* in results/run.json",
        ),
        (
            lambda focus, metas: [m["mosaics"].update(seed=9) for m in (focus[2], metas[2])],
            r"replicate 2's where network was trained on the mosaics of seed 9 .*but replicate 2 of the "
            r"what networks' run on those of seed 1002 \(results/run.json\)",
        ),
    ],
    ids=["focus-and-model-record", "replicates", "mosaics", "replicate-seed"],
)
def test_where_network_records_of_another_run_are_refused_by_name(change, refusal):
    with pytest.raises(RecordsDisagree, match=refusal):
        describe_attention_run(*where_records(change=change))


def test_a_where_network_on_fewer_replicates_than_its_what_networks_is_refused():
    focus, metas, scores, _, paths = where_records(replicates=1)
    with pytest.raises(RecordsDisagree, match=r"reads 1 replicate\(s\), but results/run.json describes 2"):
        describe_attention_run(focus, metas, scores, what_run(2), paths)


# -- the sweep's grid points ---------------------------------------------------------------------


def point_run(lr, digest="ab" * 32):
    def change(meta):
        meta["train"]["lr"] = lr
        meta["code"]["train"]["digest"] = digest

    found, paths = records(1)
    for meta in found.values():
        change(meta)
    return json.loads(json.dumps(describe_run(found, paths)))


POINTS = [("sweep/train.lr~0.02/", {"train.lr": 0.02}), ("sweep/train.lr~0.05/", {"train.lr": 0.05})]
RUN_PATHS = {"runs": {folder: f"results/{folder}run.json" for folder, _ in POINTS}}


def test_each_grid_point_is_listed_with_the_run_that_made_it():
    runs = {POINTS[0][0]: point_run(0.02), POINTS[1][0]: point_run(0.05)}
    described = describe_sweep(POINTS, runs, RUN_PATHS)
    first = described["points"][0]
    assert first["point"] == "sweep/train.lr~0.02/" and first["values"] == {"train.lr": 0.02}
    assert first["run"] == "results/sweep/train.lr~0.02/run.json"
    assert first["replicate_seeds"] == {"1": 7} and first["devices"] == [RECORD["device"]]
    assert first["code"] == runs[POINTS[0][0]]["code"] and first["trainers"] == ["single"]
    text = format_sweep(described)
    assert "Every point was made by the same code of each job." in text
    assert "train.lr=0.05 (results/sweep/train.lr~0.05/run.json): 1 replicate(s), seeds 1: 7; trainer single." in text
    assert "  Code: train abababababab from c0ffeec0ff." in text
    # Points trained by different code are told apart.
    runs[POINTS[1][0]] = point_run(0.05, digest="cd" * 32)
    text = format_sweep(describe_sweep(POINTS, runs, RUN_PATHS))
    assert "The code of train differs between points" in text and "train cdcdcdcdcdcd" in text


def test_a_grid_point_whose_run_holds_other_values_is_refused():
    runs = {POINTS[0][0]: point_run(0.02), POINTS[1][0]: point_run(0.02)}  # the second point's run is lr 0.02
    with pytest.raises(
        RecordsDisagree,
        match=r"grid point sweep/train.lr~0.05/ was not made by the run its folder names "
        r"\(results/sweep/train.lr~0.05/run.json\): train.lr: the point's folder says 0.05, its run.json has 0.02",
    ):
        describe_sweep(POINTS, runs, RUN_PATHS)


def test_every_sweepable_key_is_checked_where_its_run_records_it():
    assert set(SWEPT_IN_DESCRIPTION) == set(SWEEPABLE)
    run = point_run(0.02)
    where = {"train": {"lr": 0.3, "epochs": 40}, "seeds": {"1": 501}, "devices": [], "code": {}}
    folder = "sweep/x/"
    paths = {"runs": {folder: "run.json"}, "attention": {folder: "attention_run.json"}}

    def check(values, attention=where):
        return describe_sweep([(folder, values)], {folder: run}, paths, {folder: attention})["points"][0]

    # Settings run.json leaves out hold their defaults; linear weighting uses no alpha.
    values = {"seed": 7, "mosaics.count": 600, "train.dtype": "float32", "train.stop_loss": None}
    check({**values, "weighting": "linear", "dirichlet_alpha": 0.1, "attention.lr": 0.3})
    assert check({"attention.epochs": 40})["attention"]["seeds"] == {"1": 501}
    described = describe_sweep([(folder, {"attention.lr": 0.3})], {folder: run}, paths, {folder: where})
    assert "  Where network (attention_run.json): 40 epochs, SGD lr 0.3, momentum None" in format_sweep(described)
    for values, refusal in [
        ({"seed": 8}, "seed: the point's folder says 8, its run.json has 7"),
        ({"train.dtype": "float64"}, "train.dtype: the point's folder says 'float64', its run.json has 'float32'"),
        ({"train.stop_loss": 0.001}, "train.stop_loss: the point's folder says 0.001, its run.json has None"),
        ({"attention.lr": 0.02}, "attention.lr: the point's folder says 0.02, its attention_run.json has 0.3"),
    ]:
        with pytest.raises(RecordsDisagree, match=re.escape(refusal)):
            check(values)


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
