import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vigil.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Hold(_message.Message):
    __slots__ = ("hold_id", "camera_id", "time_range", "reason", "created_by")
    HOLD_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_RANGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    hold_id: str
    camera_id: str
    time_range: _common_pb2.TimeRange
    reason: str
    created_by: str
    def __init__(self, hold_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., time_range: _Optional[_Union[_common_pb2.TimeRange, _Mapping]] = ..., reason: _Optional[str] = ..., created_by: _Optional[str] = ...) -> None: ...

class PlaceHoldRequest(_message.Message):
    __slots__ = ("camera_id", "time_range", "reason")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_RANGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    time_range: _common_pb2.TimeRange
    reason: str
    def __init__(self, camera_id: _Optional[str] = ..., time_range: _Optional[_Union[_common_pb2.TimeRange, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class ReleaseHoldRequest(_message.Message):
    __slots__ = ("hold_id",)
    HOLD_ID_FIELD_NUMBER: _ClassVar[int]
    hold_id: str
    def __init__(self, hold_id: _Optional[str] = ...) -> None: ...

class ReleaseHoldResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListHoldsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListHoldsResponse(_message.Message):
    __slots__ = ("holds",)
    HOLDS_FIELD_NUMBER: _ClassVar[int]
    holds: _containers.RepeatedCompositeFieldContainer[Hold]
    def __init__(self, holds: _Optional[_Iterable[_Union[Hold, _Mapping]]] = ...) -> None: ...

class RunRetentionRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RunRetentionResponse(_message.Message):
    __slots__ = ("segments_deleted", "bytes_deleted", "vectors_deleted", "segments_held")
    SEGMENTS_DELETED_FIELD_NUMBER: _ClassVar[int]
    BYTES_DELETED_FIELD_NUMBER: _ClassVar[int]
    VECTORS_DELETED_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_HELD_FIELD_NUMBER: _ClassVar[int]
    segments_deleted: int
    bytes_deleted: int
    vectors_deleted: int
    segments_held: int
    def __init__(self, segments_deleted: _Optional[int] = ..., bytes_deleted: _Optional[int] = ..., vectors_deleted: _Optional[int] = ..., segments_held: _Optional[int] = ...) -> None: ...

class CreateTokenRequest(_message.Message):
    __slots__ = ("subject", "role", "groups", "expires")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    subject: str
    role: str
    groups: _containers.RepeatedScalarFieldContainer[str]
    expires: _timestamp_pb2.Timestamp
    def __init__(self, subject: _Optional[str] = ..., role: _Optional[str] = ..., groups: _Optional[_Iterable[str]] = ..., expires: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateTokenResponse(_message.Message):
    __slots__ = ("token", "token_hash", "expires")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOKEN_HASH_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    token: str
    token_hash: str
    expires: _timestamp_pb2.Timestamp
    def __init__(self, token: _Optional[str] = ..., token_hash: _Optional[str] = ..., expires: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListTokensRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TokenInfo(_message.Message):
    __slots__ = ("token_hash", "subject", "role", "groups", "created", "expires", "expired")
    TOKEN_HASH_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_FIELD_NUMBER: _ClassVar[int]
    token_hash: str
    subject: str
    role: str
    groups: _containers.RepeatedScalarFieldContainer[str]
    created: _timestamp_pb2.Timestamp
    expires: _timestamp_pb2.Timestamp
    expired: bool
    def __init__(self, token_hash: _Optional[str] = ..., subject: _Optional[str] = ..., role: _Optional[str] = ..., groups: _Optional[_Iterable[str]] = ..., created: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expired: _Optional[bool] = ...) -> None: ...

class ListTokensResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[TokenInfo]
    def __init__(self, tokens: _Optional[_Iterable[_Union[TokenInfo, _Mapping]]] = ...) -> None: ...

class RevokeTokenRequest(_message.Message):
    __slots__ = ("token_hash",)
    TOKEN_HASH_FIELD_NUMBER: _ClassVar[int]
    token_hash: str
    def __init__(self, token_hash: _Optional[str] = ...) -> None: ...

class RevokeTokenResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class VerifyAuditRequest(_message.Message):
    __slots__ = ("head",)
    HEAD_FIELD_NUMBER: _ClassVar[int]
    head: AuditHead
    def __init__(self, head: _Optional[_Union[AuditHead, _Mapping]] = ...) -> None: ...

class VerifyAuditResponse(_message.Message):
    __slots__ = ("records", "ok", "first_broken_seq", "reason", "unverified_nodes", "head", "unkeyed_nodes")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    FIRST_BROKEN_SEQ_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    UNVERIFIED_NODES_FIELD_NUMBER: _ClassVar[int]
    HEAD_FIELD_NUMBER: _ClassVar[int]
    UNKEYED_NODES_FIELD_NUMBER: _ClassVar[int]
    records: int
    ok: bool
    first_broken_seq: int
    reason: str
    unverified_nodes: _containers.RepeatedScalarFieldContainer[str]
    head: AuditHead
    unkeyed_nodes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, records: _Optional[int] = ..., ok: _Optional[bool] = ..., first_broken_seq: _Optional[int] = ..., reason: _Optional[str] = ..., unverified_nodes: _Optional[_Iterable[str]] = ..., head: _Optional[_Union[AuditHead, _Mapping]] = ..., unkeyed_nodes: _Optional[_Iterable[str]] = ...) -> None: ...

class GetAuditHeadRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AuditHead(_message.Message):
    __slots__ = ("node", "seq", "hash", "time")
    NODE_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    node: str
    seq: int
    hash: str
    time: str
    def __init__(self, node: _Optional[str] = ..., seq: _Optional[int] = ..., hash: _Optional[str] = ..., time: _Optional[str] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatsResponse(_message.Message):
    __slots__ = ("cameras", "segments", "segments_cap", "vectors", "backlog_jobs", "model_id", "ray_nodes", "ray_cpus")
    CAMERAS_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_CAP_FIELD_NUMBER: _ClassVar[int]
    VECTORS_FIELD_NUMBER: _ClassVar[int]
    BACKLOG_JOBS_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    RAY_NODES_FIELD_NUMBER: _ClassVar[int]
    RAY_CPUS_FIELD_NUMBER: _ClassVar[int]
    cameras: int
    segments: int
    segments_cap: int
    vectors: int
    backlog_jobs: int
    model_id: str
    ray_nodes: int
    ray_cpus: float
    def __init__(self, cameras: _Optional[int] = ..., segments: _Optional[int] = ..., segments_cap: _Optional[int] = ..., vectors: _Optional[int] = ..., backlog_jobs: _Optional[int] = ..., model_id: _Optional[str] = ..., ray_nodes: _Optional[int] = ..., ray_cpus: _Optional[float] = ...) -> None: ...

class ModelSpec(_message.Message):
    __slots__ = ("name", "pretrained", "path")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PRETRAINED_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    name: str
    pretrained: str
    path: str
    def __init__(self, name: _Optional[str] = ..., pretrained: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class SwitchModelRequest(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: ModelSpec
    def __init__(self, model: _Optional[_Union[ModelSpec, _Mapping]] = ...) -> None: ...

class GetModelStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelStatus(_message.Message):
    __slots__ = ("active_model_id", "active_model", "previous_model_id", "serving_model_id", "state", "target_model_id", "frames_total", "frames_indexed", "frames_skipped", "error")
    ACTIVE_MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_MODEL_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    SERVING_MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TARGET_MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    FRAMES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    FRAMES_INDEXED_FIELD_NUMBER: _ClassVar[int]
    FRAMES_SKIPPED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    active_model_id: str
    active_model: ModelSpec
    previous_model_id: str
    serving_model_id: str
    state: str
    target_model_id: str
    frames_total: int
    frames_indexed: int
    frames_skipped: int
    error: str
    def __init__(self, active_model_id: _Optional[str] = ..., active_model: _Optional[_Union[ModelSpec, _Mapping]] = ..., previous_model_id: _Optional[str] = ..., serving_model_id: _Optional[str] = ..., state: _Optional[str] = ..., target_model_id: _Optional[str] = ..., frames_total: _Optional[int] = ..., frames_indexed: _Optional[int] = ..., frames_skipped: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...
