"""Pure functions behind the focus-level experiment on CIFAR-10 mosaics.

The Snakemake workflow is thin glue around this package: every stage
(source images, mosaics, focus datasets, training, evaluation, report) is a
function here that tests import directly.
"""

__version__ = "0.1.0"
