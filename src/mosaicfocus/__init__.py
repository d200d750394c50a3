"""The focus-level experiment on CIFAR-10 mosaics, as a package the workflow calls.

The tree follows the workflow's stages (workflow/rules/), each subpackage
importing only those listed before it:

- ``data``: source images -> mosaics -> the ten datasets (and the experiment's shape);
- ``runplan``: a config -> every job's inputs, params, result files and resources
  (torch-free: the Snakefile imports it while it parses);
- ``what_network``: the study's CNN, its training (one model, or nine in
  lock-step), training health and scoring, and the files the model jobs write;
- ``where_network``: the focus network trained jointly with a what network,
  its tables and its place on the accuracy map;
- ``reporting``: matrices, figures, the published tables, the study verdict,
  sweeps and comparing runs (torch-free).

The modules at this level are the plumbing every stage shares: ``errors``,
``files`` (atomic writes), ``artifacts`` (checked tensor files), ``seeds``,
``provenance`` and ``devices`` (where a torch job runs, and the record of it).
"""

__version__ = "0.1.0"
