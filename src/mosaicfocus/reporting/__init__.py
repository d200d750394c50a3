"""Reporting: what the evaluations add up to. Torch-free (envs/report.yaml).

Takes the evaluation records and loss tables of the model jobs, and gives the
9x10 accuracy matrices with their spread over replicates and the
training-health table (``matrices``), every figure (``plots``), the verdict
against the study's two printed tables (``published``, ``study``,
``study_text``), a sweep's summary (``sweep``) and the difference of two
result folders (``compare``, also ``python -m mosaicfocus.reporting.compare``).
"""
