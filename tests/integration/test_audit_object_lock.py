"""On a bucket created with S3 Object Lock (SeaweedFS here; Ceph RGW behaves alike), audit objects
are put under COMPLIANCE retention: a delete only hides them behind a delete marker, the locked
version itself cannot be removed, and verify reports the hidden record."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from services.security.audit import AuditLog
from storage.s3 import S3ObjectStore


def test_audit_objects_are_locked_where_the_bucket_has_object_lock(s3_endpoint: Any, tmp_path: Path) -> None:
    store = S3ObjectStore(replace(s3_endpoint, bucket="vigil-audit-locked"))
    store.ensure_bucket(object_lock=True)
    assert store.object_lock_enabled()
    audit = AuditLog(store, tmp_path, "node-a", lock_days=1)
    audit.append("officer-a", "search", {"text": "xe đạp"})
    assert audit.verify().ok
    key = next(o.key for o in store.list("audit/node-a/"))
    store.delete([key])  # on a locked bucket: a delete marker, the record's version stays
    check = audit.verify()
    assert not check.ok and "deleted" in check.reason
    client = store._client  # the versions themselves: minio, through the adapter's client
    versions = [v for v in client.list_objects(store.bucket, prefix=key, include_version=True)
                if not v.is_delete_marker]
    assert len(versions) == 1
    with pytest.raises(Exception, match="AccessDenied"):
        client.remove_object(store.bucket, key, version_id=versions[0].version_id)
    audit.close()


def test_a_bucket_without_object_lock_is_used_as_before(s3_endpoint: Any, tmp_path: Path) -> None:
    store = S3ObjectStore(replace(s3_endpoint, bucket="vigil-audit-unlocked"))
    store.ensure_bucket()
    assert not store.object_lock_enabled()
    audit = AuditLog(store, tmp_path, "node-a", lock_days=1)
    audit.append("officer-a", "search", {"text": "xe đạp"})
    assert audit.verify().ok
    audit.close()
