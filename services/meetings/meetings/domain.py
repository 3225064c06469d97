"""Meetings: what may be scheduled, when, for whom, and what an invitee is told. No I/O.

A meeting is an audio bridge or a video conference for an audience (scope units x booth roles)
inside the organiser's unit. A recurring request becomes one meeting per occurrence, each with its
own id derived from the series id and the occurrence's instant, so a retried request names every
occurrence the same way. A meeting may start only when a campaign voice message could go out
(shared/sending/policy.py, the notifier's own rules): never in quiet hours, never in the 48 hours
before the close of poll of any constituency it reaches. That is checked when it is scheduled and
again when it starts (`start_refused`): a close of poll added since, or a late start, holds it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from functools import lru_cache

from shared.orgtree.levels import is_within, outermost, overlap
from shared.sending import recurrence
from shared.sending.policy import IST, SendingPolicy

AUDIO, VIDEO = "audio_bridge", "video_conference"
KINDS = (AUDIO, VIDEO)
PER_MEETING, STANDING = "per_meeting", "standing"
SCHEDULED, CANCELLED = "scheduled", "cancelled"
# Why a meeting due to start was cancelled instead: the sending policy forbids it now.
BLACKOUT, QUIET_HOURS = "blackout", "quiet_hours"
ORGANISER = "organiser"  # why, when its organiser cancelled it before it started
LATE_START = timedelta(minutes=5)  # a start later than this is judged again for quiet hours
LISTENER, SPEAKER, MODERATOR = "listener", "speaker", "moderator"
MAX_OCCURRENCES = 60
# A meeting's background jobs: record and announce its invitees, send them the invitation, remind
# them shortly before the start.
INVITE, NOTIFY, REMIND = "invite", "notify", "remind"
JOBS = (INVITE, NOTIFY, REMIND)
# A cancelled meeting's one job: tell the invitees already sent its invitation that it is off.
CANCEL_NOTICE = "cancel_notice"
MAX_DURATION_MINUTES = 8 * 60
_SERIES = uuid.UUID("5b0e3c1a-7f42-4c8e-9a16-2d4f8b6e0c31")


class Refused(Exception):
    """What the rules forbid, as a problem the caller can act on."""

    def __init__(self, status: int, kind: str, title: str, detail: str, **extensions):
        super().__init__(detail)
        self.status, self.kind, self.title, self.detail = status, kind, title, detail
        self.extensions = extensions


@dataclass(frozen=True)
class Speaker:
    """An appointee who speaks or moderates: found among the booth's verified appointees."""

    appointment_id: str
    booth_id: str
    part: str  # speaker | moderator


@dataclass(frozen=True)
class Guest:
    """A speaker from outside the organisation: a label and a phone (personal data)."""

    guest_id: str
    label: str
    phone: str
    part: str


@dataclass(frozen=True)
class Meeting:
    meeting_id: str
    series_id: str
    kind: str
    organiser: str
    organiser_unit: str
    scope: tuple[str, ...]
    audience: tuple[str, ...]
    title: dict[str, str]
    starts_at: datetime
    duration_minutes: int
    scheduled_at: datetime
    recurrence: str | None = None
    room: str | None = None  # video: per_meeting | standing
    pin: str | None = None  # audio: keyed with the dial-in number
    speakers: tuple[Speaker, ...] = ()
    guests: tuple[Guest, ...] = ()
    state: str = SCHEDULED
    # blackout | quiet_hours: the policy refused its start (start_refused); organiser: its
    # organiser cancelled it; None: not cancelled.
    cancel_reason: str | None = None
    cancelled_at: datetime | None = None
    event_id: str = ""  # meeting-scheduled, written with the meeting (the outbox)
    published: bool = False
    cancel_published: bool = True  # an organiser's cancel: meeting-cancelled is out

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + timedelta(minutes=self.duration_minutes)

    @property
    def room_ref(self) -> str | None:
        """The provider room a video meeting uses: its own, or its unit's standing room."""
        if self.kind != VIDEO:
            return None
        if self.room == STANDING:
            return f"standing-{self.organiser_unit}"
        return f"meeting-{self.meeting_id}"

    def reminder_at(self, before: timedelta) -> datetime:
        return self.starts_at - before

    def part_of(self, appointment_id: str) -> str:
        for speaker in self.speakers:
            if speaker.appointment_id == appointment_id:
                return speaker.part
        return LISTENER

    def event_data(self) -> dict:
        """meeting-scheduled/v1: no speaker, guest or PIN (personal or secret)."""
        return {
            "meeting_id": self.meeting_id,
            "kind": self.kind,
            "organiser_unit": self.organiser_unit,
            "scope": list(self.scope),
            "audience": list(self.audience),
            "title": {"hi": self.title["hi"], "en": self.title["en"]},
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "recurrence": self.recurrence,
            "scheduled_at": self.scheduled_at.isoformat(),
        }

    @property
    def cancel_event_id(self) -> str:
        """meeting-cancelled's id: one per meeting, whoever cancelled it (live.py uses it too)."""
        return str(uuid.uuid5(uuid.UUID(self.meeting_id), "cancelled"))

    def cancellation_data(self) -> dict:
        """meeting-cancelled/v1."""
        return {
            "meeting_id": self.meeting_id,
            "kind": self.kind,
            "organiser_unit": self.organiser_unit,
            "reason": self.cancel_reason,
            "cancelled_at": self.cancelled_at.isoformat(),
        }


@dataclass(frozen=True)
class Invitee:
    """One appointee invited to one meeting (the phone travels only to the notifier)."""

    meeting_id: str
    participant_id: str  # the appointment id
    booth_id: str
    booth_path: dict[str, str]
    role: str
    locale: str
    phone: str
    part: str = LISTENER
    channel: str = "whatsapp"
    invited_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def event_data(self) -> dict:
        """participant-invited/v1: ids and the booth's path, never the phone."""
        return {
            "meeting_id": self.meeting_id,
            "booth_id": self.booth_id,
            "booth_path": self.booth_path,
            "participant_id": self.participant_id,
            "role": self.role,
            "invited_at": self.invited_at.isoformat(),
        }


def series_id(organiser: str, idempotency_key: str | None) -> str:
    """The same organiser's retried request (same key) names the same series; no key, a new one."""
    if idempotency_key:
        return str(uuid.uuid5(_SERIES, f"{organiser}:{idempotency_key}"))
    return str(uuid.uuid4())


def occurrence_id(series: str, starts_at: datetime) -> str:
    return str(uuid.uuid5(uuid.UUID(series), recurrence.round_id(starts_at)))


def invited_event_id(meeting_id: str, participant_id: str) -> str:
    """One participant-invited per (meeting, invitee): a repeat carries the same event id,
    uuid5(meeting id, "invited:<participant id>")."""
    return invited_event_ids(meeting_id)(participant_id)


@lru_cache(maxsize=64)
def invited_event_ids(meeting_id: str) -> Callable[[str], str]:
    """invited_event_id for one meeting's invitees: uuid5 with the meeting's part of the hash
    made once, a quarter of uuid.uuid5's CPU (a state's invitations make 65,015)."""
    prefix = hashlib.sha1(uuid.UUID(meeting_id).bytes + b"invited:")

    def event_id(participant_id: str) -> str:
        digest = prefix.copy()
        digest.update(participant_id.encode())
        return _uuid5_text(digest.digest())

    return event_id


def _uuid5_text(sha1: bytes) -> str:
    """str(uuid.UUID(bytes=sha1[:16], version=5)): the version and variant bits set."""
    raw = bytearray(sha1[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50
    raw[8] = (raw[8] & 0x3F) | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def message_id(meeting_id: str, participant_id: str, purpose: str) -> str:
    """The notifier queues a message id once: a repeated batch sends nothing twice."""
    return str(uuid.uuid5(uuid.UUID(meeting_id), f"{purpose}:{participant_id}"))


def occurrences(first: Meeting, rule: dict | None, *, pin: Callable[[], str]) -> list[Meeting]:
    """The meetings a request schedules: one, or one per occurrence of its recurrence; each
    audio meeting with a PIN of its own."""
    if rule is None:
        return [replace(first, meeting_id=first.series_id, pin=_pin(first, pin))]
    try:
        parsed = recurrence.parse(
            rule["rrule"], rule.get("timezone") or "Asia/Kolkata", rule.get("until")
        )
    except recurrence.InvalidRecurrence as exc:
        raise Refused(422, "invalid-recurrence", "Invalid recurrence", str(exc)) from None
    if parsed.count is None and parsed.until is None:
        raise Refused(
            422,
            "unbounded-recurrence",
            "The recurrence has no end",
            f"Give COUNT in the rule or recurrence.until; at most {MAX_OCCURRENCES} meetings.",
        )
    slots = []
    for slot in parsed.slots(first.starts_at, first.starts_at + timedelta(days=366)):
        slots.append(slot)
        if len(slots) > MAX_OCCURRENCES:
            raise Refused(
                422,
                "too-many-occurrences",
                "Too many meetings",
                f"The recurrence makes more than {MAX_OCCURRENCES} meetings; end it sooner.",
            )
    if not slots:
        raise Refused(422, "no-occurrences", "No meeting", "The recurrence makes no meeting.")
    canonical = recurrence.canonical(rule["rrule"])
    return [
        replace(
            first,
            meeting_id=occurrence_id(first.series_id, slot),
            starts_at=slot.astimezone(first.starts_at.tzinfo),
            recurrence=canonical,
            pin=_pin(first, pin),
        )
        for slot in slots
    ]


def _pin(meeting: Meeting, pin: Callable[[], str]) -> str | None:
    return pin() if meeting.kind == AUDIO else None


def check_schedulable(meeting: Meeting, policy: SendingPolicy, now: datetime) -> None:
    """Refused unless the meeting starts in the future and outside every sending window."""
    if meeting.starts_at <= now:
        raise Refused(
            422,
            "starts-in-past",
            "The meeting starts in the past",
            f"starts_at {meeting.starts_at.isoformat()} has passed; choose a later time.",
        )
    opens = may_start_at(meeting, policy)
    if opens is not None:
        raise Refused(
            422,
            "outside-sending-window",
            "Not a time a meeting may be held",
            f"A meeting starting {_ist(meeting.starts_at)} falls in the quiet hours or in a "
            f"48-hour election blackout of a unit it reaches; it may be held from "
            f"{_ist(opens)}.",
            may_start_at=opens.isoformat(),
        )


def may_start_at(
    meeting: Meeting, policy: SendingPolicy, at: datetime | None = None, *, quiet_hours=True
) -> datetime | None:
    """None if a start at `at` (the planned start unless given) is allowed; else the earliest
    allowed moment over every unit reached: each scope unit, and each polling unit inside a scope
    unit (a state meeting reaches every constituency in it). `quiet_hours=False`: the blackout
    alone."""
    at = meeting.starts_at if at is None else at
    reached = list(meeting.scope) + [
        unit for unit in policy.polls if any(is_within(unit, scope) for scope in meeting.scope)
    ]
    latest = None
    for unit in reached:
        opens = policy.opens_at(at, campaign=True, booth_id=unit, quiet_hours=quiet_hours)
        if opens is not None and (latest is None or opens > latest):
            latest = opens
    return latest


def start_refused(meeting: Meeting, policy: SendingPolicy, now: datetime) -> str | None:
    """Why the meeting may not start now, or None if it may. Scheduling checked the planned start
    against the policy of that day; a close of poll configured since (a recurring series' later
    occurrences most of all) can put it in a blackout, so the blackout is judged again now. The
    quiet hours are a time of day the planned start was already judged by: they are judged again
    only for a start taken up more than LATE_START after its time (the service was down), which
    could otherwise ring the audience at night. The blackout is named first: no one may lift it."""
    if may_start_at(meeting, policy, now, quiet_hours=False) is not None:
        return BLACKOUT
    if now - meeting.starts_at > LATE_START and may_start_at(meeting, policy, now) is not None:
        return QUIET_HOURS
    return None


def visible_to(meeting: Meeting, unit: str) -> bool:
    """Held by the unit or a unit under it, or reaching into it (a state meeting is a district's
    business too: its booths are invited)."""
    return is_within(meeting.organiser_unit, unit) or overlap(meeting.scope, [unit])


def job_dues(meeting: Meeting, reminder_before: timedelta) -> dict[str, datetime | None]:
    """When each background job of a meeting is due; None: not needed. Invitations go at once;
    the reminder shortly before the start, unless the invitation itself is that close to it."""
    remind = meeting.starts_at - reminder_before
    return {
        INVITE: meeting.scheduled_at,
        NOTIFY: meeting.scheduled_at,
        REMIND: remind if remind > meeting.scheduled_at else None,
    }


def outside_scope(speakers: Iterable[Speaker], unit: str) -> list[str]:
    """Speakers' booths outside the organiser's unit."""
    return [s.booth_id for s in speakers if not is_within(s.booth_id, unit)]


def chunks(scope: Iterable[str], children: Callable[[str], list[str]]) -> list[str]:
    """The scope as units read one stream each: the nation by state, a state by district,
    anything smaller whole (a chunk resumes on its own after a crash)."""
    found = []
    for unit in outermost(scope):
        found.extend((children(unit) if unit.count("-") <= 1 else []) or [unit])
    return found


# --- what an invitee reads ---------------------------------------------------------------------


_TEXTS = {
    "en": {
        NOTIFY: "Meeting: {title}\n{when} IST, {minutes} minutes.",
        REMIND: "Reminder: {title} starts at {when} IST.",
        CANCEL_NOTICE: "Cancelled: {title}, {when} IST, will not be held.",
        AUDIO: "We will call you. Or dial {number} and enter PIN {pin}.",
        VIDEO: "Join: {link}",
    },
    "hi": {
        NOTIFY: "बैठक: {title}\n{when} IST, {minutes} मिनट।",
        REMIND: "याद दिलाना: {title} {when} IST पर शुरू होगी।",
        CANCEL_NOTICE: "रद्द: {title}, {when} IST की बैठक नहीं होगी।",
        AUDIO: "हम आपको कॉल करेंगे। या {number} डायल करें और पिन {pin} डालें।",
        VIDEO: "जुड़ें: {link}",
    },
}


def message_text(
    meeting: Meeting, purpose: str, locale: str, *, dial_in: str, link: str | None
) -> str:
    """The invitation, reminder or cancellation in the invitee's language (Hindi unless
    English); a cancellation without the way in."""
    language = "en" if locale.split("-")[0] == "en" else "hi"
    texts = _TEXTS[language]
    head = texts[purpose].format(
        title=meeting.title[language],
        when=_ist(meeting.starts_at),
        minutes=meeting.duration_minutes,
    )
    if purpose == CANCEL_NOTICE:
        return head
    how = texts[meeting.kind].format(number=dial_in, pin=meeting.pin, link=link)
    return f"{head}\n{how}"


def _ist(at: datetime) -> str:
    return at.astimezone(IST).strftime("%d %b %Y %H:%M")
