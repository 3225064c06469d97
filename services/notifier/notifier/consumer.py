"""Kafka entrypoints: directive-issued schedules a fan-out; delivery-status and
directive-acknowledged move the per-directive counts. Each handler is idempotent (the schedule
never postpones, the counts only move forward), as at-least-once delivery requires."""

from __future__ import annotations

from collections.abc import Callable

from notifier import handlers
from notifier.adapters.tally import Tally
from shared.events import types
from shared.events.contracts import Event

SCHEDULER_GROUP = "notifier-fanout"
TALLY_GROUP = "notifier-tally"


def issued_handler(ports: handlers.Ports) -> Callable[[Event], None]:
    def handle(event: Event) -> None:
        if event.type == types.DIRECTIVE_ISSUED:
            handlers.schedule_fanout(event.data, ports)
    return handle


def tally_handler(tally: Tally) -> Callable[[Event], None]:
    def handle(event: Event) -> None:
        data = event.data
        if event.type == types.DELIVERY_STATUS and data["directive_id"]:
            code = (data["error"] or {}).get("code")
            tally.status(directive_id=data["directive_id"], recipient_id=data["recipient_id"], booth_id=data["booth_id"],
                         path=data["booth_path"], status=data["status"], channel=data["channel"], code=code)
        elif event.type == types.DIRECTIVE_ACKNOWLEDGED:
            tally.acknowledged(directive_id=data["directive_id"], recipient_id=data["recipient_id"],
                               booth_id=data["booth_id"], path=data["booth_path"])
    return handle
