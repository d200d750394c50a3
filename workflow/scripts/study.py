import json

from mosaicfocus.files import atomic_path, write_text_atomic
from mosaicfocus.provenance import code_record, commit_label
from mosaicfocus.reporting.compare import read_verdict_files
from mosaicfocus.reporting.plots import plot_study_difference, plot_tables_do_not_apply
from mosaicfocus.reporting.run_description import format_description
from mosaicfocus.reporting.study import tables_do_not_apply
from mosaicfocus.reporting.study_text import format_tables_do_not_apply, format_verdict
from mosaicfocus.runplan.joblog import job_log

inputs, outputs = snakemake.input, snakemake.output
with job_log(snakemake.log[0], "study", declared=snakemake.resources) as log:
    # The published tables describe one design (reporting.study.tables_do_not_apply); for any
    # other the files say why they do not apply instead of comparing.
    reasons = tables_do_not_apply(snakemake.params.design)
    if reasons:
        text = format_tables_do_not_apply(reasons)
    else:
        result = read_verdict_files(inputs.csv, inputs.sd_csv, inputs.learned_csv, inputs.learned_sd_csv, inputs.health)
        text = format_verdict(result)
    # What was compared, from the run's records (run.json), and the code that compared it.
    run = format_description(json.loads(open(inputs.run).read()))
    made_by = code_record(snakemake.params.code)
    commit = commit_label(made_by["commit"], made_by["dirty"])
    code = f"This comparison: study code {made_by['digest'][:12]} from {commit}."
    text = f"{text}\n\nThe run compared (from its records, run.txt):\n{run}\n{code}"
    write_text_atomic(outputs.text, text + "\n")
    log(text)
    with atomic_path(outputs.heatmap) as tmp:
        if reasons:
            plot_tables_do_not_apply(reasons, tmp)
        else:
            plot_study_difference(
                result.learned,
                tmp,
                title="Ours (models that learned) minus each published table, percentage points",
            )
