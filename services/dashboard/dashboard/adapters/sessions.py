"""Signed-in sessions in Redis, shared by every dashboard process: an opaque random id in the
browser's cookie, and here who it is and until when. No token is kept.

The key is a hash of the id, so what Redis holds (a dump, a replica) cannot be turned back into a
cookie; Redis itself drops a session when it ends (PXAT), and signing out deletes it at once.
"""

from __future__ import annotations

import hashlib
import json
import secrets

import redis

from shared.auth.tokens import ORGANISER, Principal

PREFIX = "dashboard:session:"
ID_BYTES = 32
LONGEST_ID = 64  # characters: anything longer is not one of ours, and is not looked up


class SessionStore:
    def __init__(self, client: redis.Redis):
        self.client = client

    def open(self, who: Principal, expires: float, scopes: frozenset[str]) -> str:
        """A new session for `who` with `scopes`, ending at `expires` (epoch seconds); its id."""
        session_id = secrets.token_urlsafe(ID_BYTES)
        record = {
            "subject": who.subject,
            "unit": who.unit,
            "role": who.role,
            "scopes": sorted(scopes),
            "expires": expires,
        }
        self.client.set(_key(session_id), json.dumps(record), pxat=int(expires * 1000))
        return session_id

    def find(self, session_id: str) -> tuple[Principal, float] | None:
        """Who a live session is and when it ends; None for an unknown, ended or closed one."""
        if not session_id or len(session_id) > LONGEST_ID:
            return None
        raw = self.client.get(_key(session_id))
        if raw is None:
            return None
        record = json.loads(raw)
        who = Principal(
            subject=record["subject"],
            kind=ORGANISER,
            unit=record["unit"],
            role=record["role"],
            scopes=frozenset(record["scopes"]),
        )
        return who, record["expires"]

    def close(self, session_id: str) -> None:
        if session_id and len(session_id) <= LONGEST_ID:
            self.client.delete(_key(session_id))


def _key(session_id: str) -> str:
    return PREFIX + hashlib.sha256(session_id.encode()).hexdigest()
