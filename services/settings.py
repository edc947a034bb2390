"""Vigil's settings: one pydantic-settings model.

Sources, highest priority first: keyword arguments, environment variables
(prefix `VIGIL_`, `__` for nesting, e.g. `VIGIL_STORAGE__ENDPOINT`), an
optional YAML file (`--config FILE` or `VIGIL_CONFIG`). Unknown keys are
rejected with the key named; secrets are `SecretStr` and print masked.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from indexing.calibration import Calibration, Off
from indexing.regions import CLOSE_VIEW, RegionMethod, RegionProposer
from storage.url_policy import networks

CONFIG_ENV = "VIGIL_CONFIG"


class ConfigError(ValueError):
    """The configuration is invalid; the message names the offending key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StorageSettings(_Section):
    endpoint: str | None = Field(None, description="S3 host:port; unset starts the embedded SeaweedFS")
    access_key: SecretStr | None = Field(None, description="S3 access key (with endpoint)")
    secret_key: SecretStr | None = Field(None, description="S3 secret key (with endpoint)")
    bucket: str = Field("vigil", description="bucket holding all of Vigil's state")
    secure: bool = Field(False, description="use TLS to reach the S3 endpoint")
    region: str | None = Field(None, description="S3 region, when the server needs one")
    presign_ttl_s: int = Field(300, ge=30, le=3600, description="lifetime of presigned clip and export "
                               "URLs; a URL stays valid this long even after the token that asked for "
                               "it is revoked or expires")
    export_retention_days: int = Field(30, ge=1, le=36500, description="days an evidence export "
                                       "(video and manifest under exports/) is kept after it was made; "
                                       "a hold on one of its cameras and times keeps it longer")


class ModelSettings(_Section):
    name: str = Field("vigil-tiny", description="'vigil-tiny' (bundled) or an open_clip architecture")
    pretrained: str | None = Field(None, description="open_clip pretrained tag or checkpoint file")
    path: Path | None = Field(None, description="local open_clip model folder (overrides name)")


class RaySettings(_Section):
    address: str | None = Field(None, description="Ray cluster address ('auto', host:port); "
                                "unset starts a local one")
    num_cpus: int | None = Field(None, ge=1, description="CPUs of the local cluster (default: all)")
    embedders: int = Field(1, ge=1, le=64, description="embedder actors in the pool")
    embed_batch: int = Field(32, ge=1, le=1024, description="keyframes per embedding call")
    embed_device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="where embedder actors run the model: 'cuda' (each actor asks Ray for "
        "a GPU, or a share of one when there are more actors than GPUs), 'cpu', or 'auto' (cuda when "
        "the Ray cluster has a GPU)")
    index_feed_batches: int = Field(256, ge=1, le=100_000, description="recent batches each index "
                                    "writer keeps for front ends to follow")
    follow_interval_s: float = Field(2.0, gt=0, le=3600, description="how often a front end pulls "
                                     "keyframes other front ends indexed")
    shard_servers: bool = Field(False, description="search through shard servers (one per Ray node, "
                                "each holding its share of the index's camera-group × day shards, loaded "
                                "from the bucket) instead of this front end's own index; answers name the "
                                "days no live server held (SearchResponse.unsearched)")
    shard_replicas: int = Field(1, ge=1, le=8, description="shard servers holding each shard (with "
                                "shard_servers): 1 on one machine, 2 recommended in a cluster so a node's "
                                "death loses no search")
    shard_call_timeout_s: float = Field(10.0, gt=0, le=600, description="a shard server that does not "
                                        "answer a search within this is taken for dead; its replicas answer")
    shard_load_timeout_s: float = Field(300.0, gt=0, le=3600, description="a shard server that does not "
                                        "load its shards, apply a change (add, delete) or hand over a whole "
                                        "shard within this is taken for dead: its replicas and the writers' "
                                        "feeds catch up, and no ingest batch or refresh waits on it longer")


class IngestSettings(_Section):
    segment_seconds: float = Field(10.0, gt=0.5, le=600,
                                   description="target segment length (cut at keyframes)")
    thumbnail_width: int = Field(320, ge=32, le=1920, description="width of keyframe JPEG thumbnails")
    frame_interval_s: float = Field(1.0, ge=0, le=60, description="index at most one frame per this many "
                                    "seconds of video (an all-intra stream, e.g. MJPEG, has a keyframe per "
                                    "frame); 0: every keyframe")
    max_frame_gap_s: float = Field(4.0, ge=0, le=600, description="a GOP longer than this also gets frames "
                                   "indexed between its keyframes, evenly, at most this far apart (decoded "
                                   "through the GOP: costs decoding); 0: keyframes only")

    @model_validator(mode="after")
    def _gap_not_below_interval(self) -> IngestSettings:
        if 0 < self.max_frame_gap_s < self.frame_interval_s:
            raise ValueError(f"ingest.max_frame_gap_s ({self.max_frame_gap_s:g}) is below "
                             f"ingest.frame_interval_s ({self.frame_interval_s:g}): frames between "
                             "keyframes would come closer than one per interval")
        return self
    max_upload_mb: int = Field(4096, ge=1, description="largest accepted video upload")
    media_timeout_s: float = Field(600.0, gt=0, description="time limit of one ffmpeg run")
    dedup_cosine: Annotated[float, Field(gt=0, le=1)] | Off | None = Field(
        None, description="consecutive keyframes of a camera at least this similar (cosine) are stored "
        "once, as one span; unset: the model's calibrated value (indexing.calibration; none: no "
        "dedup); 'off' turns dedup off")
    regions: RegionMethod = Field(RegionMethod.MOTION_GRID, description="region proposals embedded "
                                  "beside each whole keyframe, so small subjects of wide views are found "
                                  "(indexing.regions): 'motion' (foreground against the camera's "
                                  "background), 'grid' (square tiles in turns), 'motion+grid', 'off'")
    regions_per_keyframe: int = Field(5, ge=0, le=64, description="most regions embedded per keyframe "
                                      "(each costs an embedding: 5 keeps a keyframe within 6 vectors; static "
                                      "ones are deduplicated like static keyframes)")
    region_min_fraction: float = Field(0.002, ge=0, lt=1, description="moving foreground whose box "
                                       "covers less of the frame than this is noise, not a region")
    region_close_view: float = Field(CLOSE_VIEW, ge=0, lt=1, description="a camera whose moving "
                                     "subjects' median box covers at least this fraction of the frame is a "
                                     "close view and gets no regions (its whole keyframes show them; "
                                     "indexing.regions); 0: every camera gets regions")
    region_close_view_motion: bool = Field(False, description="close views get their moving subjects' "
                                           "boxes as regions (no grid tiles), so image queries and photo "
                                           "watch entries compare a subject's own crop there too")
    region_short_side: int = Field(0, ge=0, le=4320, description="regions are cropped from the keyframe "
                                   "decoded at this short side (never upscaled; 0: from the 224-px frame "
                                   "the whole keyframe is embedded from); more pixels per crop, at some "
                                   "decoding cost: for a model whose input is larger than the bundled one's "
                                   "96 px (448 measured no better than 0 with vigil-tiny)")

    def region_proposer(self) -> RegionProposer:
        """A proposer of the regions these settings embed (one per ingest pipeline: it keeps each
        camera's background)."""
        return RegionProposer(self.regions_per_keyframe, self.region_min_fraction, self.regions,
                              close_view=self.region_close_view,
                              close_view_motion=self.region_close_view_motion)

    @property
    def detail_short_side(self) -> int:
        """The short side keyframes are also decoded at to cut regions from: `region_short_side`
        with regions on, else 0 (no larger frame is decoded)."""
        regions_on = self.regions != RegionMethod.OFF and self.regions_per_keyframe > 0
        return self.region_short_side if regions_on else 0


class ServerSettings(_Section):
    host: str = Field("127.0.0.1", description="address the gRPC server binds")
    port: int = Field(50051, ge=0, le=65535, description="gRPC port (0 picks a free one)")
    max_message_mb: int = Field(8, ge=1, le=64, description="largest single gRPC message")
    max_top_k: int = Field(100, ge=1, le=1000, description="largest top_k a search may ask for")
    max_query_chars: int = Field(1000, ge=1, description="longest accepted text query")
    max_export_hours: float = Field(24.0, gt=0, description="longest range one export may cover")
    max_playlist_hours: float = Field(24.0, gt=0, description="longest range one playlist may cover "
                                      "(its listing costs one bucket LIST per hour)")
    retention_interval_s: float = Field(3600.0, ge=0, description="seconds between retention sweeps "
                                        "(0: only on RunRetention)")
    metrics_host: str = Field("127.0.0.1", description="address of the Prometheus /metrics endpoint")
    metrics_port: int | None = Field(9464, ge=0, le=65535,
                                     description="Prometheus port (0 picks a free one, unset disables)")
    tls_cert_file: Path | None = Field(None, description="PEM server certificate: serve TLS when set")
    tls_key_file: Path | None = Field(None, description="PEM private key of that certificate")
    tls_client_ca_file: Path | None = Field(None, description="PEM CA: require client certificates")
    insecure_plaintext: bool = Field(False, description="serve plaintext gRPC on a non-loopback host "
                                     "(bearer tokens cross the network unencrypted; only behind a "
                                     "TLS-terminating proxy); `vigil serve --insecure`")


class SearchSettings(_Section):
    min_score: float | None = Field(None, ge=-1, le=1, description="hits scoring below are dropped "
                                   "(cosine); unset: the model's calibrated value (indexing.calibration; "
                                   "none: no threshold); -1 keeps every hit")
    clip_gap_ms: int = Field(6000, ge=0, description="matching keyframes this close form one clip")
    candidates_per_clip: int = Field(8, ge=1, le=100, description="keyframes fetched per clip asked for")
    appearance_z: float | None = Field(3.0, ge=0, description="SearchSimilar and Follow without a "
                                       "min_score keep hits whose cosine lies at least this many standard "
                                       "deviations above the query's mean cosine with a sample of stored "
                                       "vectors (and above min_score); unset: min_score alone")


class IndexSettings(_Section):
    compact_min_batches: int = Field(256, ge=1, description="compact an index version once its log holds "
                                     "this many batches (or tombstones): snapshot runs per shard, "
                                     "log deleted")
    compact_interval_s: float = Field(300.0, ge=0, description="seconds between checks of the bucket's "
                                      "index backlog, for batches other writers logged (0: only on appends)")
    version_check_s: float = Field(10.0, ge=0, description="seconds between checks of the active index "
                                     "version (another front end may switch the model; 0: only at start)")


class AuthSettings(_Section):
    enabled: bool = Field(True, description="require bearer tokens on every RPC (health stays open)")
    rate_per_s: float = Field(50.0, gt=0, description="requests per second allowed per token")
    burst: int = Field(100, ge=1, description="requests a token may burst above its rate")
    peer_rate_per_s: float = Field(200.0, gt=0, description="requests per second allowed per client "
                                   "address, checked before the token (refused and unauthenticated "
                                   "calls count too); behind a proxy every client shares its address")
    peer_burst: int = Field(400, ge=1, description="requests a client address may burst above its rate")
    max_tracked: int = Field(10_000, ge=100, description="tokens and client addresses remembered by "
                             "the token cache and the rate limiters; the least recently seen go first")
    token_ttl_days: float | None = Field(90.0, gt=0, le=3650, description="lifetime of tokens created "
                                         "without an explicit expiry; null: they never expire "
                                         "(the bootstrap admin token never does)")


class AuditSettings(_Section):
    key: SecretStr | None = Field(None, description="HMAC key of the audit chain (32+ random "
                                  "characters), the same on every front end sharing a trail; unset: "
                                  "generated into {data_dir}/audit-key on the first start. Never in "
                                  "the bucket; a changed key leaves earlier records unverifiable")
    lock_days: int = Field(365, ge=0, le=36500, description="where the bucket was created with S3 "
                           "Object Lock, put each audit object under COMPLIANCE retention for this "
                           "many days (no one can delete or overwrite it meanwhile); 0: never")


class FetchSettings(_Section):
    """What the server may fetch on a caller's behalf (see storage.url_policy)."""

    ingest_allow: list[str] = Field(default_factory=list, description="CIDRs an ingest URI may reach "
                                    "besides public addresses (e.g. ['10.20.0.0/16'] for a file server "
                                    "on the LAN); loopback and private ranges are refused unless listed. "
                                    "The node's own S3, gRPC and metrics ports never are")
    camera_allow: list[str] = Field(default_factory=list, description="CIDRs a camera stream URL may "
                                    "reach besides public and private addresses (e.g. ['127.0.0.1/32'] "
                                    "for a demo streaming from this machine); the node's own ports "
                                    "never are")

    webhook_allow: list[str] = Field(default_factory=list, description="CIDRs a watchlist webhook URL "
                                     "may reach besides public addresses (e.g. ['10.30.0.5/32'] for the "
                                     "operations centre's receiver); loopback and private ranges are "
                                     "refused unless listed. The node's own ports never are")

    @field_validator("ingest_allow", "camera_allow", "webhook_allow")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        return [str(n) for n in networks(value)]


class WatchSettings(_Section):
    """Watchlists and alerts (services.application.watchlists, indexing.watch)."""

    background_size: int = Field(4096, ge=64, le=100_000, description="recent indexed vectors an "
                                 "entry's scores are calibrated against (indexing.watch)")
    recalibrate_s: float = Field(300.0, ge=0, description="seconds between recalibrations of every "
                                 "entry against recent footage (and vectors for a newly served model); "
                                 "0: only when an entry is added")
    default_sensitivity: float = Field(0.5, ge=0, le=1, description="an entry's sensitivity when none "
                                       "is given: 0 alerts least, 1 most (indexing.watch.z_threshold)")
    fold_s: float = Field(60.0, ge=0, le=86400, description="repeats of one entry on one camera within "
                          "this many seconds of its alert are folded into it")
    max_entries: int = Field(1000, ge=1, le=100_000, description="active entries a node accepts in all")
    poll_s: float = Field(0.25, gt=0, le=10, description="seconds between reads of the bucket's new "
                          "alerts by WatchAlerts streams and webhook delivery")
    webhooks: bool = Field(True, description="deliver alerts to entries' webhooks from this node "
                           "(with several front ends, enable on one only, or receivers get each "
                           "alert once per front end)")
    webhook_secret: SecretStr | None = Field(None, description="HMAC-SHA256 key of webhook signatures "
                                             "for entries added without a secret of their own")
    webhook_timeout_s: float = Field(5.0, gt=0, le=60, description="seconds per webhook POST")
    webhook_attempts: int = Field(5, ge=1, le=20, description="POSTs per alert before it is given up "
                                  "(backoff doubling from 0.5 s)")


class ClientSettings(_Section):
    address: str | None = Field(None, description="server host:port for CLI commands (default: server.*)")
    token: SecretStr | None = Field(None, description="bearer token for CLI commands "
                                    "(default: the bootstrap admin token in data_dir)")
    tls_ca_file: Path | None = Field(None, description="PEM CA to verify a TLS server: use TLS when set")
    tls_cert_file: Path | None = Field(None, description="PEM client certificate (mutual TLS)")
    tls_key_file: Path | None = Field(None, description="PEM key of the client certificate")


class ConsoleSettings(_Section):
    """The investigator's web console that `vigil serve` runs beside the gRPC server (services.console)."""

    enabled: bool = Field(True, description="serve the web console (on a non-loopback console.host only "
                          "with TLS: server.tls_cert_file and server.tls_key_file, which it reuses)")
    host: str = Field("127.0.0.1", description="address the console's HTTP server binds")
    port: int = Field(8090, ge=0, le=65535, description="console HTTP(S) port (0 picks a free one)")
    session_hours: float = Field(8.0, gt=0, le=720, description="a console sign-in lasts this long, or "
                                 "until its token expires or is revoked, whichever comes first")
    max_sessions: int = Field(10_000, ge=1, description="signed-in console sessions kept in memory; "
                              "the oldest is signed out first")
    max_body_kb: int = Field(8192, ge=1, le=65536, description="largest request body the console "
                             "accepts (a photo search's image travels in it, base64)")
    upstream_tls_name: str = Field("localhost", description="name the console expects on the gRPC "
                                   "server's TLS certificate when it calls the node on loopback")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIL_", env_nested_delimiter="__",
                                      env_parse_none_str="null", extra="forbid", frozen=True)

    data_dir: Path = Field(Path(".vigil"), description="local cache and embedded-server data")
    log_level: str = Field("INFO", description="logging level")
    storage: StorageSettings = StorageSettings()
    model: ModelSettings = ModelSettings()
    ray: RaySettings = RaySettings()
    ingest: IngestSettings = IngestSettings()
    server: ServerSettings = ServerSettings()
    search: SearchSettings = SearchSettings()
    index: IndexSettings = IndexSettings()
    auth: AuthSettings = AuthSettings()
    audit: AuditSettings = AuditSettings()
    client: ClientSettings = ClientSettings()
    fetch: FetchSettings = FetchSettings()
    watch: WatchSettings = WatchSettings()
    console: ConsoleSettings = ConsoleSettings()

    def calibrated(self, model: Calibration) -> Calibration:
        """The values a node uses for a model: its calibration, overridden where settings say."""
        return model.overridden(self.search.min_score, self.ingest.dedup_cosine)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings],
                                   init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = settings_cls.model_config.get("yaml_file") or os.environ.get(CONFIG_ENV)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if yaml_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))
        return tuple(sources)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Load settings, turning validation errors into a `ConfigError` naming the keys."""
    cls: type[Settings] = Settings
    if config_file is not None:
        if not config_file.is_file():
            raise ConfigError(f"config file {config_file} does not exist")
        cls = type("Settings", (Settings,), {
            "model_config": SettingsConfigDict(**{**Settings.model_config, "yaml_file": config_file})})
    _reject_unknown_env()
    try:
        return cls(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _reject_unknown_env() -> None:
    """pydantic-settings ignores unknown top-level `VIGIL_*` variables; Vigil names them."""
    known = {name.upper() for name in Settings.model_fields} | {CONFIG_ENV.removeprefix("VIGIL_")}
    for var in os.environ:
        if var.startswith("VIGIL_") and var.removeprefix("VIGIL_").split("__")[0] not in known:
            raise ConfigError(f"invalid configuration: unknown setting {var!r} in the environment")


def _describe(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            problems.append(f"unknown setting {key!r}")
        else:
            problems.append(f"setting {key!r}: {err['msg']}")
    return "invalid configuration: " + "; ".join(problems)


def masked_dump(settings: Settings) -> dict[str, Any]:
    """The effective configuration as plain data, secrets shown as '**********'."""
    return settings.model_dump(mode="json")
