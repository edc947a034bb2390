"""Errors raised by the indexing package."""


class IndexingError(Exception):
    """Base class for indexing failures."""


class ModelUnavailableError(IndexingError):
    """The configured CLIP model cannot be loaded (missing weights, unknown name)."""


class ImageDecodeError(IndexingError):
    """An image given for embedding or search could not be decoded."""


class IndexRetiredError(IndexingError):
    """The index version was retired by a model switch while a search was on its way to it."""
