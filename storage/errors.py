"""Errors raised by the storage package. SDK errors are translated into these."""


class StorageError(Exception):
    """Base class for storage failures."""

    retriable: bool = False


class ObjectNotFoundError(StorageError):
    """The requested object does not exist in the bucket."""


class StorageUnavailableError(StorageError):
    """The object store cannot be reached or refused the request."""

    retriable = True


class StorageAuthError(StorageError):
    """The object store rejected the credentials."""


class AbandonedError(StorageError):
    """The caller stopped waiting (its deadline passed or it disconnected), so the work stopped."""


class DiskFullError(StorageError):
    """The node's own disk (its data folder: uploads, staging, work files) has no space left."""

    retriable = True

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} was not stored: the node's disk is full; try again once space is freed")


class MediaError(StorageError):
    """A video file cannot be read or cut by ffmpeg."""
