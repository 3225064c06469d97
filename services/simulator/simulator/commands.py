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


@dataclass(frozen=True)
class ForgetPeople:
    """Drop what was sent for these references (appointment ids) and the reports still owed."""

    references: frozenset[str]


Send = SendWhatsApp | SendSms | SendPush | InviteToBridge
Command = Send | MakeReply | ForgetPeople
