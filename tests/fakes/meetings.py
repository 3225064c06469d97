"""The meetings service's ports in memory: meetings and invitees (the MongoDB store), recording
stand-ins for Kafka, the appointments service's recipients and the notifier's messages, and the
org registry. tests/integration/test_meetings_ports_contract.py runs the same bodies against these
and the real adapters, so the two keep one behaviour."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timezone

from meetings.domain import (
    CANCEL_NOTICE,
    CANCELLED,
    JOBS,
    ORGANISER,
    SCHEDULED,
    Invitee,
    Meeting,
    visible_to,
)
from meetings.handlers import Ports
from meetings.links import JoinLinks
from meetings.ports import MessagesUnavailable
from shared.kafka.producer import DeliveryError
from shared.orgtree.levels import booth_path, is_within
from shared.phones import to_e164
from shared.recipients import Recipient, RecipientsUnavailable
from shared.sending.policy import SendingPolicy

NOW = datetime(2030, 1, 1, 4, 30, tzinfo=timezone.utc)  # 10:00 in India


class InMemoryMeetings:
    def __init__(self):
        self.meetings: dict[str, Meeting] = {}
        self.jobs: dict[str, dict[str, dict]] = {}
        self._lock = threading.Lock()

    def insert(self, meeting: Meeting, dues: dict[str, datetime | None]) -> bool:
        with self._lock:
            if meeting.meeting_id in self.meetings:
                return False
            self.meetings[meeting.meeting_id] = meeting
            self.jobs[meeting.meeting_id] = {
                job: {
                    "due": dues.get(job),
                    "done_at": None if dues.get(job) else meeting.scheduled_at,
                    "chunks": set(),
                    "lease_until": 0.0,
                }
                for job in JOBS
            }
            return True

    def get(self, meeting_id: str) -> Meeting | None:
        return self.meetings.get(meeting_id)

    def for_unit(self, unit: str, limit: int) -> list[Meeting]:
        visible = [m for m in self.meetings.values() if visible_to(m, unit)]
        return sorted(visible, key=lambda m: m.starts_at)[:limit]

    def mark_published(self, meeting_id: str) -> None:
        self.meetings[meeting_id] = replace(self.meetings[meeting_id], published=True)

    def unpublished(self, limit: int) -> list[Meeting]:
        return [m for m in self.meetings.values() if not m.published][:limit]

    def cancel(self, meeting_id: str, by: str, at: datetime) -> Meeting | None:
        with self._lock:
            meeting = self.meetings.get(meeting_id)
            if meeting is None or meeting.state != SCHEDULED:
                return None
            self.meetings[meeting_id] = replace(
                meeting,
                state=CANCELLED,
                cancel_reason=ORGANISER,
                cancelled_at=at,
                cancel_published=False,
            )
            self.jobs[meeting_id][CANCEL_NOTICE] = {
                "due": at,
                "done_at": None,
                "chunks": set(),
                "lease_until": 0.0,
            }
            return self.meetings[meeting_id]

    def mark_cancel_published(self, meeting_id: str) -> None:
        self.meetings[meeting_id] = replace(self.meetings[meeting_id], cancel_published=True)

    def cancel_unpublished(self, limit: int) -> list[Meeting]:
        return [m for m in self.meetings.values() if not m.cancel_published][:limit]

    def job_idle(self, meeting_id: str, job: str, now: datetime) -> bool:
        state = self.jobs[meeting_id][job]
        return state["done_at"] is not None or state["lease_until"] < now.timestamp()

    def due(self, job: str, now: datetime, limit: int) -> list[Meeting]:
        return [
            m
            for m in self.meetings.values()
            if m.state == (CANCELLED if job == CANCEL_NOTICE else SCHEDULED)
            and job in self.jobs[m.meeting_id]
            and (state := self.jobs[m.meeting_id][job])["done_at"] is None
            and state["due"] is not None
            and state["due"] <= now
            and state["lease_until"] < now.timestamp()
        ][:limit]

    def claim(self, meeting_id: str, job: str, now: datetime, until: datetime) -> bool:
        with self._lock:
            state = self.jobs[meeting_id][job]
            if state["lease_until"] >= now.timestamp():
                return False
            state["lease_until"] = until.timestamp()
            return True

    def release(self, meeting_id: str, job: str, until: datetime) -> None:
        self.jobs[meeting_id][job]["lease_until"] = until.timestamp()

    def chunks_done(self, meeting_id: str, job: str) -> set[str]:
        return set(self.jobs[meeting_id][job]["chunks"])

    def chunk_done(self, meeting_id: str, job: str, unit: str, count: int) -> None:
        state = self.jobs[meeting_id][job]
        if unit not in state["chunks"]:  # as $addToSet and $inc in one update would
            state["reached"] = state.get("reached", 0) + count
        state["chunks"].add(unit)

    def progress(self, meeting_id: str) -> dict[str, dict]:
        return {
            job: {"reached": state.get("reached", 0), "done_at": state["done_at"]}
            for job, state in self.jobs.get(meeting_id, {}).items()
        }

    def job_done(self, meeting_id: str, job: str, at: datetime) -> None:
        self.jobs[meeting_id][job]["done_at"] = at


class InMemoryInvitees:
    def __init__(self):
        self.invitees: dict[tuple[str, str], Invitee] = {}

    def add(self, invitees: Sequence[Invitee]) -> int:
        new = 0
        for invitee in invitees:
            key = (invitee.meeting_id, invitee.participant_id)
            if key not in self.invitees:
                self.invitees[key] = invitee
                new += 1
        return new

    def get(self, meeting_id: str, participant_id: str) -> Invitee | None:
        return self.invitees.get((meeting_id, participant_id))

    def forget_phone(self, participant_id: str) -> int:
        changed = 0
        for key, invitee in self.invitees.items():
            if invitee.participant_id == participant_id and invitee.phone:
                self.invitees[key] = replace(invitee, phone="")
                changed += 1
        return changed


class RecordingEvents:
    """Kafka as the outbox sees it: events queued, confirmed by a flush; `down` refuses."""

    def __init__(self):
        self.queued: list[tuple[str, dict, str | None]] = []
        self.published: list[tuple[str, dict, str | None]] = []
        self.down = False

    def emit(self, event_type: str, data: dict, *, event_id: str | None = None):
        self.queued.append((event_type, data, event_id))

    def emit_many(self, event_type: str, batch) -> int:
        made = [(event_type, data, event_id) for data, event_id in batch]
        self.queued += made
        return len(made)

    def flush(self, timeout: float = 10.0) -> None:
        if self.down:
            self.queued.clear()
            raise DeliveryError({"event": "Kafka is away"})
        self.published += self.queued
        self.queued = []

    def close(self, timeout: float = 10.0) -> None:
        pass

    def of_type(self, event_type: str) -> list[dict]:
        return [data for kind, data, _ in self.published if kind == event_type]


class StaticRecipients:
    """The appointments service's verified appointees: a list, streamed per unit and roles."""

    def __init__(self, recipients: Sequence[Recipient] = ()):
        self.recipients = list(recipients)
        self.failing: set[str] = set()  # units whose stream breaks off
        self.asked: list[str] = []

    def stream(self, unit_id: str, roles: Sequence[str]) -> Iterator[Recipient]:
        self.asked.append(unit_id)
        if unit_id in self.failing:
            raise RecipientsUnavailable(f"recipients of {unit_id} broke off")
        for recipient in self.recipients:
            if is_within(recipient.booth_id, unit_id) and (not roles or recipient.role in roles):
                yield recipient


class RecordingMessages:
    """The notifier's /v1/messages: takes a message id once, leaves out a phone it cannot read;
    `down` answers 503."""

    def __init__(self):
        self.sent: dict[str, dict] = {}
        self.down = False

    def send(self, messages: Sequence[dict]) -> tuple[int, int]:
        if self.down:
            raise MessagesUnavailable("notifier answered 503")
        readable = [m for m in messages if to_e164(m["phone"]) is not None]
        fresh = [m for m in readable if m["message_id"] not in self.sent]
        self.sent.update({m["message_id"]: m for m in fresh})
        return len(fresh), len(readable) - len(fresh)


class TreeRegistry:
    """The org registry for ids the tests name: a unit exists if a test named it or a booth
    under it; children are the next level of those booths."""

    def __init__(self, booths: Sequence[str]):
        self.booths = list(booths)

    def get(self, unit_id: str):
        known = any(is_within(b, unit_id) for b in self.booths)
        return {"id": unit_id} if known else None

    def children(self, unit_id: str) -> list[dict]:
        depth = unit_id.count("-") + 1
        found = {"-".join(b.split("-")[: depth + 1]) for b in self.booths if is_within(b, unit_id)}
        return [{"id": unit} for unit in sorted(found) if unit != unit_id]


def recipient(booth_id: str, appointment_id: str, role: str = "booth_president", locale="hi"):
    return Recipient(
        booth_id=booth_id,
        booth_path=booth_path(booth_id),
        appointment_id=appointment_id,
        role=role,
        phone="+919812345678",
        locale=locale,
    )


def make_ports(recipients: Sequence[Recipient], *, clock=lambda: NOW, **changes) -> Ports:
    return Ports(
        meetings=InMemoryMeetings(),
        invitees=InMemoryInvitees(),
        events=RecordingEvents(),
        recipients=StaticRecipients(recipients),
        messages=RecordingMessages(),
        registry=TreeRegistry([r.booth_id for r in recipients] or ["IN-HP-D01-A01-M01-S01-B001"]),
        policy=SendingPolicy(),
        links=JoinLinks(b"k" * 32, "https://links.example"),
        dial_in="+911140000700",
        clock=clock,
        pin=lambda: "123456",
        **changes,
    )
