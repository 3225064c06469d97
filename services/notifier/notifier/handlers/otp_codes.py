"""OTP codes the OTP service hands over: onto the urgent lane, confirmed by Kafka before the
caller hears they are queued."""

from __future__ import annotations

from notifier.commands import SendOtp
from notifier.domain.tasks import OTP, URGENT, Task, delivery_id
from notifier.handlers.ports import Ports
from shared.orgtree.levels import booth_path

OTP_LIFETIME_S = 600


def queue_otp(cmd: SendOtp, ports: Ports) -> str:
    """Put a code on the urgent lane (confirmed by Kafka); its delivery id."""
    channels = (cmd.channel, "sms") if cmd.channel == "whatsapp" else (cmd.channel,)
    now = ports.clock()
    task = Task(
        delivery_id=delivery_id(cmd.request_id, cmd.appointment_id, channels[0], OTP),
        send=OTP,
        lane=URGENT,
        booth_id=cmd.booth_id,
        booth_path=booth_path(cmd.booth_id),
        recipient_id=cmd.appointment_id,
        phone=cmd.phone,
        locale=cmd.locale,
        channels=channels,
        otp_request_id=cmd.request_id,
        text=cmd.text,
        expires_at=now + OTP_LIFETIME_S,
        campaign=False,
        queued_at=now,
    )
    with ports.produce_lock:
        ports.producer.produce(task)
        ports.producer.flush(10)
    return task.delivery_id
