"""The workflow sees its own code: an edit reruns exactly the jobs whose scripts import the
edited module (directly or not) and what follows them; comments, docstrings and formatting
rerun nothing. Dry runs of a copy of this checkout on a copy of the finished tiny run."""

import json
import shutil

import pytest
from conftest import copy_checkout, edited, planned_jobs, snakemake

pytestmark = pytest.mark.slow

PACKAGE = "src/mosaicfocus"
MODELS = {"train": 9, "evaluate": 9}
REPORTS = {"report": 1, "study": 1, "all": 1}
EVERYTHING = {"source_images": 1, "mosaics": 1, "datasets": 1, **MODELS, **REPORTS}


@pytest.fixture(scope="module")
def checkout_and_run(tiny_run, tmp_path_factory):
    """A copy of this checkout (same code, so the same digests) and of the finished tiny run."""
    root = tmp_path_factory.mktemp("code_reruns")
    checkout = copy_checkout(root / "checkout")
    workdir = root / "run"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    assert plan(checkout, workdir) == {}, "the copies should start up to date"
    return checkout, workdir


def plan(checkout, workdir, *args):
    result = snakemake(workdir, "-n", *args, snakefile=checkout / "Snakefile")
    return planned_jobs(result.stdout + result.stderr)


def plan_after_change(checkout_and_run, module: str, old: str | None = None, new: str | None = None):
    """The jobs planned once ``old`` is ``new`` in ``module``; by default a statement appended
    to it (what the module does changes, so its digest does)."""
    checkout, workdir = checkout_and_run
    path = checkout / PACKAGE / module
    if old is None:
        old = path.read_text()
        new = old + "\n_EDITED_BY_THE_TEST = 1\n"
    with edited(path, old, new):
        return plan(checkout, workdir)


def test_the_network_reruns_training_evaluation_and_reports_not_the_data_stage(checkout_and_run):
    planned = plan_after_change(
        checkout_and_run, "what_network/model.py", "nn.Conv2d(3, 6, 5)", "nn.Conv2d(3, 6, 5, bias=False)"
    )
    assert planned == {**MODELS, **REPORTS}


def test_the_training_loop_reruns_the_model_jobs(checkout_and_run):
    assert plan_after_change(checkout_and_run, "what_network/training.py") == {**MODELS, **REPORTS}


def test_the_fast_path_reruns_the_model_jobs(checkout_and_run):
    assert plan_after_change(checkout_and_run, "what_network/fast/phases.py") == {**MODELS, **REPORTS}


def test_scoring_reruns_the_model_jobs(checkout_and_run):
    # train.py scores each model on its own training set (the health record) with it too.
    assert plan_after_change(checkout_and_run, "what_network/evaluation.py") == {**MODELS, **REPORTS}


def test_the_mosaic_draw_reruns_from_the_mosaics_on(checkout_and_run):
    planned = plan_after_change(checkout_and_run, "data/mosaics.py")
    assert planned == {"mosaics": 1, "datasets": 1, **MODELS, **REPORTS}


def test_the_image_sources_rerun_everything(checkout_and_run):
    assert plan_after_change(checkout_and_run, "data/sources.py") == EVERYTHING


def test_a_plot_reruns_only_the_report_rules(checkout_and_run):
    assert plan_after_change(checkout_and_run, "reporting/plots.py") == REPORTS


def test_the_study_text_reruns_only_the_study(checkout_and_run):
    assert plan_after_change(checkout_and_run, "reporting/study_text.py") == {"study": 1, "all": 1}


def test_the_where_network_reruns_nothing_of_the_what_network_experiment(checkout_and_run):
    assert plan_after_change(checkout_and_run, "where_network/attention.py") == {}


def test_a_rule_script_reruns_its_own_jobs(checkout_and_run):
    checkout, workdir = checkout_and_run
    script = checkout / "workflow" / "scripts" / "evaluate.py"
    with edited(script, "focus = int(", "_EDITED_BY_THE_TEST = 1\nfocus = int("):
        assert plan(checkout, workdir) == {"evaluate": 9, **REPORTS}


def test_comments_docstrings_and_formatting_rerun_nothing(checkout_and_run):
    checkout, workdir = checkout_and_run
    model = checkout / PACKAGE / "what_network" / "model.py"
    training = checkout / PACKAGE / "what_network" / "training.py"
    script = checkout / "workflow" / "scripts" / "train.py"
    with (
        edited(model, '"""The 10 ReLU units of fc3', '"""Reworded: the ten ReLU units of fc3'),
        edited(
            model,
            "        self.conv2 = nn.Conv2d(6, 16, 5)\n",
            "        # a comment\n\n        self.conv2 = nn.Conv2d(\n            6, 16, 5\n        )\n",
        ),
        edited(model, "from torch import nn\n", "from torch import nn  # the layers\n"),
        edited(
            training, "from __future__ import annotations\n", "from __future__ import annotations\n\n# moved around\n"
        ),
        edited(
            script,
            'first, last = params.schedule["first"], params.schedule["last"]',
            "first, last = (\n    params.schedule['first'],\n    params.schedule['last'],\n)",
        ),
    ):
        script.touch()  # a checkout or a formatter touching a script: its time is not its code
        assert plan(checkout, workdir) == {}


def test_touch_accepts_a_refactor_without_rerunning_and_the_records_keep_their_code(checkout_and_run, tmp_path):
    checkout, finished = checkout_and_run
    workdir = tmp_path / "run"
    shutil.copytree(finished, workdir, symlinks=True)
    record = workdir / "results" / "models" / "model_4.json"
    before = json.loads(record.read_text())["meta"]["code"]["train"]["digest"]
    rename = ("def build_model(outputs: int, seed: int)", "def build_model(outputs: int, seed: int, *, unused=None)")
    with edited(checkout / PACKAGE / "what_network" / "model.py", *rename):
        assert plan(checkout, workdir) == {**MODELS, **REPORTS}
        snakemake(workdir, "--touch", snakefile=checkout / "Snakefile")
        assert plan(checkout, workdir) == {}
    assert json.loads(record.read_text())["meta"]["code"]["train"]["digest"] == before
