import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vigil.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetPlaylistRequest(_message.Message):
    __slots__ = ("camera_id", "time_range", "url_prefix")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_RANGE_FIELD_NUMBER: _ClassVar[int]
    URL_PREFIX_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    time_range: _common_pb2.TimeRange
    url_prefix: str
    def __init__(self, camera_id: _Optional[str] = ..., time_range: _Optional[_Union[_common_pb2.TimeRange, _Mapping]] = ..., url_prefix: _Optional[str] = ...) -> None: ...

class GetPlaylistResponse(_message.Message):
    __slots__ = ("m3u8", "segments", "gaps", "urls_expire")
    M3U8_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    GAPS_FIELD_NUMBER: _ClassVar[int]
    URLS_EXPIRE_FIELD_NUMBER: _ClassVar[int]
    m3u8: str
    segments: int
    gaps: _containers.RepeatedCompositeFieldContainer[_common_pb2.TimeRange]
    urls_expire: _timestamp_pb2.Timestamp
    def __init__(self, m3u8: _Optional[str] = ..., segments: _Optional[int] = ..., gaps: _Optional[_Iterable[_Union[_common_pb2.TimeRange, _Mapping]]] = ..., urls_expire: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetClipUrlRequest(_message.Message):
    __slots__ = ("segment_key",)
    SEGMENT_KEY_FIELD_NUMBER: _ClassVar[int]
    segment_key: str
    def __init__(self, segment_key: _Optional[str] = ...) -> None: ...

class GetClipUrlResponse(_message.Message):
    __slots__ = ("url", "expires")
    URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    url: str
    expires: _timestamp_pb2.Timestamp
    def __init__(self, url: _Optional[str] = ..., expires: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ExportClipRequest(_message.Message):
    __slots__ = ("camera_ids", "time_range")
    CAMERA_IDS_FIELD_NUMBER: _ClassVar[int]
    TIME_RANGE_FIELD_NUMBER: _ClassVar[int]
    camera_ids: _containers.RepeatedScalarFieldContainer[str]
    time_range: _common_pb2.TimeRange
    def __init__(self, camera_ids: _Optional[_Iterable[str]] = ..., time_range: _Optional[_Union[_common_pb2.TimeRange, _Mapping]] = ...) -> None: ...

class ExportedClip(_message.Message):
    __slots__ = ("camera_id", "video_key", "manifest_key", "sha256", "url", "delivered", "source_segments")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    VIDEO_KEY_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_KEY_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    video_key: str
    manifest_key: str
    sha256: str
    url: str
    delivered: _common_pb2.TimeRange
    source_segments: int
    def __init__(self, camera_id: _Optional[str] = ..., video_key: _Optional[str] = ..., manifest_key: _Optional[str] = ..., sha256: _Optional[str] = ..., url: _Optional[str] = ..., delivered: _Optional[_Union[_common_pb2.TimeRange, _Mapping]] = ..., source_segments: _Optional[int] = ...) -> None: ...

class ExportClipResponse(_message.Message):
    __slots__ = ("export_id", "clips")
    EXPORT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIPS_FIELD_NUMBER: _ClassVar[int]
    export_id: str
    clips: _containers.RepeatedCompositeFieldContainer[ExportedClip]
    def __init__(self, export_id: _Optional[str] = ..., clips: _Optional[_Iterable[_Union[ExportedClip, _Mapping]]] = ...) -> None: ...

class ReadMediaRequest(_message.Message):
    __slots__ = ("key", "offset", "length")
    KEY_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    key: str
    offset: int
    length: int
    def __init__(self, key: _Optional[str] = ..., offset: _Optional[int] = ..., length: _Optional[int] = ...) -> None: ...

class MediaChunk(_message.Message):
    __slots__ = ("data", "offset", "total_size", "content_type")
    DATA_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    offset: int
    total_size: int
    content_type: str
    def __init__(self, data: _Optional[bytes] = ..., offset: _Optional[int] = ..., total_size: _Optional[int] = ..., content_type: _Optional[str] = ...) -> None: ...

class ListSegmentsRequest(_message.Message):
    __slots__ = ("camera_id", "time_range")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_RANGE_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    time_range: _common_pb2.TimeRange
    def __init__(self, camera_id: _Optional[str] = ..., time_range: _Optional[_Union[_common_pb2.TimeRange, _Mapping]] = ...) -> None: ...

class RecordedSegment(_message.Message):
    __slots__ = ("segment_key", "time_range")
    SEGMENT_KEY_FIELD_NUMBER: _ClassVar[int]
    TIME_RANGE_FIELD_NUMBER: _ClassVar[int]
    segment_key: str
    time_range: _common_pb2.TimeRange
    def __init__(self, segment_key: _Optional[str] = ..., time_range: _Optional[_Union[_common_pb2.TimeRange, _Mapping]] = ...) -> None: ...

class ListSegmentsResponse(_message.Message):
    __slots__ = ("segments", "gaps")
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    GAPS_FIELD_NUMBER: _ClassVar[int]
    segments: _containers.RepeatedCompositeFieldContainer[RecordedSegment]
    gaps: _containers.RepeatedCompositeFieldContainer[_common_pb2.TimeRange]
    def __init__(self, segments: _Optional[_Iterable[_Union[RecordedSegment, _Mapping]]] = ..., gaps: _Optional[_Iterable[_Union[_common_pb2.TimeRange, _Mapping]]] = ...) -> None: ...
