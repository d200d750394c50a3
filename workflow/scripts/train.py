import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from mosaicfocus.artifacts import load_artifact, require_meta, save_artifact, save_weights, write_text_atomic
from mosaicfocus.datasets import load_dataset
from mosaicfocus.devices import resolve_device, set_threads
from mosaicfocus.evaluation import accuracy, predict
from mosaicfocus.health import training_health
from mosaicfocus.joblog import job_log
from mosaicfocus.model import Module2
from mosaicfocus.seeds import derive_seed
from mosaicfocus.training import TrainConfig, TrainingState, train_epochs


def schedule_free(params):
    """What a saved state must share with the job that resumes it (not where either stops)."""
    return {k: v for k, v in params.items() if k not in ("epochs", "until")}


focus = int(snakemake.wildcards.focus)
params = snakemake.params.train
until = params.get("until", params.get("epochs"))
with job_log(snakemake.log[0], f"train_{focus} (to epoch {until})") as log:
    set_threads(snakemake.threads)
    device = resolve_device(params["device"])
    images, labels, data_meta = load_dataset(snakemake.input.dataset, focus)
    resume = None
    if "resume" in snakemake.input.keys():
        tensors, meta = load_artifact(snakemake.input.resume, "training-state")
        require_meta(snakemake.input.resume, meta, trained_on=focus, train=schedule_free(params), data=data_meta)
        resume = TrainingState.from_artifact(tensors, meta)
    config = TrainConfig(
        lr=params["lr"],
        momentum=params["momentum"],
        batch_size=params["batch_size"],
        epochs=until,
        num_classes=params["outputs"],
        restarts=params["restarts"],
    )
    start = 1 if resume is None else resume.epoch + 1
    log(
        f"training on dataset {focus} ({images.shape[0]} images) on {device}, {snakemake.threads} thread(s), "
        f"epochs {start}..{until}, {config}"
    )
    state = train_epochs(
        images,
        labels,
        config,
        seed=derive_seed(params["seed"], "train", focus),
        device=device,
        log=log,
        resume=resume,
        until=until,
    )
    if "state" in snakemake.output.keys():
        tensors, state_meta = state.to_artifact()
        meta = {"trained_on": focus, "train": schedule_free(params), "data": data_meta, **state_meta}
        save_artifact(snakemake.output.state, "training-state", tensors, meta=meta)
    else:
        model = Module2(params["outputs"])
        model.load_state_dict(state.model)
        predictions = predict(model.to(device), images)
        health = training_health(
            state.losses,
            state.alive,
            classes=params["classes"],
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
            state.model,
            meta={"trained_on": focus, "train": params, "data": data_meta, "device": str(device), "health": health},
        )
