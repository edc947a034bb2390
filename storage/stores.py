"""Opening the object store from its configuration: the one way any process gets a store.

`StoreConfig` is small and picklable (a frozen dataclass whose secret stays out of repr), so the
node hands it to its Ray actors and each opens its own store with `open_store` in its own process;
the node opens its store the same way.
"""

from __future__ import annotations

from typing import TypeAlias

from storage.object_store import ObjectStore
from storage.s3 import S3Endpoint, S3ObjectStore

StoreConfig: TypeAlias = S3Endpoint


def open_store(config: StoreConfig) -> ObjectStore:
    """A client for the bucket `config` names (nothing is contacted until it is used)."""
    return S3ObjectStore(config)
