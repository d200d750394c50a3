from mosaicfocus.artifacts import save_artifact, save_weights
from mosaicfocus.attention import (
    AttentionModel,
    FocusNetwork,
    learned_focus_blend,
    score_mosaics,
    train_attention,
)
from mosaicfocus.datasets import load_dataset
from mosaicfocus.design import ALL_DATASETS, training_mosaics
from mosaicfocus.devices import device_record, prepare_device, set_threads
from mosaicfocus.evaluation import accuracy, predict
from mosaicfocus.files import write_json_atomic, write_text_atomic
from mosaicfocus.health import training_health
from mosaicfocus.joblog import job_log
from mosaicfocus.model import Module2
from mosaicfocus.mosaics import load_mosaics
from mosaicfocus.training import TrainConfig

params, inputs, outputs = snakemake.params, snakemake.input, snakemake.output
SPLIT_NAMES = {"": "test", "_heldout": "heldout"}
TRAJECTORY_DATASETS = [f"accuracy_{d}" for d in ALL_DATASETS]
EPOCH_COLUMNS = ["loss", "accuracy", "ftpt", "ffpt", "ftpf", "ffpf", "foreground_alpha", "effective_focus"]
EPOCH_COLUMNS += ["max_alpha_at_least_half", "entropy_bits", "where_fc3_units_active"]


def tsv(header: list[str], rows) -> str:
    return "\t".join(header) + "\n" + "".join("\t".join(map(str, row)) + "\n" for row in rows)


def halves(mosaics):
    """(training half: datasets 1..9's mosaics, test half: dataset 10's)."""
    half = training_mosaics(mosaics["label"].numel())
    return ({k: v[:half] for k, v in mosaics.items()}, {k: v[half:] for k, v in mosaics.items()})


with job_log(snakemake.log[0], "attention", declared=snakemake.resources) as log:
    set_threads(snakemake.threads)
    device = prepare_device(**params.device)
    config = TrainConfig(**params.train)
    epochs, every = params.schedule["epochs"], params.schedule["trajectory_every"]
    images, mosaics, mosaics_meta = load_mosaics(inputs.mosaics[0], inputs.sources[0])
    train, test = halves(mosaics)
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
        latest = state.focus[-1]
        trajectory.append([state.attempt, state.epoch, latest["effective_focus"], latest["ftpt"], *scores])
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
            test = halves(mosaics)[1]
        summary, out = score_mosaics(model, images, test, params.batch_size)
        focus[SPLIT_NAMES[split]] = summary
        log(
            f"{SPLIT_NAMES[split]} mosaics: accuracy {summary['accuracy']:.2f}%, effective focus "
            f"{summary['effective_focus']:.3f}, FTPT {summary['ftpt']:.2f}%, FFPT {summary['ffpt']:.2f}%, "
            f"FTPF {summary['ftpf']:.2f}%, FFPF {summary['ffpf']:.2f}%"
        )
        alphas, position = out["alphas"], test["foreground_position"]
        first = training_mosaics(mosaics["label"].numel())
        rows = zip(
            range(first, first + position.numel()),
            position.tolist(),
            test["label"].tolist(),
            out["predicted"].tolist(),
            alphas.argmax(1).tolist(),
            alphas.gather(1, position.view(-1, 1)).squeeze(1).tolist(),
            alphas.amax(1).tolist(),
        )
        header = ["mosaic", "foreground_position", "label", "predicted", "attended"]
        write_text_atomic(outputs.mosaics[k], tsv(header + ["foreground_alpha", "max_alpha"], rows))
        save_artifact(
            outputs.learned[k],
            "dataset",
            {"images": learned_focus_blend(images, test["source_index"], out["scores"]), "labels": test["label"]},
            meta={"dataset": "learned_focus", "split": SPLIT_NAMES[split], "mosaic_range": [first, 2 * first]},
        )

    curves = [(a["attempt"], a["focus"], a["fc3_units_active"]) for a in state.abandoned]
    curves.append((state.attempt, state.focus, state.fc3_units_active))
    write_text_atomic(
        outputs.epochs,
        tsv(
            ["attempt", "epoch", *EPOCH_COLUMNS, "fc3_units_active"],
            (
                [attempt, epoch, *(repr(summary[c]) for c in EPOCH_COLUMNS), fc3_units_active]
                for attempt, summaries, alives in curves
                for epoch, (summary, fc3_units_active) in enumerate(zip(summaries, alives), 1)
            ),
        ),
    )
    write_text_atomic(
        outputs.trajectory, tsv(["attempt", "epoch", "effective_focus", "ftpt", *TRAJECTORY_DATASETS], trajectory)
    )
    made_by = {"seed": params.seed, "train": {**params.train, "epochs": epochs}, "mosaics": mosaics_meta["params"]}
    write_json_atomic(outputs.focus, {**focus, "health": health, **made_by})
    save_weights(
        outputs.model, outputs.record, state.model, meta={**made_by, "device": device_record(device), "health": health}
    )
