import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from mosaicfocus.configcheck import class_problems, config_problems, validate_config
from mosaicfocus.devices import host_has_gpu
from mosaicfocus.errors import MosaicFocusError


def check_config():
    schema = yaml.safe_load(
        Path(workflow.source_path("../schemas/config.schema.yaml")).read_text()
    )
    problems = validate_config(config, schema)
    if not problems:
        problems = config_problems(config)
    if not problems:
        try:
            problems = class_problems(config)
        except MosaicFocusError as exc:
            problems = [str(exc)]
    if problems:
        raise WorkflowError(
            "Invalid configuration (nothing was run):\n  - " + "\n  - ".join(problems)
        )


check_config()

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


def source_params():
    """Only what changes the source images: the seed matters to synthetic data alone."""
    data = config["data"]
    if data["source"] == "synthetic":
        return {
            "source": "synthetic",
            "seed": config["seed"],
            "per_class": data["synthetic_per_class"],
        }
    return {"source": data["source"], "root": data["root"]}


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
