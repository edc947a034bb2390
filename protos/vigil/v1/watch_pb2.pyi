import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DailyWindow(_message.Message):
    __slots__ = ("from_minute", "to_minute")
    FROM_MINUTE_FIELD_NUMBER: _ClassVar[int]
    TO_MINUTE_FIELD_NUMBER: _ClassVar[int]
    from_minute: int
    to_minute: int
    def __init__(self, from_minute: _Optional[int] = ..., to_minute: _Optional[int] = ...) -> None: ...

class AddWatchRequest(_message.Message):
    __slots__ = ("text", "image", "image_name", "camera_ids", "groups", "expires", "window", "sensitivity", "webhook_url", "webhook_secret")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_NAME_FIELD_NUMBER: _ClassVar[int]
    CAMERA_IDS_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    SENSITIVITY_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_SECRET_FIELD_NUMBER: _ClassVar[int]
    text: str
    image: bytes
    image_name: str
    camera_ids: _containers.RepeatedScalarFieldContainer[str]
    groups: _containers.RepeatedScalarFieldContainer[str]
    expires: _timestamp_pb2.Timestamp
    window: DailyWindow
    sensitivity: float
    webhook_url: str
    webhook_secret: str
    def __init__(self, text: _Optional[str] = ..., image: _Optional[bytes] = ..., image_name: _Optional[str] = ..., camera_ids: _Optional[_Iterable[str]] = ..., groups: _Optional[_Iterable[str]] = ..., expires: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window: _Optional[_Union[DailyWindow, _Mapping]] = ..., sensitivity: _Optional[float] = ..., webhook_url: _Optional[str] = ..., webhook_secret: _Optional[str] = ...) -> None: ...

class WatchEntry(_message.Message):
    __slots__ = ("entry_id", "kind", "text", "created_by", "camera_ids", "groups", "created", "expires", "window", "sensitivity", "calibrated", "has_webhook")
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CAMERA_IDS_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    SENSITIVITY_FIELD_NUMBER: _ClassVar[int]
    CALIBRATED_FIELD_NUMBER: _ClassVar[int]
    HAS_WEBHOOK_FIELD_NUMBER: _ClassVar[int]
    entry_id: str
    kind: str
    text: str
    created_by: str
    camera_ids: _containers.RepeatedScalarFieldContainer[str]
    groups: _containers.RepeatedScalarFieldContainer[str]
    created: _timestamp_pb2.Timestamp
    expires: _timestamp_pb2.Timestamp
    window: DailyWindow
    sensitivity: float
    calibrated: bool
    has_webhook: bool
    def __init__(self, entry_id: _Optional[str] = ..., kind: _Optional[str] = ..., text: _Optional[str] = ..., created_by: _Optional[str] = ..., camera_ids: _Optional[_Iterable[str]] = ..., groups: _Optional[_Iterable[str]] = ..., created: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., window: _Optional[_Union[DailyWindow, _Mapping]] = ..., sensitivity: _Optional[float] = ..., calibrated: _Optional[bool] = ..., has_webhook: _Optional[bool] = ...) -> None: ...

class ListWatchesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListWatchesResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[WatchEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[WatchEntry, _Mapping]]] = ...) -> None: ...

class RemoveWatchRequest(_message.Message):
    __slots__ = ("entry_id",)
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    entry_id: str
    def __init__(self, entry_id: _Optional[str] = ...) -> None: ...

class RemoveWatchResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WatchAlertsRequest(_message.Message):
    __slots__ = ("cursor", "entry_ids", "follow_s")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    ENTRY_IDS_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_S_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    entry_ids: _containers.RepeatedScalarFieldContainer[str]
    follow_s: float
    def __init__(self, cursor: _Optional[str] = ..., entry_ids: _Optional[_Iterable[str]] = ..., follow_s: _Optional[float] = ...) -> None: ...

class AlertBox(_message.Message):
    __slots__ = ("x0", "y0", "x1", "y1")
    X0_FIELD_NUMBER: _ClassVar[int]
    Y0_FIELD_NUMBER: _ClassVar[int]
    X1_FIELD_NUMBER: _ClassVar[int]
    Y1_FIELD_NUMBER: _ClassVar[int]
    x0: float
    y0: float
    x1: float
    y1: float
    def __init__(self, x0: _Optional[float] = ..., y0: _Optional[float] = ..., x1: _Optional[float] = ..., y1: _Optional[float] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("alert_id", "entry_id", "camera_id", "frame_time", "score", "cosine", "box", "thumbnail_url", "folded", "written", "cursor", "thumbnail_key")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_TIME_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    COSINE_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_URL_FIELD_NUMBER: _ClassVar[int]
    FOLDED_FIELD_NUMBER: _ClassVar[int]
    WRITTEN_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_KEY_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    entry_id: str
    camera_id: str
    frame_time: _timestamp_pb2.Timestamp
    score: float
    cosine: float
    box: AlertBox
    thumbnail_url: str
    folded: int
    written: _timestamp_pb2.Timestamp
    cursor: str
    thumbnail_key: str
    def __init__(self, alert_id: _Optional[str] = ..., entry_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., frame_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., score: _Optional[float] = ..., cosine: _Optional[float] = ..., box: _Optional[_Union[AlertBox, _Mapping]] = ..., thumbnail_url: _Optional[str] = ..., folded: _Optional[int] = ..., written: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cursor: _Optional[str] = ..., thumbnail_key: _Optional[str] = ...) -> None: ...
