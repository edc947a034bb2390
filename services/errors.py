"""Domain errors and the one place that maps every error to a gRPC status."""

from __future__ import annotations

import grpc

from indexing.errors import ImageDecodeError, IndexRetiredError, ModelUnavailableError
from storage.errors import (
    AbandonedError,
    DiskFullError,
    MediaError,
    ObjectNotFoundError,
    StorageError,
    StorageUnavailableError,
)
from storage.export import IntegrityError, NoFootageError
from storage.recordings import ConflictingFootageError


class VigilError(Exception):
    """An error whose message is safe to show to the caller."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL


class InvalidArgumentError(VigilError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFoundError(VigilError):
    code = grpc.StatusCode.NOT_FOUND


class UnauthenticatedError(VigilError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDeniedError(VigilError):
    code = grpc.StatusCode.PERMISSION_DENIED


class ResourceExhaustedError(VigilError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class OutOfRangeError(VigilError):
    code = grpc.StatusCode.OUT_OF_RANGE


_STATUS: list[tuple[type[BaseException], grpc.StatusCode]] = [
    (VigilError, grpc.StatusCode.INTERNAL),  # replaced by the instance's own code below
    (MediaError, grpc.StatusCode.INVALID_ARGUMENT),
    (ImageDecodeError, grpc.StatusCode.INVALID_ARGUMENT),
    (ConflictingFootageError, grpc.StatusCode.ALREADY_EXISTS),
    (ObjectNotFoundError, grpc.StatusCode.NOT_FOUND),
    (NoFootageError, grpc.StatusCode.NOT_FOUND),
    (IntegrityError, grpc.StatusCode.DATA_LOSS),
    (StorageUnavailableError, grpc.StatusCode.UNAVAILABLE),
    (DiskFullError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (AbandonedError, grpc.StatusCode.CANCELLED),
    (ModelUnavailableError, grpc.StatusCode.FAILED_PRECONDITION),
    (IndexRetiredError, grpc.StatusCode.UNAVAILABLE),
    (StorageError, grpc.StatusCode.INTERNAL),
]


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    """The gRPC status and caller-safe message for an exception."""
    if isinstance(exc, VigilError):
        return exc.code, str(exc)
    for kind, code in _STATUS:
        if isinstance(exc, kind):
            return code, str(exc)
    return grpc.StatusCode.INTERNAL, "internal error (see server log)"
