"""Meetings and their invitees in MongoDB. Documents become `Meeting`s and `Invitee`s here only.

`{prefix}meetings`, one document per meeting (a recurring series: one per occurrence):

    _id               the meeting id (uuid)
    series_id         the request's id; each occurrence's id is derived from it
    kind              audio_bridge | video_conference
    organiser, organiser_unit, scope [unit], audience [role], title {hi, en}
    starts_at, ends_at (datetime, UTC), duration_minutes, recurrence (RRULE | null)
    room              per_meeting | standing | null;  room_ref  the provider room (video) | null
    pin               the audio bridge's PIN | null (never in events or logs)
    speakers          [{appointment_id, booth_id, part}]   part: speaker | moderator
    guests            [{guest_id, label, phone (sealed), part}]   speakers from outside
    state             scheduled | cancelled;  cancelled_by, cancelled_at, cancel_reason
                      (organiser; or "sending-policy" with blackout | quiet_hours: adapters/live.py)
    scheduled_at
    outbox            {event_id, published}: meeting-scheduled, written with the meeting, so
                      neither exists without the other; a relay re-publishes what is false.
                      cancel_published: false from an organiser's cancel until meeting-cancelled
                      is out (written with the cancel, for the same reason)
    jobs              {invite|notify|remind|cancel_notice: {due_ts (epoch s | null), done_at,
                      chunks [unit], reached (invitees so far), lease_until (epoch s: a process
                      holds it)}}; cancel_notice only once an organiser cancelled it

`{prefix}invitees`, one document per (meeting, invitee):

    _id               "<meeting id>/<participant id>"
    meeting_id, participant_id (the appointment id), booth_id, booth_path {state … sector}
    role              the booth-team role;  part  listener | speaker | moderator
    locale, channel   how the invitation went
    phone             sealed (shared/crypto/fields.py, purpose "phone"); absent once erased
    invited_at

Hot reads and writes name one document by `_id` (the only filter FerretDB v1 serves from an
index). The scans (`due`, `unpublished`, `for_unit`) read the meetings collection, a few documents
a day per unit; `forget_phone` scans invitees, but only for an erasure.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from meetings.domain import (
    CANCEL_NOTICE,
    CANCELLED,
    JOBS,
    ORGANISER,
    SCHEDULED,
    Guest,
    Invitee,
    Meeting,
    Speaker,
    visible_to,
)
from shared.crypto.fields import FieldCipher
from shared.mongo import insert_ignoring_duplicates

PHONE = "phone"


class MongoMeetings:
    def __init__(self, db: Database, prefix: str, cipher: FieldCipher):
        self.meetings = db[f"{prefix}meetings"]
        self.cipher = cipher

    def insert(self, meeting: Meeting, dues: dict[str, datetime | None]) -> bool:
        try:
            self.meetings.insert_one(self._document(meeting, dues))
        except DuplicateKeyError:
            return False
        return True

    def get(self, meeting_id: str) -> Meeting | None:
        return self._meeting(self.meetings.find_one({"_id": meeting_id}))

    def for_unit(self, unit: str, limit: int) -> list[Meeting]:
        found = (self._meeting(doc) for doc in self.meetings.find({}))
        visible = [m for m in found if visible_to(m, unit)]
        return sorted(visible, key=lambda m: m.starts_at)[:limit]

    def mark_published(self, meeting_id: str) -> None:
        self.meetings.update_one({"_id": meeting_id}, {"$set": {"outbox.published": True}})

    def unpublished(self, limit: int) -> list[Meeting]:
        found = self.meetings.find({"outbox.published": False}).limit(limit)
        return [self._meeting(doc) for doc in found]

    def cancel(self, meeting_id: str, by: str, at: datetime) -> Meeting | None:
        """Cancel a scheduled meeting whose start has not begun, in one write with its
        meeting-cancelled (the outbox) and the job that tells its invitees."""
        return self._meeting(
            self.meetings.find_one_and_update(
                {"_id": meeting_id, "state": SCHEDULED, "live.state": None},
                {
                    "$set": {
                        "state": CANCELLED,
                        "cancelled_by": by,
                        "cancelled_at": at,
                        "cancel_reason": ORGANISER,
                        "outbox.cancel_published": False,
                        f"jobs.{CANCEL_NOTICE}": _job(at, None),
                    }
                },
                return_document=ReturnDocument.AFTER,
            )
        )

    def mark_cancel_published(self, meeting_id: str) -> None:
        self.meetings.update_one({"_id": meeting_id}, {"$set": {"outbox.cancel_published": True}})

    def cancel_unpublished(self, limit: int) -> list[Meeting]:
        found = self.meetings.find({"outbox.cancel_published": False}).limit(limit)
        return [self._meeting(doc) for doc in found]

    def job_idle(self, meeting_id: str, job: str, now: datetime) -> bool:
        doc = self.meetings.find_one({"_id": meeting_id}, {f"jobs.{job}": 1}) or {}
        state = doc.get("jobs", {}).get(job) or {}
        return state.get("done_at") is not None or state.get("lease_until", 0) < now.timestamp()

    def due(self, job: str, now: datetime, limit: int) -> list[Meeting]:
        found = self.meetings.find(
            {
                "state": CANCELLED if job == CANCEL_NOTICE else SCHEDULED,
                f"jobs.{job}.done_at": None,
                f"jobs.{job}.due_ts": {"$lte": now.timestamp()},
                f"jobs.{job}.lease_until": {"$lt": now.timestamp()},
            }
        ).limit(limit)
        return [self._meeting(doc) for doc in found]

    def claim(self, meeting_id: str, job: str, now: datetime, until: datetime) -> bool:
        """Take the job for this process until `until`, unless another holds it (atomic)."""
        taken = self.meetings.find_one_and_update(
            {"_id": meeting_id, f"jobs.{job}.lease_until": {"$lt": now.timestamp()}},
            {"$set": {f"jobs.{job}.lease_until": until.timestamp()}},
        )
        return taken is not None

    def release(self, meeting_id: str, job: str, until: datetime) -> None:
        self.meetings.update_one(
            {"_id": meeting_id}, {"$set": {f"jobs.{job}.lease_until": until.timestamp()}}
        )

    def chunks_done(self, meeting_id: str, job: str) -> set[str]:
        doc = self.meetings.find_one({"_id": meeting_id}, {f"jobs.{job}.chunks": 1})
        return set(((doc or {}).get("jobs", {}).get(job) or {}).get("chunks", []))

    def chunk_done(self, meeting_id: str, job: str, unit: str, count: int) -> None:
        # Counted once: a chunk already recorded (two processes after a lease ran out) is not.
        self.meetings.update_one(
            {"_id": meeting_id, f"jobs.{job}.chunks": {"$ne": unit}},
            {"$push": {f"jobs.{job}.chunks": unit}, "$inc": {f"jobs.{job}.reached": count}},
        )

    def progress(self, meeting_id: str) -> dict[str, dict]:
        doc = self.meetings.find_one({"_id": meeting_id}, {"jobs": 1}) or {}
        return {
            job: {
                "reached": state.get("reached", 0),
                "done_at": _utc(state["done_at"]) if state.get("done_at") else None,
            }
            for job, state in doc.get("jobs", {}).items()
        }

    def job_done(self, meeting_id: str, job: str, at: datetime) -> None:
        self.meetings.update_one({"_id": meeting_id}, {"$set": {f"jobs.{job}.done_at": at}})

    def _document(self, meeting: Meeting, dues: dict[str, datetime | None]) -> dict:
        return {
            "_id": meeting.meeting_id,
            "series_id": meeting.series_id,
            "kind": meeting.kind,
            "organiser": meeting.organiser,
            "organiser_unit": meeting.organiser_unit,
            "scope": list(meeting.scope),
            "audience": list(meeting.audience),
            "title": dict(meeting.title),
            "starts_at": meeting.starts_at,
            "ends_at": meeting.ends_at,
            "duration_minutes": meeting.duration_minutes,
            "recurrence": meeting.recurrence,
            "room": meeting.room,
            "room_ref": meeting.room_ref,
            "pin": meeting.pin,
            "speakers": [
                {"appointment_id": s.appointment_id, "booth_id": s.booth_id, "part": s.part}
                for s in meeting.speakers
            ],
            "guests": [
                {
                    "guest_id": g.guest_id,
                    "label": g.label,
                    "phone": self.cipher.seal(g.phone, PHONE),
                    "part": g.part,
                }
                for g in meeting.guests
            ],
            "state": meeting.state,
            "scheduled_at": meeting.scheduled_at,
            "outbox": {"event_id": meeting.event_id, "published": meeting.published},
            "jobs": {job: _job(dues.get(job), meeting.scheduled_at) for job in JOBS},
        }

    def _meeting(self, doc: dict | None) -> Meeting | None:
        if doc is None:
            return None
        return Meeting(
            meeting_id=doc["_id"],
            series_id=doc["series_id"],
            kind=doc["kind"],
            organiser=doc["organiser"],
            organiser_unit=doc["organiser_unit"],
            scope=tuple(doc["scope"]),
            audience=tuple(doc["audience"]),
            title=doc["title"],
            starts_at=_utc(doc["starts_at"]),
            duration_minutes=doc["duration_minutes"],
            scheduled_at=_utc(doc["scheduled_at"]),
            recurrence=doc.get("recurrence"),
            room=doc.get("room"),
            pin=doc.get("pin"),
            speakers=tuple(Speaker(**s) for s in doc.get("speakers", [])),
            guests=tuple(
                Guest(
                    guest_id=g["guest_id"],
                    label=g["label"],
                    phone=self.cipher.open(g["phone"], PHONE) if g.get("phone") else "",
                    part=g["part"],
                )
                for g in doc.get("guests", [])
            ),
            state=doc["state"],
            cancel_reason=doc.get("cancel_reason"),
            cancelled_at=_utc(doc["cancelled_at"]) if doc.get("cancelled_at") else None,
            event_id=doc["outbox"]["event_id"],
            published=doc["outbox"]["published"],
            cancel_published=doc["outbox"].get("cancel_published", True),
        )


def _job(due: datetime | None, not_needed_at: datetime | None) -> dict:
    """A job's state: due then, or (due None) done already at `not_needed_at`."""
    return {
        "due_ts": due.timestamp() if due else None,
        "done_at": None if due else not_needed_at,
        "chunks": [],
        "lease_until": 0.0,
    }


class MongoInvitees:
    def __init__(self, db: Database, prefix: str, cipher: FieldCipher):
        self.invitees = db[f"{prefix}invitees"]
        self.attendance = db[f"{prefix}attendance"]  # adapters/live.py writes it during calls
        self.cipher = cipher

    def add(self, invitees: Sequence[Invitee]) -> int:
        taken = insert_ignoring_duplicates(self.invitees, [self._document(i) for i in invitees])
        return len(invitees) - len(taken)

    def get(self, meeting_id: str, participant_id: str) -> Invitee | None:
        doc = self.invitees.find_one({"_id": invitee_id(meeting_id, participant_id)})
        if doc is None:
            return None
        return Invitee(
            meeting_id=doc["meeting_id"],
            participant_id=doc["participant_id"],
            booth_id=doc["booth_id"],
            booth_path=doc["booth_path"],
            role=doc["role"],
            locale=doc["locale"],
            phone=self.cipher.open(doc[PHONE], PHONE) if doc.get(PHONE) else "",
            part=doc["part"],
            channel=doc["channel"],
            invited_at=_utc(doc["invited_at"]),
        )

    def forget_phone(self, participant_id: str) -> int:
        """The appointee's phone gone from every meeting they were invited to, and its keyed hash
        (what matches their dial-in) from their attendance: both are the phone, pseudonymised or
        not. How many invitees had a phone."""
        keys = [
            doc["_id"] for doc in self.invitees.find({"participant_id": participant_id}, {"_id": 1})
        ]
        result = self.invitees.update_many(
            {"participant_id": participant_id, PHONE: {"$exists": True}},
            {"$unset": {PHONE: ""}},
        )
        if keys:
            hashed = {"_id": {"$in": keys}, "caller_hash": {"$exists": True}}
            self.attendance.update_many(hashed, {"$unset": {"caller_hash": ""}})
            self.invitees.update_many(hashed, {"$unset": {"caller_hash": ""}})  # older meetings
        return result.modified_count

    def _document(self, invitee: Invitee) -> dict:
        return {
            "_id": invitee_id(invitee.meeting_id, invitee.participant_id),
            "meeting_id": invitee.meeting_id,
            "participant_id": invitee.participant_id,
            "booth_id": invitee.booth_id,
            "booth_path": invitee.booth_path,
            "role": invitee.role,
            "part": invitee.part,
            "locale": invitee.locale,
            "channel": invitee.channel,
            PHONE: self.cipher.seal(invitee.phone, PHONE),
            "invited_at": invitee.invited_at,
        }


def invitee_id(meeting_id: str, participant_id: str) -> str:
    return f"{meeting_id}/{participant_id}"


def invitee_of(key: str) -> tuple[str, str]:
    """(meeting id, participant id) of an invitee's `_id` (its attendance document's too)."""
    meeting_id, participant_id = key.split("/", 1)
    return meeting_id, participant_id


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)
