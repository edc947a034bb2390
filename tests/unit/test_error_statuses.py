"""Domain errors reach gRPC callers as their status; unexpected ones reveal nothing."""

from __future__ import annotations

import grpc
import pytest

from services.errors import InvalidArgumentError, status_for
from storage.errors import MediaError, ObjectNotFoundError, StorageUnavailableError


@pytest.mark.parametrize("exc, code", [
    (MediaError("x.mp4: not a readable video"), grpc.StatusCode.INVALID_ARGUMENT),
    (ObjectNotFoundError("gone"), grpc.StatusCode.NOT_FOUND),
    (StorageUnavailableError("down"), grpc.StatusCode.UNAVAILABLE),
    (InvalidArgumentError("bad"), grpc.StatusCode.INVALID_ARGUMENT),
])
def test_domain_errors_map_to_grpc_statuses(exc: Exception, code: grpc.StatusCode) -> None:
    assert status_for(exc) == (code, str(exc))


def test_unexpected_errors_reveal_nothing() -> None:
    code, message = status_for(RuntimeError("/srv/vigil/secret path"))
    assert code == grpc.StatusCode.INTERNAL and "/srv" not in message
