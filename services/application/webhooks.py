"""Webhook delivery of watchlist alerts: signed POSTs, retried with backoff, bounded, audited.

`WebhookDelivery.run_once` (called periodically) reads the alerts written since the cursor it
keeps in the bucket (`watch/webhook-cursor.json`), and POSTs each alert of an entry with a
webhook URL as JSON, as soon as it is stored; the cursor kept is the settled position before the
alerts younger than SETTLE_MS (`watchlists.resume_cursors`), so a restarted node may POST the
last second's alerts again (receivers drop repeats by `alert_id`; nothing is lost). The URL is
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
from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from services.application.audit import Appender
from services.application.watchlists import SEEN_IDS, SETTLE_MS, resume_cursors
from services.settings import WatchSettings
from storage.timeutil import HOUR_MS
from storage.url_policy import CheckedUrl, Purpose, UrlPolicy, UrlRefusedError, check_url
from storage.watchlists import Alert, WatchEntry, WatchStore, cursor_at, cursor_ms, now_ms

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
        self._sent: deque[str] = deque(maxlen=SEEN_IDS)  # handled after the stored cursor

    def run_once(self) -> int:
        """Deliver every alert written since the stored cursor; returns alerts delivered."""
        read_ms = self._clock()
        stored = self._watch.get_cursor()
        cursor = stored or cursor_at(read_ms - SETTLE_MS)
        delivered = 0
        for alert, resume in resume_cursors(list(self._watch.alerts_after(cursor, read_ms)), cursor, read_ms):
            if alert.alert_id not in self._sent:
                entry = self._entry(alert.entry_id)
                if entry is not None and entry.webhook_url:
                    delivered += self.deliver(alert, entry)
                self._sent.append(alert.alert_id)
            if resume != cursor:
                cursor = resume
                self._watch.put_cursor(cursor)  # after each alert: a restart resends few
        settled = max(cursor, cursor_at(read_ms - SETTLE_MS))
        if stored is None or cursor_ms(settled) // HOUR_MS > cursor_ms(cursor) // HOUR_MS:
            self._watch.put_cursor(settled)  # when quiet, an hour at most behind: few hours listed
        return delivered

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
