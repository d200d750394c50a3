"""The run plan: every job's inputs, seeds and settings, from the config and the file names.

The rules' input and params functions (workflow/rules/common.smk) are this class's methods
called with the job's wildcards. A run is a grid point's folder plus a replicate's
(``runs``); each stage's files live in the folder of the points that share them. Torch-free
and Snakemake-free: the Snakefile builds it at parse time and the tests call it directly.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Iterable
from pathlib import Path

from mosaicfocus.data import design
from mosaicfocus.data.classes import CIFAR10_CLASSES
from mosaicfocus.data.imagefolder import image_names, imagefolder_classes, listed_classes
from mosaicfocus.errors import MosaicFocusError
from mosaicfocus.runplan.hostcheck import lockstep_training
from mosaicfocus.runplan.result_files import (
    ACCURACY_CSV,
    ACCURACY_SD_CSV,
    ATTENTION_ALPHAS_PNG,
    ATTENTION_COLUMN,
    ATTENTION_CORNER,
    ATTENTION_EPOCHS,
    ATTENTION_FOCUS,
    ATTENTION_FOCUS_CSV,
    ATTENTION_HEATMAP_PNG,
    ATTENTION_MATRIX_CSV,
    ATTENTION_MODEL,
    ATTENTION_MOSAICS,
    ATTENTION_RECORD,
    ATTENTION_ROW,
    ATTENTION_RUN_JSON,
    ATTENTION_RUN_TXT,
    ATTENTION_TRAJECTORY,
    ATTENTION_TRAJECTORY_PNG,
    DATASET,
    EVALUATION,
    HEALTH_CSV,
    HEATMAP_PNG,
    LEARNED_CSV,
    LEARNED_FOCUS,
    LEARNED_HEATMAP_PNG,
    LOSS,
    LOSS_PNG,
    MODEL,
    MODEL_RECORD,
    MOSAICS,
    REPLICATE_MATRIX,
    RUN_JSON,
    RUN_TXT,
    SOURCE_IMAGES,
    STUDY_PNG,
    STUDY_TXT,
    SWEEP_CSV,
    SWEEP_HEATMAPS_PNG,
    SWEEP_RUNS_JSON,
    SWEEP_RUNS_TXT,
    SWEEP_SUMMARY_PNG,
    TRAINING_STATE,
    in_results,
)
from mosaicfocus.runplan.runs import (
    SWEEPABLE,
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
from mosaicfocus.seeds import derive_seed

FOCUS_LEVELS = list(design.FOCUS_LEVELS)
DATASETS = list(design.ALL_DATASETS)
# CIFAR-10's sizes, for a source whose images are not on disk yet (the download).
CIFAR_IMAGES = {"train": 50_000, "test": 10_000}


def expand(patterns: str | list[str], **values) -> list[str]:
    """Every pattern filled with every combination of the values, first key outermost (as
    Snakemake's expand); a value that is not a list is one value."""
    patterns = [patterns] if isinstance(patterns, str) else patterns
    lists = [v if isinstance(v, list | tuple) else [v] for v in values.values()]
    return [
        pattern.format(**dict(zip(values, combination)))
        for pattern in patterns
        for combination in itertools.product(*lists)
    ]


@functools.cache
def imagefolder_size(root: str, split: str) -> int | None:
    """Images in ``root/split/<class>/``: one listing per class folder, no file opened."""
    try:
        return sum(len(image_names(Path(root) / split / name)) for name in imagefolder_classes(root, split))
    except (OSError, MosaicFocusError):
        return None  # the parse-time checks name the problem


def without_seed(params):
    """Settings without their ``seed``: the one a replicate derives from the base seed, where
    the rest holds for the whole run (``run_description``, ``reporting.run_description``)."""
    return {k: v for k, v in params.items() if k != "seed"} if isinstance(params, dict) else params


class Plan:
    """The jobs of a checked config (configcheck.check_config)."""

    def __init__(self, config: dict):
        self.config = config
        self.sweep = config["sweep"]
        self.points = [point_prefix(values) for values in grid(self.sweep)]  # [""] without a sweep
        self.replicates = list(range(1, config["replicates"] + 1))
        self.splits = [""] + (["_heldout"] if config["heldout"]["enabled"] else [])
        self.attention = config["attention"]["enabled"]
        self._point_configs: dict[str, dict] = {}
        # One job per replicate training its nine models together (the GPU path), or per-model jobs.
        self.lockstep = lockstep_training(config["train"]["lockstep"], config["device"])

    # -- runs, the folders that share a stage's files, seeds ---------------------------------

    def point_runs(self, point: str) -> list[str]:
        return [point + replicate_prefix(r) for r in self.replicates]

    def point_config(self, point: str) -> dict:
        """The configuration of one grid point: config with the point's values set."""
        if point not in self._point_configs:
            self._point_configs[point] = apply_point(self.config, point_values(point, self.sweep))
        return self._point_configs[point]

    def run_config(self, run: str) -> dict:
        return self.point_config(split_run(run)[0])

    def stage_point(self, point: str, stage: str) -> str:
        """The folder of the files of ``stage`` that a point shares with every point that
        agrees with it on the keys changing that stage."""
        source = self.point_config(point)["data"]["source"]
        return point_prefix(stage_values(point_values(point, self.sweep), stage, source))

    def stage_run(self, run: str, stage: str) -> str:
        point, replicate = split_run(run)
        return self.stage_point(point, stage) + replicate

    def source_point(self, run: str) -> str:
        """The folder of the source images a run's mosaics are drawn from."""
        return self.stage_point(split_run(run)[0], "source")

    def replicate_seed(self, run: str) -> int:
        """Replicate 1 keeps the point's seed (the single-run results stay as they are)."""
        seed = self.run_config(run)["seed"]
        replicate = replicate_number(run)
        return seed if replicate == 1 else derive_seed(seed, "replicate", replicate)

    def device_params(self, device: str) -> dict:
        """A model job's resolved device (hostcheck.job_device): a job never runs elsewhere, and
        a change of device (or of TF32, which changes CUDA's arithmetic) reruns the model jobs."""
        if device == "cuda":
            return {"device": "cuda", "tf32": self.config["tf32"]}
        return {"device": "cpu"}

    # -- sizes the resource functions need ----------------------------------------------------

    def source_image_count(self, point: str, split: str) -> int:
        """Images in the source-images file of a point (train or test split)."""
        data = self.point_config(point)["data"]
        if data["source"] == "synthetic":
            return 10 * data["synthetic_per_class"]
        if not split and data["images_per_class"] is not None:
            return 10 * data["images_per_class"]
        folder = "test" if split else "train"
        listed = imagefolder_size(data["root"], folder) if data["source"] == "imagefolder" else None
        return CIFAR_IMAGES[folder] if listed is None else listed

    def mosaic_count(self, run: str, split: str) -> int:
        cfg = self.run_config(run)
        return cfg["heldout"]["count"] if split else cfg["mosaics"]["count"]

    def largest_dataset_images(self, run: str, split: str) -> int:
        """Images in dataset 10, the foregrounds of the test half of the mosaics."""
        return design.test_mosaics(self.mosaic_count(run, split))

    # -- data ---------------------------------------------------------------------------------

    def source_params(self, point: str, split: str) -> dict:
        """Only what changes the source images: the seed matters to synthetic data alone."""
        cfg = self.point_config(point)
        data = cfg["data"]
        if data["source"] == "synthetic":
            params = {"source": "synthetic", "seed": cfg["seed"], "per_class": data["synthetic_per_class"]}
        else:
            params = {"source": data["source"], "root": data["root"]}
        if split:
            params["split"] = "test"
        elif data["images_per_class"] is not None:
            # Only when set, so that runs made before this key existed stay up to date.
            params["images_per_class"] = data["images_per_class"]
        return params

    def mosaic_inputs(self, run: str, split: str) -> str:
        return SOURCE_IMAGES.format(point=self.source_point(run), split=split)

    def mosaic_params(self, run: str, split: str) -> dict:
        cfg = self.run_config(run)
        seed, count = self.replicate_seed(run), cfg["mosaics"]["count"]
        if split:
            seed, count = derive_seed(seed, "heldout"), cfg["heldout"]["count"]
        return {
            "seed": seed,
            "count": count,
            "foreground_classes": list(cfg["foreground_classes"]),
            "background_classes": list(cfg["background_classes"]),
        }

    def dataset_inputs(self, run: str, split: str) -> dict:
        """The mosaics (indices) and the source images their tiles are gathered from."""
        return {
            "source": self.mosaic_inputs(run, split),
            "mosaics": MOSAICS.format(run=self.stage_run(run, "mosaics"), split=split),
        }

    def weighting_params(self, run: str, split: str) -> dict:
        """Linear weights need nothing more; Dirichlet draws need alpha and their own seed."""
        cfg = self.run_config(run)
        if cfg["weighting"] == "linear":
            return {"weighting": "linear"}
        seed = self.replicate_seed(run)
        purpose = "heldout-weights" if split else "weights"
        return {"weighting": "dirichlet", "alpha": cfg["dirichlet_alpha"], "seed": derive_seed(seed, purpose)}

    def datasets(self, run: str, split: str, datasets: Iterable[int] = DATASETS) -> list[str]:
        return expand(DATASET, run=self.stage_run(run, "datasets"), split=split, dataset=list(datasets))

    # -- training -----------------------------------------------------------------------------

    def model_seed(self, run: str, focus: int | str) -> int:
        """The seed of one model's training (its first attempt; train.restarts derive further ones)."""
        return derive_seed(self.replicate_seed(run), "train", int(focus))

    def lockstep_seeds(self, run: str) -> list[int]:
        """The nine models' seeds, as model_seed gives them to the per-model jobs."""
        return [self.model_seed(run, focus) for focus in FOCUS_LEVELS]

    def train_settings(self, run: str) -> dict:
        """What a model's weights depend on besides its seed, its data and its epochs."""
        cfg = self.run_config(run)
        keys = ("lr", "momentum", "batch_size", "restarts")
        settings = {"outputs": cfg["model"]["outputs"], **{k: cfg["train"][k] for k in keys}}
        # Only when not the default, so that the runs made before these keys existed keep their
        # params (nothing reruns) and their records (model JSON, saved states) stay as they were.
        if cfg["train"]["dtype"] != "float32":
            settings["dtype"] = cfg["train"]["dtype"]
        if cfg["train"]["stop_loss"] is not None:
            settings["stop_loss"] = cfg["train"]["stop_loss"]
        return settings

    def training_epochs(self, run: str, epoch: int | str | None = None) -> tuple[int, int]:
        """(first, last) epoch of the training job ending at ``epoch`` (None: the final job)."""
        train = self.run_config(run)["train"]
        return chunk_epochs(train["epochs"], train["epochs_per_job"], None if epoch is None else int(epoch))

    def training_schedule(self, run: str, epoch: int | str | None = None) -> dict:
        first, last = self.training_epochs(run, epoch)
        return {"first": first, "last": last}

    def model_provenance(self, run: str) -> dict:
        """What the weights' record says produced the run (the same for its nine models)."""
        return {"seed": self.replicate_seed(run), "epochs": self.run_config(run)["train"]["epochs"]}

    def training_inputs(self, run: str, focus: int | str, epoch: int | str | None = None) -> dict:
        """The model's dataset and, past the first job, the state its training resumes from."""
        first, _ = self.training_epochs(run, epoch)
        inputs = {"dataset": self.datasets(run, "", [focus])[0]}
        if first > 1:
            inputs["resume"] = TRAINING_STATE.format(run=run, focus=focus, epoch=first - 1)
        return inputs

    def lockstep_inputs(self, run: str, epoch: int | str | None = None) -> dict:
        """The nine training datasets, past the first job the nine states training resumes
        from, and in the last job every dataset the 90 (or 180) scores need."""
        first, _ = self.training_epochs(run, epoch)
        inputs = {"datasets": self.datasets(run, "", FOCUS_LEVELS)}
        if first > 1:
            inputs["resume"] = expand(TRAINING_STATE, run=run, focus=FOCUS_LEVELS, epoch=first - 1)
        if epoch is None:
            inputs["scored"] = [path for _, _, path in self.scored_datasets(run)]
        return inputs

    def scored_datasets(self, run: str) -> list[tuple[str, int, str]]:
        """(split, dataset, path) of every dataset a replicate's models are scored on."""
        return [
            (split, dataset, path)
            for split in self.splits
            for dataset, path in zip(DATASETS, self.datasets(run, split))
        ]

    def lockstep_cells(self) -> list[tuple[str, int, int]]:
        """(split, trained on, tested on) of every score of a replicate, in the order of the
        lock-step job's evaluation outputs (its script reads them from params, not the order)."""
        return [(s, f, d) for s in self.splits for f in FOCUS_LEVELS for d in DATASETS]

    # -- the report ---------------------------------------------------------------------------

    def report_files(self, point: str) -> dict[str, list[tuple[tuple, str]]]:
        """Every result file the report of a point reads, each beside its labels:
        (replicate, split, trained on, tested on) for an evaluation, (replicate, trained on)
        for a loss table and a weights' record. The report files them by these labels and
        refuses a file whose content says otherwise, so no order is relied on."""
        # The what networks' runs: a point that differs only in attention keys shares them.
        runs = {r: self.stage_run(point + replicate_prefix(r), "train") for r in self.replicates}
        models = [(r, f) for r in self.replicates for f in FOCUS_LEVELS]
        return {
            "evaluations": [
                ((r, s, f, d), EVALUATION.format(run=runs[r], split=s, focus=f, dataset=d))
                for r, f in models
                for s in self.splits
                for d in DATASETS
            ],
            "losses": [((r, f), LOSS.format(run=runs[r], focus=f)) for r, f in models],
            "records": [((r, f), MODEL_RECORD.format(run=runs[r], focus=f)) for r, f in models],
        }

    def report_inputs(self, point: str) -> dict[str, list[str]]:
        return paths_of(self.report_files(point))

    def report_labels(self, point: str) -> dict[str, list[list]]:
        return labels_of(self.report_files(point))

    def study_design(self, point: str) -> dict:
        """What rule study needs to tell whether the published tables apply to a point
        (``reporting.study.tables_do_not_apply``): the data source and its classes' names (an
        image folder's listed; None where they cannot be), the class lists, outputs, weighting."""
        cfg = self.point_config(point)
        source = cfg["data"]["source"]
        classes = {"cifar10": list(CIFAR10_CLASSES), "imagefolder": listed_classes(cfg["data"]["root"])}
        return {
            "source": source,
            "classes": classes.get(source),
            "foreground_classes": list(cfg["foreground_classes"]),
            "background_classes": list(cfg["background_classes"]),
            "outputs": cfg["model"]["outputs"],
            "weighting": cfg["weighting"],
        }

    def replicate_splits(self) -> list[tuple[int, str]]:
        """(replicate, split) of each per-replicate matrix the report writes, in its outputs' order."""
        return [(r, s) for r in self.replicates for s in self.splits]

    def point_outputs(self, point: str) -> list[str]:
        """What rule all asks of one grid point."""
        outputs = [
            *expand(REPLICATE_MATRIX, run=self.point_runs(point), split=self.splits),
            *expand(
                [ACCURACY_CSV, ACCURACY_SD_CSV, HEATMAP_PNG, LEARNED_CSV, LEARNED_HEATMAP_PNG],
                point=point,
                split=self.splits,
            ),
            *expand([LOSS_PNG, HEALTH_CSV, RUN_JSON, RUN_TXT, STUDY_TXT, STUDY_PNG], point=point),
        ]
        if self.attention:
            outputs += [
                *expand([ATTENTION_MATRIX_CSV, ATTENTION_HEATMAP_PNG], point=point, split=self.splits),
                *expand(
                    [
                        ATTENTION_FOCUS_CSV,
                        ATTENTION_ALPHAS_PNG,
                        ATTENTION_TRAJECTORY_PNG,
                        ATTENTION_RUN_JSON,
                        ATTENTION_RUN_TXT,
                    ],
                    point=point,
                ),
            ]
        return outputs

    def sweep_files(self) -> dict[str, list[tuple[tuple, str]]]:
        """The sweep's inputs beside their labels: (point, replicate) for a replicate's matrix,
        (point,) for a point's health table and the description of its run (run.json, and
        attention_run.json where the where network's keys are swept), which the sweep checks
        against the point's values."""
        files = {
            "matrices": [
                ((point, r), REPLICATE_MATRIX.format(run=point + replicate_prefix(r), split=""))
                for point in self.points
                for r in self.replicates
            ],
            "health": [((point,), HEALTH_CSV.format(point=point)) for point in self.points],
            "runs": [((point,), RUN_JSON.format(point=point)) for point in self.points],
        }
        if any(SWEEPABLE[key] == "attention" for key in self.sweep):
            files["attention_runs"] = [((point,), ATTENTION_RUN_JSON.format(point=point)) for point in self.points]
        return files

    def run_description(self, point: str) -> dict:
        """What the report of ``point`` should find in its records (``reporting.run_description``):
        replicate 1's settings as its jobs get them, without the seeds derived per replicate."""
        run = point + replicate_prefix(1)

        return {
            "source": without_seed(self.source_params(self.source_point(run), "")),
            "foreground_classes": list(self.run_config(run)["foreground_classes"]),
            "mosaics": without_seed(self.mosaic_params(run, "")),
            "weighting": without_seed(self.weighting_params(run, "")),
            "train": without_seed({**self.train_settings(run), **self.model_provenance(run)}),
            "replicates": len(self.replicates),
            "replicate_seeds": {r: self.replicate_seed(point + replicate_prefix(r)) for r in self.replicates},
        }

    def all_outputs(self) -> list[str]:
        """What rule all asks: every point's results and, with a sweep, its comparison."""
        outputs = [path for point in self.points for path in self.point_outputs(point)]
        if self.sweep:
            outputs += [SWEEP_CSV, SWEEP_HEATMAPS_PNG, *expand(SWEEP_SUMMARY_PNG, key=list(self.sweep))]
            outputs += [SWEEP_RUNS_JSON, SWEEP_RUNS_TXT]
        return outputs

    # -- the where network --------------------------------------------------------------------

    def attention_seed(self, run: str) -> int:
        """The joint model's seed, from the replicate's as the what networks' are."""
        return derive_seed(self.replicate_seed(run), "attention")

    def attention_settings(self, run: str) -> dict:
        """train.* unless attention.* overrides it."""
        cfg = self.run_config(run)
        attention, train = cfg["attention"], cfg["train"]
        keys = ("lr", "momentum", "batch_size", "restarts")
        return {
            "outputs": cfg["model"]["outputs"],
            **{key: train[key] if attention[key] is None else attention[key] for key in keys},
        }

    def attention_schedule(self, run: str) -> dict:
        attention = self.run_config(run)["attention"]
        return {"epochs": attention["epochs"], "trajectory_every": attention["trajectory_every"]}

    def attention_inputs(self, run: str) -> dict:
        """Source images and mosaics of every split, and the training split's datasets (trajectory)."""
        return {
            "sources": expand(SOURCE_IMAGES, point=self.source_point(run), split=self.splits),
            "mosaics": expand(MOSAICS, run=self.stage_run(run, "mosaics"), split=self.splits),
            "datasets": self.datasets(run, ""),
        }

    def attention_evaluation_inputs(self, run: str, split: str) -> dict:
        models = self.stage_run(run, "train")
        return {
            "model": ATTENTION_MODEL.format(run=run),
            "record": ATTENTION_RECORD.format(run=run),
            "datasets": self.datasets(run, split),
            "learned": LEARNED_FOCUS.format(run=run, split=split),
            "models": expand(MODEL, run=models, focus=FOCUS_LEVELS),
            "records": expand(MODEL_RECORD, run=models, focus=FOCUS_LEVELS),
        }

    def attention_report_files(self, point: str) -> dict[str, list[tuple[tuple, str]]]:
        """The where network's files of a point beside their labels: (replicate,) for a run's
        records; (replicate, split) for a split's; (replicate, split, trained on, tested on) for
        a score of its row, its column and their corner, as the what networks' evaluations are
        labelled (report.labelled_evaluations refuses one whose content says otherwise); () for
        the point's training-health table, whose statuses mark the fixed rows on its heatmap, and
        its run.json, the what networks' run the where network's run description sits on."""
        cells = [("attention", d) for d in DATASETS] + [(f, "learned") for f in FOCUS_LEVELS]
        cells.append(("attention", "learned"))
        files: dict[str, list[tuple[tuple, str]]] = {"focus": [], "records": [], "epochs": [], "trajectory": []}
        files.update(mosaics=[], scores=[], matrices=[], health=[((), HEALTH_CSV.format(point=point))])
        files["run"] = [((), RUN_JSON.format(point=point))]
        for r in self.replicates:
            run = point + replicate_prefix(r)
            files["focus"].append(((r,), ATTENTION_FOCUS.format(run=run)))
            files["records"].append(((r,), ATTENTION_RECORD.format(run=run)))
            files["epochs"].append(((r,), ATTENTION_EPOCHS.format(run=run)))
            files["trajectory"].append(((r,), ATTENTION_TRAJECTORY.format(run=run)))
            for s in self.splits:
                files["mosaics"].append(((r, s), ATTENTION_MOSAICS.format(run=run, split=s)))
                files["matrices"].append(((r, s), REPLICATE_MATRIX.format(run=run, split=s)))
                files["scores"] += [((r, s, *cell), attention_score_path(run, s, *cell)) for cell in cells]
        return files

    def attention_report_inputs(self, point: str) -> dict[str, list[str]]:
        return paths_of(self.attention_report_files(point))

    def attention_report_labels(self, point: str) -> dict[str, list[list]]:
        return labels_of(self.attention_report_files(point))


def attention_score_path(run: str, split: str, trained_on: int | str, tested_on: int | str) -> str:
    """The file of one score of the where network's row (trained on "attention"), column
    (tested on "learned") or corner."""
    if tested_on == "learned":
        if trained_on == "attention":
            return ATTENTION_CORNER.format(run=run, split=split)
        return ATTENTION_COLUMN.format(run=run, split=split, focus=trained_on)
    return ATTENTION_ROW.format(run=run, split=split, dataset=tested_on)


def paths_of(files: dict[str, list[tuple[tuple, str]]]) -> dict[str, list[str]]:
    """The paths of labelled files (a rule's named inputs)."""
    return {kind: [path for _, path in labelled] for kind, labelled in files.items()}


def labels_of(files: dict[str, list[tuple[tuple, str]]]) -> dict[str, list[list]]:
    """Their labels, in the same order (the rule's params)."""
    return {kind: [list(label) for label, _ in labelled] for kind, labelled in files.items()}


def report_config_problems(plan: Plan, results: str | Path) -> list[str]:
    """Where the finished runs in ``results`` (their ``run.json``, written by the report from
    the models' records) differ from what ``plan`` would make: 'point: key: ...' lines."""
    problems = []
    for point in plan.points:
        path = in_results(results, RUN_JSON, point=point)
        if path.is_file():
            where = f"{path}: " if point else ""
            described = json.loads(path.read_text())
            problems += [where + line for line in config_disagreements(described, plan.run_description(point))]
    return problems


def config_disagreements(description: dict, expected: dict) -> list[str]:
    """The settings in which a run (its description) and a configuration's plan (``expected``:
    the same keys, as the plan would give its jobs) differ, as 'key: run X, config Y'."""
    # As written to run.json: keys are strings.
    description, expected = json.loads(json.dumps(description)), json.loads(json.dumps(expected))
    found = []
    for key, value in expected.items():
        have = description.get(key)
        if isinstance(value, dict) and isinstance(have, dict):
            for sub in sorted(set(value) | set(have), key=str):
                if json.dumps(have.get(sub), sort_keys=True) != json.dumps(value.get(sub), sort_keys=True):
                    found.append(f"{key}.{sub}: the run has {have.get(sub)}, this configuration {value.get(sub)}")
        elif json.dumps(have, sort_keys=True) != json.dumps(value, sort_keys=True):
            found.append(f"{key}: the run has {have}, this configuration {value}")
    return found
