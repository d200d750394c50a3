import torch

from mosaicfocus.artifacts import load_artifact, load_weights, require_meta
from mosaicfocus.data.datasets import load_dataset
from mosaicfocus.data.design import ALL_DATASETS, FOCUS_LEVELS
from mosaicfocus.devices import device_record, prepare_device, set_threads
from mosaicfocus.files import write_json_atomic
from mosaicfocus.provenance import code_lineage, package_versions
from mosaicfocus.runplan.joblog import job_log
from mosaicfocus.what_network.evaluation import accuracy, predict
from mosaicfocus.what_network.model import Module2

inputs, outputs, params = snakemake.input, snakemake.output, snakemake.params
split = "heldout" if snakemake.wildcards.split else "train"
with job_log(snakemake.log[0], f"evaluate_attention{snakemake.wildcards.split}", declared=snakemake.resources) as log:
    set_threads(snakemake.threads)
    device = prepare_device(**params.device)
    versions = package_versions()
    code = code_lineage("evaluate_attention", params.code)

    def what_network(state, outputs_):
        model = Module2(outputs_)
        model.load_state_dict(state)
        return model.to(device)

    def write(path, model, images, labels, **record):
        result = accuracy(predict(model, images, params.batch_size), labels)
        record.update(tested_split=split, **result, device=device_record(device), versions=versions, code=code)
        write_json_atomic(path, record)
        return result["accuracy"]

    # The row: the attention model's what network on datasets 1..10.
    state, meta = load_weights(inputs.model, inputs.record)
    prefix = "what."
    attention_what = what_network(
        {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}, meta["train"]["outputs"]
    )
    row = []
    for dataset, path, out in zip(ALL_DATASETS, inputs.datasets, outputs.row):
        images, labels, _ = load_dataset(path, dataset)
        row.append(write(out, attention_what, images, labels, trained_on="attention", tested_on=dataset))
    log("attention model's what network on datasets 1..10: " + ", ".join(f"{a:.2f}" for a in row))

    # The column: each what network on the mosaics blended with the learned alphas.
    tensors, learned_meta = load_artifact(
        inputs.learned,
        "dataset",
        expect={"images": ((None, 3, 32, 32), torch.float32), "labels": ((None,), torch.int64)},
    )
    require_meta(inputs.learned, learned_meta, dataset="learned_focus")
    images, labels = tensors["images"], tensors["labels"]
    corner = write(outputs.corner, attention_what, images, labels, trained_on="attention", tested_on="learned")
    log(f"attention model's what network on its own learned-focus blend: {corner:.2f}%")
    for focus, model_path, record_path, out in zip(FOCUS_LEVELS, inputs.models, inputs.records, outputs.column):
        state, model_meta = load_weights(model_path, record_path)
        model = what_network(state, model_meta["train"]["outputs"])
        result = write(out, model, images, labels, trained_on=focus, tested_on="learned")
        log(f"trained on {focus}, tested on the learned-focus blend: {result:.2f}%")
