"""Directives: issue one (stored with its event, the outbox, then published), relay what Kafka did
not confirm, cancel one, and on directive-issued queue its fan-out or its first round.
The rules live in `notifier.domain.directives`; these functions order the steps.

Next on a directive's way: `notifier.consumer` hands directive-issued to `schedule_fanout`, which
queues a fan-out job; `notifier.fanout` runs it when due."""

from __future__ import annotations

from datetime import datetime, timezone

from notifier.adapters.events import EventsUnavailable, directive_issued, event_id
from notifier.commands import CancelDirective, IssueDirective, ScheduleFanOut
from notifier.domain import directives as rules
from notifier.domain.directives import (
    CANCEL,
    CANCELLED,
    SCHEDULE,
    SENT,
    Directive,
    DuplicateDirective,
)
from notifier.handlers.ports import NotFound, Ports, Refused
from notifier.handlers.rounds import schedule_round
from shared.logging import get_logger

log = get_logger(__name__)


def issue_directive(cmd: IssueDirective, ports: Ports) -> tuple[Directive, bool]:
    """Store the directive with its event (the outbox) and publish it; (directive, created).

    Jurisdiction is checked by the caller (the API) before this runs.
    """
    now = datetime.fromtimestamp(ports.clock(), timezone.utc)
    _refuse_if_not_allowed(cmd, now, ports)
    directive = Directive.issue(cmd, now, event_id=event_id(f"issued:{cmd.directive_id}"))
    try:
        ports.store.insert(directive)
    except DuplicateDirective:
        return ports.store.get(cmd.directive_id), False
    if cmd.override_reason:
        ports.store.audit(
            "quiet-hours-override",
            actor=cmd.issued_by,
            subject=cmd.directive_id,
            reason=cmd.override_reason,
            unit=cmd.issuing_unit,
        )
        log.warning(
            "quiet hours overridden", fields={"directive_id": cmd.directive_id, "by": cmd.issued_by}
        )
    publish_outbox(directive, ports)
    return directive, True


def _refuse_if_not_allowed(cmd: IssueDirective, now: datetime, ports: Ports) -> None:
    """Refused if the rules, the org tree or the rounds already running say no; a refused
    attempt to lift the quiet hours is audited (who tried, and why)."""
    refusal = rules.refusal(cmd, now, ports.policy)
    if refusal is not None:
        if refusal.kind == rules.OVERRIDE_FORBIDDEN:
            ports.store.audit(
                "quiet-hours-override-refused",
                actor=cmd.issued_by,
                subject=cmd.directive_id,
                reason=cmd.override_reason,
                unit=cmd.issuing_unit,
            )
        raise _refused(refusal)
    for unit in cmd.scope:
        if ports.registry.get(unit) is None:
            raise Refused(
                422, "unknown-unit", "Unknown unit", f"No organisational unit has id {unit!r}."
            )
    if (
        cmd.recurrence is not None and ports.store.get(cmd.directive_id) is None
    ):  # a repeat gets the stored one back
        refusal = rules.rounds_per_day_refusal(cmd, ports.store.recurring())
        if refusal is not None:
            raise _refused(refusal)


def _refused(refusal: rules.Refusal) -> Refused:
    return Refused(refusal.status, refusal.kind, refusal.title, refusal.detail)


def publish_outbox(directive: Directive, ports: Ports) -> bool:
    """Publish a stored directive's event; the relay retries whatever this could not."""
    try:
        ports.events.publish([directive_issued(directive.event_data())])
    except EventsUnavailable as exc:
        log.warning(
            "directive-issued not published yet; the relay retries",
            fields={"directive_id": directive.directive_id, "error": str(exc)[:200]},
        )
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
        raise Refused(
            409,
            "not-cancellable",
            "The directive can no longer be cancelled",
            f"It is {existing.state}; only a directive not yet fully sent can be cancelled.",
        )
    ports.ledger.cancel(cmd.directive_id)  # lanes drop its tasks not yet sent
    ports.store.audit("cancel", actor=cmd.cancelled_by, subject=cmd.directive_id)
    return moved


def schedule_fanout(cmd: ScheduleFanOut, ports: Ports) -> None:
    """On directive-issued: queue its fan-out (or its first round) for when it is due."""
    directive = ports.store.get(cmd.directive_id)
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
        ports.store.move(
            directive.directive_id, SCHEDULE, due_at=datetime.fromtimestamp(due, timezone.utc)
        )
