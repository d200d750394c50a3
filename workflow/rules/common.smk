import math
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from mosaicfocus.configcheck import config_problems, source_problems, validate_config
from mosaicfocus.errors import MosaicFocusError
from mosaicfocus.hostcheck import cuda_problem, host_has_gpu
from mosaicfocus.seeds import derive_seed


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

# Two path wildcards that may be empty, so the default run keeps the plain layout:
#   rep:   "" for replicate 1, "replicates/<r>/" for replicate r >= 2
#   split: "" for the training-split mosaics, "_heldout" for the test-split ones
SOURCE_IMAGES = "results/data/source_images{split}.pt"
MOSAICS = "results/{rep}data/mosaics{split}.pt"
DATASET = "results/{rep}data/dataset{split}_{dataset}.pt"
MODEL = "results/{rep}models/model_{focus}.pt"
# What made the weights, their health and a CRC-32 of every tensor (artifacts.save_weights).
MODEL_RECORD = "results/{rep}models/model_{focus}.json"
TRAINING_STATE = "results/{rep}models/states/model_{focus}_epoch{epoch}.pt"
LOSS = "results/{rep}models/loss_{focus}.tsv"
EVALUATION = "results/{rep}eval{split}/train{focus}_test{dataset}.json"
REPLICATE_MATRIX = "results/{rep}eval{split}/accuracy.csv"
ACCURACY_CSV = "results/accuracy{split}.csv"
ACCURACY_SD_CSV = "results/accuracy{split}_sd.csv"
HEATMAP_PNG = "results/plots/accuracy{split}_heatmap.png"
LOSS_PNG = "results/plots/training_loss.png"
# The same means over the replicates whose model learned (health.py's rule), per row.
LEARNED_CSV = "results/accuracy{split}_learned.csv"
LEARNED_SD_CSV = "results/accuracy{split}_learned_sd.csv"
LEARNED_HEATMAP_PNG = "results/plots/accuracy{split}_learned_heatmap.png"
HEALTH_CSV = "results/training_health.csv"
STUDY_TXT = "results/study_comparison.txt"
STUDY_PNG = "results/plots/study_difference.png"

REPLICATES = list(range(1, config["replicates"] + 1))
SPLITS = [""] + (["_heldout"] if config["heldout"]["enabled"] else [])


def replicate_prefix(replicate):
    return "" if replicate == 1 else f"replicates/{replicate}/"


REPLICATE_PREFIXES = [replicate_prefix(r) for r in REPLICATES]


def replicate_number(prefix):
    return 1 if prefix == "" else int(prefix.split("/")[1])


def replicate_seed(prefix):
    """Replicate 1 keeps the base seed (the single-run results stay as they are)."""
    replicate = replicate_number(prefix)
    if replicate == 1:
        return config["seed"]
    return derive_seed(config["seed"], "replicate", replicate)


wildcard_constraints:
    focus=r"[1-9]",
    dataset=r"[1-9]|10",
    rep=r"(replicates/[0-9]+/)?",
    split=r"(_heldout)?",
    epoch=r"[1-9][0-9]*",


def uses_gpu():
    device = config["device"]
    return device == "cuda" or (device == "auto" and host_has_gpu())


def retry_runtime(minutes):
    """Runtime of a job's first attempt; a retried job (profiles/slurm: retries 1) gets
    that much more per attempt, since a timeout is the usual reason a cluster job fails.
    """
    return lambda wildcards, attempt: minutes * attempt


def source_params(wildcards):
    """Only what changes the source images: the seed matters to synthetic data alone."""
    data = config["data"]
    split = "test" if wildcards.split else "train"
    if data["source"] == "synthetic":
        params = {
            "source": "synthetic",
            "seed": config["seed"],
            "per_class": data["synthetic_per_class"],
        }
    else:
        params = {"source": data["source"], "root": data["root"]}
    if split == "test":
        params["split"] = split
    elif data["images_per_class"] is not None:
        # Only when set, so that runs made before this key existed stay up to date.
        params["images_per_class"] = data["images_per_class"]
    return params


def mosaic_params(wildcards):
    seed = replicate_seed(wildcards.rep)
    count = config["mosaics"]["count"]
    if wildcards.split:
        seed = derive_seed(seed, "heldout")
        count = config["heldout"]["count"]
    return {
        "seed": seed,
        "count": count,
        "foreground_classes": list(config["foreground_classes"]),
        "background_classes": list(config["background_classes"]),
    }


def weighting_params(wildcards):
    """Linear weights need nothing more; Dirichlet draws need alpha and their own seed."""
    if config["weighting"] == "linear":
        return {"weighting": "linear"}
    seed = replicate_seed(wildcards.rep)
    return {
        "weighting": "dirichlet",
        "alpha": config["dirichlet_alpha"],
        "seed": (
            derive_seed(seed, "weights")
            if not wildcards.split
            else derive_seed(seed, "heldout-weights")
        ),
    }


def model_seed(wildcards):
    """The seed of one model's training (its first attempt; train.restarts derive further ones)."""
    return derive_seed(replicate_seed(wildcards.rep), "train", int(wildcards.focus))


def train_settings(wildcards):
    """What a model's weights depend on besides its seed, its data and its epochs."""
    return {
        "outputs": config["model"]["outputs"],
        **{k: config["train"][k] for k in ("lr", "momentum", "batch_size", "restarts")},
    }


def training_schedule(wildcards):
    """The epochs this training job runs: (first, last)."""
    first, last = training_epochs(wildcards)
    return {"first": first, "last": last}


def model_provenance(wildcards):
    """What the weights' record says produced the run (the same for its nine models)."""
    return {"seed": replicate_seed(wildcards.rep), "epochs": config["train"]["epochs"]}


def stage_ends():
    """Epochs after which a training job saves its state and the next job goes on.

    A model's training is split into jobs of train.epochs_per_job epochs so that
    nine models pack evenly onto few cores; resuming is bit for bit, so the split
    never changes a result.
    """
    per_job, epochs = config["train"]["epochs_per_job"], config["train"]["epochs"]
    return list(range(per_job, epochs, per_job))


def training_inputs(wildcards):
    """The model's dataset and, past the first job, the state its training resumes from."""
    first, until = training_epochs(wildcards)
    if "epoch" in wildcards.keys() and until not in stage_ends():
        raise WorkflowError(
            f"No training job ends at epoch {until}: with train.epochs={config['train']['epochs']} "
            f"and train.epochs_per_job={config['train']['epochs_per_job']} they end at "
            f"{stage_ends() + [config['train']['epochs']]}."
        )
    inputs = {
        "dataset": DATASET.format(rep=wildcards.rep, split="", dataset=wildcards.focus)
    }
    if first > 1:
        inputs["resume"] = TRAINING_STATE.format(
            rep=wildcards.rep, focus=wildcards.focus, epoch=first - 1
        )
    return inputs


def training_epochs(wildcards):
    """(first, last) epoch of the training job with these wildcards."""
    last = (
        int(wildcards.epoch)
        if "epoch" in wildcards.keys()
        else config["train"]["epochs"]
    )
    first = max([end for end in stage_ends() if end < last], default=0) + 1
    return first, last


def training_runtime(wildcards, attempt):
    """A model's 120 minutes, shared among its training jobs by epochs (see retry_runtime)."""
    first, last = training_epochs(wildcards)
    share = (last - first + 1) / config["train"]["epochs"]
    return retry_runtime(max(10, math.ceil(120 * share)))(wildcards, attempt)
