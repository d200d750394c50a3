import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from mosaicfocus.artifacts import save_weights, write_text_atomic
from mosaicfocus.datasets import load_dataset
from mosaicfocus.devices import resolve_device, set_threads
from mosaicfocus.joblog import job_log
from mosaicfocus.seeds import derive_seed
from mosaicfocus.training import TrainConfig, train_model

focus = int(snakemake.wildcards.focus)
with job_log(snakemake.log[0], f"train_{focus}") as log:
    set_threads(snakemake.threads)
    params = snakemake.params.train
    device = resolve_device(params["device"])
    images, labels, data_meta = load_dataset(snakemake.input[0], focus)
    config = TrainConfig(
        lr=params["lr"],
        momentum=params["momentum"],
        batch_size=params["batch_size"],
        epochs=params["epochs"],
        num_classes=params["outputs"],
    )
    log(f"training on dataset {focus} ({images.shape[0]} images) on {device}, {snakemake.threads} thread(s), {config}")
    state, losses = train_model(
        images, labels, config, seed=derive_seed(params["seed"], "train", focus), device=device, log=log
    )
    write_text_atomic(
        snakemake.output.loss,
        "epoch\tloss\n" + "".join(f"{epoch}\t{loss!r}\n" for epoch, loss in enumerate(losses, 1)),
    )
    save_weights(
        snakemake.output.model,
        state,
        meta={"trained_on": focus, "train": params, "data": data_meta, "device": str(device)},
    )
