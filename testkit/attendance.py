"""Synthetic meetings and their attendance, as the meetings service publishes them
(docs/meetings.md), for the analytics tests and benchmark: schema-valid events, appointment ids
only, booth-keyed attendance and meeting-keyed life."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from shared.events import types as t
from shared.events.contracts import Event, new_event
from shared.orgtree.levels import Unit, path_of

MEETINGS_SOURCE = "/sangathan/meetings"


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Meeting:
    organiser_unit: str
    scope: list[str]
    kind: str = "audio_bridge"
    meeting_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    starts_at: datetime = field(default_factory=_now)

    def _life(self) -> dict:
        return {
            "meeting_id": self.meeting_id,
            "kind": self.kind,
            "organiser_unit": self.organiser_unit,
        }

    def scheduled(self) -> Event:
        data = {
            **self._life(),
            "scope": self.scope,
            "audience": ["booth_president"],
            "title": {"hi": "बूथ अध्यक्ष बैठक", "en": "Booth presidents' meeting"},
            "starts_at": self.starts_at.isoformat(),
            "ends_at": (self.starts_at + timedelta(hours=1)).isoformat(),
            "recurrence": None,
            "scheduled_at": _now().isoformat(),
        }
        return new_event(t.MEETING_SCHEDULED, data, MEETINGS_SOURCE)

    def started(self, invited: int) -> Event:
        data = {**self._life(), "invited": invited, "bridges": 1, "started_at": _now().isoformat()}
        return new_event(t.MEETING_STARTED, data, MEETINGS_SOURCE)

    def ended(self, at: datetime | None = None, **totals: int) -> Event:
        """Ended at `at` (now), with the given totals (invited, joined, ...; else 0)."""
        data = {
            **self._life(),
            "invited": 0,
            "joined": 0,
            "confirmed": 0,
            "attended_seconds": 0,
            **totals,
            "ended_at": (at or _now()).isoformat(),
        }
        return new_event(t.MEETING_ENDED, data, MEETINGS_SOURCE)

    def cancelled(self, at: datetime | None = None, reason: str = "blackout") -> Event:
        """Its start refused by the sending policy (meetings.live): never held."""
        data = {**self._life(), "reason": reason, "cancelled_at": (at or _now()).isoformat()}
        return new_event(t.MEETING_CANCELLED, data, MEETINGS_SOURCE)

    def invitee(self, booth: Unit, role: str = "booth_president") -> Invitee:
        return Invitee(self, booth, role)


@dataclass
class Invitee:
    """One appointee invited to a meeting, with the attendance events a call or link makes."""

    meeting: Meeting
    booth: Unit
    role: str = "booth_president"
    participant_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def _base(self) -> dict:
        return {
            "meeting_id": self.meeting.meeting_id,
            "booth_id": self.booth["id"],
            "booth_path": path_of(self.booth["ancestors"]),
            "participant_id": self.participant_id,
        }

    def _event(self, event_type: str, data: dict) -> Event:
        return new_event(event_type, {**self._base(), **data}, MEETINGS_SOURCE)

    def invited(self) -> Event:
        return self._event(
            t.PARTICIPANT_INVITED, {"role": self.role, "invited_at": _now().isoformat()}
        )

    def called(self, outcome: str = "answered", attempt: int = 1) -> Event:
        return self._event(
            t.CALL_ATTEMPTED,
            {"attempt": attempt, "outcome": outcome, "occurred_at": _now().isoformat()},
        )

    def joined(self, leg_id: str, via: str = "dial_out") -> Event:
        return self._event(
            t.PARTICIPANT_JOINED, {"leg_id": leg_id, "via": via, "joined_at": _now().isoformat()}
        )

    def left(self, leg_id: str, seconds: int) -> Event:
        return self._event(
            t.PARTICIPANT_LEFT,
            {"leg_id": leg_id, "seconds": seconds, "left_at": _now().isoformat()},
        )

    def confirmed(self, via: str = "dtmf") -> Event:
        return self._event(
            t.PARTICIPANT_CONFIRMED, {"via": via, "confirmed_at": _now().isoformat()}
        )

    def attended(self, seconds: int, confirmed: bool = True) -> list[Event]:
        """Invited, rang and answered, one leg in and out, and (if asked) pressed 1."""
        leg = str(uuid.uuid4())
        events = [self.invited(), self.called(), self.joined(leg), self.left(leg, seconds)]
        return events + ([self.confirmed()] if confirmed else [])
