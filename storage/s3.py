"""S3ObjectStore: the minio SDK adapter, the only module that imports `minio`.

Works against MinIO, SeaweedFS, Ceph RADOS Gateway or AWS. SDK exceptions are
translated into `storage.errors`; messages never carry credentials or
presigned URLs.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import urllib3
from minio import Minio
from minio.commonconfig import COMPLIANCE
from minio.deleteobjects import DeleteObject
from minio.error import S3Error
from minio.retention import Retention

from storage.errors import (
    ObjectNotFoundError,
    StorageAuthError,
    StorageError,
    StorageUnavailableError,
)
from storage.object_store import ObjectInfo

PART_SIZE = 8 * 1024 * 1024  # multipart part size: bounds memory per upload
_AUTH_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"}
_MISSING_CODES = {"NoSuchKey", "NoSuchObject", "NotFound", "ResourceNotFound"}


@dataclass(frozen=True)
class S3Endpoint:
    """Where and how to reach an S3 server. The secret is kept out of repr()."""

    endpoint: str  # host:port
    access_key: str
    secret_key: str = field(repr=False)
    bucket: str = "vigil"
    secure: bool = False
    region: str | None = None


class S3ObjectStore:
    """ObjectStore over any S3-compatible server."""

    def __init__(self, endpoint: S3Endpoint) -> None:
        self._bucket = endpoint.bucket
        retries = urllib3.Retry(total=5, backoff_factor=0.2,
                                status_forcelist=[500, 502, 503, 504])
        http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=5, read=60),
                                   retries=retries, maxsize=16)
        self._client = Minio(endpoint.endpoint, access_key=endpoint.access_key,
                             secret_key=endpoint.secret_key, secure=endpoint.secure,
                             region=endpoint.region, http_client=http)

    @property
    def bucket(self) -> str:
        return self._bucket

    def ensure_bucket(self, object_lock: bool = False) -> None:
        """Create the bucket if missing; `object_lock` creates it with S3 Object Lock (which also
        turns on versioning: deletes then leave noncurrent versions until a lifecycle rule goes)."""
        with _translated(self._bucket):
            if not self._client.bucket_exists(self._bucket):
                self._client.make_bucket(self._bucket, object_lock=object_lock)

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        with _translated(key):
            self._client.put_object(self._bucket, key, io.BytesIO(data), len(data),
                                    content_type=content_type)

    def object_lock_enabled(self) -> bool:
        """Whether the bucket was created with S3 Object Lock (it cannot be turned on later)."""
        try:
            with _translated(self._bucket):
                self._client.get_object_lock_config(self._bucket)
        except (StorageUnavailableError, StorageAuthError):
            raise
        except StorageError:  # ObjectLockConfigurationNotFoundError, or a server without the API
            return False
        return True

    def put_bytes_retained(self, key: str, data: bytes, content_type: str, until: datetime) -> None:
        """Put with COMPLIANCE retention: no one can delete or overwrite this version before
        `until` (a delete or put only hides it behind a newer version). Needs `object_lock_enabled`."""
        with _translated(key):
            self._client.put_object(self._bucket, key, io.BytesIO(data), len(data),
                                    content_type=content_type, retention=Retention(COMPLIANCE, until))

    def put_file(self, key: str, path: Path, content_type: str = "application/octet-stream") -> None:
        with _translated(key):
            self._client.fput_object(self._bucket, key, str(path), content_type=content_type,
                                     part_size=PART_SIZE)

    def get_bytes(self, key: str) -> bytes:
        with _translated(key):
            response = self._client.get_object(self._bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        with _translated(key):
            response = self._client.get_object(self._bucket, key, offset=offset, length=length)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

    def get_file(self, key: str, path: Path) -> None:
        with _translated(key):
            self._client.fget_object(self._bucket, key, str(path))

    def stat(self, key: str) -> ObjectInfo:
        with _translated(key):
            st = self._client.stat_object(self._bucket, key)
        return ObjectInfo(key=key, size=int(st.size or 0), etag=st.etag,
                          content_type=st.content_type)

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except ObjectNotFoundError:
            return False
        return True

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        with _translated(prefix):
            for obj in self._client.list_objects(self._bucket, prefix=prefix, recursive=True):
                if obj.object_name is not None and not obj.is_dir:
                    yield ObjectInfo(key=obj.object_name, size=int(obj.size or 0), etag=obj.etag)

    def delete(self, keys: Iterable[str]) -> None:
        batch = [DeleteObject(k) for k in keys]
        if not batch:
            return
        with _translated("batch delete"):
            errors = list(self._client.remove_objects(self._bucket, batch))
        if errors:
            raise StorageError(f"could not delete {len(errors)} objects, first: {errors[0].name}")

    def presigned_get_url(self, key: str, ttl: timedelta) -> str:
        with _translated(key):
            return self._client.presigned_get_object(self._bucket, key, expires=ttl)


class _translated:
    """Context manager mapping minio/urllib3 errors to storage errors naming the key."""

    def __init__(self, what: str) -> None:
        self._what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        """Raises the storage error for `exc`; never swallows it."""
        if exc is None or isinstance(exc, StorageError):
            return
        if isinstance(exc, S3Error):
            if exc.code in _MISSING_CODES:
                raise ObjectNotFoundError(f"object {self._what!r} not found") from None
            if exc.code in _AUTH_CODES:
                raise StorageAuthError(
                    f"object store rejected the credentials ({exc.code}) for {self._what!r}") from None
            raise StorageError(f"object store error {exc.code} for {self._what!r}") from None
        if isinstance(exc, (urllib3.exceptions.HTTPError, OSError)):
            raise StorageUnavailableError(
                f"object store unreachable while accessing {self._what!r}: {type(exc).__name__}"
            ) from None
