"""Rounds of a recurring directive: queue the one at a slot. Used when directive-issued arrives
(`handlers.directives.schedule_fanout`) and by the fan-out, after a round or instead of a missed
one (`notifier.fanout`)."""

from __future__ import annotations

from datetime import datetime

from notifier.domain import recurrence
from notifier.domain.directives import Directive, fanout_job
from notifier.handlers.ports import DeliveryLedger, DirectiveRepository


def schedule_round(directive: Directive, slot: datetime, ledger: DeliveryLedger, store: DirectiveRepository) -> None:
    """Queue the round at `slot` (idempotent: its job is named by its round id, and a redelivery
    never postpones it) and show the directive waiting for it."""
    ledger.schedule_fanout(fanout_job(directive.directive_id, recurrence.round_id(slot)), slot.timestamp())
    store.next_round(directive.directive_id, slot)
