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

    def recurring(self, limit: int = 500) -> list[dict[str, Any]]:
        """Recurring directives still running (issue-time checks of rounds a day per unit)."""
        return list(self.directives.find({"recurrence": {"$ne": None}, "state": {"$in": list(CANCELLABLE)}},
                                         {"_id": 1, "scope": 1, "recurrence": 1}).limit(limit))

    # --- rounds of a recurring directive --------------------------------------------------------
    # Each round is a field of its directive, `rounds.<round id>`: {state, slot, owner, lease_until,
    # started_at, finished_at}. State: sending -> done, or missed. A claim is one atomic update, so
    # of two schedulers that reach the same round one sends it; a claim whose owner died (its
    # lease ran out) may be taken over, and a round done is never claimed again.

    def claim_round(self, directive_id: str, round_id: str, slot: datetime, *, owner: str, now: float,
                    lease_s: float) -> dict | None:
        """The directive with the round claimed for `owner` (and the directive sending), or None if
        the round is done, missed, held by a live claim, or the directive no longer sends."""
        key = f"rounds.{round_id}"
        return self.directives.find_one_and_update(
            {"_id": directive_id, "state": {"$in": list(CANCELLABLE)}, "$or": [
                {key: {"$exists": False}},
                {f"{key}.state": "sending", f"{key}.owner": owner},
                {f"{key}.state": "sending", f"{key}.lease_until": {"$lt": now}},
            ]},
            {"$set": {"state": SENDING, f"timeline.{SENDING}": _now(),
                      key: {"state": "sending", "slot": slot, "owner": owner, "lease_until": now + lease_s,
                            "started_at": _now()}}},
            return_document=ReturnDocument.AFTER,
        )

    def finish_round(self, directive_id: str, round_id: str, *, owner: str, targeted: int,
                     next_slot: datetime | None) -> dict | None:
        """Mark the claimed round done and the directive waiting for its next round (or sent, after
        the last); None if the claim was lost or the directive was cancelled meanwhile."""
        key = f"rounds.{round_id}"
        after = ({"state": SCHEDULED, "due_at": next_slot, "next_round_at": next_slot} if next_slot else
                 {"state": SENT, f"timeline.{SENT}": _now(), "fanned_out_at": _now(), "next_round_at": None})
        return self.directives.find_one_and_update(
            {"_id": directive_id, "state": SENDING, f"{key}.state": "sending", f"{key}.owner": owner},
            {"$set": {f"{key}.state": "done", f"{key}.finished_at": _now(), f"{key}.targeted": targeted,
                      f"{key}.lease_until": None, **after}},
            return_document=ReturnDocument.AFTER,
        )

    def renew_round(self, directive_id: str, round_id: str, *, owner: str, until: float) -> None:
        key = f"rounds.{round_id}"
        self.directives.update_one({"_id": directive_id, f"{key}.state": "sending", f"{key}.owner": owner},
                                   {"$set": {f"{key}.lease_until": until}})

    def miss_round(self, directive_id: str, round_id: str, slot: datetime) -> None:
        """A round whose next slot came before it could go: recorded, never sent."""
        key = f"rounds.{round_id}"
        self.directives.update_one({"_id": directive_id, key: {"$exists": False}},
                                   {"$set": {key: {"state": "missed", "slot": slot, "finished_at": _now()}}})

    def next_round(self, directive_id: str, next_slot: datetime) -> None:
        """Between rounds: waiting for the next slot (a directive cancelled meanwhile stays so)."""
        self.directives.update_one({"_id": directive_id, "state": {"$in": [ACCEPTED, SCHEDULED]}},
                                   {"$set": {"state": SCHEDULED, "due_at": next_slot, "next_round_at": next_slot}})

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
