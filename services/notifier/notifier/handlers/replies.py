"""Inbound replies that are neither a STOP nor an acknowledgement: a booth worker answering a
short report form ("1 3 250"). The notifier owns the provider and the phone numbers, the reports
service owns the forms; so here the sender's phone becomes their verified appointments (the
appointments service finds them by the phone's keyed index), the reports service reads the text
as their booth's answer, and what it says back goes to the sender on the channel they wrote on.

Once: reports derives the submission id from the provider's message id, and the answer back is
queued under a message id derived from it too, so a webhook delivered twice submits once and
answers once. A sender no appointment holds gets nothing (no one to answer for, and no
appointment to address a message to). Neither the phone nor the text is logged.
"""

from __future__ import annotations

from confluent_kafka import KafkaException
from prometheus_client import Counter as Metric

from notifier.adapters.inbound import InboundUnavailable, ReplyRead, Sender
from notifier.commands import SendMessages, ServiceMessage
from notifier.domain.tasks import NORMAL, PERSONAL
from notifier.handlers.ports import Ports
from notifier.handlers.service_messages import queue_messages
from shared.kafka.producer import DeliveryError
from shared.logging import get_logger
from shared.phones import to_e164

REPLIES = Metric(
    "sangathan_notifier_report_replies",
    "Inbound replies handed to reports, by outcome",
    ["outcome"],
)
CHANNELS = ("sms", "whatsapp")
log = get_logger(__name__)


def take_reply(message: dict, ports: Ports) -> str:
    """The outcome of one inbound text (raises InboundUnavailable: the provider calls again)."""
    phone = to_e164(str(message.get("from", "")))
    reply_id, text = str(message.get("id") or ""), str(message.get("text") or "").strip()
    channel = str(message.get("channel") or "")
    if (
        ports.inbound is None
        or phone is None
        or not reply_id
        or not text
        or channel not in CHANNELS
    ):
        return _counted("unreadable", channel)
    senders = ports.inbound.senders(phone)
    if not senders:
        return _counted("unknown-sender", channel)
    read = ports.inbound.hand_over(reply_id, channel, text[:1000], senders)
    if read.message:
        _answer(reply_id, phone, channel, _addressee(read, senders), read.message, ports)
    return _counted(read.outcome, channel)


def _addressee(read: ReplyRead, senders: list[Sender]) -> Sender:
    return next((s for s in senders if s.appointment_id == read.appointment_id), senders[0])


def _answer(
    reply_id: str, phone: str, channel: str, to: Sender, texts: dict[str, str], ports: Ports
) -> None:
    message = ServiceMessage(
        message_id=f"reply:{reply_id}",
        appointment_id=to.appointment_id,
        booth_id=to.booth_id,
        phone=phone,
        channel=channel,
        locale=to.locale,
        text=texts.get(to.locale) or texts["en"],
        lane=NORMAL,
    )
    try:
        queue_messages(SendMessages(PERSONAL, (message,)), ports)
    except (DeliveryError, KafkaException, BufferError) as exc:
        raise InboundUnavailable(
            f"the lanes did not take the answer: {type(exc).__name__}"
        ) from None


def _counted(outcome: str, channel: str) -> str:
    REPLIES.labels(outcome).inc()
    log.info("inbound reply", fields={"outcome": outcome, "channel": channel[:16]})
    return outcome
