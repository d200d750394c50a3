import functools
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from mosaicfocus.configcheck import config_problems, source_problems, validate_config
from mosaicfocus.errors import MosaicFocusError
from mosaicfocus.hostcheck import cuda_problem, job_device, lockstep_training
from mosaicfocus.runs import (
    POINT_PATTERN,
    RUN_PATTERN,
    apply_point,
    grid,
    point_prefix,
    point_values,
    split_run,
    stage_values,
    sweep_problems,
    typed_sweep,
)
from mosaicfocus.seeds import derive_seed


def check_config():
    schema = yaml.safe_load(
        Path(workflow.source_path("../schemas/config.schema.yaml")).read_text()
    )
    problems = validate_config(config, schema)
    if not problems:
        problems = config_problems(config)
    if not problems:
        whole_config_problems = lambda point: (
            validate_config(point, schema) or config_problems(point)
        )
        problems = sweep_problems(config, whole_config_problems)
        if not problems:
            config["sweep"] = typed_sweep(config, whole_config_problems)
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

# Path wildcards that may be empty, so a run without sweep or replicates keeps the plain layout:
#   point: "" without a sweep, "sweep/<key>~<value>/..." for a grid point (mosaicfocus.runs)
#   run:   a point and a replicate: the point, then "" for replicate 1 or "replicates/<r>/"
#   split: "" for the training-split mosaics, "_heldout" for the test-split ones
# A file's point names only the swept keys that change it (runs.stage_values), so grid
# points share the source images, mosaics and datasets they have in common.
SOURCE_IMAGES = "results/{point}data/source_images{split}.pt"
MOSAICS = "results/{run}data/mosaics{split}.pt"
DATASET = "results/{run}data/dataset{split}_{dataset}.pt"
MODEL = "results/{run}models/model_{focus}.pt"
# What made the weights, their health and a CRC-32 of every tensor (artifacts.save_weights).
MODEL_RECORD = "results/{run}models/model_{focus}.json"
TRAINING_STATE = "results/{run}models/states/model_{focus}_epoch{epoch}.pt"
LOSS = "results/{run}models/loss_{focus}.tsv"
EVALUATION = "results/{run}eval{split}/train{focus}_test{dataset}.json"
REPLICATE_MATRIX = "results/{run}eval{split}/accuracy.csv"
ACCURACY_CSV = "results/{point}accuracy{split}.csv"
ACCURACY_SD_CSV = "results/{point}accuracy{split}_sd.csv"
HEATMAP_PNG = "results/{point}plots/accuracy{split}_heatmap.png"
LOSS_PNG = "results/{point}plots/training_loss.png"
# The same means over the replicates whose model learned (health.py's rule), per row.
LEARNED_CSV = "results/{point}accuracy{split}_learned.csv"
LEARNED_SD_CSV = "results/{point}accuracy{split}_learned_sd.csv"
LEARNED_HEATMAP_PNG = "results/{point}plots/accuracy{split}_learned_heatmap.png"
HEALTH_CSV = "results/{point}training_health.csv"
STUDY_TXT = "results/{point}study_comparison.txt"
STUDY_PNG = "results/{point}plots/study_difference.png"
# Across the grid of a sweep.
SWEEP_CSV = "results/sweep/accuracy.csv"
SWEEP_HEATMAPS_PNG = "results/sweep/plots/accuracy_heatmaps.png"
SWEEP_SUMMARY_PNG = "results/sweep/plots/summary_{key}.png"

SWEEP = config["sweep"]
POINTS = [point_prefix(values) for values in grid(SWEEP)]  # [""] without a sweep
REPLICATES = list(range(1, config["replicates"] + 1))
SPLITS = [""] + (["_heldout"] if config["heldout"]["enabled"] else [])


def replicate_prefix(replicate):
    return "" if replicate == 1 else f"replicates/{replicate}/"


def point_runs(point):
    """The runs of one grid point: its replicates."""
    return [point + replicate_prefix(r) for r in REPLICATES]


def replicate_number(run):
    replicate = split_run(run)[1]
    return 1 if replicate == "" else int(replicate.split("/")[1])


@functools.cache
def point_config(point):
    """The configuration of one grid point: config with the point's values set."""
    return apply_point(config, point_values(point, SWEEP))


def run_config(run):
    return point_config(split_run(run)[0])


def stage_point(point, stage):
    """The folder of the files of ``stage`` that a point shares with every point that
    agrees with it on the keys changing that stage."""
    values = stage_values(
        point_values(point, SWEEP), stage, point_config(point)["data"]["source"]
    )
    return point_prefix(values)


def stage_run(run, stage):
    point, replicate = split_run(run)
    return stage_point(point, stage) + replicate


def replicate_seed(run):
    """Replicate 1 keeps the point's seed (the single-run results stay as they are)."""
    seed = run_config(run)["seed"]
    replicate = replicate_number(run)
    return seed if replicate == 1 else derive_seed(seed, "replicate", replicate)


wildcard_constraints:
    focus=r"[1-9]",
    dataset=r"[1-9]|10",
    point=POINT_PATTERN,
    run=RUN_PATTERN,
    split=r"(_heldout)?",
    epoch=r"[1-9][0-9]*",
    key=r"[a-z_.]+",


def model_device():
    """cpu or cuda: where the model jobs run (device: auto resolved, hostcheck.job_device)."""
    return job_device(config["device"], workflow.local_exec)


def device_params(wildcards):
    """The resolved device of a model job: a job never runs elsewhere, and a change of
    device (or of TF32, which changes CUDA's arithmetic) reruns the model jobs."""
    if model_device() == "cuda":
        return {"device": "cuda", "tf32": config["tf32"]}
    return {"device": "cpu"}


def model_gpus(wildcards):
    return 1 if model_device() == "cuda" else 0


# One job per replicate training its nine models together (the GPU path), or per-model jobs.
LOCKSTEP = lockstep_training(config["train"]["lockstep"], config["device"])


def source_params(wildcards):
    """Only what changes the source images: the seed matters to synthetic data alone."""
    cfg = point_config(wildcards.point)
    data = cfg["data"]
    split = "test" if wildcards.split else "train"
    if data["source"] == "synthetic":
        params = {
            "source": "synthetic",
            "seed": cfg["seed"],
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


def mosaic_inputs(wildcards):
    point = stage_point(split_run(wildcards.run)[0], "source")
    return SOURCE_IMAGES.format(point=point, split=wildcards.split)


def mosaic_params(wildcards):
    cfg = run_config(wildcards.run)
    seed = replicate_seed(wildcards.run)
    count = cfg["mosaics"]["count"]
    if wildcards.split:
        seed = derive_seed(seed, "heldout")
        count = cfg["heldout"]["count"]
    return {
        "seed": seed,
        "count": count,
        "foreground_classes": list(cfg["foreground_classes"]),
        "background_classes": list(cfg["background_classes"]),
    }


def dataset_inputs(wildcards):
    """The mosaics (indices) and the source images their tiles are gathered from."""
    return {
        "source": mosaic_inputs(wildcards),
        "mosaics": MOSAICS.format(
            run=stage_run(wildcards.run, "mosaics"), split=wildcards.split
        ),
    }


def weighting_params(wildcards):
    """Linear weights need nothing more; Dirichlet draws need alpha and their own seed."""
    cfg = run_config(wildcards.run)
    if cfg["weighting"] == "linear":
        return {"weighting": "linear"}
    seed = replicate_seed(wildcards.run)
    return {
        "weighting": "dirichlet",
        "alpha": cfg["dirichlet_alpha"],
        "seed": (
            derive_seed(seed, "weights")
            if not wildcards.split
            else derive_seed(seed, "heldout-weights")
        ),
    }


def model_seed(wildcards):
    """The seed of one model's training (its first attempt; train.restarts derive further ones)."""
    return derive_seed(replicate_seed(wildcards.run), "train", int(wildcards.focus))


def lockstep_seeds(wildcards):
    """The nine models' seeds, as model_seed gives them to the per-model jobs."""
    return [
        derive_seed(replicate_seed(wildcards.run), "train", f) for f in FOCUS_LEVELS
    ]


def train_settings(wildcards):
    """What a model's weights depend on besides its seed, its data and its epochs."""
    cfg = run_config(wildcards.run)
    return {
        "outputs": cfg["model"]["outputs"],
        **{k: cfg["train"][k] for k in ("lr", "momentum", "batch_size", "restarts")},
    }


def training_schedule(wildcards):
    """The epochs this training job runs: (first, last)."""
    first, last = training_epochs(wildcards)
    return {"first": first, "last": last}


def model_provenance(wildcards):
    """What the weights' record says produced the run (the same for its nine models)."""
    return {
        "seed": replicate_seed(wildcards.run),
        "epochs": run_config(wildcards.run)["train"]["epochs"],
    }


def stage_ends(train):
    """Epochs after which a training job saves its state and the next job goes on.

    A model's training is split into jobs of train.epochs_per_job epochs so that
    nine models pack evenly onto few cores; resuming is bit for bit, so the split
    never changes a result.
    """
    return list(
        range(train["epochs_per_job"], train["epochs"], train["epochs_per_job"])
    )


def training_inputs(wildcards):
    """The model's dataset and, past the first job, the state its training resumes from."""
    first, _ = training_epochs(wildcards)
    inputs = {
        "dataset": DATASET.format(
            run=stage_run(wildcards.run, "datasets"),
            split="",
            dataset=wildcards.focus,
        )
    }
    if first > 1:
        inputs["resume"] = TRAINING_STATE.format(
            run=wildcards.run, focus=wildcards.focus, epoch=first - 1
        )
    return inputs


def training_epochs(wildcards):
    """(first, last) epoch of the training job with these wildcards."""
    train = run_config(wildcards.run)["train"]
    last = int(wildcards.epoch) if "epoch" in wildcards.keys() else train["epochs"]
    if "epoch" in wildcards.keys() and last not in stage_ends(train):
        raise WorkflowError(
            f"No training job ends at epoch {last}: with train.epochs={train['epochs']} "
            f"and train.epochs_per_job={train['epochs_per_job']} they end at "
            f"{stage_ends(train) + [train['epochs']]}."
        )
    first = max([end for end in stage_ends(train) if end < last], default=0) + 1
    return first, last


def lockstep_inputs(wildcards):
    """The nine training datasets, past the first job the nine states training resumes
    from, and in the last job every dataset the 90 (or 180) scores need."""
    first, _ = training_epochs(wildcards)
    datasets_run = stage_run(wildcards.run, "datasets")
    inputs = {
        "datasets": expand(DATASET, run=datasets_run, split="", dataset=FOCUS_LEVELS)
    }
    if first > 1:
        inputs["resume"] = expand(
            TRAINING_STATE, run=wildcards.run, focus=FOCUS_LEVELS, epoch=first - 1
        )
    if "epoch" not in wildcards.keys():
        inputs["scored"] = [path for _, _, path in scored_datasets(wildcards)]
    return inputs


def scored_datasets(wildcards):
    """(split, dataset, path) of every dataset a replicate's models are scored on."""
    datasets_run = stage_run(wildcards.run, "datasets")
    return [
        (split, dataset, DATASET.format(run=datasets_run, split=split, dataset=dataset))
        for split in SPLITS
        for dataset in DATASETS
    ]


def scored_labels(wildcards):
    return [[split, dataset] for split, dataset, _ in scored_datasets(wildcards)]


def lockstep_cells():
    """(split, trained on, tested on) of every score of a replicate, in the order of the
    lock-step job's evaluation outputs (its script reads them from params, not the order).
    """
    return [(s, f, d) for s in SPLITS for f in FOCUS_LEVELS for d in DATASETS]


def evaluation_datasets(wildcards):
    return expand(
        DATASET,
        run=stage_run(wildcards.run, "datasets"),
        split=wildcards.split,
        dataset=DATASETS,
    )


def report_inputs(wildcards):
    """Every run of the point: in the order replicate, split, trained on, tested on."""
    # The what networks' runs: a point that differs only in attention keys shares them.
    runs = [stage_run(run, "train") for run in point_runs(wildcards.point)]
    return {
        "evaluations": expand(
            EVALUATION, run=runs, split=SPLITS, focus=FOCUS_LEVELS, dataset=DATASETS
        ),
        "losses": expand(LOSS, run=runs, focus=FOCUS_LEVELS),
        "records": expand(MODEL_RECORD, run=runs, focus=FOCUS_LEVELS),
    }


def point_outputs(point):
    """What rule all asks of one grid point."""
    return [
        *expand(REPLICATE_MATRIX, run=point_runs(point), split=SPLITS),
        *expand(
            [
                ACCURACY_CSV,
                ACCURACY_SD_CSV,
                HEATMAP_PNG,
                LEARNED_CSV,
                LEARNED_HEATMAP_PNG,
            ],
            point=point,
            split=SPLITS,
        ),
        *expand([LOSS_PNG, HEALTH_CSV, STUDY_TXT, STUDY_PNG], point=point),
    ]
