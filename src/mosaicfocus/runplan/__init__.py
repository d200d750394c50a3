"""The run plan: a config turned into jobs, before any job runs. Torch-free.

Takes ``config.yaml`` (checked against its schema and the experiment's own
rules: ``schema``, ``configcheck``) and the host (``hostcheck``: the device
``auto`` resolves to), and gives every job's inputs, seeds and settings
(``plan``), where each result file lives (``result_files``: the patterns, once;
``runs``: the replicate and sweep folders and the training chunks), and what
each job asks the scheduler for (``resources``). ``joblog`` is the rule
scripts' log.
"""
