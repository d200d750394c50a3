from mosaicfocus.artifacts import load_weights
from mosaicfocus.data.datasets import load_dataset
from mosaicfocus.data.design import ALL_DATASETS
from mosaicfocus.devices import device_record, prepare_device, set_threads
from mosaicfocus.provenance import code_lineage, package_versions
from mosaicfocus.runplan.joblog import job_log
from mosaicfocus.what_network.evaluation import accuracy, predict
from mosaicfocus.what_network.model import Module2
from mosaicfocus.what_network.modelfiles import write_evaluation

focus = int(snakemake.wildcards.focus)
with job_log(snakemake.log[0], f"evaluate_{focus}", declared=snakemake.resources) as log:
    set_threads(snakemake.threads)
    device = prepare_device(**snakemake.params.device)
    state, model_meta = load_weights(snakemake.input.model, snakemake.input.record)
    model = Module2(model_meta["train"]["outputs"])
    model.load_state_dict(state)
    model.to(device)
    ran_on, versions = device_record(device), package_versions()
    code = code_lineage("evaluate", snakemake.params.code, model_meta.get("code"))

    def score(dataset_path, dataset):
        """One dataset's score: its images are freed on return, before the next is loaded."""
        images, labels, _ = load_dataset(dataset_path, dataset)
        return accuracy(predict(model, images, snakemake.params.batch_size), labels)

    for dataset, dataset_path, out_path in zip(ALL_DATASETS, snakemake.input.datasets, snakemake.output):
        result = score(dataset_path, dataset)
        write_evaluation(out_path, model_meta, dataset, snakemake.wildcards.split, result, ran_on, versions, code)
        correct, total = result["correct"], result["total"]
        log(f"trained on {focus}, tested on {dataset}: {result['accuracy']:.2f}% ({correct}/{total})")
