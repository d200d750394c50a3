from mosaicfocus.files import atomic_path, write_text_atomic
from mosaicfocus.joblog import job_log
from mosaicfocus.study import plot_study_difference, read_verdict_files

inputs, outputs = snakemake.input, snakemake.output
with job_log(snakemake.log[0], "study", declared=snakemake.resources) as log:
    result = read_verdict_files(inputs.csv, inputs.sd_csv, inputs.learned_csv, inputs.learned_sd_csv, inputs.health)
    write_text_atomic(outputs.text, result.text() + "\n")
    log(result.text())
    with atomic_path(outputs.heatmap) as tmp:
        plot_study_difference(
            result.learned,
            tmp,
            title="Ours (models that learned) minus each published table, percentage points",
        )
