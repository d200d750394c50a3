from mosaicfocus.artifacts import save_artifact, save_weights
from mosaicfocus.data.datasets import load_dataset
from mosaicfocus.data.design import ALL_DATASETS
from mosaicfocus.data.mosaics import load_mosaics, mosaic_halves
from mosaicfocus.devices import device_record, prepare_device, set_threads
from mosaicfocus.files import write_json_atomic
from mosaicfocus.provenance import code_lineage
from mosaicfocus.runplan.joblog import job_log
from mosaicfocus.what_network.evaluation import accuracy, predict
from mosaicfocus.what_network.health import training_health
from mosaicfocus.what_network.model import Module2
from mosaicfocus.what_network.training import TrainConfig
from mosaicfocus.where_network.attention import (
    AttentionModel,
    FocusNetwork,
    learned_focus_blend,
    score_mosaics,
    train_attention,
)
from mosaicfocus.where_network.tables import (
    trajectory_row,
    write_epochs_table,
    write_mosaics_table,
    write_trajectory_table,
)

params, inputs, outputs = snakemake.params, snakemake.input, snakemake.output
SPLIT_NAMES = {"": "test", "_heldout": "heldout"}

with job_log(snakemake.log[0], "attention", declared=snakemake.resources) as log:
    set_threads(snakemake.threads)
    device = prepare_device(**params.device)
    config = TrainConfig(**params.train)
    epochs, every = params.schedule["epochs"], params.schedule["trajectory_every"]
    images, mosaics, mosaics_meta = load_mosaics(inputs.mosaics[0], inputs.sources[0])
    train, test = mosaic_halves(mosaics)
    log(
        f"training the focus and what networks on {train['label'].numel()} mosaics on {device}, "
        f"{snakemake.threads} thread(s), {epochs} epochs, seed {params.seed}, {config}"
    )

    trajectory = []

    def after_epoch(state, model):
        """Every ``every`` epochs and after the last: the what network on datasets 1..10."""
        if state.epoch % every and state.epoch != epochs:
            return
        scores = []
        for dataset, path in zip(ALL_DATASETS, inputs.datasets):
            dataset_images, labels, _ = load_dataset(path, dataset)
            scores.append(accuracy(predict(model.what, dataset_images, params.batch_size), labels)["accuracy"])
        trajectory.append(trajectory_row(state.attempt, state.epoch, state.focus[-1], scores))
        log(f"trajectory at epoch {state.epoch}: " + ", ".join(f"{s:.1f}" for s in scores))

    state = train_attention(images, train, config, params.seed, epochs, device=device, log=log, after_epoch=after_epoch)
    model = AttentionModel(FocusNetwork(), Module2(config.outputs))
    model.load_state_dict(state.model)
    model.to(device)

    train_summary, train_out = score_mosaics(model, images, train, params.batch_size)
    health = training_health(
        state.losses,
        state.fc3_units_active,
        classes=params.classes,
        classes_predicted=int(train_out["predicted"].unique().numel()),
        train_accuracy=train_summary["accuracy"],
        abandoned=state.abandoned,
    )
    log(f"health of the what network: {health['status']} after {health['attempts']} attempt(s)")
    focus = {"training": train_summary}  # the training mosaics, scored with the final weights
    for k, split in enumerate(params.splits):
        if k > 0:
            images, mosaics, _ = load_mosaics(inputs.mosaics[k], inputs.sources[k])
            test = mosaic_halves(mosaics)[1]
        summary, out = score_mosaics(model, images, test, params.batch_size)
        focus[SPLIT_NAMES[split]] = summary
        log(
            f"{SPLIT_NAMES[split]} mosaics: accuracy {summary['accuracy']:.2f}%, effective focus "
            f"{summary['effective_focus']:.3f}, FTPT {summary['ftpt']:.2f}%, FFPT {summary['ffpt']:.2f}%, "
            f"FTPF {summary['ftpf']:.2f}%, FFPF {summary['ffpf']:.2f}%"
        )
        first = mosaics["label"].numel() - test["label"].numel()
        write_mosaics_table(outputs.mosaics[k], first, test, out)
        save_artifact(
            outputs.learned[k],
            "dataset",
            {"images": learned_focus_blend(images, test["source_index"], out["scores"]), "labels": test["label"]},
            meta={
                "dataset": "learned_focus",
                "split": SPLIT_NAMES[split],
                "mosaic_range": [first, mosaics["label"].numel()],
                "code": code_lineage("attention", params.code, mosaics_meta.get("code")),
            },
        )

    write_epochs_table(outputs.epochs, state)
    write_trajectory_table(outputs.trajectory, trajectory)
    made_by = {"seed": params.seed, "train": {**params.train, "epochs": epochs}, "mosaics": mosaics_meta["params"]}
    made_by["code"] = code_lineage("attention", params.code, mosaics_meta.get("code"))
    write_json_atomic(outputs.focus, {**focus, "health": health, **made_by})
    save_weights(
        outputs.model, outputs.record, state.model, meta={**made_by, "device": device_record(device), "health": health}
    )
