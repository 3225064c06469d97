"""The one check every call passes: a bearer token in, the principal it names, its kind and scope.

FastAPI routes (through `shared.auth.http`), analytics' coverage views on Faust's web server and
the dashboard's sign-in all call `Authenticator.caller`; what it refuses is an RFC 9457 problem
(401 for a token that is missing or not valid here, 403 for a caller without the right, 503 when
the issuer's key cannot be read).

A service accepts a token only when the token's `aud` names that service (`settings.audience`),
so a token handed to one service cannot be replayed against another. A service may also trust a
*delegate*: a narrow issuer of its own (the dashboard, exchanging an organiser's token for a
read-only one) whose tokens are accepted only for organisers and only with the scopes it may grant.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from shared.auth.keys import KeyFile, public_key_file
from shared.auth.tokens import (
    ORGANISER,
    SERVICE,
    InvalidTokenError,
    Principal,
    issuer_of,
    verify_until,
)
from shared.problems import ProblemError
from shared.settings import PlatformSettings

# What a caller of the wrong kind is told.
WRONG_KIND = {
    ORGANISER: ("not-an-organiser", "only an organiser may do this"),
    SERVICE: ("not-a-service", "only a service may call this"),
}


def unauthenticated(detail: str) -> ProblemError:
    return ProblemError(
        401,
        "unauthenticated",
        "Authentication required",
        detail,
        headers={"WWW-Authenticate": 'Bearer realm="sangathan"'},
    )


def forbidden(kind: str, detail: str) -> ProblemError:
    return ProblemError(403, kind, "Not allowed", detail)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None for anything else."""
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def require_jurisdiction(who: Principal, unit_id: str) -> None:
    """403 unless the organiser's unit is `unit_id` or above it."""
    if not who.may_act_in(unit_id):
        raise forbidden(
            "outside-jurisdiction",
            f"{unit_id} is outside your unit {who.unit}; you act only inside your own unit",
        )


@dataclass(frozen=True)
class Delegate:
    """An issuer a service trusts besides the organisation's own, for organisers' tokens it
    narrowed: they may carry no scope beyond `scopes`."""

    issuer: str
    public_key_file: Path
    scopes: frozenset[str]


@dataclass(frozen=True)
class _Trusted:
    key: KeyFile
    scopes: frozenset[str] | None  # None: the organisation's issuer, which grants any scope


class Authenticator:
    """Verifies bearer tokens for this service's audience (a changed key is read within 1 s).

    A service sends the same token on every call for hours, and checking its signature and
    claims was a large part of a small request's CPU (the OTP service's verifications). So a
    token that verified is remembered, by its exact text and the key it verified with, until
    it expires; any other text, a changed key or a passed `exp` is verified in full again."""

    REMEMBERED = 1024  # tokens

    def __init__(self, settings: PlatformSettings, delegates: Iterable[Delegate] = ()):
        self.issuer, self.audience = settings.auth_issuer, settings.audience
        self._trusted = {
            self.issuer: _Trusted(public_key_file(settings.auth_public_key_file), None)
        }
        self._trusted |= {
            d.issuer: _Trusted(public_key_file(d.public_key_file), d.scopes) for d in delegates
        }
        self._verified: dict[str, tuple[object, Principal, float]] = {}  # token -> (key, who, exp)

    def caller(
        self, token: str | None, *, scope: str, kind: str | None = None
    ) -> tuple[Principal, float]:
        """The caller a token names, who must be of `kind` (any if None) and hold `scope`, and the
        epoch second its token expires at (a stream ends then); problems otherwise."""
        who, expires = self.principal_until(token)
        if kind is not None and who.kind != kind:
            raise forbidden(*WRONG_KIND[kind])
        if scope not in who.scopes:
            raise forbidden("missing-scope", f"the token lacks the {scope!r} scope")
        return who, expires

    def principal(self, token: str | None) -> Principal:
        return self.principal_until(token)[0]

    def principal_until(self, token: str | None) -> tuple[Principal, float]:
        """Who a valid token for this service names, and when it expires; 401 otherwise."""
        if not token:
            raise unauthenticated("send an Authorization: Bearer <token> header")
        try:
            issuer = self.issuer if len(self._trusted) == 1 else issuer_of(token)
        except InvalidTokenError as exc:
            raise unauthenticated(f"the bearer token is not valid: {exc}") from None
        trusted = self._trusted.get(issuer)
        if trusted is None:
            raise unauthenticated(
                "the bearer token is not valid: not from an issuer this service trusts"
            )
        key = _read(trusted.key)
        known = self._verified.get(token)
        if known is not None and known[0] is key and time.time() < known[2]:
            return known[1], known[2]
        try:
            who, expires = verify_until(token, key, issuer=issuer, audience=self.audience)
            _within_grant(who, issuer, trusted.scopes)
        except InvalidTokenError as exc:
            raise unauthenticated(f"the bearer token is not valid: {exc}") from None
        if len(self._verified) >= self.REMEMBERED:
            # rare (services hold a handful of tokens) and safe across threads
            self._verified.clear()
        self._verified[token] = (key, who, expires)
        return who, expires


def _read(key: KeyFile):
    try:
        return key.get()
    except OSError:
        raise ProblemError(
            503,
            "auth-unavailable",
            "Cannot check tokens now",
            "the issuer's public key cannot be read",
            headers={"Retry-After": "5"},
        ) from None


def _within_grant(who: Principal, issuer: str, scopes: frozenset[str] | None) -> None:
    """A delegate's token speaks for an organiser, with no more than the delegate may grant."""
    if scopes is None:
        return
    if who.kind != ORGANISER:
        raise InvalidTokenError(f"{issuer} issues tokens for organisers only")
    if not who.scopes <= scopes:
        raise InvalidTokenError(f"{issuer} may grant only {', '.join(sorted(scopes))}")
