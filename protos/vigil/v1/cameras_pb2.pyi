import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Camera(_message.Message):
    __slots__ = ("camera_id", "name", "group", "location", "stream_url", "retention_days")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    STREAM_URL_FIELD_NUMBER: _ClassVar[int]
    RETENTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    name: str
    group: str
    location: str
    stream_url: str
    retention_days: int
    def __init__(self, camera_id: _Optional[str] = ..., name: _Optional[str] = ..., group: _Optional[str] = ..., location: _Optional[str] = ..., stream_url: _Optional[str] = ..., retention_days: _Optional[int] = ...) -> None: ...

class RegisterCameraRequest(_message.Message):
    __slots__ = ("camera",)
    CAMERA_FIELD_NUMBER: _ClassVar[int]
    camera: Camera
    def __init__(self, camera: _Optional[_Union[Camera, _Mapping]] = ...) -> None: ...

class GetCameraRequest(_message.Message):
    __slots__ = ("camera_id",)
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    def __init__(self, camera_id: _Optional[str] = ...) -> None: ...

class ListCamerasRequest(_message.Message):
    __slots__ = ("group",)
    GROUP_FIELD_NUMBER: _ClassVar[int]
    group: str
    def __init__(self, group: _Optional[str] = ...) -> None: ...

class ListCamerasResponse(_message.Message):
    __slots__ = ("cameras",)
    CAMERAS_FIELD_NUMBER: _ClassVar[int]
    cameras: _containers.RepeatedCompositeFieldContainer[Camera]
    def __init__(self, cameras: _Optional[_Iterable[_Union[Camera, _Mapping]]] = ...) -> None: ...

class StopCameraRequest(_message.Message):
    __slots__ = ("camera_id",)
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    def __init__(self, camera_id: _Optional[str] = ...) -> None: ...

class GetCameraStatusRequest(_message.Message):
    __slots__ = ("camera_id",)
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    def __init__(self, camera_id: _Optional[str] = ...) -> None: ...

class CameraStatus(_message.Message):
    __slots__ = ("camera_id", "recording", "segments_stored", "keyframes_indexed", "last_segment_end", "reconnects", "last_error", "queue_depth", "last_error_at")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDING_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_STORED_FIELD_NUMBER: _ClassVar[int]
    KEYFRAMES_INDEXED_FIELD_NUMBER: _ClassVar[int]
    LAST_SEGMENT_END_FIELD_NUMBER: _ClassVar[int]
    RECONNECTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    QUEUE_DEPTH_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_AT_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    recording: bool
    segments_stored: int
    keyframes_indexed: int
    last_segment_end: _timestamp_pb2.Timestamp
    reconnects: int
    last_error: str
    queue_depth: int
    last_error_at: _timestamp_pb2.Timestamp
    def __init__(self, camera_id: _Optional[str] = ..., recording: _Optional[bool] = ..., segments_stored: _Optional[int] = ..., keyframes_indexed: _Optional[int] = ..., last_segment_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reconnects: _Optional[int] = ..., last_error: _Optional[str] = ..., queue_depth: _Optional[int] = ..., last_error_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
