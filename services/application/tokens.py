"""Tokens: issued, listed and revoked only within the caller's groups.

A ward admin (a token for some groups) issues tokens for its own groups only, and sees and
revokes only tokens whose groups are all its own (`Principal.manages`); a token of another ward
answers as one that does not exist. A token without an expiry gets `auth.token_ttl_days` (None:
never expires). The token itself is returned once, never stored or audited: the audit record
names its hash.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from services.application.audit import AuditTrail, Caller
from services.errors import InvalidArgumentError, NotFoundError, PermissionDeniedError
from services.security.auth import Role, TokenRecord, TokenStore, hash_token, validate_subject
from storage.keys import TOKEN_HASH, validate_groups
from storage.timeutil import DAY_S


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once
    token_hash: str
    expires: float | None  # unix seconds; None: never


@dataclass(frozen=True)
class ListedToken:
    record: TokenRecord  # never the token itself
    expired: bool


def token_expiry(requested: float | None, ttl_days: float | None, now: float) -> float | None:
    """The requested expiry (unix seconds, in the future), else `ttl_days` from now (None: never)."""
    if requested is None:
        return None if ttl_days is None else now + ttl_days * DAY_S
    if requested <= now:
        raise InvalidArgumentError("expires must be in the future")
    return requested


def role_arg(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InvalidArgumentError(f"role must be one of {[r.value for r in Role]}") from None


class TokenService:
    def __init__(self, tokens: TokenStore, audit: AuditTrail, ttl_days: float | None,
                 clock: Callable[[], float] = time.time) -> None:
        self._tokens, self._audit, self._ttl_days, self._clock = tokens, audit, ttl_days, clock

    def create(self, caller: Caller, subject: str, role: str, groups: list[str],
               expires: float | None) -> IssuedToken:
        """A new token for `groups`, which must be the caller's own (or any, for a '*' admin)."""
        checked_role = role_arg(role)
        expiry = token_expiry(expires, self._ttl_days, self._clock())
        try:
            subject, checked = validate_subject(subject), list(validate_groups(groups))
        except ValueError as exc:
            raise InvalidArgumentError(str(exc)) from None
        if not caller.principal.manages(checked):
            raise PermissionDeniedError("you may only issue tokens for groups of your own token")
        token = self._tokens.create(subject, checked_role, checked, expiry)
        token_hash = hash_token(token)
        self._audit.touched(caller, "create_token", {"token_hash": token_hash, "subject": subject,
                                                     "role": checked_role.value, "groups": checked,
                                                     "expires": expiry})
        return IssuedToken(token, token_hash, expiry)

    def revoke(self, caller: Caller, token_hash: str) -> None:
        if not TOKEN_HASH.fullmatch(token_hash):
            raise InvalidArgumentError("token_hash must be 64 lowercase hex characters "
                                       "(the id `vigil token list` shows)")
        record = self._tokens.get(token_hash)
        if record is None or not caller.principal.manages(record.groups):
            raise NotFoundError("no such token")
        self._tokens.revoke(token_hash)
        self._audit.touched(caller, "revoke_token", {"token_hash": token_hash})

    def list(self, caller: Caller) -> list[ListedToken]:
        """The tokens the caller manages, expired ones included (and marked)."""
        now = self._clock()
        return [ListedToken(r, r.expired(now)) for r in self._tokens.list()
                if caller.principal.manages(r.groups)]
