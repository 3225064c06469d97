"""Meeting attendance as pure rules: what one event does to one invitee's attendance of one
meeting, what that attendance counts for, and how a meeting's own life folds. No I/O.

Every flag only ever gets set and every leg's seconds are taken once, so a duplicate, a replay
or a late event (a `left` before its `joined`) changes nothing or the same thing: that is what
makes at-least-once delivery safe, as docs/meetings.md asks of a consumer:
- joined, confirmed, invited: once per (meeting, participant), whatever the number of events;
- rang: a participant with any call attempt; answered: one with an answered attempt;
- attended seconds: once per leg_id, from its `participant-left` (which also says it joined).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from analytics.coverage.domain import units_above
from shared.events import types
from shared.orgtree.levels import ancestor_ids, level_of

INVITED, RANG, ANSWERED, JOINED, CONFIRMED = 1, 2, 4, 8, 16
# A participant dropping and dialling in again makes a new leg each time; more legs than this in
# one meeting are not believable, and each leg is kept for good (to take its seconds once).
MAX_LEGS = 64
ATTENDANCE_TYPES = frozenset(
    {
        types.PARTICIPANT_INVITED,
        types.CALL_ATTEMPTED,
        types.PARTICIPANT_JOINED,
        types.PARTICIPANT_LEFT,
        types.PARTICIPANT_CONFIRMED,
    }
)
MEETING_TYPES = frozenset(
    {types.MEETING_SCHEDULED, types.MEETING_STARTED, types.MEETING_ENDED, types.MEETING_CANCELLED}
)
SCHEDULED, STARTED, CANCELLED, ENDED = "scheduled", "started", "cancelled", "ended"
# A meeting only moves forward along these; a cancelled one (its start refused) never started.
STATES = (SCHEDULED, STARTED, CANCELLED, ENDED)


@dataclass
class MeetingCounts:
    """What one invitee, or many, count for in a meeting (or over meetings). Additive."""

    invited: int = 0
    rang: int = 0
    answered: int = 0
    joined: int = 0
    confirmed: int = 0
    attended_seconds: int = 0
    as_of: float | None = None  # the latest event counted; a maximum, never subtracted

    NUMBERS = ("invited", "rang", "answered", "joined", "confirmed", "attended_seconds")

    def add(self, other: MeetingCounts, sign: int = 1) -> None:
        # Spelled out: called seven times per event and twice per partial read back.
        self.invited += sign * other.invited
        self.rang += sign * other.rang
        self.answered += sign * other.answered
        self.joined += sign * other.joined
        self.confirmed += sign * other.confirmed
        self.attended_seconds += sign * other.attended_seconds
        if sign > 0:
            self.as_of = latest(self.as_of, other.as_of)

    def numbers(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.NUMBERS}

    def copy(self) -> MeetingCounts:
        return replace(self)

    def to_json(self) -> dict:
        return {**self.numbers(), "as_of": self.as_of}

    @classmethod
    def from_json(cls, data: Mapping) -> MeetingCounts:
        return cls(*(data.get(name, 0) for name in cls.NUMBERS), data.get("as_of"))

    @classmethod
    def sum(cls, parts: Iterable[MeetingCounts]) -> MeetingCounts:
        total = cls()
        for part in parts:
            total.add(part)
        return total


@dataclass
class Workers:
    """Distinct appointees who joined any meeting (under a unit). Additive."""

    reached: int = 0
    as_of: float | None = None

    def add(self, other: Workers, sign: int = 1) -> None:
        self.reached += sign * other.reached
        if sign > 0:
            self.as_of = latest(self.as_of, other.as_of)

    def copy(self) -> Workers:
        return replace(self)

    def to_json(self) -> dict:
        return {"reached": self.reached, "as_of": self.as_of}

    @classmethod
    def from_json(cls, data: Mapping) -> Workers:
        return cls(data["reached"], data["as_of"])


@dataclass(frozen=True)
class AttendanceChange:
    """What an attendance event says, reduced to what counting needs."""

    flags: int
    leg_id: str | None = None
    seconds: int | None = None  # a leg's seconds, known once it left
    at: float = 0.0

    @classmethod
    def from_event(cls, event_type: str, data: Mapping, at: float) -> AttendanceChange:
        if event_type == types.PARTICIPANT_INVITED:
            return cls(INVITED, at=at)
        if event_type == types.CALL_ATTEMPTED:
            return cls(RANG | (ANSWERED if data["outcome"] == "answered" else 0), at=at)
        if event_type == types.PARTICIPANT_JOINED:
            return cls(JOINED, data["leg_id"], at=at)
        if event_type == types.PARTICIPANT_LEFT:
            # A leg that left was in: a `left` that overtook its `joined` counts the join too.
            return cls(JOINED, data["leg_id"], data["seconds"], at=at)
        if event_type == types.PARTICIPANT_CONFIRMED:
            return cls(CONFIRMED, at=at)
        raise ValueError(f"{event_type} says nothing about attendance")


@dataclass(frozen=True)
class Attendance:
    """One invitee's attendance of one meeting, as the stream has seen it."""

    meeting_id: str
    participant_id: str
    booth_id: str
    flags: int = 0
    legs: Mapping[str, int | None] = field(default_factory=dict)  # leg id -> seconds once left
    as_of: float | None = None

    def apply(self, change: AttendanceChange) -> Attendance:
        """The attendance after `change`; the very same object when it changes nothing."""
        legs = self.legs
        if change.leg_id is not None and self._takes(change):
            legs = {**self.legs, change.leg_id: change.seconds}
        flags = self.flags | change.flags
        if flags == self.flags and legs is self.legs:
            return self
        return replace(self, flags=flags, legs=legs, as_of=latest(self.as_of, change.at))

    def _takes(self, change: AttendanceChange) -> bool:
        if change.leg_id not in self.legs:
            return len(self.legs) < MAX_LEGS
        return self.legs[change.leg_id] is None and change.seconds is not None

    @property
    def joined(self) -> bool:
        return bool(self.flags & JOINED)

    def counts(self) -> MeetingCounts:
        return MeetingCounts(
            invited=int(bool(self.flags & INVITED)),
            rang=int(bool(self.flags & RANG)),
            answered=int(bool(self.flags & ANSWERED)),
            joined=int(self.joined),
            confirmed=int(bool(self.flags & CONFIRMED)),
            attended_seconds=sum(s for s in self.legs.values() if s is not None),
            as_of=self.as_of,
        )


def latest(a: float | None, b: float | None) -> float | None:
    return a if b is None else b if a is None else max(a, b)


def units_of(booth_id: str) -> tuple[str, ...]:
    """The units a booth's attendance counts towards: the nation down to the booth itself."""
    return (*ancestor_ids(booth_id), booth_id)


def path_agrees(booth_id: str, booth_path: Mapping[str, str]) -> bool:
    """Whether the event's booth_path names the booth's ancestors. Unit ids are paths
    (shared/orgtree/levels.py), so this needs no registry lookup per invitee."""
    try:
        is_booth = level_of(booth_id) == "booth"
    except ValueError:
        return False
    return is_booth and list(units_above(booth_path)) == ancestor_ids(booth_id)


def attendance_key(meeting_id: str, participant_id: str) -> str:
    return f"{meeting_id}|{participant_id}"


def meeting_unit(meeting_id: str, unit_id: str) -> str:
    """A meeting's count under one unit: the ident of its partials."""
    return f"{meeting_id}|{unit_id}"


def split_meeting_unit(ident: str) -> tuple[str, str]:
    meeting_id, _, unit_id = ident.partition("|")
    return meeting_id, unit_id


def attendance_contributions(attendance: Attendance) -> list[tuple[str, MeetingCounts]]:
    """What one invitee adds to the meeting's count at each unit above and at their booth."""
    counts = attendance.counts()
    return [(meeting_unit(attendance.meeting_id, u), counts) for u in units_of(attendance.booth_id)]


def worker_contributions(booth_id: str, at: float | None) -> list[tuple[str, Workers]]:
    """A first join anywhere: one more worker reached at every unit above the booth."""
    reached = Workers(1, at)
    return [(u, reached) for u in units_of(booth_id)]


# --- a meeting's own life -------------------------------------------------------------------

SCHEDULED_FIELDS = ("kind", "organiser_unit", "scope", "title", "starts_at", "ends_at")
FINAL = ("invited", "joined", "confirmed", "attended_seconds")  # meeting-ended's totals


def fold_meeting(meeting: Mapping | None, event_type: str, data: Mapping) -> dict:
    """The meeting as known after a meeting-scheduled/started/ended/cancelled event, in any
    order or twice.

    Its state only moves forward; facts are filled in by whichever event brings them, so a
    started or ended event seen before the schedule still counts (the schedule fills the rest).
    """
    folded = dict(meeting or {"meeting_id": data["meeting_id"], "state": SCHEDULED})
    folded.setdefault("kind", data["kind"])
    folded.setdefault("organiser_unit", data["organiser_unit"])
    if event_type == types.MEETING_SCHEDULED:
        folded.update({name: data[name] for name in SCHEDULED_FIELDS})
        state = SCHEDULED
    elif event_type == types.MEETING_STARTED:
        folded["started_at"] = folded.get("started_at") or data["started_at"]
        folded["bridges"] = data["bridges"]
        state = STARTED
    elif event_type == types.MEETING_CANCELLED:
        folded["cancelled_at"] = folded.get("cancelled_at") or data["cancelled_at"]
        folded["cancel_reason"] = folded.get("cancel_reason") or data["reason"]
        state = CANCELLED
    else:
        folded["ended_at"] = folded.get("ended_at") or data["ended_at"]
        # Its totals as the meetings service reconciled them: what a read answers once the
        # meeting's per-unit attendance is dropped (analytics.meetings.retention).
        folded["final"] = folded.get("final") or {k: data[k] for k in FINAL if k in data}
        state = ENDED
    folded["state"] = max(folded["state"], state, key=STATES.index)
    return folded


def held_by(meeting: Mapping) -> tuple[str, ...]:
    """The units a held (ended) meeting is credited to: its organiser's unit and those above."""
    unit = meeting["organiser_unit"]
    return (*ancestor_ids(unit), unit)


def meeting_time(meeting: Mapping) -> str:
    """When the meeting is or was, for ordering lists: its start if scheduled, else what we know."""
    return meeting.get("starts_at") or meeting.get("started_at") or meeting.get("ended_at") or ""


def ended_at(meeting: Mapping) -> float | None:
    value = meeting.get("ended_at") if meeting.get("state") == ENDED else None
    return datetime.fromisoformat(value).timestamp() if value else None


def closed_at(meeting: Mapping) -> float | None:
    """When the meeting was over: ended, or cancelled at its start (it was never held, but its
    invitees were announced and counted as invited)."""
    if meeting.get("state") == CANCELLED:
        return datetime.fromisoformat(meeting["cancelled_at"]).timestamp()
    return ended_at(meeting)
