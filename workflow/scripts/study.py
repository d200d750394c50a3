from mosaicfocus.files import atomic_path, write_text_atomic
from mosaicfocus.reporting.compare import read_verdict_files
from mosaicfocus.reporting.plots import plot_study_difference
from mosaicfocus.reporting.study_text import format_verdict
from mosaicfocus.runplan.joblog import job_log

inputs, outputs = snakemake.input, snakemake.output
with job_log(snakemake.log[0], "study", declared=snakemake.resources) as log:
    result = read_verdict_files(inputs.csv, inputs.sd_csv, inputs.learned_csv, inputs.learned_sd_csv, inputs.health)
    text = format_verdict(result)
    write_text_atomic(outputs.text, text + "\n")
    log(text)
    with atomic_path(outputs.heatmap) as tmp:
        plot_study_difference(
            result.learned,
            tmp,
            title="Ours (models that learned) minus each published table, percentage points",
        )
