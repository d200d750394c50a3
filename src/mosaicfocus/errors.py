"""Errors that the workflow shows to users as they are, and advice worded once."""

# What to set instead of device: cuda on a machine without one. The one wording of this
# advice: runplan.hostcheck.cuda_problem (before the first job) and
# devices.prepare_device (in the job, where torch has the last word) both use it.
NO_CUDA_ADVICE = "set device: auto (uses a GPU when there is one) or device: cpu"


class MosaicFocusError(Exception):
    """A problem the user can fix; the message names it and says how."""


class DataSourceError(MosaicFocusError):
    """The source images cannot be read (missing folder, no download, ...)."""


class ArtifactError(MosaicFocusError):
    """An intermediate file is missing, truncated, corrupt or from another config."""
