import functools
import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from mosaicfocus import design
from mosaicfocus.configcheck import check_config as check_config_problems
from mosaicfocus.hostcheck import cuda_problem, job_device, lockstep_training
from mosaicfocus.runs import (
    POINT_PATTERN,
    RUN_PATTERN,
    apply_point,
    chunk_epochs,
    grid,
    point_prefix,
    point_values,
    replicate_number,
    replicate_prefix,
    split_run,
    stage_values,
)
from mosaicfocus.paths import (
    ACCURACY_CSV,
    ACCURACY_SD_CSV,
    DATASET,
    EVALUATION,
    HEALTH_CSV,
    HEATMAP_PNG,
    LEARNED_CSV,
    LEARNED_HEATMAP_PNG,
    LEARNED_SD_CSV,
    LOSS,
    LOSS_PNG,
    MODEL,
    MODEL_RECORD,
    MOSAICS,
    REPLICATE_MATRIX,
    SOURCE_IMAGES,
    STUDY_PNG,
    STUDY_TXT,
    SWEEP_CSV,
    SWEEP_HEATMAPS_PNG,
    SWEEP_SUMMARY_PNG,
    TRAINING_STATE,
)
from mosaicfocus.seeds import derive_seed


def check_config():
    schema = yaml.safe_load(
        Path(workflow.source_path("../schemas/config.schema.yaml")).read_text()
    )
    problems = check_config_problems(config, schema)
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


FOCUS_LEVELS = list(design.FOCUS_LEVELS)
DATASETS = list(design.ALL_DATASETS)

SWEEP = config["sweep"]
POINTS = [point_prefix(values) for values in grid(SWEEP)]  # [""] without a sweep
REPLICATES = list(range(1, config["replicates"] + 1))
SPLITS = [""] + (["_heldout"] if config["heldout"]["enabled"] else [])


def point_runs(point):
    """The runs of one grid point: its replicates."""
    return [point + replicate_prefix(r) for r in REPLICATES]


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
    """(first, last) epoch of the training job with these wildcards (runs.chunk_epochs)."""
    train = run_config(wildcards.run)["train"]
    last = int(wildcards.epoch) if "epoch" in wildcards.keys() else None
    try:
        return chunk_epochs(train["epochs"], train["epochs_per_job"], last)
    except ValueError as exc:
        raise WorkflowError(str(exc))


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


def report_files(point):
    """Every result file the report of a point reads, each beside its labels:
    (replicate, split, trained on, tested on) for an evaluation, (replicate, trained on)
    for a loss table and a weights' record. The report files them by these labels and
    refuses a file whose content says otherwise, so no order is relied on."""
    # The what networks' runs: a point that differs only in attention keys shares them.
    runs = {r: stage_run(point + replicate_prefix(r), "train") for r in REPLICATES}
    models = [(r, f) for r in REPLICATES for f in FOCUS_LEVELS]
    return {
        "evaluations": [
            ((r, s, f, d), EVALUATION.format(run=runs[r], split=s, focus=f, dataset=d))
            for r, f in models
            for s in SPLITS
            for d in DATASETS
        ],
        "losses": [((r, f), LOSS.format(run=runs[r], focus=f)) for r, f in models],
        "records": [
            ((r, f), MODEL_RECORD.format(run=runs[r], focus=f)) for r, f in models
        ],
    }


def report_inputs(wildcards):
    files = report_files(wildcards.point)
    return {kind: [path for _, path in labelled] for kind, labelled in files.items()}


def report_labels(wildcards):
    files = report_files(wildcards.point)
    return {
        kind: [list(label) for label, _ in labelled] for kind, labelled in files.items()
    }


def replicate_splits():
    """(replicate, split) of each per-replicate matrix the report writes, in its outputs' order."""
    return [(r, s) for r in REPLICATES for s in SPLITS]


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
