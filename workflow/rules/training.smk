rule train:
    input:
        unpack(training_inputs),
    output:
        model=MODEL,
        record=MODEL_RECORD,
        loss=LOSS,
    log:
        "results/{run}logs/train_{focus}.log",
    benchmark:
        "results/{run}benchmarks/train_{focus}.tsv"
    # On a cluster, training and the ten evaluations of its model are one job.
    group:
        "model"
    conda:
        "../../envs/torch.yaml"
    threads: config["train"]["threads"]
    resources:
        gpu=model_gpus,
        mem_mb=train_mem,
        runtime=train_time,
    params:
        code=code_digest("train.py"),
        seed=model_seed,
        train=train_settings,
        schedule=training_schedule,
        device=device_params,
        # The loss of a uniform guess, ln(classes), is what training health measures against.
        classes=len(config["foreground_classes"]),
        provenance=model_provenance,
    script:
        frozen_script("train.py")


# The first train.epochs_per_job epochs (and every further block but the last) of a
# model's training: the same job, ending in a saved state instead of the weights.
use rule train as train_chunk with:
    output:
        state=TRAINING_STATE,
    log:
        "results/{run}logs/train_{focus}_epoch{epoch}.log",
    benchmark:
        "results/{run}benchmarks/train_{focus}_epoch{epoch}.tsv"
    # Every model's early epochs before any model's last ones: the jobs then pack
    # evenly onto the cores, instead of one model's last job running alone at the end.
    priority: 1
    # Without provenance (it names the total epochs): a saved state does not depend on
    # how many epochs follow it.
    params:
        code=code_digest("train.py"),
        seed=model_seed,
        train=train_settings,
        schedule=training_schedule,
        device=device_params,
