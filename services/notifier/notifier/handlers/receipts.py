"""Provider receipts and acknowledgements: statuses become delivery-status events (and a late
failure the next channel), replies become acknowledgements or opt-outs, and an acknowledgement
link is recorded once. Every event is counted into the directive's status before it is published."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

from prometheus_client import Counter as Metric

from notifier.adapters.events import EventsUnavailable, acknowledged, delivery_status, now
from notifier.commands import Acknowledge
from notifier.domain.receipts import DELIVERED, FAILED, READ
from notifier.domain.tasks import Task
from notifier.handlers.consent import opt_out
from notifier.handlers.ports import (
    DeliveryLedger,
    EventPublisher,
    NotFound,
    Ports,
    Refused,
    StatusTally,
    TaskLanes,
)
from notifier.handlers.replies import take_reply
from shared.orgtree.levels import booth_path

RECEIPTS = Metric(
    "sangathan_notifier_receipts",
    "Provider status reports, by status and outcome",
    ["status", "outcome"],
)
ACKS = Metric("sangathan_notifier_acknowledgements", "Acknowledgements received, by way", ["via"])

STOP_WORDS = {"STOP", "STOP ALL", "UNSUBSCRIBE", "रोकें", "बंद करें", "बंद"}


def record_receipts(payload: dict, ports: Ports) -> dict[str, int]:
    """A provider's (verified) webhook: statuses become delivery-status events, replies become
    acknowledgements or opt-outs, and any other text goes to the reports service as a booth's
    answer (handlers.replies). Raises EventsUnavailable or InboundUnavailable so the provider
    calls again."""
    outcome: dict[str, int] = {
        "statuses": 0,
        "early": 0,
        "acknowledgements": 0,
        "opt_outs": 0,
        "replies": 0,
    }
    statuses = [
        status
        for status in payload.get("statuses") or []
        if isinstance(status, dict)
        and status.get("status") in (DELIVERED, READ, FAILED)
        and status.get("message_id")
    ]
    contexts = ports.ledger.delivered_by([str(status["message_id"]) for status in statuses])
    events, early = [], []
    for status, context in zip(statuses, contexts):
        if context is None:
            early.append(status)  # reported before its send was recorded: kept until it is
            continue
        outcome["statuses"] += 1
        events.extend(receipt_events([(context, status)]))
    ports.ledger.park_early(early)
    outcome["early"] = len(early)
    # The send may have been recorded between the look-up and the parking: look again.
    known = ports.ledger.delivered_by([status["message_id"] for status in early])
    recorded = [status for status, context in zip(early, known) if context]
    if recorded:
        taken = ports.ledger.take_early([status["message_id"] for status in recorded])
        found = ports.ledger.delivered_by([status["message_id"] for status in taken])
        events.extend(
            receipt_events([(context, status) for context, status in zip(found, taken) if context])
        )
    for message in [
        message for message in payload.get("messages") or [] if isinstance(message, dict)
    ]:
        text = str(message.get("text", "")).strip()
        if text.upper() in STOP_WORDS:
            opt_out(str(message.get("from", "")), str(message.get("channel", "?")), "reply", ports)
            outcome["opt_outs"] += 1
            continue
        answered = (message.get("context") or {}).get("message_id")
        [context] = ports.ledger.delivered_by([str(answered)]) if answered else [None]
        if context and context.get("directive_id") and context.get("booth_path"):
            ack = Acknowledge(
                context["directive_id"], context["recipient_id"], context["booth_id"], "reply"
            )
            if acknowledge(ack, ports):
                outcome["acknowledgements"] += 1
        else:  # not about a directive: perhaps a booth's answer to a report form
            take_reply(message, ports)
            outcome["replies"] += 1
    announce(events, ports.tally, ports.events)
    outcome["fallbacks"] = fall_back_late(
        statuses, ports.ledger, ports.producer, ports.produce_lock
    )
    return outcome


def fall_back_late(
    statuses: list[dict],
    ledger: DeliveryLedger,
    producer: TaskLanes,
    lock: threading.Lock | None = None,
) -> int:
    """A message the provider accepted and later reports failed goes on the next channel of
    preference, as a failure at send time does; delivered or read, it never will. Once: the next
    channel's task is taken from the ledger only after Kafka has it, and a copy produced twice
    (two webhook calls at once) has the same delivery id, so it sends once."""
    failed = [str(status["message_id"]) for status in statuses if status.get("status") == FAILED]
    reached = [
        str(status["message_id"])
        for status in statuses
        if status.get("status") in (DELIVERED, READ)
    ]
    ledger.forget_fallbacks(reached)
    waiting = ledger.fallbacks([message_id for message_id in failed if message_id not in reached])
    if not waiting:
        return 0
    with lock or threading.Lock():
        for _, raw in waiting:
            task = Task.from_json(raw)
            producer.produce_raw(task.lane, task.booth_id.encode(), raw, task.delivery_id)
        producer.flush(
            10
        )  # raises unless Kafka took them: the provider calls again and this repeats
    ledger.forget_fallbacks([message_id for message_id, _ in waiting])
    RECEIPTS.labels(FAILED, "fell_back").inc(len(waiting))
    return len(waiting)


def announce(events: list[tuple], tally: StatusTally, publisher: EventPublisher) -> None:
    """Count events into the directive's status, then publish them. Counting first and
    idempotently means a publish that fails (and is retried by the caller) never double counts,
    and the status a war room watches never waits on another service's consumer."""
    tally.count(events)
    publisher.publish(events)


def receipt_events(pairs: list[tuple[dict, dict]]) -> list[tuple]:
    """delivery-status events for (what was delivered, the provider's report) pairs."""
    events = []
    for context, status in pairs:
        RECEIPTS.labels(status["status"], "recorded").inc()
        if context["booth_path"] is None:
            continue  # not a booth's recipient: no event can describe it
        error = {"code": _code(status), "retryable": False} if status["status"] == FAILED else None
        events.append(
            delivery_status(
                context,
                status["status"],
                _time(status.get("timestamp")),
                str(status["message_id"]),
                error,
            )
        )
    return events


def acknowledge(cmd: Acknowledge, ports: Ports) -> bool:
    """Record an acknowledgement once; False if it was already recorded."""
    directive = ports.store.get(cmd.directive_id)
    if directive is None:
        raise NotFound(cmd.directive_id)
    if not directive.acknowledgeable(ports.clock()):
        raise Refused(
            410,
            "directive-closed",
            "The directive is no longer open",
            "It was cancelled or has expired; acknowledgements are closed.",
        )
    path = booth_path(cmd.booth_id)
    if path is None:
        raise Refused(422, "not-a-booth", "Not a booth", "The acknowledgement names no booth.")
    if not ports.ledger.mark_acknowledged(cmd.directive_id, cmd.recipient_id, cmd.via):
        return False
    event = acknowledged(
        directive_id=cmd.directive_id,
        booth_id=cmd.booth_id,
        booth_path=path,
        recipient_id=cmd.recipient_id,
        via=cmd.via,
        at=now(),
    )
    try:
        announce([event], ports.tally, ports.events)
    except EventsUnavailable:
        ports.ledger.unmark_acknowledged(
            cmd.directive_id, cmd.recipient_id
        )  # not recorded: they may try again
        raise
    ACKS.labels(cmd.via).inc()
    return True


def _code(status: dict) -> str:
    code = str((status.get("error") or {}).get("code") or "FAILED")
    return "".join(char for char in code if char.isalnum() or char in "_.:-")[:64] or "FAILED"


def _time(text) -> datetime:
    try:
        at = datetime.fromisoformat(str(text))
        return at if at.tzinfo else at.replace(tzinfo=timezone.utc)
    except ValueError:
        return now()
