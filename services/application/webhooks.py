"""Webhook delivery of watchlist alerts: signed POSTs, retried with backoff, bounded, audited.

`WebhookDelivery.run_once` (called periodically) reads the alerts written since the cursor it
keeps in the bucket (`watch/webhook-cursor.json`), and POSTs each alert of an entry with a
webhook URL as JSON, as soon as it is stored (`watchlists.AlertFollower`: the cursor names the
alerts younger than SETTLE_MS already handled, so a restart neither skips nor repeats one). The URL is
checked again with the server's URL policy (purpose `webhook`, `fetch.webhook_allow`) and the
POST goes to the checked address, never following redirects.

The request carries `X-Vigil-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<body>">` keyed with the entry's secret, else the server's `watch.webhook_secret`; a
receiver recomputes it and refuses stale `t`. Secrets never reach logs, errors or the audit
trail. A POST is tried up to `watch.webhook_attempts` times, the wait doubling from
BACKOFF_MIN_S (capped at BACKOFF_MAX_S); then it is given up, and each delivery, delivered or
given up, is audited with the HTTP status. With several front ends, enable delivery on one
(`watch.webhooks`).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from services.application.audit import Appender
from services.application.watchlists import SETTLE_MS, AlertFollower, split_cursor
from services.settings import WatchSettings
from storage.timeutil import HOUR_MS, now_ms
from storage.url_policy import CheckedUrl, Purpose, UrlPolicy, UrlRefusedError, check_url
from storage.watchlists import Alert, WatchEntry, WatchStore, cursor_at, cursor_ms

logger = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Vigil-Signature"
BACKOFF_MIN_S = 0.5
BACKOFF_MAX_S = 8.0
DELIVERY_CALLER = "system:webhooks"
Post = Callable[[CheckedUrl, bytes, dict[str, str], float], int]  # → HTTP status


def signature(secret: bytes, body: bytes, timestamp: int) -> str:
    """The signature header's value for `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: bytes, body: bytes, header: str) -> bool:
    """A receiver's check of a signature header (constant time)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if "t" not in parts or not parts["t"].isdigit():
        return False
    return hmac.compare_digest(signature(secret, body, int(parts["t"])), header)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to the checked address, with the URL's host as SNI and certificate name."""

    def __init__(self, checked: CheckedUrl, timeout: float) -> None:
        super().__init__(checked.host, checked.port, timeout=timeout, context=ssl.create_default_context())
        self._ip = checked.ip

    def connect(self) -> None:
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def post(checked: CheckedUrl, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
    """POST `body` to the checked address; the HTTP status (redirects are not followed)."""
    conn: http.client.HTTPConnection = (_PinnedHTTPS(checked, timeout_s) if checked.scheme == "https"
                                        else http.client.HTTPConnection(checked.ip, checked.port,
                                                                        timeout=timeout_s))
    try:
        conn.request("POST", _path(checked), body, {**headers, "Host": checked.host})
        return conn.getresponse().status
    finally:
        conn.close()


def _path(checked: CheckedUrl) -> str:
    parts = urlsplit(checked.url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _hour(cursor: str) -> int:
    return cursor_ms(split_cursor(cursor)[0]) // HOUR_MS


def alert_body(alert: Alert, entry: WatchEntry) -> bytes:
    data: dict[str, Any] = {k: v for k, v in asdict(alert).items() if k not in ("written_ms",)}
    data["entry_text"] = entry.text
    data["entry_kind"] = entry.kind.value
    return json.dumps(data, sort_keys=True).encode()


class WebhookDelivery:
    def __init__(self, watch: WatchStore, settings: WatchSettings, url_policy: Callable[[], UrlPolicy],
                 audit: Appender, send: Post = post, sleep: Callable[[float], None] = time.sleep,
                 clock_ms: Callable[[], int] = now_ms) -> None:
        self._watch, self._settings, self._url_policy, self._audit = watch, settings, url_policy, audit
        self._send, self._sleep, self._clock = send, sleep, clock_ms
        self._entries: dict[str, WatchEntry | None] = {}
        self._follower: AlertFollower | None = None
        self._stored = ""  # the cursor last stored

    def run_once(self) -> int:
        """Deliver every alert written since the stored cursor; returns alerts delivered."""
        if self._follower is None:
            self._stored = self._watch.get_cursor() or ""
            self._follower = AlertFollower(self._watch, self._stored or cursor_at(self._clock() - SETTLE_MS))
        delivered = 0
        for alert in self._follower.read(self._clock()):
            entry = self._entry(alert.entry_id)
            if entry is not None and entry.webhook_url:
                delivered += self.deliver(alert, entry)
            self._store_cursor(alert.cursor)  # after each alert: a restart resends at most one
        now = self._follower.cursor
        if not self._stored or _hour(now) > _hour(self._stored):
            self._store_cursor(now)  # when quiet, an hour behind at most: few hours are listed
        return delivered

    def _store_cursor(self, cursor: str) -> None:
        self._watch.put_cursor(cursor)
        self._stored = cursor

    def deliver(self, alert: Alert, entry: WatchEntry) -> bool:
        """POST one alert, retried with backoff; audited either way."""
        body = alert_body(alert, entry)
        secret = (entry.webhook_secret or (self._settings.webhook_secret.get_secret_value()
                                           if self._settings.webhook_secret else "")).encode()
        status, wait, error = 0, BACKOFF_MIN_S, ""
        for attempt in range(1, self._settings.webhook_attempts + 1):
            try:
                checked = check_url(entry.webhook_url, Purpose.WEBHOOK, self._url_policy())
                headers = {"Content-Type": "application/json",
                           SIGNATURE_HEADER: signature(secret, body, int(time.time()))}
                status = self._send(checked, body, headers, self._settings.webhook_timeout_s)
                error = "" if 200 <= status < 300 else f"HTTP {status}"
            except UrlRefusedError as exc:
                error = str(exc)
                break  # the policy will not change between attempts
            except OSError as exc:
                error = type(exc).__name__
            if not error:
                break
            if attempt < self._settings.webhook_attempts:
                self._sleep(wait)
                wait = min(wait * 2, BACKOFF_MAX_S)
        self._audit.append(DELIVERY_CALLER, "webhook", {
            "entry_id": entry.entry_id, "alert_id": alert.alert_id, "status": status, "attempts": attempt,
            "delivered": not error, "error": error[:200]})
        if error:
            logger.warning("webhook of watch %s: alert %s given up after %d attempts (%s)",
                           entry.entry_id, alert.alert_id, attempt, error[:200])
        return not error

    def _entry(self, entry_id: str) -> WatchEntry | None:
        if entry_id not in self._entries:
            self._entries[entry_id] = self._watch.entry(entry_id)
        return self._entries[entry_id]
