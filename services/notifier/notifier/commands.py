"""What callers ask of the notifier."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class IssueDirective:
    directive_id: str
    issued_by: str
    issuing_unit: str  # the organiser's unit
    title: dict[str, str]
    body: dict[str, str]
    scope: tuple[str, ...]
    audience: tuple[str, ...]
    channels: tuple[str, ...]
    priority: str
    send_at: datetime | None
    expires_at: datetime
    override_reason: str | None  # quiet-hours override, urgent only, audited
    issuer_scopes: frozenset[str] = (
        frozenset()
    )  # what the organiser's token grants (the override needs its own)
    # War-room slots: {"rrule", "timezone", "until": datetime | None} (shared.sending.recurrence).
    recurrence: dict | None = None


@dataclass(frozen=True)
class CancelDirective:
    directive_id: str
    cancelled_by: str


@dataclass(frozen=True)
class ScheduleFanOut:
    """From a directive-issued event: queue the directive's fan-out, or its first round."""

    directive_id: str


@dataclass(frozen=True)
class ForgetAppointee:
    """From a person-erased event: drop what waits here for the appointee (it holds their phone)."""

    appointment_id: str
    erasure_id: str


@dataclass(frozen=True)
class ServiceMessage:
    """One text another service wrote for one appointee. `phone` and `text` are secrets in
    transit: never logged. `message_id` is the caller's: the same id is queued once."""

    message_id: str
    appointment_id: str
    booth_id: str
    phone: str  # E.164
    channel: str  # whatsapp | sms
    locale: str
    text: str
    lane: str


@dataclass(frozen=True)
class SendMessages:
    """A service's per-recipient messages of one kind (`notifier.domain.tasks.SERVICE_SENDS`):
    OTP codes from the OTP service, PERSONAL texts such as a meeting's invitations."""

    kind: str
    messages: tuple[ServiceMessage, ...]


@dataclass(frozen=True)
class Acknowledge:
    directive_id: str
    recipient_id: str
    booth_id: str
    via: str  # link | reply
