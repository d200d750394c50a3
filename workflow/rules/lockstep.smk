# The GPU path (train.lockstep, plan.Plan.lockstep): one job per replicate trains its
# nine models together and scores the 90 cells (180 with heldout) in the same process.
# Its files are the per-model jobs' files: the report cannot tell which path ran.
rule train_lockstep:
    input:
        unpack(lockstep_inputs),
    output:
        models=expand(MODEL, focus=FOCUS_LEVELS, allow_missing=True),
        records=expand(MODEL_RECORD, focus=FOCUS_LEVELS, allow_missing=True),
        losses=expand(LOSS, focus=FOCUS_LEVELS, allow_missing=True),
        evaluations=[
            EVALUATION.format(run="{run}", split=s, focus=f, dataset=d)
            for s, f, d in PLAN.lockstep_cells()
        ],
    log:
        "results/{run}logs/train_lockstep.log",
    benchmark:
        "results/{run}benchmarks/train_lockstep.tsv"
    conda:
        "../../envs/torch.yaml"
    threads: config["train"]["threads"]
    resources:
        gpu=model_gpus,
        mem_mb=lockstep_mem,
        runtime=lockstep_time,
    params:
        code=code_digest("train_lockstep.py"),
        seeds=lockstep_seeds,
        train=train_settings,
        schedule=training_schedule,
        device=device_params,
        classes=len(config["foreground_classes"]),
        provenance=model_provenance,
        cells=PLAN.lockstep_cells(),
        scored=scored_labels,
        batch_size=config["evaluate"]["batch_size"],
    script:
        frozen_script("train_lockstep.py")


# A block of train.epochs_per_job epochs of all nine models but the last: the nine saved
# states the next job resumes from (the per-model jobs' state files).
use rule train_lockstep as train_lockstep_chunk with:
    output:
        states=expand(TRAINING_STATE, focus=FOCUS_LEVELS, allow_missing=True),
    log:
        "results/{run}logs/train_lockstep_epoch{epoch}.log",
    benchmark:
        "results/{run}benchmarks/train_lockstep_epoch{epoch}.tsv"
    params:
        code=code_digest("train_lockstep.py"),
        seeds=lockstep_seeds,
        train=train_settings,
        schedule=training_schedule,
        device=device_params,
