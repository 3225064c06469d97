"""What callers ask of the meetings service: verbs, frozen."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from meetings.domain import Guest, Speaker


@dataclass(frozen=True)
class ScheduleMeeting:
    organiser: str  # the organiser's subject
    organiser_unit: str
    kind: str
    scope: tuple[str, ...]
    audience: tuple[str, ...]
    title: dict[str, str]
    starts_at: datetime
    duration_minutes: int
    speakers: tuple[Speaker, ...] = ()
    guests: tuple[Guest, ...] = ()
    recurrence: dict | None = None  # {rrule, timezone, until}
    room: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class CancelMeeting:
    meeting_id: str
    by: str


@dataclass(frozen=True)
class InviteAudience:
    """Resolve a scheduled meeting's invitees, record them, announce and invite them."""

    meeting_id: str


@dataclass(frozen=True)
class RemindInvitees:
    meeting_id: str


@dataclass(frozen=True)
class ForgetAppointee:
    """An erased appointee: drop the phone kept for their invitations and dial-out."""

    appointment_id: str
    erasure_id: str
