import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from vigil.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Box(_message.Message):
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

class HitRef(_message.Message):
    __slots__ = ("camera_id", "frame_time", "box")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    FRAME_TIME_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    frame_time: _timestamp_pb2.Timestamp
    box: Box
    def __init__(self, camera_id: _Optional[str] = ..., frame_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., box: _Optional[_Union[Box, _Mapping]] = ...) -> None: ...

class SearchFilter(_message.Message):
    __slots__ = ("camera_ids", "time_range")
    CAMERA_IDS_FIELD_NUMBER: _ClassVar[int]
    TIME_RANGE_FIELD_NUMBER: _ClassVar[int]
    camera_ids: _containers.RepeatedScalarFieldContainer[str]
    time_range: _common_pb2.TimeRange
    def __init__(self, camera_ids: _Optional[_Iterable[str]] = ..., time_range: _Optional[_Union[_common_pb2.TimeRange, _Mapping]] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("text", "top_k", "filter", "frames", "min_score", "page_token")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    text: str
    top_k: int
    filter: SearchFilter
    frames: bool
    min_score: float
    page_token: str
    def __init__(self, text: _Optional[str] = ..., top_k: _Optional[int] = ..., filter: _Optional[_Union[SearchFilter, _Mapping]] = ..., frames: _Optional[bool] = ..., min_score: _Optional[float] = ..., page_token: _Optional[str] = ...) -> None: ...

class SearchByImageRequest(_message.Message):
    __slots__ = ("image", "top_k", "filter", "frames", "min_score", "page_token")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    top_k: int
    filter: SearchFilter
    frames: bool
    min_score: float
    page_token: str
    def __init__(self, image: _Optional[bytes] = ..., top_k: _Optional[int] = ..., filter: _Optional[_Union[SearchFilter, _Mapping]] = ..., frames: _Optional[bool] = ..., min_score: _Optional[float] = ..., page_token: _Optional[str] = ...) -> None: ...

class SearchSimilarRequest(_message.Message):
    __slots__ = ("hit", "top_k", "filter", "frames", "min_score", "page_token", "include_same_camera")
    HIT_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_SAME_CAMERA_FIELD_NUMBER: _ClassVar[int]
    hit: HitRef
    top_k: int
    filter: SearchFilter
    frames: bool
    min_score: float
    page_token: str
    include_same_camera: bool
    def __init__(self, hit: _Optional[_Union[HitRef, _Mapping]] = ..., top_k: _Optional[int] = ..., filter: _Optional[_Union[SearchFilter, _Mapping]] = ..., frames: _Optional[bool] = ..., min_score: _Optional[float] = ..., page_token: _Optional[str] = ..., include_same_camera: _Optional[bool] = ...) -> None: ...

class FollowRequest(_message.Message):
    __slots__ = ("hit", "image", "filter", "max_steps", "min_score", "expand")
    HIT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    EXPAND_FIELD_NUMBER: _ClassVar[int]
    hit: HitRef
    image: bytes
    filter: SearchFilter
    max_steps: int
    min_score: float
    expand: bool
    def __init__(self, hit: _Optional[_Union[HitRef, _Mapping]] = ..., image: _Optional[bytes] = ..., filter: _Optional[_Union[SearchFilter, _Mapping]] = ..., max_steps: _Optional[int] = ..., min_score: _Optional[float] = ..., expand: _Optional[bool] = ...) -> None: ...

class FollowResponse(_message.Message):
    __slots__ = ("steps", "model_id", "no_good_match")
    STEPS_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    NO_GOOD_MATCH_FIELD_NUMBER: _ClassVar[int]
    steps: _containers.RepeatedCompositeFieldContainer[SearchHit]
    model_id: str
    no_good_match: bool
    def __init__(self, steps: _Optional[_Iterable[_Union[SearchHit, _Mapping]]] = ..., model_id: _Optional[str] = ..., no_good_match: _Optional[bool] = ...) -> None: ...

class SearchHit(_message.Message):
    __slots__ = ("camera_id", "start_time", "end_time", "frame_time", "score", "segment_key", "thumbnail_key", "frames", "segment_start_time", "segment_end_time", "box")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    FRAME_TIME_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_KEY_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_KEY_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_START_TIME_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_END_TIME_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    frame_time: _timestamp_pb2.Timestamp
    score: float
    segment_key: str
    thumbnail_key: str
    frames: int
    segment_start_time: _timestamp_pb2.Timestamp
    segment_end_time: _timestamp_pb2.Timestamp
    box: Box
    def __init__(self, camera_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., frame_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., score: _Optional[float] = ..., segment_key: _Optional[str] = ..., thumbnail_key: _Optional[str] = ..., frames: _Optional[int] = ..., segment_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., segment_end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., box: _Optional[_Union[Box, _Mapping]] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("hits", "model_id", "no_good_match", "next_page_token", "unsearched")
    HITS_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    NO_GOOD_MATCH_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    UNSEARCHED_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[SearchHit]
    model_id: str
    no_good_match: bool
    next_page_token: str
    unsearched: _containers.RepeatedCompositeFieldContainer[Unsearched]
    def __init__(self, hits: _Optional[_Iterable[_Union[SearchHit, _Mapping]]] = ..., model_id: _Optional[str] = ..., no_good_match: _Optional[bool] = ..., next_page_token: _Optional[str] = ..., unsearched: _Optional[_Iterable[_Union[Unsearched, _Mapping]]] = ...) -> None: ...

class Unsearched(_message.Message):
    __slots__ = ("group", "day_start")
    GROUP_FIELD_NUMBER: _ClassVar[int]
    DAY_START_FIELD_NUMBER: _ClassVar[int]
    group: str
    day_start: _timestamp_pb2.Timestamp
    def __init__(self, group: _Optional[str] = ..., day_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
