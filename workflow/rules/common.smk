# The config's check, the wildcards' constraints, and the rules' input and params functions:
# the run plan (src/mosaicfocus/runplan/plan.py) asked with each job's wildcards.
import inspect
import os
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake_interface_executor_plugins.settings import ExecMode

# The code every job of this invocation runs, frozen now (docs/code.md): a read-only copy of
# the package and the rule scripts in .snakemake/mosaicfocus-code/<content>/. A job that
# Snakemake starts on a cluster node parses this workflow again: it takes the copy its
# invocation froze (inherited in its environment) instead of freezing the checkout, which
# may have been edited since. Each rule's params.code is the digest of its script and the
# package modules it imports: an edit reruns exactly the jobs whose code it changes.
JOB_OF_ANOTHER_INVOCATION = workflow.exec_mode != ExecMode.DEFAULT
CHECKOUT_SRC = Path(workflow.basedir) / "src"
# codebase.FROZEN_CODE_VARIABLE, spelled out here: it says where to import the package from.
FROZEN_ROOT = (
    os.environ.get("MOSAICFOCUS_FROZEN_CODE") if JOB_OF_ANOTHER_INVOCATION else None
)
sys.path.insert(0, str(Path(FROZEN_ROOT) / "src") if FROZEN_ROOT else str(CHECKOUT_SRC))

from mosaicfocus.runplan.codebase import frozen_code, records_without_code

CODE = frozen_code(
    Path(workflow.basedir),
    into=Path(".snakemake", "mosaicfocus-code").resolve(),
    job_of_another_invocation=JOB_OF_ANOTHER_INVOCATION,
)
# Every script imports the frozen package, wherever another copy is installed; locally
# and on a cluster node alike, the jobs inherit these.
PYTHONPATH = [
    str(CODE.root / "src"),
    *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep)),
]
os.environ.update(PYTHONPATH=os.pathsep.join(dict.fromkeys(PYTHONPATH)))
os.environ.update(CODE.environment())


def frozen_script(name):
    """Rule script ``name`` as frozen for this invocation: what a rule's ``script:`` runs."""
    return CODE.script(name)


def code_digest(name):
    """The digest of rule script ``name`` and the package code it imports (``params.code``)."""
    return CODE.digest(name)


from mosaicfocus.data.design import ALL_DATASETS, FOCUS_LEVELS
from mosaicfocus.runplan.configcheck import check_config as config_problems
from mosaicfocus.runplan.hostcheck import cuda_problem, job_device
from mosaicfocus.runplan.result_files import *  # the result files' patterns the rules name
from mosaicfocus.runplan.plan import Plan, labels_of, paths_of, report_config_problems
from mosaicfocus.runplan.runs import POINT_PATTERN, RUN_PATTERN, replicate_prefix

SCHEMA = yaml.safe_load(
    Path(workflow.source_path("../schemas/config.schema.yaml")).read_text()
)
PROBLEMS = config_problems(config, SCHEMA)  # fills in the defaults
if PROBLEMS:
    raise WorkflowError(
        "Invalid configuration (nothing was run):\n  - " + "\n  - ".join(PROBLEMS)
    )


onstart:
    # Here, not at parse time: only now is the executor known. A SLURM submit host
    # without a GPU may send cuda jobs to GPU nodes; a local run cannot.
    problem = cuda_problem(config["device"], workflow.local_exec)
    if problem:
        raise WorkflowError(
            f"Invalid configuration (nothing was run):\n  - {problem}"
        )


PLAN = Plan(config)

if not JOB_OF_ANOTHER_INVOCATION and records_without_code("results"):
    logger.warning(
        "results/ holds records made before the workflow recorded its code: every job "
        "reruns once (params.code is new). To keep those results instead, run "
        "`snakemake --touch` once (docs/code.md); their records will keep naming no code."
    )
# snakemake --report describes the files in results/: they must be the run this config
# plans, or the report would mix a description with another run's tables.
if "--report" in sys.argv or any(arg.startswith("--report=") for arg in sys.argv):
    REPORT_PROBLEMS = report_config_problems(PLAN, "results")
    if REPORT_PROBLEMS:
        raise WorkflowError(
            "results/ hold another run than this configuration describes (no report was "
            "written):\n  - " + "\n  - ".join(REPORT_PROBLEMS) + "\nPass the run's "
            "configuration as it was run, e.g. snakemake --report report.html --configfile "
            "tests/config/tiny.yaml for the demo (the same --configfile and --config)."
        )
FOCUS_LEVELS, DATASETS = list(FOCUS_LEVELS), list(ALL_DATASETS)
SWEEP, REPLICATES, SPLITS = PLAN.sweep, PLAN.replicates, PLAN.splits


wildcard_constraints:
    focus=r"[1-9]",
    dataset=r"[1-9]|10",
    point=POINT_PATTERN,
    run=RUN_PATTERN,
    split=r"(_heldout)?",
    epoch=r"[1-9][0-9]*",
    key=r"[a-z_.]+",


def by_wildcards(method):
    """An input or params function: ``method`` asked with the job's wildcards it names; one
    the job lacks keeps the method's default (no epoch: the last training job)."""
    names = list(inspect.signature(method).parameters)

    def from_wildcards(wildcards):
        values = {
            name: getattr(wildcards, name) for name in names if name in wildcards.keys()
        }
        try:
            return method(**values)
        except ValueError as exc:
            raise WorkflowError(str(exc))

    return from_wildcards


def model_device():
    """cpu or cuda: where the model jobs run. Asked per job, not at parse time: only
    then is the executor (local or a cluster's GPU nodes) known."""
    return job_device(config["device"], workflow.local_exec)


def device_params(wildcards):
    return PLAN.device_params(model_device())


def model_gpus(wildcards):
    return 1 if model_device() == "cuda" else 0


source_params = by_wildcards(PLAN.source_params)
mosaic_inputs = by_wildcards(PLAN.mosaic_inputs)
mosaic_params = by_wildcards(PLAN.mosaic_params)
dataset_inputs = by_wildcards(PLAN.dataset_inputs)
weighting_params = by_wildcards(PLAN.weighting_params)
evaluation_datasets = by_wildcards(PLAN.datasets)
model_seed = by_wildcards(PLAN.model_seed)
lockstep_seeds = by_wildcards(PLAN.lockstep_seeds)
train_settings = by_wildcards(PLAN.train_settings)
training_epochs = by_wildcards(PLAN.training_epochs)
training_schedule = by_wildcards(PLAN.training_schedule)
model_provenance = by_wildcards(PLAN.model_provenance)
training_inputs = by_wildcards(PLAN.training_inputs)
lockstep_inputs = by_wildcards(PLAN.lockstep_inputs)
report_inputs = by_wildcards(PLAN.report_inputs)
report_labels = by_wildcards(PLAN.report_labels)
attention_seed = by_wildcards(PLAN.attention_seed)
attention_settings = by_wildcards(PLAN.attention_settings)
attention_schedule = by_wildcards(PLAN.attention_schedule)
attention_inputs = by_wildcards(PLAN.attention_inputs)
attention_evaluation_inputs = by_wildcards(PLAN.attention_evaluation_inputs)
attention_report_inputs = by_wildcards(PLAN.attention_report_inputs)
attention_report_labels = by_wildcards(PLAN.attention_report_labels)


def scored_labels(wildcards):
    return [
        [split, dataset] for split, dataset, _ in PLAN.scored_datasets(wildcards.run)
    ]
