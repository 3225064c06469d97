"""Delivery tasks: one message to one recipient on one channel, as it travels the lanes.

A task is the unit of idempotency. Its `delivery_id` is derived from what it delivers (the
directive, the OTP request or a service's message, the recipient, the channel, and which send it
is), so a task produced twice, redelivered by Kafka or re-created by a resumed fan-out has the same
id and is sent once.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, fields, replace

URGENT, NORMAL, BULK = "urgent", "normal", "bulk"
LANES = (URGENT, NORMAL, BULK)  # in the order they are served
CHANNELS = ("whatsapp", "sms", "app_push", "webhook", "audio_bridge")

DIRECTIVE, REMINDER, OTP, ESCALATION = "directive", "reminder", "otp", "escalation"
PERSONAL = "personal"  # a text another service wrote for one appointee (a meeting's invitation)

_IDS = uuid.UUID("b7e8f0a2-5c1d-4e3f-9a6b-2d4c8e0f1a37")  # namespace of delivery ids


def delivery_id(subject: str, recipient_id: str, channel: str, send: str = DIRECTIVE) -> str:
    """The same message to the same person on the same channel always has the same id."""
    return str(uuid.uuid5(_IDS, f"{send}:{subject}:{recipient_id}:{channel}"))


def subject_of(directive_id: str, round_id: str | None) -> str:
    """What a directive's delivery ids derive from: the directive, or one round of a recurring one
    (each round is a new message to the same people)."""
    return f"{directive_id}@{round_id}" if round_id else directive_id


@dataclass(frozen=True)
class ServiceSend:
    """How a service's per-recipient messages of one kind travel: the lanes they may take, whether
    the campaign windows (quiet hours, the polling blackout) hold them, how long they live."""

    lanes: tuple[str, ...]
    campaign: bool
    lifetime_s: float | None  # None: until sent (or its appointee erased)


# An OTP code is not campaign traffic and cannot wait; a meeting's invitation or reminder is. An
# escalation (word to a unit's office, by the organisation's app webhook, as a directive's to its
# sectors) is internal and not held either.
SERVICE_SENDS = {
    OTP: ServiceSend(lanes=(URGENT,), campaign=False, lifetime_s=600),
    PERSONAL: ServiceSend(lanes=(NORMAL, BULK), campaign=True, lifetime_s=None),
    ESCALATION: ServiceSend(lanes=(NORMAL,), campaign=False, lifetime_s=24 * 3600),
}


def channels_from(channel: str) -> tuple[str, ...]:
    """A service's message on WhatsApp falls back to SMS; on SMS it has no other channel."""
    return (channel, "sms") if channel == "whatsapp" else (channel,)


def lane_for(priority: str) -> str:
    if priority not in LANES:
        raise ValueError(f"unknown priority {priority!r}")
    return priority


@dataclass(frozen=True)
class Task:
    delivery_id: str
    send: str  # DIRECTIVE, REMINDER, ESCALATION, OTP or PERSONAL
    lane: str
    booth_id: str
    booth_path: dict[str, str] | None
    recipient_id: str  # the appointment id
    phone: str  # personal data: never logged, never put in an event
    locale: str
    channels: tuple[str, ...]  # in order of preference
    channel_index: int = 0
    attempt: int = 0  # transient failures so far on this channel
    directive_id: str | None = None
    otp_request_id: str | None = None
    text: str | None = (
        None  # the whole message (OTP codes, escalations); directives are looked up by id
    )
    expires_at: float | None = None  # epoch seconds; after it the task is dropped
    campaign: bool = True  # quiet hours and the polling blackout apply (not to OTP codes)
    quiet_hours_override: bool = (
        False  # an authorised urgent directive: quiet hours lifted, blackout not
    )
    queued_at: float = 0.0  # epoch seconds the task was first produced (lane latency)
    round: str | None = None  # the round of a recurring directive (shared.sending.recurrence)
    message_id: str | None = None  # the calling service's id of a PERSONAL message

    @property
    def channel(self) -> str:
        return self.channels[self.channel_index]

    def fallback(self) -> Task | None:
        """The same message on the next channel of preference, or None if none is left."""
        if self.channel_index + 1 >= len(self.channels):
            return None
        channel = self.channels[self.channel_index + 1]
        subject = (
            subject_of(self.directive_id, self.round)
            if self.directive_id
            else self.message_id or self.otp_request_id or ""
        )
        return replace(
            self,
            channel_index=self.channel_index + 1,
            attempt=0,
            delivery_id=delivery_id(subject, self.recipient_id, channel, self.send),
        )

    def retried(self) -> Task:
        return replace(self, attempt=self.attempt + 1)

    def to_json(self) -> bytes:
        # Not dataclasses.asdict: its deep copy was 60 % of a national fan-out's time.
        fields = {name: getattr(self, name) for name in _FIELDS}
        for name in _LEFT_OUT_UNSET:
            if fields[name] is None:
                del fields[name]
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Task:
        data = json.loads(raw)
        data["channels"] = tuple(data["channels"])
        return cls(**data)


_FIELDS = tuple(field.name for field in fields(Task))
# Fields newer than the notifiers still running during a rolling deploy, written only when set:
# an older worker reads every other task (a field it does not know would make it malformed).
_LEFT_OUT_UNSET = ("message_id",)


def backoff_s(attempt: int, *, base_s: float, cap_s: float, rand: float) -> float:
    """Exponential backoff with full jitter: a random wait in [0, min(cap, base * 2^attempt)),
    so retries of a burst of failures spread out instead of arriving together."""
    return rand * min(cap_s, base_s * 2**attempt)
