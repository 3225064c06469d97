"""Kafka entrypoint: otp-requested events become SendCode commands, in a background thread of
the HTTP service."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from otp import handlers
from otp.commands import SendCode
from shared.events import types
from shared.events.contracts import Event

GROUP_ID = "otp"
# A consumer that failed (a fatal client error, the dead-letter topic unwritable) is replaced by
# a fresh one that rejoins the group from the last committed offset, after this pause.
RESTART_PAUSE_S = 5.0


def to_command(event: Event) -> SendCode | None:
    if event.type != types.OTP_REQUESTED:
        return None  # a type this service does not act on
    data = event.data
    return SendCode(
        request_id=data["request_id"],
        appointment_id=data["appointment_id"],
        booth_id=data["booth_id"],
        phone=data["phone"],
        channel=data["channel"],
        locale=data["locale"],
        requested_at=datetime.fromisoformat(data["requested_at"]).timestamp(),
    )


def event_handler(ports: handlers.Ports) -> Callable[[Event], None]:
    def handle(event: Event) -> None:
        command = to_command(event)
        if command is not None:
            handlers.send_code(command, ports)

    return handle
