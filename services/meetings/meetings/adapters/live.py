"""A meeting's live half in MongoDB, on the documents adapters/store.py keeps:

`{prefix}meetings` gains `live`:

    state          starting | started | ending | ended  (absent: not started)
    claimed_by, claim_ts   the pod that starts (or ends) it and until when its lease holds
    bridges        {"<number>": {bridge_id, ref, role, pin, room_url}}   0: the speaker bridge
    invited, started_at, end_requested, ended_at, totals

`{prefix}invitees` gains, per invitee:

    dial_bridge    the bridge number it was dialled into (redials go there)
    caller_hash    keyed hash of the phone (shared/sending/signatures.caller_hash): a dial-in
                   is matched by it; the number never leaves the sealed field
    att            the participant's attendance (meetings.conference.Attendance, as a document)
    att_v          its version: a webhook's update is a compare-and-set on it, so two webhooks of
                   one participant handled at once both count
    att_pending    {event_id: event}: attendance events written with the change that made them
                   and removed once Kafka took them, so a failed publish is sent again by the
                   next webhook of that participant or by the end's reconciliation

`{prefix}calls`: the dial-outs still to make, first calls and redials of busy and no-answer alike
({_id "<invitee id>:<attempt>", meeting_id, invitee, attempt, bridge, due_ts, held_ts}); made
calls are deleted, so the dialler scans only what is left.

Starting and ending are claimed with one find-and-modify on the meeting, so one pod does each.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

from pymongo.database import Database

from meetings.conference import Attendance, Leg
from shared.crypto.fields import FieldCipher
from shared.mongo import insert_ignoring_duplicates

PHONE = "phone"


class MongoLive:
    def __init__(self, db: Database, prefix: str, cipher: FieldCipher):
        self._meetings = db[f"{prefix}meetings"]
        self._invitees = db[f"{prefix}invitees"]
        self._calls = db[f"{prefix}calls"]
        self.cipher = cipher

    # --- the meeting ---------------------------------------------------------------------------

    def claim_start(self, now: datetime, pod: str, lease_s: float) -> str | None:
        """A meeting due to start (invitees recorded) that no live lease holds, claimed."""
        doc = self._meetings.find_one_and_update(
            {
                "state": "scheduled",
                "starts_at": {"$lte": now},
                "jobs.invite.done_at": {"$ne": None},
                "live.state": {"$nin": ["started", "ending", "ended"]},
                "$or": [{"live.claim_ts": None}, {"live.claim_ts": {"$lt": now.timestamp()}}],
            },
            {
                "$set": {
                    "live.state": "starting",
                    "live.claimed_by": pod,
                    "live.claim_ts": now.timestamp() + lease_s,
                }
            },
        )
        return doc["_id"] if doc else None

    def claim_end(self, now: datetime, pod: str, lease_s: float) -> str | None:
        """A started meeting past its end, or whose end a moderator asked for, claimed."""
        doc = self._meetings.find_one_and_update(
            {
                "live.state": {"$in": ["started", "ending"]},
                "$and": [
                    {"$or": [{"ends_at": {"$lte": now}}, {"live.end_requested": True}]},
                    {"$or": [{"live.claim_ts": None}, {"live.claim_ts": {"$lt": now.timestamp()}}]},
                ],
            },
            {
                "$set": {
                    "live.state": "ending",
                    "live.claimed_by": pod,
                    "live.claim_ts": now.timestamp() + lease_s,
                }
            },
        )
        return doc["_id"] if doc else None

    def hold(self, meeting_id: str, pod: str, until: float) -> bool:
        """Extend this pod's lease; False if another pod holds the meeting now."""
        result = self._meetings.update_one(
            {"_id": meeting_id, "live.claimed_by": pod}, {"$set": {"live.claim_ts": until}}
        )
        return result.matched_count == 1

    def release(self, meeting_id: str, pod: str) -> None:
        self._meetings.update_one(
            {"_id": meeting_id, "live.claimed_by": pod}, {"$set": {"live.claim_ts": None}}
        )

    def live(self, meeting_id: str) -> dict:
        doc = self._meetings.find_one({"_id": meeting_id}, {"live": 1})
        return (doc or {}).get("live") or {}

    def save_bridge(self, meeting_id: str, number: int, bridge: dict) -> None:
        self._meetings.update_one({"_id": meeting_id}, {"$set": {f"live.bridges.{number}": bridge}})

    def started(self, meeting_id: str, at: datetime, invited: int) -> None:
        self._meetings.update_one(
            {"_id": meeting_id},
            {"$set": {"live.state": "started", "live.started_at": at, "live.invited": invited}},
        )

    def request_end(self, meeting_id: str) -> bool:
        result = self._meetings.update_one(
            {"_id": meeting_id, "live.state": {"$in": ["starting", "started"]}},
            {"$set": {"live.end_requested": True, "live.claim_ts": None}},
        )
        return result.matched_count == 1

    def ended(self, meeting_id: str, at: datetime, totals: dict) -> None:
        self._meetings.update_one(
            {"_id": meeting_id},
            {"$set": {"live.state": "ended", "live.ended_at": at, "live.totals": totals}},
        )

    # --- invitees ------------------------------------------------------------------------------

    def invitees(self, meeting_id: str, with_phones: bool = False) -> Iterator[dict]:
        """The meeting's invitees (phones opened only when asked, for dialling)."""
        fields = {"att_pending": 0} if with_phones else {PHONE: 0, "att_pending": 0}
        for doc in self._invitees.find({"meeting_id": meeting_id}, fields):
            if with_phones:
                doc[PHONE] = self.cipher.open(doc[PHONE], PHONE) if doc.get(PHONE) else ""
            yield doc

    def invitee(self, key: str, with_phone: bool = False) -> dict | None:
        doc = self._invitees.find_one({"_id": key}, None if with_phone else {PHONE: 0})
        if doc is not None and with_phone:
            doc[PHONE] = self.cipher.open(doc[PHONE], PHONE) if doc.get(PHONE) else ""
        return doc

    def by_caller(self, meeting_id: str, caller_hash: str) -> dict | None:
        return self._invitees.find_one(
            {"meeting_id": meeting_id, "caller_hash": caller_hash}, {PHONE: 0}
        )

    def note_call(self, key: str, caller_hash: str, bridge: int) -> None:
        """Dialled into `bridge` (a redial goes there too); a dial-in is matched by the hash."""
        self._invitees.update_one(
            {"_id": key}, {"$set": {"caller_hash": caller_hash, "dial_bridge": bridge}}
        )

    def save_attendance(
        self, key: str, version: int, state: Attendance, pending: dict[str, dict]
    ) -> bool:
        """Compare-and-set: False if another writer changed the attendance since `version`."""
        changes = {"att": attendance_document(state), "att_v": version + 1}
        changes.update({f"att_pending.{event_id}": e for event_id, e in pending.items()})
        match = {"_id": key, "att_v": version} if version else {"_id": key, "att_v": None}
        return self._invitees.update_one(match, {"$set": changes}).matched_count == 1

    def published(self, key: str, event_ids: list[str]) -> None:
        if event_ids:
            unset = {f"att_pending.{event_id}": "" for event_id in event_ids}
            self._invitees.update_one({"_id": key}, {"$unset": unset})

    # --- calls to make ----------------------------------------------------------------------

    def queue_calls(self, calls: list[dict]) -> None:
        """Calls to make: {_id "<invitee id>:<attempt>", meeting_id, invitee, attempt, bridge,
        due_ts}; a call queued twice (a retried start, a failure told twice) is queued once."""
        for start in range(0, len(calls), 1000):
            insert_ignoring_duplicates(self._calls, calls[start : start + 1000])

    def take_call(self, now_ts: float, hold_s: float) -> dict | None:
        """The next due call, held for `hold_s` so no other dialler takes it meanwhile."""
        return self._calls.find_one_and_update(
            {
                "due_ts": {"$lte": now_ts},
                "$or": [{"held_ts": None}, {"held_ts": {"$lte": now_ts}}],
            },
            {"$set": {"held_ts": now_ts + hold_s}},
            sort=[("due_ts", 1)],
        )

    def call_later(self, call_id: str, due_ts: float) -> None:
        self._calls.update_one({"_id": call_id}, {"$set": {"due_ts": due_ts, "held_ts": None}})

    def call_made(self, call_id: str) -> None:
        self._calls.delete_one({"_id": call_id})

    def drop_calls(self, meeting_id: str) -> None:
        self._calls.delete_many({"meeting_id": meeting_id})


def attendance_document(state: Attendance) -> dict:
    return {
        "calls": state.calls,
        "outcomes": state.outcomes,
        "rang": state.rang,
        "answered": state.answered,
        "joined": state.joined,
        "confirmed": state.confirmed,
        "seconds": state.seconds,
        "legs": {
            key: {
                "joined_at": leg.joined_at,
                "left_at": leg.left_at,
                "seconds": leg.seconds,
                "via": leg.via,
                "joined_told": leg.joined_told,
                "left_told": leg.left_told,
            }
            for key, leg in state.legs.items()
        },
        "confirmed_at": state.confirmed_at,
        "confirmed_via": state.confirmed_via,
        "seen": list(state.seen),
    }


def attendance_of(doc: dict | None) -> Attendance:
    if not doc:
        return Attendance()
    return Attendance(
        calls=dict(doc.get("calls", {})),
        outcomes=dict(doc.get("outcomes", {})),
        rang=doc.get("rang", False),
        legs={
            key: Leg(
                joined_at=_utc(leg.get("joined_at")),
                left_at=_utc(leg.get("left_at")),
                seconds=leg.get("seconds"),
                via=leg.get("via", "dial_out"),
                joined_told=leg.get("joined_told", False),
                left_told=leg.get("left_told", False),
            )
            for key, leg in doc.get("legs", {}).items()
        },
        confirmed_at=_utc(doc.get("confirmed_at")),
        confirmed_via=doc.get("confirmed_via"),
        seen=tuple(doc.get("seen", ())),
    )


def _utc(at: datetime | None) -> datetime | None:
    if at is None:
        return None
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)
