"""What callers ask of the simulated provider, as values: a send on each channel, a recipient's
reply, and dropping an erased person's messages. The API builds them from validated bodies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class SendWhatsApp:
    sender: str  # the business's sending number
    to: str
    kind: str  # template | text
    template: dict | None
    text: str | None
    reference: str | None  # biz_opaque_callback_data: the sender's id for its recipient
    idempotency_key: str | None = None


@dataclass(frozen=True)
class SendSms:
    sender: str  # the DLT-registered header
    to: str
    text: str
    dlt_template_id: str
    reference: str | None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class SendPush:
    app: str
    to: str  # the app's id for the person, which is also the reference
    title: str
    body: str
    link: str | None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class InviteToBridge:
    bridge: str  # the bridge's dial-in number: the sender
    to: str
    pin: str
    starts_at: datetime
    reference: str | None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class MakeReply:
    """A recipient answers: to the message named, else as `sender` on `channel`."""

    text: str
    message_id: str | None = None
    sender: str | None = None
    channel: str = "whatsapp"
    twice: bool = False  # deliver the webhook twice, as providers sometimes do


@dataclass(frozen=True)
class ForgetPeople:
    """Drop what was sent for these references (appointment ids) and the reports still owed."""

    references: frozenset[str]


# --- the conference provider (docs/meetings.md) ---------------------------------------------


@dataclass(frozen=True)
class CreateBridge:
    bridge_ref: str  # the caller's id for the bridge: the same ref gets the same bridge
    kind: str  # audio | video
    capacity: int
    listen_only: bool = False
    record: bool = False
    parent_bridge_id: str | None = None  # this bridge hears the parent's speakers
    status_callback: str | None = None
    pin: str | None = None  # the PIN the caller already told invitees; else one is made


@dataclass(frozen=True)
class DialOut:
    bridge_id: str
    call_ref: str  # the caller's id for this attempt: the same ref dials once
    to: str
    caller_id: str | None = None
    muted: bool = True
    ring_timeout_s: float | None = None
    participant_ref: str | None = None


@dataclass(frozen=True)
class MuteBridge:
    bridge_id: str
    muted: bool
    call_id: str | None = None  # None: every listener


@dataclass(frozen=True)
class PlayRecording:
    bridge_id: str
    recording_url: str


@dataclass(frozen=True)
class KickCall:
    bridge_id: str
    call_id: str


@dataclass(frozen=True)
class EndBridge:
    bridge_id: str


@dataclass(frozen=True)
class DialIn:
    """A late joiner rings the dial-in number and keys the PIN (a development route)."""

    pin: str
    caller: str


@dataclass(frozen=True)
class JoinRoom:
    bridge_id: str
    participant_ref: str


Send = SendWhatsApp | SendSms | SendPush | InviteToBridge
Conference = CreateBridge | DialOut | MuteBridge | PlayRecording | KickCall | EndBridge | DialIn
Command = Send | MakeReply | ForgetPeople | Conference | JoinRoom
