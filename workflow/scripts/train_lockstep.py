from mosaicfocus.artifacts import load_artifact, require_meta, save_artifact, save_weights
from mosaicfocus.data.datasets import load_dataset
from mosaicfocus.data.design import FOCUS_LEVELS
from mosaicfocus.devices import device_record, prepare_device, set_threads
from mosaicfocus.provenance import code_lineage, package_versions
from mosaicfocus.runplan.joblog import job_log
from mosaicfocus.what_network.lockstep import score_together, train_lockstep
from mosaicfocus.what_network.losstable import write_loss_table
from mosaicfocus.what_network.model import Module2
from mosaicfocus.what_network.modelfiles import health_line, model_health, write_evaluation
from mosaicfocus.what_network.training import TrainConfig, TrainingState

params = snakemake.params
first, last = params.schedule["first"], params.schedule["last"]
with job_log(snakemake.log[0], f"train_lockstep (epochs {first}..{last})", declared=snakemake.resources) as log:
    set_threads(snakemake.threads)
    device = prepare_device(**params.device)
    training = [load_dataset(path, level) for level, path in zip(FOCUS_LEVELS, snakemake.input.datasets)]
    config = TrainConfig(**params.train)
    made_by = [
        {
            "trained_on": level,
            "seed": seed,
            "train": params.train,
            "data": meta,
            "trainer": "lockstep",
            "device": params.device,
        }
        for level, seed, (_, _, meta) in zip(FOCUS_LEVELS, params.seeds, training)
    ]
    resume = None
    if first > 1:
        resume = []
        for path, expected in zip(snakemake.input.resume, made_by):
            tensors, meta = load_artifact(path, "training-state")
            require_meta(path, meta, epoch=first - 1, **expected)
            resume.append(TrainingState.from_artifact(tensors, meta))
    log(
        f"training the models of datasets {FOCUS_LEVELS[0]}..{FOCUS_LEVELS[-1]} in lock-step "
        f"({training[0][0].shape[0]} images each; network k is dataset k's) on {device}, "
        f"{snakemake.threads} thread(s), epochs {first}..{last}, seeds {params.seeds}, {config}"
    )
    states = train_lockstep(
        [(images, labels) for images, labels, _ in training], config, params.seeds, last, resume, device, log
    )
    if "states" in snakemake.output.keys():
        for path, state, expected in zip(snakemake.output.states, states, made_by):
            tensors, state_meta = state.to_artifact()
            save_artifact(path, "training-state", tensors, meta={**expected, **state_meta})
    else:
        train_labels = [labels for _, labels, _ in training]
        del training  # scoring holds one dataset at a time
        models = []
        for state in states:
            model = Module2(config.outputs)
            model.load_state_dict(state.model)
            models.append(model.to(device))
        scored = [(split, dataset, path) for (split, dataset), path in zip(params.scored, snakemake.input.scored)]
        scores, own_predictions = score_together(models, scored, params.batch_size)
        ran_on, versions = device_record(device), package_versions()
        model_meta = {}
        for k, (level, state) in enumerate(zip(FOCUS_LEVELS, states)):
            health = model_health(state, own_predictions[level], train_labels[k], params.classes)
            log(f"model {level}: " + health_line(health))
            write_loss_table(snakemake.output.losses[k], state)
            model_meta[level] = {
                "trained_on": level,
                "train": {**params.train, **params.provenance},
                "model_seed": params.seeds[k],
                "data": made_by[k]["data"],
                "trainer": "lockstep",
                "device": ran_on,
                "health": health,
                "code": code_lineage("train", params.code, made_by[k]["data"].get("code")),
            }
            save_weights(snakemake.output.models[k], snakemake.output.records[k], state.model, meta=model_meta[level])
        for (split, level, dataset), path in zip(params.cells, snakemake.output.evaluations):
            result = scores[split, level, dataset]
            code = code_lineage("evaluate", params.code, model_meta[level]["code"])
            write_evaluation(path, model_meta[level], dataset, split, result, ran_on, versions, code)
            log(f"trained on {level}, tested on {dataset}{split}: {result['accuracy']:.2f}%")
