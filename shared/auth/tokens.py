"""Issuing and verifying tokens, and the principal a verified token names. No I/O."""

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import jwt

from shared.orgtree.levels import is_within

ALGORITHM = "EdDSA"
SUBJECT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")  # the events' organiser id pattern
ORGANISER = "organiser"
SERVICE = "service"


class InvalidTokenError(Exception):
    """The token is missing, malformed, expired, or not signed by our issuer."""


@dataclass(frozen=True)
class Principal:
    subject: str  # an account id ("user-4821") or a service ("svc:appointments"); never a name
    kind: str  # ORGANISER or SERVICE
    unit: str | None = None  # an organiser's unit; they act only inside its subtree
    role: str | None = None  # the organiser's post, e.g. "district_president"; informative
    scopes: frozenset[str] = field(default_factory=frozenset)
    # Who acts for the organiser, when a token was exchanged (RFC 8693 `act`), e.g. "svc:dashboard".
    actor: str | None = None

    def may_act_in(self, unit_id: str) -> bool:
        """Whether `unit_id` is the principal's unit or below it (no lookup: see
        shared/orgtree/levels)."""
        if self.kind != ORGANISER or not self.unit:
            return False
        return is_within(unit_id, self.unit)


def subject_id(sub: str) -> str:
    """The `sub` as the platform records it: as is when it is a plain id (`user-4821`, a UUID),
    else a stable stand-in. Identity providers send `auth0|5f7c…`, e-mail addresses or 200-character
    strings, which the events' organiser ids (`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$`) cannot carry."""
    if SUBJECT.fullmatch(sub):
        return sub
    return "sub-" + hashlib.sha256(sub.encode()).hexdigest()[:40]


def issue(
    private_key,
    *,
    issuer: str,
    audience: str | list[str],
    subject: str,
    kind: str,
    unit: str | None = None,
    role: str | None = None,
    scopes: list[str] = (),
    ttl: timedelta = timedelta(hours=1),
    expires: datetime | None = None,
    actor: str | None = None,
) -> str:
    """A signed token for `audience`: one service, or a list of them (a client calling several).
    It expires after `ttl`, or at `expires` when that comes first."""
    now = datetime.now(timezone.utc)
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": now,
        "nbf": now,
        "exp": min(now + ttl, expires) if expires else now + ttl,
        "jti": str(uuid.uuid4()),
        "kind": kind,
        "scope": " ".join(scopes),
    }
    if unit:
        claims["unit"] = unit
    if role:
        claims["role"] = role
    if actor:
        claims["act"] = {"sub": actor}
    return jwt.encode(claims, private_key, algorithm=ALGORITHM)


def issuer_of(token: str) -> str | None:
    """The `iss` a token claims, unverified: only to pick the key that must then verify it."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise InvalidTokenError(str(exc)) from exc
    issuer = claims.get("iss")
    return issuer if isinstance(issuer, str) else None


def verify(token: str, public_key, *, issuer: str, audience: str) -> Principal:
    return verify_until(token, public_key, issuer=issuer, audience=audience)[0]


def verify_until(token: str, public_key, *, issuer: str, audience: str) -> tuple[Principal, float]:
    """`verify`, and the epoch second the token expires at."""
    try:
        claims = jwt.decode(
            token,
            public_key,
            algorithms=[ALGORITHM],
            issuer=issuer,
            audience=audience,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.InvalidAudienceError:
        raise InvalidTokenError(
            f"it is not for this service: its audience (aud) does not name {audience!r}"
        ) from None
    except jwt.PyJWTError as exc:
        raise InvalidTokenError(str(exc)) from exc
    kind = claims.get("kind")
    if kind not in (ORGANISER, SERVICE):
        raise InvalidTokenError("token names no known kind of caller")
    if kind == ORGANISER and not claims.get("unit"):
        raise InvalidTokenError("an organiser's token must name their unit")
    actor = claims.get("act", {}).get("sub") if isinstance(claims.get("act"), dict) else None
    return Principal(
        subject=subject_id(claims["sub"]),
        kind=kind,
        unit=claims.get("unit"),
        role=claims.get("role"),
        scopes=frozenset(claims.get("scope", "").split()),
        actor=actor,
    ), float(claims["exp"])
