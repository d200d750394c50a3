"""Errors that the workflow shows to users as they are."""


class MosaicFocusError(Exception):
    """A problem the user can fix; the message names it and says how."""


class DataSourceError(MosaicFocusError):
    """The source images cannot be read (missing folder, no download, ...)."""


class ArtifactError(MosaicFocusError):
    """An intermediate file is missing, truncated, corrupt or from another config."""
