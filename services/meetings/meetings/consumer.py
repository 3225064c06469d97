"""Kafka entrypoint: an erased appointee's phones are dropped from their invitations."""

from __future__ import annotations

from collections.abc import Callable

from meetings.commands import ForgetAppointee
from meetings.handlers import Ports, forget_erased
from shared.events import types
from shared.events.contracts import Event

GROUP = "meetings"
RESTART_PAUSE_S = 5.0


def erasure_handler(ports: Ports) -> Callable[[Event], None]:
    def handle(event: Event) -> None:
        if event.type == types.PERSON_ERASED:
            forget_erased(
                ForgetAppointee(event.data["appointment_id"], event.data["erasure_id"]), ports
            )

    return handle
