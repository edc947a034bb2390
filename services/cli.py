"""The `vigil` command line. Heavy imports (torch, ray) happen only in commands that need them."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.node import heap
from services.security.auth import Role
from services.settings import ConfigError, Settings, load_settings, masked_dump
from storage.timeutil import DAY_S, HOUR_S, MINUTE_S


def _parse_time(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
    if t.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no timezone; add 'Z' or an offset")
    return t


def _address(settings: Settings, override: str | None) -> str:
    if override or settings.client.address:
        return override or settings.client.address  # type: ignore[return-value]
    host = settings.server.host
    return f"{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{settings.server.port}"


def _token(settings: Settings) -> str | None:
    """VIGIL_CLIENT__TOKEN, else the bootstrap admin token a local server wrote."""
    if settings.client.token is not None:
        return settings.client.token.get_secret_value()
    path = settings.data_dir / "admin-token"
    return path.read_text().strip() if path.is_file() else None


def _client(settings: Settings, args: argparse.Namespace) -> Any:
    from services.api.client import Tls, VigilClient

    c = settings.client
    tls = Tls(c.tls_ca_file.read_bytes(), c.tls_cert_file.read_bytes() if c.tls_cert_file else None,
              c.tls_key_file.read_bytes() if c.tls_key_file else None) if c.tls_ca_file else None
    return VigilClient(_address(settings, getattr(args, "address", None)), _token(settings), tls)


def cmd_validate_config(settings: Settings, _: argparse.Namespace) -> int:
    print(json.dumps(masked_dump(settings), indent=2))
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from services.api.server import InsecureTransportError, check_transport, serve
    from services.console.server import ConsoleTransportError, check_console_transport, console_beside
    from services.node.app import Vigil
    from services.node.ports import PortInUseError, check_free

    overrides: dict[str, object] = {"port": args.port} if args.port is not None else {}
    if args.insecure:
        overrides["insecure_plaintext"] = True
    ray_overrides = {"address": args.ray_address} if args.ray_address else {}
    settings = settings.model_copy(update={
        "server": settings.server.model_copy(update=overrides),
        "ray": settings.ray.model_copy(update=ray_overrides)})
    try:  # before starting anything
        check_transport(settings.server, f"{settings.server.host}:{settings.server.port}")
        check_console_transport(settings)
        check_free(settings)
        with Vigil(settings) as node:
            asyncio.run(serve(node, lambda port: console_beside(node, port)))
    except (InsecureTransportError, ConsoleTransportError, PortInUseError) as exc:
        print(f"vigil: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    with _client(settings, args) as client:
        job_id = client.ingest_file(args.file, args.camera, args.start)
        print(f"job {job_id}")
        if args.no_wait:
            return 0
        status = client.wait_for_job(job_id, show_progress=True)
    print(f"{status.state}: {status.segments} segments ({status.segments_skipped} already stored), "
          f"{status.keyframes} keyframes, {status.vectors} new vectors")
    if status.error:
        print(f"error: {status.error}", file=sys.stderr)
    return 0 if status.state == "succeeded" else 1


def _hit_ref(text: str) -> Any:
    from services.api.client import HitRef

    try:
        return HitRef.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _print_hit(h: Any, prefix: str = "") -> None:
    """One hit (or trail step); `hit …` is its reference for `--similar` and `vigil follow`,
    with the matching region's box when the hit is a region (`#x0,y0,x1,y1`)."""
    print(f"{prefix}{h.score:6.3f}  {h.camera_id}  {h.start:%Y-%m-%d %H:%M:%S}–{h.end:%H:%M:%S}  "
          f"best {h.frame_time:%H:%M:%S}  {h.segment_key}  hit {h.ref}")


def _print_unsearched(unsearched: Sequence[tuple[str, datetime]]) -> None:
    """Footage the answer left out (a partitioned index with no live replica): never silent."""
    for group, day in unsearched:
        print(f"NOT SEARCHED: {day:%Y-%m-%d} (UTC)" + (f" of camera group {group!r}" if group else "")
              + ": no live shard server holds it; search again once the cluster has reassigned it")


def _print_trail(trail: Any) -> None:
    if trail.no_good_match:
        print("trail: no good match (nothing scored above the threshold)")
    elif not trail.steps:
        print("trail: no footage to follow (check the filters)")
    else:
        print(f"trail: {len(trail.steps)} visits in time order")
    for i, step in enumerate(trail.steps, 1):
        _print_hit(step, f"{i:3d}. ")


def _follow_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"camera_ids": args.camera or (), "start": args.start, "end": args.end,
            "max_steps": args.max_steps, "expand": args.expand}


def cmd_search(settings: Settings, args: argparse.Namespace) -> int:
    if sum(map(bool, (args.text, args.image, args.similar))) != 1:
        print("vigil search: give one of TEXT, --image or --similar", file=sys.stderr)
        return 2
    with _client(settings, args) as client:
        options = {"camera_ids": args.camera or (), "start": args.start, "end": args.end,
                   "frames": args.frames, "min_score": args.min_score}
        if args.image:
            result = client.search_by_image(args.image.read_bytes(), args.top_k, **options)
        elif args.similar:
            result = client.search_similar(args.similar, args.top_k, **options,
                                           include_same_camera=args.same_camera)
        else:
            result = client.search(args.text, args.top_k, **options)
        trail = client.follow(result.hits[0], **_follow_options(args)) if (
            args.follow and result.hits) else None
    if result.no_good_match:
        print("no good match: nothing scored above the threshold")
    elif not result.hits and not result.unsearched:
        print("no footage to search (check the filters)")
    for h in result.hits:
        _print_hit(h)
    _print_unsearched(result.unsearched)
    if trail is not None:
        print(f"following the top hit {result.hits[0].ref}")
        _print_trail(trail)
    return 0


def cmd_follow(settings: Settings, args: argparse.Namespace) -> int:
    if bool(args.hit) == bool(args.image):
        print("vigil follow: give a HIT (as `vigil search` prints it) or --image", file=sys.stderr)
        return 2
    with _client(settings, args) as client:
        seed = args.hit or args.image.read_bytes()
        trail = client.follow(seed, **_follow_options(args), min_score=args.min_score)
    _print_trail(trail)
    return 0


def cmd_job(settings: Settings, args: argparse.Namespace) -> int:
    with _client(settings, args) as client:
        print(client.get_job(args.job_id))
    return 0


def cmd_jobs(settings: Settings, args: argparse.Namespace) -> int:
    with _client(settings, args) as client:
        for job in client.list_jobs(args.limit, args.state or ""):
            print(f"{job.job_id}  {job.camera_id}  {job.state}  segments={job.segments} "
                  f"keyframes={job.keyframes} vectors={job.vectors}  {job.error}".rstrip())
    return 0


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    with _client(settings, args) as client:
        s = client.stats()
    capped = "≥" if s.segments >= s.segments_cap else ""
    print(f"model        {s.model_id}\n"
          f"ray          {s.ray_nodes} node(s), {s.ray_cpus:g} CPUs\n"
          f"cameras      {s.cameras}\n"
          f"segments     {capped}{s.segments}\n"
          f"vectors      {s.vectors}\n"
          f"backlog      {s.backlog_jobs} ingest job(s) pending or running")
    return 0


def cmd_camera_register(settings: Settings, args: argparse.Namespace) -> int:
    from vigil.v1 import cameras_pb2

    with _client(settings, args) as client:
        cam = client.register_camera(cameras_pb2.Camera(
            camera_id=args.camera_id, name=args.name, group=args.group, location=args.location,
            stream_url=args.stream_url, retention_days=args.retention_days))
    print(f"registered {cam.camera_id} (group {cam.group or '-'}, {cam.retention_days} days"
          + (f", recording {cam.stream_url})" if cam.stream_url else ")"))
    return 0


def cmd_camera_status(settings: Settings, args: argparse.Namespace) -> int:
    with _client(settings, args) as client:
        s = client.stop_camera(args.camera_id) if args.stop else client.camera_status(args.camera_id)
    when = f" ({s.last_error_at.ToDatetime(UTC):%Y-%m-%d %H:%M:%S}Z)" if s.HasField("last_error_at") else ""
    print(f"{s.camera_id}: {'recording' if s.recording else 'not recording'}, "
          f"{s.segments_stored} segments, {s.keyframes_indexed} keyframes, {s.reconnects} reconnects"
          + (f", last error{when}: {s.last_error}" if s.last_error else ""))
    return 0


_DURATION = re.compile(r"([1-9][0-9]{0,5})([mhdw])")
_UNIT_S = {"m": MINUTE_S, "h": HOUR_S, "d": DAY_S, "w": 7 * DAY_S}


def _parse_expiry(text: str) -> datetime:
    """'30d', '12h', '90m', '2w' from now, or an ISO 8601 time with a timezone."""
    if m := _DURATION.fullmatch(text.strip()):
        return datetime.now(UTC) + timedelta(seconds=int(m[1]) * _UNIT_S[m[2]])
    try:
        return _parse_time(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a duration (30d, 12h, 90m, 2w) nor an ISO 8601 time with a "
            "timezone (2027-01-31T00:00Z)") from None


def _utc(t: datetime | None) -> str:
    return "never" if t is None else f"{t.astimezone(UTC):%Y-%m-%d %H:%M}Z"


def cmd_token_create(settings: Settings, args: argparse.Namespace) -> int:
    with _client(settings, args) as client:
        created = client.create_token_info(args.subject, args.role, args.group, args.expires)
    print(f"token (shown once, keep it secret): {created.token}\n"
          f"expires: {_utc(created.expires)}\n"
          f"revoke with: vigil token revoke {created.token_hash}")
    return 0


def cmd_token_list(settings: Settings, args: argparse.Namespace) -> int:
    with _client(settings, args) as client:
        tokens = client.list_tokens()
    print(f"{'id (sha-256)':64}  {'subject':24} {'role':12} {'created':17}  {'expires':17}  "
          "status   groups")
    for t in tokens:
        print(f"{t.token_hash:64}  {t.subject:24} {t.role:12} {_utc(t.created):17}  "
              f"{_utc(t.expires):17}  {'expired' if t.expired else 'active ':8} {','.join(t.groups)}")
    return 0


def cmd_token_revoke(settings: Settings, args: argparse.Namespace) -> int:
    with _client(settings, args) as client:
        client.revoke_token(args.token_hash)
    print("revoked")
    return 0


def _notarised(value: str) -> tuple[int, str]:
    """--head SEQ:HASH, as `vigil audit head` printed it."""
    seq, _, digest = value.partition(":")
    if not seq.isdigit() or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise argparse.ArgumentTypeError(f"{value[:80]!r} is not SEQ:HASH (as `vigil audit head` prints)")
    return int(seq), digest


def cmd_audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    with _client(settings, args) as client:
        check = client.verify_audit(args.head)
    for node in check.unverified_nodes:
        print(f"not checked: node {node}'s chain is keyed with another key (verify it on that node, "
              "or set audit.key alike on every front end)")
    for node in check.unkeyed_nodes:
        print(f"unkeyed: {'node ' + node if node else 'the trail before per-node chains'} is checked "
              "with plain SHA-256 only (written before keyed chains; anyone with bucket write access "
              "could have written it)")
    anchored = (f"; node {check.head.node} anchored at record {check.head.seq}"
                if check.HasField("head") else "")
    if check.ok:
        print(f"audit trail intact: {check.records} records{anchored}")
        return 0
    print(f"audit trail BROKEN at record {check.first_broken_seq}: {check.reason} "
          f"({check.records} records verified before it{anchored})")
    return 1


def cmd_audit_head(settings: Settings, args: argparse.Namespace) -> int:
    with _client(settings, args) as client:
        head = client.audit_head()
    print(f"node {head.node} record {head.seq} at {head.time}\n{head.seq}:{head.hash}\n"
          f"notarise the line above; later: vigil audit verify --head {head.seq}:{head.hash}")
    return 0


def cmd_model_switch(settings: Settings, args: argparse.Namespace) -> int:
    path = str(args.path.resolve()) if args.path else ""
    with _client(settings, args) as client:
        status = client.switch_model(name=args.name or "", pretrained=args.pretrained or "", path=path)
        print(f"building index version {status.target_model_id} (serving {status.serving_model_id} "
              "until it is complete)")
        if args.no_wait:
            return 0
        status = client.wait_for_model_switch(show_progress=True)
    return _print_model_status(status)


def cmd_model_status(settings: Settings, args: argparse.Namespace) -> int:
    with _client(settings, args) as client:
        return _print_model_status(client.model_status())


def _print_model_status(s: Any) -> int:
    replaced = f" (replaced {s.previous_model_id})" if s.previous_model_id else ""
    build = (f" {s.target_model_id}: {s.frames_indexed}/{s.frames_total} keyframes, "
             f"{s.frames_skipped} skipped (expired)" if s.target_model_id else "")
    print(f"active       {s.active_model_id}{replaced}\n"
          f"serving      {s.serving_model_id}\n"
          f"switch       {s.state}{build}")
    if s.error:
        print(f"error: {s.error}", file=sys.stderr)
    return 1 if s.state == "failed" else 0


def _daily_window(text: str) -> tuple[int, int]:
    """--window HH:MM-HH:MM (UTC; may wrap past midnight) as minutes of the day."""
    m = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not HH:MM-HH:MM (UTC), e.g. 19:00-06:00")
    return int(m[1]) * 60 + int(m[2]), int(m[3]) * 60 + int(m[4])


def cmd_watch_add(settings: Settings, args: argparse.Namespace) -> int:
    from services.api.watch_client import add_watch

    with _client(settings, args) as client:
        entry = add_watch(client.channel, args.text, args.image, args.camera or [], args.group or [],
                          args.expires, args.window, args.sensitivity, args.webhook)
    print(f"watch {entry.entry_id} added ({entry.kind}: {entry.text!r}, sensitivity {entry.sensitivity:.2f}"
          f"{'' if entry.calibrated else ', waiting for footage to calibrate against'})")
    return 0


def cmd_watch_list(settings: Settings, args: argparse.Namespace) -> int:
    from services.api.watch_client import list_watches

    with _client(settings, args) as client:
        for e in list_watches(client.channel):
            scope = ",".join([*e.camera_ids, *(f"group:{g}" for g in e.groups)]) or "every visible camera"
            expires = _utc(e.expires.ToDatetime(UTC)) if e.HasField("expires") else "never"
            print(f"{e.entry_id}  {e.kind:5} {e.text[:40]!r:42} {scope:30} expires {expires:17} "
                  f"sensitivity {e.sensitivity:.2f}{'' if e.calibrated else ' (calibrating)'}")
    return 0


def cmd_watch_remove(settings: Settings, args: argparse.Namespace) -> int:
    from services.api.watch_client import remove_watch

    with _client(settings, args) as client:
        remove_watch(client.channel, args.entry_id)
    print("removed")
    return 0


def cmd_watch_tail(settings: Settings, args: argparse.Namespace) -> int:
    from services.api.watch_client import tail_alerts

    with _client(settings, args) as client:
        for a in tail_alerts(client.channel, args.cursor or "", args.entry or []):
            b = a.box
            box = f" box {b.x0:.2f},{b.y0:.2f},{b.x1:.2f},{b.y1:.2f}" if a.HasField("box") else ""
            folded = f" (+{a.folded} folded)" if a.folded else ""
            print(f"{a.frame_time.ToDatetime(UTC):%Y-%m-%d %H:%M:%S}Z  {a.camera_id:16} watch {a.entry_id}  "
                  f"score {a.score:.1f}{box}{folded}  cursor {a.cursor}", flush=True)
    return 0


def _watch_parser(sub: Any) -> None:
    p = sub.add_parser("watch", help="watchlists: standing text or photo searches on live cameras, "
                       "and their alerts")
    wsub = p.add_subparsers(dest="watch_command", required=True)
    w = wsub.add_parser("add", help="watch for a text (English or Vietnamese) or a photo")
    query = w.add_mutually_exclusive_group(required=True)
    query.add_argument("--text")
    query.add_argument("--image", type=Path, help="a photo (JPEG, PNG)")
    w.add_argument("--camera", action="append", help="watch this camera (repeat); default: every camera "
                   "you may see")
    w.add_argument("--group", action="append", help="watch this group's cameras (repeat)")
    w.add_argument("--expires", type=_parse_expiry,
                   help="30d, 12h, 90m, 2w from now, or a time; default: never")
    w.add_argument("--window", type=_daily_window, help="only footage in this daily UTC window, HH:MM-HH:MM")
    w.add_argument("--sensitivity", type=float, help="0 (fewest alerts) .. 1 (most); default: the server's")
    w.add_argument("--webhook", help="POST alerts here too (signed; the server's URL policy applies)")
    w.set_defaults(func=cmd_watch_add)
    w = wsub.add_parser("list", help="your watchlist entries")
    w.set_defaults(func=cmd_watch_list)
    w = wsub.add_parser("remove", help="remove an entry")
    w.add_argument("entry_id")
    w.set_defaults(func=cmd_watch_remove)
    w = wsub.add_parser("tail", help="follow alerts on the cameras you may see (Ctrl-C to stop)")
    w.add_argument("--cursor", help="resume after this alert's cursor (as tail prints it)")
    w.add_argument("--entry", action="append", help="only this entry's alerts (repeat)")
    w.set_defaults(func=cmd_watch_tail)
    for parser in wsub.choices.values():
        parser.add_argument("--address")


def cmd_doctor(settings: Settings, _: argparse.Namespace) -> int:
    from services.security.doctor import diagnose, exit_code, report

    findings = diagnose(settings)
    print(report(findings))
    return exit_code(findings)


def cmd_capacity(settings: Settings, args: argparse.Namespace) -> int:
    from services.cluster.capacity import Deployment, plan, report

    try:
        deployment = Deployment(args.cameras, args.days, args.interval, args.vectors_per_keyframe,
                                args.replicas or settings.ray.shard_replicas, args.node_ram_gib,
                                args.ram_for_index, args.node_disk_gib, args.video_kbps)
    except ValueError as exc:
        print(f"vigil capacity: {exc}", file=sys.stderr)
        return 2
    print("\n".join(report(deployment, plan(deployment))))
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from services.demo.run import run_demo

    found = run_demo(settings, args.out)
    if not args.serve:
        return found
    print(f"\nserving the demo's data (Ctrl+C stops); sign in to the console with the admin token in "
          f"{settings.data_dir / 'admin-token'}", flush=True)
    # `vigil serve` in a fresh process: Ray cannot start again in the one whose cluster just stopped.
    config = ["--config", str(args.config)] if args.config else []
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "services.cli", *config, "serve"])


def _trail_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-steps", type=int, default=10, help="at most this many visits in the trail")
    p.add_argument("--expand", action="store_true",
                   help="search again with the query expanded by the best visits found")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vigil", description="Video storage and semantic search")
    parser.add_argument("--config", type=Path, help="YAML settings file (or VIGIL_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("validate-config", help="print the effective configuration, secrets masked"
                   ).set_defaults(func=cmd_validate_config)
    p = sub.add_parser("serve", help="run the gRPC server and the web console (console.*)")
    p.add_argument("--port", type=int)
    p.add_argument("--ray-address", help="join a Ray cluster ('auto' or host:port)")
    p.add_argument("--insecure", action="store_true",
                   help="allow plaintext gRPC on a non-loopback server.host (only behind a TLS proxy)")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("ingest", help="upload a video file")
    p.add_argument("file", type=Path)
    p.add_argument("--camera", required=True)
    p.add_argument("--start", required=True, type=_parse_time, help="ISO 8601 time of the first frame")
    p.add_argument("--no-wait", action="store_true", help="print the job id and return")
    p.add_argument("--address")
    p.set_defaults(func=cmd_ingest)
    p = sub.add_parser("search", help="search footage by text, by example image or like a hit")
    p.add_argument("text", nargs="?", default="")
    p.add_argument("--image", type=Path, help="search by this photo instead of text")
    p.add_argument("--similar", type=_hit_ref, metavar="HIT",
                   help="search like this hit (CAMERA@TIME[#x0,y0,x1,y1], as search prints it) on "
                   "other cameras")
    p.add_argument("--same-camera", action="store_true", help="with --similar: the hit's camera too")
    p.add_argument("--follow", action="store_true",
                   help="then follow the top hit from camera to camera (see `vigil follow`)")
    _trail_arguments(p)
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--camera", action="append", help="restrict to this camera (repeatable)")
    p.add_argument("--start", type=_parse_time)
    p.add_argument("--end", type=_parse_time)
    p.add_argument("--frames", action="store_true", help="keyframes instead of clips")
    p.add_argument("--min-score", type=float, help="override the server's score threshold")
    p.add_argument("--address")
    p.set_defaults(func=cmd_search)
    p = sub.add_parser("follow", help="follow a hit (or a photo) from camera to camera: its visits in "
                       "time order")
    p.add_argument("hit", nargs="?", type=_hit_ref, metavar="HIT",
                   help="CAMERA@TIME[#x0,y0,x1,y1], as `vigil search` prints it")
    p.add_argument("--image", type=Path, help="follow the subject of this photo instead")
    p.add_argument("--camera", action="append", help="follow on this camera only (repeatable)")
    p.add_argument("--start", type=_parse_time, help="window start (default: an hour before the hit)")
    p.add_argument("--end", type=_parse_time, help="window end (default: an hour after the hit)")
    p.add_argument("--min-score", type=float, help="override the server's score threshold")
    _trail_arguments(p)
    p.add_argument("--address")
    p.set_defaults(func=cmd_follow)
    p = sub.add_parser("job", help="show an ingest job")
    p.add_argument("job_id")
    p.add_argument("--address")
    p.set_defaults(func=cmd_job)
    p = sub.add_parser("jobs", help="list recent ingest jobs, newest first")
    p.add_argument("--limit", type=int, default=0, help="at most this many (default 50, max 200)")
    p.add_argument("--state", choices=["pending", "running", "succeeded", "failed"])
    p.add_argument("--address")
    p.set_defaults(func=cmd_jobs)
    p = sub.add_parser("camera", help="register cameras, live recording status, stop recording")
    csub = p.add_subparsers(dest="camera_command", required=True)
    c = csub.add_parser("register", help="create or replace a camera (a stream URL starts recording)")
    c.add_argument("camera_id")
    c.add_argument("--group", default="", help="ward, district or owner system")
    c.add_argument("--name", default="")
    c.add_argument("--location", default="")
    c.add_argument("--stream-url", default="", help="rtsp://, udp://, http(s):// … (credentials masked)")
    c.add_argument("--retention-days", type=int, default=30)
    c.add_argument("--address")
    c.set_defaults(func=cmd_camera_register)
    for name, stop in (("status", False), ("stop", True)):
        c = csub.add_parser(name, help="stop live recording" if stop else "live recording status")
        c.add_argument("camera_id")
        c.add_argument("--address")
        c.set_defaults(func=cmd_camera_status, stop=stop)
    p = sub.add_parser("status", help="cluster, cameras, index and backlog (admin)")
    p.add_argument("--address")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("token", help="issue, list or revoke bearer tokens (admin)")
    tsub = p.add_subparsers(dest="token_command", required=True)
    t = tsub.add_parser("create", help="issue a token")
    t.add_argument("--subject", required=True, help="person or system the token is for")
    t.add_argument("--role", required=True, choices=[r.value for r in Role])
    t.add_argument("--group", action="append", required=True, help="camera group ('*' for all)")
    t.add_argument("--expires", type=_parse_expiry,
                   help="30d, 12h, 90m, 2w from now, or a time (2027-01-31T00:00Z); "
                   "default: the server's auth.token_ttl_days")
    t.add_argument("--address")
    t.set_defaults(func=cmd_token_create)
    t = tsub.add_parser("list", help="every token's id, subject, role, groups and expiry (never the token)")
    t.add_argument("--address")
    t.set_defaults(func=cmd_token_list)
    t = tsub.add_parser("revoke", help="revoke a token by its id (the hash `vigil token list` shows)")
    t.add_argument("token_hash")
    t.add_argument("--address")
    t.set_defaults(func=cmd_token_revoke)
    p = sub.add_parser("audit", help="the audit trail (admin)")
    asub = p.add_subparsers(dest="audit_command", required=True)
    a = asub.add_parser("verify", help="check the HMAC chains and this node's anchor; report the "
                        "first broken link")
    a.add_argument("--head", type=_notarised, metavar="SEQ:HASH",
                   help="a head notarised earlier (`vigil audit head`) that must still hold")
    a.add_argument("--address")
    a.set_defaults(func=cmd_audit_verify)
    a = asub.add_parser("head", help="print the answering node's chain head, for external notarisation")
    a.add_argument("--address")
    a.set_defaults(func=cmd_audit_head)
    p = sub.add_parser("model", help="the model behind the index: switch it, or show the switch (admin)")
    msub = p.add_subparsers(dest="model_command", required=True)
    m = msub.add_parser("switch", help="build an index version for another model, then switch to it")
    which = m.add_mutually_exclusive_group(required=True)
    which.add_argument("--path", type=Path, help="open_clip model folder (the same path on every server)")
    which.add_argument("--name", help="'vigil-tiny' or an open_clip architecture")
    m.add_argument("--pretrained", help="open_clip pretrained tag (with --name)")
    m.add_argument("--no-wait", action="store_true", help="return once the build has started")
    m.add_argument("--address")
    m.set_defaults(func=cmd_model_switch)
    m = msub.add_parser("status", help="the active index version and the switch in progress")
    m.add_argument("--address")
    m.set_defaults(func=cmd_model_status)
    sub.add_parser("doctor", help="this node's exposure, one OK/WARN/FAIL line per check (exit 1 on FAIL): "
                   "listening addresses, TLS, file modes, Ray auth, audit anchor"
                   ).set_defaults(func=cmd_doctor)
    _watch_parser(sub)
    p = sub.add_parser("capacity", help="nodes, RAM, local disk and bucket bytes for N cameras × D days "
                       "(a partitioned index; constants measured by benchmarks.scale)")
    p.add_argument("--cameras", type=int, required=True)
    p.add_argument("--days", type=float, required=True, help="days of footage kept (retention)")
    p.add_argument("--interval", type=float, required=True, help="seconds between keyframes per camera")
    p.add_argument("--vectors-per-keyframe", type=float, default=1.0,
                   help="1 + the regions kept per keyframe (ingest.regions on: up to 6)")
    p.add_argument("--replicas", type=int, default=None, help="shard replicas (default ray.shard_replicas)")
    p.add_argument("--node-ram-gib", type=float, default=64.0)
    p.add_argument("--ram-for-index", type=float, default=0.5, help="node RAM share for its shard server")
    p.add_argument("--node-disk-gib", type=float, default=500.0)
    p.add_argument("--video-kbps", type=float, default=0.0, help="recorded bitrate per camera (0: video "
                   "not counted)")
    p.set_defaults(func=cmd_capacity)
    p = sub.add_parser("demo", help="the investigator demo on a synthetic city")
    p.add_argument("--out", type=Path, default=Path("demo-output"))
    p.add_argument("--serve", action="store_true",
                   help="then keep serving the demo's data: gRPC and the web console (its URL is printed)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.func is cmd_serve and argv is None:  # a server process, as `vigil serve` starts it
        heap.use_system_malloc("services.cli", sys.argv[1:])
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"vigil: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for package in ("services", "storage", "indexing"):
        logging.getLogger(package).setLevel(settings.log_level)
    try:
        return int(args.func(settings, args))
    except Exception as exc:  # a gRPC error is reported as one line; anything else propagates
        import grpc

        if isinstance(exc, grpc.RpcError):
            print(f"vigil: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
