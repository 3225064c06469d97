"""Rounds of a recurring directive: queue the one at a slot. Used when directive-issued arrives
(`handlers.directives.schedule_fanout`) and by the fan-out, after a round or instead of a missed
one (`notifier.fanout`)."""

from __future__ import annotations

from datetime import datetime

from notifier.domain.directives import Directive, fanout_job
from notifier.handlers.ports import DeliveryLedger, DirectiveRepository
from shared.sending import recurrence


def schedule_round(
    directive: Directive, slot: datetime, ledger: DeliveryLedger, store: DirectiveRepository
) -> None:
    """Queue the round at `slot` and show the directive waiting for it."""
    queue_round(directive.directive_id, slot, ledger)
    store.next_round(directive.directive_id, slot)


def queue_round(directive_id: str, slot: datetime, ledger: DeliveryLedger) -> None:
    """Queue the fan-out of the round at `slot`: idempotent, as its job is named by its round id
    and a redelivery never postpones it. (A round done records the next slot on the directive
    itself, `DirectiveStore.finish_round`, so the fan-out queues only.)"""
    ledger.schedule_fanout(fanout_job(directive_id, recurrence.round_id(slot)), slot.timestamp())
