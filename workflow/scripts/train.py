import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))

from mosaicfocus.artifacts import load_artifact, require_meta, save_artifact, save_weights
from mosaicfocus.datasets import load_dataset
from mosaicfocus.devices import resolve_device, set_threads
from mosaicfocus.evaluation import accuracy, predict
from mosaicfocus.files import write_text_atomic
from mosaicfocus.health import training_health
from mosaicfocus.joblog import job_log
from mosaicfocus.model import Module2
from mosaicfocus.training import TrainConfig, TrainingState, train_epochs

focus = int(snakemake.wildcards.focus)
params = snakemake.params
first, last = params.schedule["first"], params.schedule["last"]
with job_log(snakemake.log[0], f"train_{focus} (epochs {first}..{last})", declared=snakemake.resources) as log:
    set_threads(snakemake.threads)
    device = resolve_device(params.device)
    images, labels, data_meta = load_dataset(snakemake.input.dataset, focus)
    config = TrainConfig(**params.train)
    made_by = {"trained_on": focus, "seed": params.seed, "train": params.train, "data": data_meta}
    resume = None
    if first > 1:
        tensors, meta = load_artifact(snakemake.input.resume, "training-state")
        require_meta(snakemake.input.resume, meta, epoch=first - 1, **made_by)
        resume = TrainingState.from_artifact(tensors, meta)
    log(
        f"training on dataset {focus} ({images.shape[0]} images) on {device}, {snakemake.threads} thread(s), "
        f"epochs {first}..{last}, seed {params.seed}, {config}"
    )
    state = train_epochs(images, labels, config, params.seed, last, resume=resume, device=device, log=log)
    if "state" in snakemake.output.keys():
        tensors, state_meta = state.to_artifact()
        save_artifact(snakemake.output.state, "training-state", tensors, meta={**made_by, **state_meta})
    else:
        model = Module2(config.outputs)
        model.load_state_dict(state.model)
        predictions = predict(model.to(device), images)
        health = training_health(
            state.losses,
            state.alive,
            classes=params.classes,
            classes_predicted=int(predictions.unique().numel()),
            train_accuracy=accuracy(predictions, labels)["accuracy"],
            abandoned=state.abandoned,
        )
        log(
            f"health: {health['status']} after {health['attempts']} attempt(s); final loss {health['final_loss']:.4f}, "
            f"{health['fc3_units_active']} fc3 units active, {health['classes_predicted']} class(es) predicted, "
            f"training accuracy {health['train_accuracy']:.2f}%"
        )
        curves = [(a["attempt"], a["losses"], a["alive"]) for a in state.abandoned]
        curves.append((state.attempt, state.losses, state.alive))
        write_text_atomic(
            snakemake.output.loss,
            "attempt\tepoch\tloss\tfc3_units_active\n"
            + "".join(
                f"{attempt}\t{epoch}\t{loss!r}\t{units}\n"
                for attempt, losses, alive in curves
                for epoch, (loss, units) in enumerate(zip(losses, alive), 1)
            ),
        )
        save_weights(
            snakemake.output.model,
            snakemake.output.record,
            state.model,
            meta={
                "trained_on": focus,
                "train": {**params.train, **params.provenance},
                "model_seed": params.seed,
                "data": data_meta,
                "device": str(device),
                "health": health,
            },
        )
