"""The run plan without Snakemake: which files a job reads, which seeds and settings it gets,
and which folders grid points and replicates share."""

from __future__ import annotations

import copy

import pytest
import yaml
from conftest import REPO, TINY_CONFIG
from snakemake.io import expand as snakemake_expand

from mosaicfocus.runplan.configcheck import check_config
from mosaicfocus.runplan.plan import Plan, expand
from mosaicfocus.seeds import derive_seed

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())


def plan_of(**overrides) -> Plan:
    config = copy.deepcopy(yaml.safe_load(TINY_CONFIG.read_text()))
    for key, value in overrides.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) and key != "sweep" else value
    assert check_config(config, SCHEMA) == []
    return Plan(config)


def test_expand_orders_like_snakemakes():
    patterns = ["a/{run}{split}_{dataset}", "b/{run}{split}_{dataset}"]
    values = {"run": ["", "replicates/2/"], "split": ["", "_heldout"], "dataset": [1, 10]}
    assert expand(patterns, **values) == snakemake_expand(patterns, **values)
    assert expand("{point}{rep}", point="p/", rep=["", "r/"]) == ["p/", "p/r/"]


def test_replicate_one_keeps_the_seed_and_every_seed_is_derived_from_its_replicates():
    plan = plan_of(replicates=2, heldout={"enabled": True})
    assert plan.replicate_seed("") == 7
    second = derive_seed(7, "replicate", 2)
    assert plan.replicate_seed("replicates/2/") == second
    assert plan.mosaic_params("replicates/2/", "")["seed"] == second
    assert plan.mosaic_params("replicates/2/", "_heldout")["seed"] == derive_seed(second, "heldout")
    assert plan.model_seed("replicates/2/", "4") == derive_seed(second, "train", 4)
    assert plan.lockstep_seeds("replicates/2/") == [plan.model_seed("replicates/2/", f) for f in range(1, 10)]
    assert plan.attention_seed("") == derive_seed(7, "attention")


def test_a_learning_rate_sweep_shares_everything_before_training():
    plan = plan_of(sweep={"train.lr": [0.02, 0.05]})
    point = "sweep/train.lr~0.05/"
    assert plan.points == ["sweep/train.lr~0.02/", point]
    assert plan.stage_point(point, "datasets") == ""
    assert plan.stage_point(point, "train") == point
    assert plan.training_inputs(point + "replicates/2/", "3") == {"dataset": "results/replicates/2/data/dataset_3.pt"}
    assert plan.train_settings(point)["lr"] == 0.05
    assert plan.point_config(point)["train"]["lr"] == 0.05 and plan.config["train"]["lr"] == 0.02


def test_training_chunks_resume_from_the_previous_state():
    plan = plan_of(train={"epochs": 30, "epochs_per_job": 10})
    assert plan.training_epochs("", 20) == (11, 20)
    assert plan.training_epochs("") == (21, 30)
    assert plan.training_inputs("", "5", "20")["resume"] == "results/models/states/model_5_epoch10.pt"
    assert "resume" not in plan.training_inputs("", "5", "10")
    final = plan.lockstep_inputs("")
    assert len(final["resume"]) == 9 and final["resume"][0] == "results/models/states/model_1_epoch20.pt"
    assert len(final["scored"]) == 10 and "scored" not in plan.lockstep_inputs("", "20")
    with pytest.raises(ValueError, match="15"):
        plan.training_epochs("", 15)


def test_report_files_carry_the_labels_their_paths_say():
    plan = plan_of(replicates=2, heldout={"enabled": True})
    files = plan.report_files("")
    assert len(files["evaluations"]) == 2 * 2 * 90 and len(files["losses"]) == 18
    for (replicate, split, trained, tested), path in files["evaluations"]:
        run = "" if replicate == 1 else f"replicates/{replicate}/"
        assert path == f"results/{run}eval{split}/train{trained}_test{tested}.json"
    assert plan.report_labels("")["records"][9] == [2, 1]


def test_attention_outputs_only_when_enabled_and_its_settings_fall_back_to_train():
    assert not any("attention" in path for path in plan_of().all_outputs())
    plan = plan_of(attention={"enabled": True, "lr": 0.5})
    assert "results/attention_focus.csv" in plan.all_outputs()
    settings = plan.attention_settings("")
    assert settings["lr"] == 0.5 and settings["batch_size"] == plan.config["train"]["batch_size"]


def test_the_where_networks_report_files_carry_the_labels_their_paths_say(tmp_path):
    import json

    from mosaicfocus.reporting.matrices import labelled_evaluations

    plan = plan_of(replicates=2, heldout={"enabled": True}, attention={"enabled": True})
    files = plan.attention_report_files("")
    assert len(files["scores"]) == 2 * 2 * (10 + 9 + 1) and len(files["matrices"]) == 4
    assert files["health"] == [((), "results/training_health.csv")]  # the fixed rows' statuses
    # Its run description: its own records, and the what networks' run it sits on.
    assert files["records"] == [
        ((1,), "results/attention/model.json"),
        ((2,), "results/replicates/2/attention/model.json"),
    ]
    assert files["run"] == [((), "results/run.json")]
    assert {"results/attention_run.json", "results/attention_run.txt"} <= set(plan.all_outputs())
    names = {
        (2, "_heldout", "attention", 10): "results/replicates/2/attention/eval_heldout/attention_test10.json",
        (2, "", 7, "learned"): "results/replicates/2/attention/eval/train7_learned.json",
        (1, "_heldout", "attention", "learned"): "results/attention/eval_heldout/attention_learned.json",
    }
    labelled = dict(files["scores"])
    assert all(labelled[label] == path for label, path in names.items())
    # Their content names the same cells: the report's check of evaluations takes them as they are.
    paths, labels = [], []
    for (replicate, split, trained_on, tested_on), path in files["scores"][:20]:
        path = tmp_path / path
        path.parent.mkdir(parents=True, exist_ok=True)
        tested_split = "heldout" if split else "train"
        record = {"trained_on": trained_on, "tested_on": tested_on, "tested_split": tested_split, "accuracy": 1}
        path.write_text(json.dumps(record))
        paths.append(path)
        labels.append((replicate, split, trained_on, tested_on))
    assert len(labelled_evaluations(paths, labels)[1, ""]) == 20
    with pytest.raises(ValueError, match="out of step"):
        labelled_evaluations(paths[::-1], labels)


def test_the_sweep_reads_each_matrix_under_its_point_and_replicate():
    plan = plan_of(replicates=2, sweep={"train.lr": [0.02, 0.05]})
    files = plan.sweep_files()
    assert files["matrices"][3] == (
        ("sweep/train.lr~0.05/", 2),
        "results/sweep/train.lr~0.05/replicates/2/eval/accuracy.csv",
    )
    assert files["health"][0] == (("sweep/train.lr~0.02/",), "results/sweep/train.lr~0.02/training_health.csv")
    # Each point's run, which the sweep lists and checks against the point's values.
    assert files["runs"][1] == (("sweep/train.lr~0.05/",), "results/sweep/train.lr~0.05/run.json")
    assert "attention_runs" not in files
    assert {"results/sweep/runs.json", "results/sweep/runs.txt"} <= set(plan.all_outputs())
    # The where network's keys are found in its own description, attention_run.json.
    swept = plan_of(attention={"enabled": True}, sweep={"attention.lr": [0.02, 0.05]}).sweep_files()
    assert swept["attention_runs"][0] == (
        ("sweep/attention.lr~0.02/",),
        "results/sweep/attention.lr~0.02/attention_run.json",
    )


def test_rule_study_gets_the_design_that_decides_whether_the_published_tables_apply(tmp_path):
    from mosaicfocus.reporting.study import tables_do_not_apply

    tiny = plan_of().study_design("")
    assert tiny["source"] == "synthetic" and tiny["classes"] is None
    assert tables_do_not_apply(tiny) == [
        "data.source is synthetic: coloured gratings made from the seed, not CIFAR-10's images"
    ]
    cifar = plan_of(data={"source": "cifar10"}).study_design("")
    assert cifar["classes"][:3] == cifar["foreground_classes"] == ["airplane", "automobile", "bird"]
    assert cifar["outputs"] == 3 and cifar["weighting"] == "linear" and tables_do_not_apply(cifar) == []
    # A sweep point is decided by its own values.
    swept = plan_of(data={"source": "cifar10"}, sweep={"weighting": ["linear", "dirichlet"]})
    assert [tables_do_not_apply(swept.study_design(point)) == [] for point in swept.points] == [True, False]


def test_a_model_jobs_device_params_carry_tf32_on_cuda_alone():
    """The model jobs' params.device: Snakemake reruns a job whose params changed, so a switch of
    device, or of TF32 on CUDA, reruns the model jobs (test_workflow: the device switch, dry run)."""
    plain, tf32 = plan_of(), plan_of(tf32=True)
    assert plain.device_params("cpu") == tf32.device_params("cpu") == {"device": "cpu"}
    assert plain.device_params("cuda") == {"device": "cuda", "tf32": False}
    assert tf32.device_params("cuda") == {"device": "cuda", "tf32": True}
