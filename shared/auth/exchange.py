"""Token exchange for the dashboard (RFC 8693 in spirit): an organiser's token in, a narrow one out.

The dashboard checks an organiser's token once, at sign-in, and then keeps only a session. When
it asks analytics for numbers on the organiser's behalf it signs, with a key of its own, a token
that names the organiser and their unit, only `coverage:read`, only analytics as its audience,
the dashboard as the actor (`act`), and that expires within a minute and never after the
session (itself never after the organiser's token). Analytics trusts that key as a *delegate*
for exactly those scopes; no other service trusts it at all. So nothing the dashboard holds (its
sessions, its key) can appoint, issue a directive or read personal data.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from shared.auth import tokens
from shared.auth.access import Delegate
from shared.auth.keys import LOCAL_DIR, ensure_local_keys, private_key_file
from shared.auth.tokens import Principal

ISSUER = "sangathan-dashboard"
ACTOR = "svc:dashboard"
AUDIENCE = "analytics"
SCOPES = frozenset({"coverage:read"})  # all the dashboard may ever ask for
TTL = timedelta(minutes=1)
LOCAL_NAME = "dashboard"  # its local key pair: .state/auth/dashboard-{private,public}.pem
LOCAL_PUBLIC_KEY = LOCAL_DIR / f"{LOCAL_NAME}-public.pem"


def local_signing_key() -> Path:
    """The development signing key (made once); outside development the key is a mounted secret."""
    private, _ = ensure_local_keys(name=LOCAL_NAME)
    return private


def delegate(public_key_file: Path) -> Delegate:
    """What analytics trusts the dashboard for."""
    return Delegate(ISSUER, public_key_file, SCOPES)


class Exchanger:
    """Signs the dashboard's narrowed tokens (its private key re-read when rotated)."""

    def __init__(self, private_key: Path):
        self.key = private_key_file(private_key)

    def narrowed(self, who: Principal, *, expires: float) -> str:
        """A token for analytics to read `who`'s coverage, ending by `expires` (epoch seconds)."""
        return tokens.issue(
            self.key.get(),
            issuer=ISSUER,
            audience=AUDIENCE,
            subject=who.subject,
            kind=tokens.ORGANISER,
            unit=who.unit,
            role=who.role,
            scopes=sorted(SCOPES),
            ttl=TTL,
            expires=datetime.fromtimestamp(expires, timezone.utc),
            actor=ACTOR,
        )
