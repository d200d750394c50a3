from mosaicfocus.artifacts import load_artifact, require_meta, save_artifact, save_weights
from mosaicfocus.data.datasets import load_dataset
from mosaicfocus.devices import device_record, prepare_device, set_threads
from mosaicfocus.provenance import code_lineage
from mosaicfocus.runplan.joblog import job_log
from mosaicfocus.what_network.evaluation import predict
from mosaicfocus.what_network.losstable import write_loss_table
from mosaicfocus.what_network.model import Module2
from mosaicfocus.what_network.modelfiles import health_line, model_health
from mosaicfocus.what_network.training import TrainConfig, TrainingState, train_epochs

focus = int(snakemake.wildcards.focus)
params = snakemake.params
first, last = params.schedule["first"], params.schedule["last"]
with job_log(snakemake.log[0], f"train_{focus} (epochs {first}..{last})", declared=snakemake.resources) as log:
    set_threads(snakemake.threads)
    device = prepare_device(**params.device)
    images, labels, data_meta = load_dataset(snakemake.input.dataset, focus)
    config = TrainConfig(**params.train)
    made_by = {
        "trained_on": focus,
        "seed": params.seed,
        "train": params.train,
        "data": data_meta,
        "trainer": "single",
        "device": params.device,
    }
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
        health = model_health(state, predict(model.to(device), images), labels, params.classes)
        log(health_line(health))
        write_loss_table(snakemake.output.loss, state)
        save_weights(
            snakemake.output.model,
            snakemake.output.record,
            state.model,
            meta={
                "trained_on": focus,
                "train": {**params.train, **params.provenance},
                "model_seed": params.seed,
                "data": data_meta,
                "trainer": "single",
                "device": device_record(device),
                "health": health,
                "code": code_lineage("train", params.code, data_meta.get("code")),
            },
        )
