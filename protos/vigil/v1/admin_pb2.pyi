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
