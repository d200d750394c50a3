import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from mosaicfocus.configcheck import config_problems, source_problems, validate_config
from mosaicfocus.errors import MosaicFocusError
from mosaicfocus.hostcheck import cuda_problem, host_has_gpu


def check_config():
    schema = yaml.safe_load(
        Path(workflow.source_path("../schemas/config.schema.yaml")).read_text()
    )
    problems = validate_config(config, schema)
    if not problems:
        problems = config_problems(config)
    if not problems:
        try:
            problems = source_problems(config)
        except MosaicFocusError as exc:
            problems = [str(exc)]
    if problems:
        raise WorkflowError(
            "Invalid configuration (nothing was run):\n  - " + "\n  - ".join(problems)
        )


check_config()


onstart:
    # Here, not at parse time: only now is the executor known. A SLURM submit host
    # without a GPU may send cuda jobs to GPU nodes; a local run cannot.
    problem = cuda_problem(config["device"], workflow.local_exec)
    if problem:
        raise WorkflowError(
            f"Invalid configuration (nothing was run):\n  - {problem}"
        )


FOCUS_LEVELS = list(range(1, 10))
DATASETS = list(range(1, 11))

SOURCE_IMAGES = "results/data/source_images.pt"
MOSAICS = "results/data/mosaics.pt"
DATASET = "results/data/dataset_{dataset}.pt"
MODEL = "results/models/model_{focus}.pt"
LOSS = "results/models/loss_{focus}.tsv"
EVALUATION = "results/eval/train{focus}_test{dataset}.json"
ACCURACY_CSV = "results/accuracy.csv"
HEATMAP_PNG = "results/plots/accuracy_heatmap.png"
LOSS_PNG = "results/plots/training_loss.png"


wildcard_constraints:
    focus=r"[1-9]",
    dataset=r"[1-9]|10",


def uses_gpu():
    device = config["device"]
    return device == "cuda" or (device == "auto" and host_has_gpu())


def retry_runtime(minutes):
    """Runtime of a job's first attempt; a retried job (profiles/slurm: retries 1) gets
    that much more per attempt, since a timeout is the usual reason a cluster job fails.
    """
    return lambda wildcards, attempt: minutes * attempt


def source_params():
    """Only what changes the source images: the seed matters to synthetic data alone."""
    data = config["data"]
    if data["source"] == "synthetic":
        params = {
            "source": "synthetic",
            "seed": config["seed"],
            "per_class": data["synthetic_per_class"],
        }
    else:
        params = {"source": data["source"], "root": data["root"]}
    if data["images_per_class"] is not None:
        # Only when set, so that runs made before this key existed stay up to date.
        params["images_per_class"] = data["images_per_class"]
    return params


def mosaic_params():
    return {
        "seed": config["seed"],
        "count": config["mosaics"]["count"],
        "foreground_classes": list(config["foreground_classes"]),
        "background_classes": list(config["background_classes"]),
    }


def train_params():
    return {
        "seed": config["seed"],
        "device": config["device"],
        "outputs": config["model"]["outputs"],
        **{k: config["train"][k] for k in ("lr", "momentum", "batch_size", "epochs")},
    }
