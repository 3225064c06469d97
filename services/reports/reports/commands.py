"""What callers ask of the reports service. `by` is always an account or appointment id, never a
name; answers' free text is personal and stays out of logs."""

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any


@dataclass(frozen=True)
class DesignForm:
    """A new form, its version 1 a draft, owned by the designer's unit (HQ or a state)."""

    unit: str
    kind: str
    draft: dict[str, Any]  # {title, questions} as the API or a YAML file gives them
    form_id: str | None = None  # built-in forms name theirs; otherwise a new one is made


@dataclass(frozen=True)
class ReviseDraft:
    unit: str
    form_id: str
    draft: dict[str, Any]


@dataclass(frozen=True)
class PublishForm:
    unit: str
    form_id: str
    by: str


@dataclass(frozen=True)
class DuplicateForm:
    unit: str
    form_id: str


@dataclass(frozen=True)
class PlanDispatch:
    """Ask the booths of `scope` (their `audience` roles) to answer a form version, on a cadence."""

    unit: str
    by: str
    form_id: str
    version: int | None  # None: the latest published
    scope: tuple[str, ...]
    audience: tuple[str, ...]
    cadence: str
    weekdays: tuple[str, ...]
    starts_on: date | None  # None: today (IST)
    send_time: time | None  # None: now, for a once dispatch; 09:00 otherwise
    due_after_h: float
    remind_before_h: float
    until: date | None = None
    directive_id: str | None = None  # before/after a directive: its id (the time is in send_time)
    occurrences: tuple[datetime, ...] = ()  # a recurring directive's: each round's send time


@dataclass(frozen=True)
class SubmitReport:
    """A booth's answers to a dispatch; `submission_id` is made by the client, so a retry is the
    same submission. `asked`: the caller vouches that the dispatch asked this booth (an answer
    link: this service signed it for the round and for a booth it sent the round to), so the
    registry is not read again."""

    dispatch_id: str
    booth_id: str
    submission_id: str
    answers: dict[str, Any]
    by: str
    asked: bool = False


@dataclass(frozen=True)
class ReviewReport:
    dispatch_id: str
    booth_id: str
    submission_id: str
    outcome: str  # accepted | rejected
    reason: str | None
    note: str | None
    by: str


@dataclass(frozen=True)
class Appointee:
    """Who sent a reply, as the notifier found them by the sender's phone (no phone here)."""

    appointment_id: str
    booth_id: str
    role: str


@dataclass(frozen=True)
class AnswerByReply:
    """An SMS or WhatsApp reply ("1 3 250") from an appointee, to be read as their booth's answer
    to its latest open round; `reply_id` is the provider's message id, so a duplicated webhook
    is one submission. `text` is free text: stored as answers only, never logged."""

    reply_id: str
    channel: str
    text: str
    appointees: tuple[Appointee, ...]
