"""The what networks: the study's CNN trained on one focus dataset, and scored.

Takes a dataset of the data stage and a model seed, and gives a trained
``Module2`` (``model``) with its training record: SGD with momentum, resumable
in chunks, the health rule and its restarts (``training``, ``health``), the
authors' stop rule when asked (``stoprule``), or a
replicate's nine networks trained together on a GPU (``lockstep``); their
accuracy on every dataset (``evaluation``); and the files a model job writes,
the same whichever trainer ran (``modelfiles``, ``losstable``). ``fast`` is the
speed machinery behind the training and scoring loops (BENCHMARKS.md).
``health``, ``losstable`` and ``stoprule`` are torch-free (the first two for the report).
"""
