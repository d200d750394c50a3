import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from mosaicfocus.artifacts import load_artifact, require_meta, save_artifact, save_weights, write_text_atomic
from mosaicfocus.datasets import load_dataset
from mosaicfocus.devices import resolve_device, set_threads
from mosaicfocus.joblog import job_log
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
        resume = TrainingState.from_tensors(meta["epoch"], tensors)
    config = TrainConfig(
        lr=params["lr"],
        momentum=params["momentum"],
        batch_size=params["batch_size"],
        epochs=until,
        num_classes=params["outputs"],
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
        meta = {"trained_on": focus, "epoch": state.epoch, "train": schedule_free(params), "data": data_meta}
        save_artifact(snakemake.output.state, "training-state", state.to_tensors(), meta=meta)
    else:
        write_text_atomic(
            snakemake.output.loss,
            "epoch\tloss\n" + "".join(f"{epoch}\t{loss!r}\n" for epoch, loss in enumerate(state.losses, 1)),
        )
        save_weights(
            snakemake.output.model,
            state.model,
            meta={"trained_on": focus, "train": params, "data": data_meta, "device": str(device)},
        )
