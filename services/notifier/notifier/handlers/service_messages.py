"""Messages other services write for one appointee each (OTP codes; a meeting's invitations and
reminders): each onto its lane as one task, confirmed by Kafka before the caller hears it is
queued. From there it goes the way a directive's task goes (`notifier.sending`): the same screen,
claim, pacing, policy and settlement; whether the campaign windows hold it is its kind's
(`notifier.domain.tasks.SERVICE_SENDS`).

A message is queued once per `message_id`: ids already marked are answered as duplicates. The
mark is written after Kafka confirmed the tasks, so a crash in between queues them again on the
caller's retry, and the tasks' delivery ids (derived from the message id) still send them once.
"""

from __future__ import annotations

from dataclasses import dataclass

from notifier.commands import SendMessages, ServiceMessage
from notifier.domain.tasks import OTP, SERVICE_SENDS, Task, channels_from, delivery_id
from notifier.handlers.ports import Ports, Refused
from shared.orgtree.levels import booth_path

FLUSH_S = 5.0  # Kafka away: the caller hears 503 before its own timeout


@dataclass(frozen=True)
class Queued:
    tasks: tuple[Task, ...]  # the tasks produced, in the request's order
    duplicates: int  # messages queued by an earlier request, or repeated in this one


def queue_messages(cmd: SendMessages, ports: Ports) -> Queued:
    """Each message not queued before onto its lane, confirmed by Kafka (which raises if not:
    nothing is marked queued then, and the caller tries again)."""
    send = SERVICE_SENDS[cmd.kind]
    wrong = [i for i, message in enumerate(cmd.messages) if message.lane not in send.lanes]
    if wrong:
        raise Refused(
            422,
            "wrong-lane",
            "Not a lane for these messages",
            f"messages {wrong[:10]} name a lane other than {', '.join(send.lanes)}.",
        )
    fresh = _not_queued(cmd, ports)
    now = ports.clock()
    tasks = tuple(_task(cmd.kind, message, now) for message in fresh)
    with ports.produce_lock:
        for task in tasks:
            ports.producer.produce(task)
        ports.producer.flush(FLUSH_S)
    ports.ledger.mark_queued(cmd.kind, [message.message_id for message in fresh])
    return Queued(tasks, len(cmd.messages) - len(fresh))


def _not_queued(cmd: SendMessages, ports: Ports) -> list[ServiceMessage]:
    """The first of each message id, unless an earlier request queued it."""
    firsts: dict[str, ServiceMessage] = {}
    for message in cmd.messages:
        firsts.setdefault(message.message_id, message)
    before = ports.ledger.queued_before(cmd.kind, list(firsts))
    return [message for message, done in zip(firsts.values(), before) if not done]


def delivery_of(kind: str, message: ServiceMessage) -> str:
    """The delivery id of the message's first channel, queued now or before."""
    first = channels_from(message.channel)[0]
    return delivery_id(message.message_id, message.appointment_id, first, kind)


def _task(kind: str, message: ServiceMessage, now: float) -> Task:
    send = SERVICE_SENDS[kind]
    channels = channels_from(message.channel)
    return Task(
        delivery_id=delivery_of(kind, message),
        send=kind,
        lane=message.lane,
        booth_id=message.booth_id,
        booth_path=booth_path(message.booth_id),
        recipient_id=message.appointment_id,
        phone=message.phone,
        locale=message.locale,
        channels=channels,
        otp_request_id=message.message_id if kind == OTP else None,
        message_id=None if kind == OTP else message.message_id,
        text=message.text,
        expires_at=now + send.lifetime_s if send.lifetime_s else None,
        campaign=send.campaign,
        queued_at=now,
    )
