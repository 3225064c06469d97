"""Directives, their outbox, the audit trail and opt-outs in MongoDB.

Every hot read and write names one document by `_id` (the only filter FerretDB v1 serves from an
index); the scans here (`unpublished`, `active`, opt-outs at start-up) read collections that hold
a few directives a day, never one document per booth or recipient.

The outbox is a field of the directive itself: the directive and the event announcing it are
written in one single-document insert, so neither exists without the other; `published` turns
true only after Kafka acknowledged the event, and a relay re-publishes anything left false.

A directive is inserted once, as issued; every later change is one targeted update, and every
change of state is a `Move` of the domain, checked and written in one step. Documents become
`Directive`s here and nowhere else.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from notifier.domain.directives import (
    AWAIT_ROUND,
    CANCELLABLE,
    CLAIM_ROUND,
    ROUND_DONE,
    ROUND_MISSED,
    ROUND_SENDING,
    SCHEDULED,
    SENDING,
    SENT,
    Directive,
    DuplicateDirective,
    FollowUpsDone,
    Move,
    Override,
    Round,
    utc,
)


class DirectiveStore:
    def __init__(self, db: Database, prefix: str):
        self.directives = db[f"{prefix}directives"]
        self.audit_log = db[f"{prefix}audit"]
        self.optouts = db[f"{prefix}optouts"]

    # --- directives ----------------------------------------------------------------------------

    def insert(self, directive: Directive) -> None:
        try:
            self.directives.insert_one(to_document(directive))
        except DuplicateKeyError:
            raise DuplicateDirective(directive.directive_id) from None

    def get(self, directive_id: str) -> Directive | None:
        return from_document(self.directives.find_one({"_id": directive_id}))

    def mark_published(self, directive_id: str) -> None:
        self.directives.update_one(
            {"_id": directive_id},
            {"$set": {"outbox.published": True, "outbox.published_at": _now()}},
        )

    def unpublished(self, limit: int = 100) -> list[Directive]:
        return [
            from_document(document)
            for document in self.directives.find({"outbox.published": False}).limit(limit)
        ]

    def move(self, directive_id: str, move: Move, **fields: Any) -> Directive | None:
        """Make the move if the directive is in one of its `before` states (atomic, one document);
        the directive after it, or None if it was in another state."""
        return from_document(
            self.directives.find_one_and_update(
                {"_id": directive_id, "state": {"$in": list(move.before)}},
                {"$set": {"state": move.after, f"timeline.{move.after}": _now(), **fields}},
                return_document=ReturnDocument.AFTER,
            )
        )

    def record_reminders(self, directive_id: str, reminders: int) -> None:
        self.directives.update_one(
            {"_id": directive_id},
            {"$set": {"follow_ups.reminded": _now(), "follow_ups.reminders": reminders}},
        )

    def record_escalations(self, directive_id: str, escalations: dict[str, int]) -> None:
        self.directives.update_one(
            {"_id": directive_id},
            {"$set": {"follow_ups.escalated": _now(), "follow_ups.escalations": escalations}},
        )

    def sent_since(self, states: tuple[str, ...] = (SENT,), limit: int = 200) -> list[Directive]:
        """Directives whose fan-out is done and which have not expired (follow-ups look at
        these)."""
        now = datetime.now(timezone.utc).timestamp()
        found = self.directives.find({"state": {"$in": list(states)}}).limit(limit)
        return [
            from_document(document) for document in found if document.get("expires_ts", 0) > now
        ]

    def recurring(self, limit: int = 500) -> list[Directive]:
        """Recurring directives still running, for the issue-time check of rounds a day per unit
        (`domain.directives.rounds_per_day_refusal`): a few a day, so read whole."""
        found = self.directives.find(
            {"recurrence": {"$ne": None}, "state": {"$in": list(CANCELLABLE)}}
        )
        return [from_document(document) for document in found.limit(limit)]

    # --- rounds of a recurring directive --------------------------------------------------------
    # Each round is a field of its directive, `rounds.<round id>`: {state, slot, owner, lease_until,
    # started_at, finished_at, targeted}. A claim is one atomic update, so
    # of two schedulers that reach the same round one sends it; a claim whose owner died (its
    # lease ran out) may be taken over, and a round done is never claimed again.

    def claim_round(
        self,
        directive_id: str,
        round_id: str,
        slot: datetime,
        *,
        owner: str,
        now: float,
        lease_s: float,
    ) -> Directive | None:
        """The directive with the round claimed for `owner` (and the directive sending), or None if
        the round is done, missed, held by a live claim, or the directive no longer sends."""
        key = f"rounds.{round_id}"
        return from_document(
            self.directives.find_one_and_update(
                {
                    "_id": directive_id,
                    "state": {"$in": list(CLAIM_ROUND.before)},
                    "$or": [
                        {key: {"$exists": False}},
                        {f"{key}.state": ROUND_SENDING, f"{key}.owner": owner},
                        {f"{key}.state": ROUND_SENDING, f"{key}.lease_until": {"$lt": now}},
                    ],
                },
                {
                    "$set": {
                        "state": CLAIM_ROUND.after,
                        f"timeline.{CLAIM_ROUND.after}": _now(),
                        key: {
                            "state": ROUND_SENDING,
                            "slot": slot,
                            "owner": owner,
                            "lease_until": now + lease_s,
                            "started_at": _now(),
                        },
                    }
                },
                return_document=ReturnDocument.AFTER,
            )
        )

    def finish_round(
        self,
        directive_id: str,
        round_id: str,
        *,
        owner: str,
        targeted: int,
        next_slot: datetime | None,
    ) -> Directive | None:
        """Mark the claimed round done and the directive waiting for its next round (or sent, after
        the last); None if the claim was lost or the directive was cancelled meanwhile."""
        key = f"rounds.{round_id}"
        after = (
            {"state": SCHEDULED, "due_at": next_slot, "next_round_at": next_slot}
            if next_slot
            else {
                "state": SENT,
                f"timeline.{SENT}": _now(),
                "fanned_out_at": _now(),
                "next_round_at": None,
            }
        )
        return from_document(
            self.directives.find_one_and_update(
                {
                    "_id": directive_id,
                    "state": SENDING,
                    f"{key}.state": ROUND_SENDING,
                    f"{key}.owner": owner,
                },
                {
                    "$set": {
                        f"{key}.state": ROUND_DONE,
                        f"{key}.finished_at": _now(),
                        f"{key}.targeted": targeted,
                        f"{key}.lease_until": None,
                        **after,
                    }
                },
                return_document=ReturnDocument.AFTER,
            )
        )

    def renew_round(self, directive_id: str, round_id: str, *, owner: str, until: float) -> None:
        key = f"rounds.{round_id}"
        self.directives.update_one(
            {"_id": directive_id, f"{key}.state": ROUND_SENDING, f"{key}.owner": owner},
            {"$set": {f"{key}.lease_until": until}},
        )

    def miss_round(self, directive_id: str, round_id: str, slot: datetime) -> None:
        """A round whose next slot came before it could go: recorded, never sent."""
        key = f"rounds.{round_id}"
        self.directives.update_one(
            {"_id": directive_id, key: {"$exists": False}},
            {"$set": {key: {"state": ROUND_MISSED, "slot": slot, "finished_at": _now()}}},
        )

    def next_round(self, directive_id: str, next_slot: datetime) -> None:
        """Between rounds: waiting for the next slot (a directive cancelled meanwhile stays so)."""
        self.directives.update_one(
            {"_id": directive_id, "state": {"$in": list(AWAIT_ROUND.before)}},
            {"$set": {"state": AWAIT_ROUND.after, "due_at": next_slot, "next_round_at": next_slot}},
        )

    # --- audit and consent ---------------------------------------------------------------------

    def audit(self, action: str, *, actor: str, subject: str, **details: Any) -> None:
        self.audit_log.insert_one(
            {"action": action, "actor": actor, "subject": subject, "at": _now(), **details}
        )

    def audit_entries(self, subject: str) -> list[dict[str, Any]]:
        return list(self.audit_log.find({"subject": subject}, {"_id": 0}))

    def record_optout(self, phone_key: str, *, via: str, channel: str) -> None:
        """`phone_key` is the phone's HMAC: the record says who opted out without holding a
        number."""
        self.optouts.update_one(
            {"_id": phone_key},
            {"$setOnInsert": {"at": _now(), "via": via, "channel": channel}},
            upsert=True,
        )

    def optout_keys(self) -> list[str]:
        return [optout["_id"] for optout in self.optouts.find({}, {"_id": 1})]


# --- documents <-> directives -----------------------------------------------------------------


def to_document(directive: Directive) -> dict[str, Any]:
    """A directive as issued: its event's data, its state, the outbox and the times it is read
    by."""
    override = directive.override
    return {
        "_id": directive.directive_id,
        **directive.event_data(),
        "state": directive.state,
        "expires_ts": directive.expires_at.timestamp(),
        "send_ts": directive.send_at.timestamp() if directive.send_at else None,
        "rounds_start": directive.rounds_start,
        "quiet_hours_override": {"reason": override.reason, "by": override.by, "at": override.at}
        if override
        else None,
        "outbox": {"event_id": directive.outbox_event_id, "published": directive.published},
        "timeline": {directive.state: directive.issued_at},
    }


def from_document(document: dict[str, Any] | None) -> Directive | None:
    if document is None:
        return None
    override, done = document.get("quiet_hours_override"), document.get("follow_ups") or {}
    send_at = document.get("send_at")
    return Directive(
        directive_id=document["_id"],
        issued_by=document["issued_by"],
        issuing_unit=document["issuing_unit"],
        title=document["title"],
        body=document["body"],
        scope=tuple(document["scope"]),
        audience=tuple(document["audience"]),
        channels=tuple(document["channels"]),
        priority=document["priority"],
        send_at=datetime.fromisoformat(send_at) if send_at else None,
        expires_at=datetime.fromisoformat(document["expires_at"]),
        issued_at=datetime.fromisoformat(document["issued_at"]),
        recurrence=document.get("recurrence"),
        state=document["state"],
        rounds_start=_utc(document.get("rounds_start")),
        override=Override(override["reason"], override["by"], utc(override["at"]))
        if override
        else None,
        outbox_event_id=document["outbox"]["event_id"],
        published=document["outbox"]["published"],
        rounds={
            round_id: _round(round_id, stored)
            for round_id, stored in (document.get("rounds") or {}).items()
        },
        next_round_at=_utc(document.get("next_round_at")),
        fanned_out_at=_utc(document.get("fanned_out_at")),
        follow_ups=FollowUpsDone(
            reminded_at=_utc(done.get("reminded")),
            reminders=done.get("reminders"),
            escalated_at=_utc(done.get("escalated")),
            escalations=done.get("escalations"),
        ),
    )


def _round(round_id: str, stored: dict[str, Any]) -> Round:
    return Round(
        round_id=round_id,
        state=stored["state"],
        slot=_utc(stored.get("slot")),
        started_at=_utc(stored.get("started_at")),
        finished_at=_utc(stored.get("finished_at")),
        targeted=stored.get("targeted"),
    )


def _utc(at: datetime | None) -> datetime | None:
    return utc(at) if at else None


def _now() -> datetime:
    return datetime.now(timezone.utc)
