"""Kafka entrypoint: directive-issued schedules a fan-out. Idempotent (a redelivered event never
postpones the schedule), as at-least-once delivery requires.

The per-directive counts are not fed from Kafka: the notifier counts each delivery-status and
directive-acknowledged event as it makes it (see handlers.receipts.announce), which saves reading
back and validating its own largest stream."""

from __future__ import annotations

from collections.abc import Callable

from notifier.commands import ForgetAppointee, ScheduleFanOut
from notifier.handlers.consent import forget_erased
from notifier.handlers.directives import schedule_fanout
from notifier.handlers.ports import Ports
from shared.erasures import erasure_handler as erasures
from shared.events import types
from shared.events.contracts import Event

SCHEDULER_GROUP = "notifier-fanout"
ERASURE_GROUP = "notifier-erasures"


def erasure_handler(ports: Ports) -> Callable[[Event], None]:
    return erasures(
        lambda appointment_id, erasure_id: forget_erased(
            ForgetAppointee(appointment_id, erasure_id), ports
        )
    )


def issued_handler(ports: Ports) -> Callable[[Event], None]:
    def handle(event: Event) -> None:
        if event.type == types.DIRECTIVE_ISSUED:
            schedule_fanout(ScheduleFanOut(event.data["directive_id"]), ports)

    return handle
