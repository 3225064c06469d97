"""One function per command or event: issue and cancel directives, schedule their fan-out, queue
OTP codes, turn provider receipts into events, acknowledgements, opt-outs, and the relays that
move waiting work along. The rules live in `domain`; this module orders the steps.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from prometheus_client import Counter as Metric

from notifier.adapters import events as ev
from notifier.adapters.events import NotifierEvents
from notifier.adapters.lanes import TaskProducer
from notifier.adapters.ledger import Ledger
from notifier.adapters.store import DirectiveStore, DuplicateDirective
from notifier.adapters.tally import Tally
from notifier.commands import Acknowledge, CancelDirective, IssueDirective, SendOtp
from notifier.domain import directives as rules
from notifier.domain.directives import CANCEL, CANCELLED, SCHEDULE, SENT, Directive, fanout_job
from notifier.domain import recurrence as rec
from notifier.domain.policy import SendingPolicy
from notifier.domain.receipts import DELIVERED, FAILED, READ
from notifier.domain.tasks import OTP, URGENT, Task, booth_path, delivery_id
from shared.logging import get_logger
from shared.phones import to_e164
from shared.orgtree.repository import OrgRegistry

log = get_logger(__name__)

RECEIPTS = Metric("sangathan_notifier_receipts", "Provider status reports, by status and outcome", ["status", "outcome"])
OPT_OUTS = Metric("sangathan_notifier_opt_outs", "Recipients who opted out, by channel", ["channel"])
ACKS = Metric("sangathan_notifier_acknowledgements", "Acknowledgements received, by way", ["via"])

STOP_WORDS = {"STOP", "STOP ALL", "UNSUBSCRIBE", "रोकें", "बंद करें", "बंद"}
OTP_LIFETIME_S = 600


class Refused(Exception):
    def __init__(self, status: int, kind: str, title: str, detail: str):
        super().__init__(detail)
        self.status, self.kind, self.title, self.detail = status, kind, title, detail


class NotFound(Exception):
    pass


@dataclass
class Ports:
    store: DirectiveStore
    ledger: Ledger
    tally: Tally
    events: NotifierEvents
    producer: TaskProducer  # the urgent lane, for OTP codes
    registry: OrgRegistry
    clock: Callable[[], float] = time.time
    produce_lock: threading.Lock = field(default_factory=threading.Lock)
    policy: SendingPolicy = field(default_factory=SendingPolicy)  # quiet hours a recurrence must avoid


# --- directives ----------------------------------------------------------------------------------


def issue_directive(cmd: IssueDirective, ports: Ports) -> tuple[Directive, bool]:
    """Store the directive with its event (the outbox) and publish it; (directive, created).

    Jurisdiction is checked by the caller (the API) before this runs.
    """
    now = datetime.fromtimestamp(ports.clock(), timezone.utc)
    refusal = rules.refusal(cmd, now, ports.policy)
    if refusal is not None:
        if refusal.kind == rules.OVERRIDE_FORBIDDEN:  # who tried to lift the quiet hours, and why
            ports.store.audit("quiet-hours-override-refused", actor=cmd.issued_by, subject=cmd.directive_id,
                              reason=cmd.override_reason, unit=cmd.issuing_unit)
        raise Refused(refusal.status, refusal.kind, refusal.title, refusal.detail)
    for unit in cmd.scope:
        if ports.registry.get(unit) is None:
            raise Refused(422, "unknown-unit", "Unknown unit", f"No organisational unit has id {unit!r}.")
    if cmd.recurrence is not None and ports.store.get(cmd.directive_id) is None:  # a repeat is answered below
        refusal = rules.rounds_per_day_refusal(cmd, ports.store.recurring())
        if refusal is not None:
            raise Refused(refusal.status, refusal.kind, refusal.title, refusal.detail)
    directive = Directive.issue(cmd, now, event_id=ev.event_id(f"issued:{cmd.directive_id}"))
    try:
        ports.store.insert(directive)
    except DuplicateDirective:
        return ports.store.get(cmd.directive_id), False
    if cmd.override_reason:
        ports.store.audit("quiet-hours-override", actor=cmd.issued_by, subject=cmd.directive_id,
                          reason=cmd.override_reason, unit=cmd.issuing_unit)
        log.warning("quiet hours overridden", fields={"directive_id": cmd.directive_id, "by": cmd.issued_by})
    publish_outbox(directive, ports)
    return directive, True


def publish_outbox(directive: Directive, ports: Ports) -> bool:
    """Publish a stored directive's event; the relay retries whatever this could not."""
    try:
        ports.events.publish([ev.directive_issued(directive.event_data())])
    except ev.EventsUnavailable as exc:
        log.warning("directive-issued not published yet; the relay retries",
                    fields={"directive_id": directive.directive_id, "error": str(exc)[:200]})
        return False
    ports.store.mark_published(directive.directive_id)
    return True


def relay_outbox(ports: Ports) -> int:
    published = 0
    for directive in ports.store.unpublished():
        published += publish_outbox(directive, ports)
    return published


def cancel_directive(cmd: CancelDirective, ports: Ports) -> Directive:
    moved = ports.store.move(cmd.directive_id, CANCEL, cancelled_by=cmd.cancelled_by)
    if moved is None:
        existing = ports.store.get(cmd.directive_id)
        if existing is None:
            raise NotFound(cmd.directive_id)
        raise Refused(409, "not-cancellable", "The directive can no longer be cancelled",
                      f"It is {existing.state}; only a directive not yet fully sent can be cancelled.")
    ports.ledger.cancel(cmd.directive_id)  # lanes drop its tasks not yet sent
    ports.store.audit("cancel", actor=cmd.cancelled_by, subject=cmd.directive_id)
    return moved


def schedule_fanout(data: dict, ports: Ports) -> None:
    """On directive-issued: queue its fan-out (or its first round) for when it is due."""
    directive = ports.store.get(data["directive_id"])
    if directive is None or directive.state == CANCELLED:
        return  # another notifier's directive (its own database), or cancelled already
    if directive.recurring:
        # A redelivered event after some rounds ran queues the round after the last one recorded.
        following = directive.round_after_the_last()
        if following is not None and directive.state != SENT:
            schedule_round(directive, following, ports.ledger, ports.store)
        return
    now = ports.clock()
    due = directive.due(now)
    ports.ledger.schedule_fanout(directive.directive_id, due)
    if due > now + 1:
        ports.store.move(directive.directive_id, SCHEDULE, due_at=datetime.fromtimestamp(due, timezone.utc))


def schedule_round(directive: Directive, slot: datetime, ledger: Ledger, store: DirectiveStore) -> None:
    """Queue the round at `slot` (idempotent: its job is named by its round id, and a redelivery
    never postpones it) and show the directive waiting for it."""
    ledger.schedule_fanout(fanout_job(directive.directive_id, rec.round_id(slot)), slot.timestamp())
    store.next_round(directive.directive_id, slot)


# --- OTP codes -----------------------------------------------------------------------------------


def queue_otp(cmd: SendOtp, ports: Ports) -> str:
    """Put a code on the urgent lane (confirmed by Kafka); its delivery id."""
    channels = (cmd.channel, "sms") if cmd.channel == "whatsapp" else (cmd.channel,)
    now = ports.clock()
    task = Task(
        delivery_id=delivery_id(cmd.request_id, cmd.appointment_id, channels[0], OTP), send=OTP, lane=URGENT,
        booth_id=cmd.booth_id, booth_path=booth_path(cmd.booth_id), recipient_id=cmd.appointment_id,
        phone=cmd.phone, locale=cmd.locale, channels=channels, otp_request_id=cmd.request_id, text=cmd.text,
        expires_at=now + OTP_LIFETIME_S, campaign=False, queued_at=now,
    )
    with ports.produce_lock:
        ports.producer.produce(task)
        ports.producer.flush(10)
    return task.delivery_id


# --- receipts, acknowledgements, consent ---------------------------------------------------------


def record_receipts(payload: dict, ports: Ports) -> dict[str, int]:
    """A provider's (verified) webhook: statuses become delivery-status events, replies become
    acknowledgements or opt-outs. Raises EventsUnavailable so the provider calls again."""
    outcome: dict[str, int] = {"statuses": 0, "early": 0, "acknowledgements": 0, "opt_outs": 0}
    statuses = [s for s in payload.get("statuses") or []
                if isinstance(s, dict) and s.get("status") in (DELIVERED, READ, FAILED) and s.get("message_id")]
    contexts = ports.ledger.delivered_by([str(s["message_id"]) for s in statuses])
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
    recorded = [m for m, c in zip(early, ports.ledger.delivered_by([s["message_id"] for s in early])) if c]
    if recorded:
        taken = ports.ledger.take_early([s["message_id"] for s in recorded])
        found = ports.ledger.delivered_by([s["message_id"] for s in taken])
        events.extend(receipt_events([(c, s) for c, s in zip(found, taken) if c]))
    for message in [m for m in payload.get("messages") or [] if isinstance(m, dict)]:
        text = str(message.get("text", "")).strip()
        if text.upper() in STOP_WORDS:
            opt_out(str(message.get("from", "")), str(message.get("channel", "?")), "reply", ports)
            outcome["opt_outs"] += 1
            continue
        answered = (message.get("context") or {}).get("message_id")
        [context] = ports.ledger.delivered_by([str(answered)]) if answered else [None]
        if context and context.get("directive_id") and context.get("booth_path"):
            ack = Acknowledge(context["directive_id"], context["recipient_id"], context["booth_id"], "reply")
            if acknowledge(ack, ports):
                outcome["acknowledgements"] += 1
    announce(events, ports.tally, ports.events)
    outcome["fallbacks"] = fall_back_late(statuses, ports.ledger, ports.producer, ports.produce_lock)
    return outcome


def fall_back_late(statuses: list[dict], ledger: Ledger, producer: TaskProducer, lock: threading.Lock | None = None) -> int:
    """A message the provider accepted and later reports failed goes on the next channel of
    preference, as a failure at send time does; delivered or read, it never will. Once: the next
    channel's task is taken from the ledger only after Kafka has it, and a copy produced twice
    (two webhook calls at once) has the same delivery id, so it sends once."""
    failed = [str(s["message_id"]) for s in statuses if s.get("status") == FAILED]
    reached = [str(s["message_id"]) for s in statuses if s.get("status") in (DELIVERED, READ)]
    ledger.forget_fallbacks(reached)
    waiting = ledger.fallbacks([m for m in failed if m not in reached])
    if not waiting:
        return 0
    with lock or threading.Lock():
        for _, raw in waiting:
            task = Task.from_json(raw)
            producer.produce_raw(task.lane, task.booth_id.encode(), raw, task.delivery_id)
        producer.flush(10)  # raises unless Kafka took them: the provider calls again and this repeats
    ledger.forget_fallbacks([m for m, _ in waiting])
    RECEIPTS.labels(FAILED, "fell_back").inc(len(waiting))
    return len(waiting)


def announce(events: list[tuple], tally: Tally, publisher: NotifierEvents) -> None:
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
        events.append(ev.delivery_status(context, status["status"], _time(status.get("timestamp")),
                                         str(status["message_id"]), error))
    return events


def acknowledge(cmd: Acknowledge, ports: Ports) -> bool:
    """Record an acknowledgement once; False if it was already recorded."""
    directive = ports.store.get(cmd.directive_id)
    if directive is None:
        raise NotFound(cmd.directive_id)
    if not directive.acknowledgeable(ports.clock()):
        raise Refused(410, "directive-closed", "The directive is no longer open",
                      "It was cancelled or has expired; acknowledgements are closed.")
    path = booth_path(cmd.booth_id)
    if path is None:
        raise Refused(422, "not-a-booth", "Not a booth", "The acknowledgement names no booth.")
    if not ports.ledger.mark_acknowledged(cmd.directive_id, cmd.recipient_id, cmd.via):
        return False
    event = ev.acknowledged(directive_id=cmd.directive_id, booth_id=cmd.booth_id, booth_path=path,
                            recipient_id=cmd.recipient_id, via=cmd.via, at=ev.now())
    try:
        announce([event], ports.tally, ports.events)
    except ev.EventsUnavailable:
        ports.ledger.unmark_acknowledged(cmd.directive_id, cmd.recipient_id)  # not recorded: they may try again
        raise
    ACKS.labels(cmd.via).inc()
    return True


def opt_out(phone: str, channel: str, via: str, ports: Ports) -> None:
    """Honoured at once (the lanes check the set before every send) and recorded durably.

    Providers spell the sender their own way (`919876543210`, `whatsapp:+91...`): it is brought to
    E.164, the form recipients are sent to, or the opt-out would never match a send."""
    e164 = to_e164(phone)
    if e164 is None:
        log.warning("opt-out from an unreadable number ignored", fields={"channel": channel, "via": via})
        return
    ports.store.record_optout(ports.ledger.opt_out(e164), via=via, channel=channel)
    OPT_OUTS.labels(channel[:16]).inc()
    log.info("recipient opted out", fields={"channel": channel, "via": via})


def forget_erased(data: dict, ports: Ports) -> None:
    """person-erased: the appointee's tasks waiting here (which hold their phone) are dropped."""
    dropped = ports.ledger.forget_recipients({data["appointment_id"]})
    log.info("erased appointee's waiting tasks dropped", fields={"erasure_id": data["erasure_id"], "tasks": dropped})


# --- waiting work --------------------------------------------------------------------------------


def move_due_tasks(ports: Ports, producer: TaskProducer, limit: int = 1000) -> int:
    """Put tasks whose wait is over (retries, quiet hours, caps) back on their lanes."""
    members = ports.ledger.take_due_tasks(ports.clock(), limit)
    if not members:
        return 0
    for member in members:
        task = Task.from_json(member)
        producer.produce_raw(task.lane, task.booth_id.encode(), member, task.delivery_id)
    producer.flush()
    ports.ledger.forget_tasks(members)  # only once Kafka has them
    return len(members)


def _code(status: dict) -> str:
    code = str((status.get("error") or {}).get("code") or "FAILED")
    return "".join(c for c in code if c.isalnum() or c in "_.:-")[:64] or "FAILED"


def _time(text) -> datetime:
    try:
        at = datetime.fromisoformat(str(text))
        return at if at.tzinfo else at.replace(tzinfo=timezone.utc)
    except ValueError:
        return ev.now()
