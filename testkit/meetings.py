"""Synthetic meetings, as the meetings service publishes them (docs/meetings.md): the meeting's
life on the meetings topic, each invitee's invitation, calls, legs and confirmation on the
attendance topic, with the booth's path and appointment ids only. For the tests that need
attendance counted by the real analytics worker without the meetings service.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from shared.events import types as t
from shared.events.contracts import Event, new_event
from shared.kafka.producer import EventPublisher
from shared.orgtree.levels import booth_path

MEETINGS_SOURCE = "/sangathan/meetings"


def publish(publisher: EventPublisher, *events: Event) -> None:
    """Every event, confirmed by the broker before returning."""
    for event in events:
        publisher.publish(event)
    publisher.flush()


def _id() -> str:
    return str(uuid.uuid4())


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Invitee:
    """One appointee invited to a meeting, with the events of their attendance."""

    meeting_id: str
    booth_id: str
    role: str = "booth_president"
    participant_id: str = field(default_factory=_id)
    legs: list[str] = field(default_factory=list)

    def _event(self, event_type: str, **data) -> Event:
        body = {
            "meeting_id": self.meeting_id,
            "booth_id": self.booth_id,
            "booth_path": booth_path(self.booth_id),
            "participant_id": self.participant_id,
            **data,
        }
        return new_event(event_type, body, MEETINGS_SOURCE)

    def invited(self) -> Event:
        return self._event(t.PARTICIPANT_INVITED, role=self.role, invited_at=_now().isoformat())

    def called(self, outcome: str = "answered", attempt: int = 1) -> Event:
        return self._event(
            t.CALL_ATTEMPTED, attempt=attempt, outcome=outcome, occurred_at=_now().isoformat()
        )

    def joined(self, via: str = "dial_out") -> Event:
        self.legs.append(_id())
        return self._event(
            t.PARTICIPANT_JOINED, leg_id=self.legs[-1], via=via, joined_at=_now().isoformat()
        )

    def left(self, seconds: int) -> Event:
        return self._event(
            t.PARTICIPANT_LEFT, leg_id=self.legs[-1], seconds=seconds, left_at=_now().isoformat()
        )

    def confirmed(self, via: str = "dtmf") -> Event:
        return self._event(t.PARTICIPANT_CONFIRMED, via=via, confirmed_at=_now().isoformat())


@dataclass
class Meeting:
    """A meeting an organiser of `organiser_unit` scheduled for the booth presidents of `scope`."""

    organiser_unit: str
    scope: list[str]
    kind: str = "audio_bridge"
    title: dict[str, str] = field(
        default_factory=lambda: {"hi": "बूथ अध्यक्ष बैठक", "en": "Booth presidents' meeting"}
    )
    meeting_id: str = field(default_factory=_id)
    starts_at: datetime = field(default_factory=_now)

    def _event(self, event_type: str, **data) -> Event:
        body = {"meeting_id": self.meeting_id, "kind": self.kind, **data}
        return new_event(event_type, body, MEETINGS_SOURCE)

    def invitee(self, booth_id: str) -> Invitee:
        return Invitee(self.meeting_id, booth_id)

    def scheduled(self) -> Event:
        return self._event(
            t.MEETING_SCHEDULED,
            organiser_unit=self.organiser_unit,
            scope=self.scope,
            audience=["booth_president"],
            title=self.title,
            starts_at=self.starts_at.isoformat(),
            ends_at=(self.starts_at + timedelta(hours=1)).isoformat(),
            recurrence=None,
            scheduled_at=_now().isoformat(),
        )

    def started(self, invited: int, bridges: int = 1) -> Event:
        return self._event(
            t.MEETING_STARTED,
            organiser_unit=self.organiser_unit,
            invited=invited,
            bridges=bridges,
            started_at=_now().isoformat(),
        )

    def ended(self, invited: int, joined: int, confirmed: int, attended_seconds: int) -> Event:
        return self._event(
            t.MEETING_ENDED,
            organiser_unit=self.organiser_unit,
            invited=invited,
            joined=joined,
            confirmed=confirmed,
            attended_seconds=attended_seconds,
            ended_at=_now().isoformat(),
        )
