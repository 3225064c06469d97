"""Directives, their outbox, the audit trail and opt-outs in MongoDB.

Every hot read and write names one document by `_id` (the only filter FerretDB v1 serves from an
index); the scans here (`unpublished`, `active`, opt-outs at start-up) read collections that hold
a few directives a day, never one document per booth or recipient.

The outbox is a field of the directive itself: the directive and the event announcing it are
written in one single-document insert, so neither exists without the other; `published` turns
true only after Kafka acknowledged the event, and a relay re-publishes anything left false.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

ACCEPTED, SCHEDULED, SENDING, SENT, CANCELLED = "accepted", "scheduled", "sending", "sent", "cancelled"
CANCELLABLE = (ACCEPTED, SCHEDULED, SENDING)


class DuplicateDirective(Exception):
    """A directive with this id exists (an Idempotency-Key used again)."""


class DirectiveStore:
    def __init__(self, db: Database, prefix: str):
        self.directives = db[f"{prefix}directives"]
        self.audit_log = db[f"{prefix}audit"]
        self.optouts = db[f"{prefix}optouts"]

    # --- directives ----------------------------------------------------------------------------

    def insert(self, document: dict[str, Any]) -> None:
        try:
            self.directives.insert_one(document)
        except DuplicateKeyError:
            raise DuplicateDirective(document["_id"]) from None

    def get(self, directive_id: str) -> dict[str, Any] | None:
        return self.directives.find_one({"_id": directive_id})

    def mark_published(self, directive_id: str) -> None:
        self.directives.update_one({"_id": directive_id}, {"$set": {"outbox.published": True,
                                                                    "outbox.published_at": _now()}})

    def unpublished(self, limit: int = 100) -> list[dict[str, Any]]:
        return list(self.directives.find({"outbox.published": False}).limit(limit))

    def move(self, directive_id: str, from_states: tuple[str, ...], to_state: str, **fields: Any) -> dict | None:
        """Change the state if it is one of `from_states` (atomic, one document); the new
        document, or None if it was in another state."""
        return self.directives.find_one_and_update(
            {"_id": directive_id, "state": {"$in": list(from_states)}},
            {"$set": {"state": to_state, f"timeline.{to_state}": _now(), **fields}},
            return_document=ReturnDocument.AFTER,
        )

    def record(self, directive_id: str, **fields: Any) -> None:
        self.directives.update_one({"_id": directive_id}, {"$set": fields})

    def sent_since(self, states: tuple[str, ...] = (SENT,), limit: int = 200) -> list[dict[str, Any]]:
        """Directives whose fan-out is done and which have not expired (follow-ups look at these)."""
        now = datetime.now(timezone.utc).timestamp()
        return [d for d in self.directives.find({"state": {"$in": list(states)}}).limit(limit)
                if d.get("expires_ts", 0) > now]

    # --- audit and consent ---------------------------------------------------------------------

    def audit(self, action: str, *, actor: str, subject: str, **details: Any) -> None:
        self.audit_log.insert_one({"action": action, "actor": actor, "subject": subject, "at": _now(), **details})

    def audit_entries(self, subject: str) -> list[dict[str, Any]]:
        return list(self.audit_log.find({"subject": subject}, {"_id": 0}))

    def record_optout(self, phone_key: str, *, via: str, channel: str) -> None:
        """`phone_key` is the phone's HMAC: the record says who opted out without holding a number."""
        self.optouts.update_one({"_id": phone_key},
                                {"$setOnInsert": {"at": _now(), "via": via, "channel": channel}}, upsert=True)

    def optout_keys(self) -> list[str]:
        return [d["_id"] for d in self.optouts.find({}, {"_id": 1})]


def _now() -> datetime:
    return datetime.now(timezone.utc)
