"""Who may scrape the metrics port: its counts name every camera of every group, so a scrape
needs a bearer token of the `metrics` role (made for Prometheus: it opens no RPC) or `admin`, over
every camera (`*`). Every scrape, allowed or refused, leaves an audit record."""

from __future__ import annotations

from services.security.audit import AuditLog
from services.security.auth import NO_TOKEN, Principal, Role, TokenExpiredError, TokenStore, hash_token
from storage.keys import ALL_GROUPS

SCRAPERS = frozenset({Role.METRICS, Role.ADMIN})


class ScrapePolicy:
    def __init__(self, tokens: TokenStore, audit: AuditLog, enabled: bool = True) -> None:
        """`enabled`: `auth.enabled`; off, every scrape is allowed (and audited)."""
        self._tokens, self._audit, self._enabled = tokens, audit, enabled

    def __call__(self, authorization: str | None) -> str | None:
        """None if the scrape with this Authorization header may go ahead, else why not."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip() if scheme == "Bearer" else ""
        principal, refusal = None, None
        if self._enabled:
            principal, refusal = self._check(token)
        self._audit.append(principal.subject if principal else "",
                           "metrics_scrape" if refusal is None else "metrics_scrape_refused",
                           {"token_id": principal.token_id if principal else hash_token(token) if token
                            else NO_TOKEN, "reason": refusal or ""})
        return refusal

    def _check(self, token: str) -> tuple[Principal | None, str | None]:
        if not token:
            return None, "a bearer token is needed (Authorization: Bearer TOKEN)"
        try:
            principal = self._tokens.authenticate(token)
        except TokenExpiredError as exc:
            return None, str(exc)
        if principal is None:
            return None, "unknown or revoked token"
        if principal.role not in SCRAPERS or ALL_GROUPS not in principal.groups:
            return principal, (f"the metrics name every camera: a token of role {Role.METRICS.value} or "
                               f"{Role.ADMIN.value} over every camera ('{ALL_GROUPS}') is needed")
        return principal, None
