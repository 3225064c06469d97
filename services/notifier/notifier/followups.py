"""Follow-ups for booths that have not acknowledged a directive: a reminder to their recipients
after `remind_after_s`, then, after `escalate_after_s`, word to the unit above each such booth
(its sector) through the organisation's app webhook. Each happens once per directive, recorded
on the directive, and reminders have their own delivery ids, so a repeated run sends nothing new.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable

from notifier.domain.directives import SENT, Directive
from notifier.domain.tasks import ESCALATION, REMINDER, Task, delivery_id, lane_for
from notifier.handlers.ports import FollowUpRecords, StatusTally, TaskLanes
from shared.logging import get_logger
from shared.recipients import RecipientSource

log = get_logger(__name__)

BATCH = 1000


class FollowUps:
    def __init__(
        self,
        *,
        store: FollowUpRecords,
        tally: StatusTally,
        recipients: RecipientSource,
        chunks: Callable[[list[str]], list[str]],
        producer: TaskLanes,
        remind_after_s: float,
        escalate_after_s: float,
        clock: Callable[[], float] = time.time,
    ):
        self.store, self.tally, self.recipients, self.chunks = store, tally, recipients, chunks
        self.producer, self.clock = producer, clock
        self.remind_after_s, self.escalate_after_s = remind_after_s, escalate_after_s

    def run_once(self) -> bool:
        now = self.clock()
        for directive in self.store.sent_since((SENT,)):
            if directive.fanned_out_at is None:
                continue
            since = now - directive.fanned_out_at.timestamp()
            done = directive.follow_ups
            if done.reminded_at is None and since >= self.remind_after_s:
                self.store.record_reminders(directive.directive_id, self.remind(directive))
            elif (
                done.reminded_at is not None
                and done.escalated_at is None
                and since >= self.escalate_after_s
            ):
                self.store.record_escalations(directive.directive_id, self.escalate(directive))
        return False

    def remind(self, directive: Directive) -> int:
        """A reminder to every recipient of a booth that has not acknowledged; how many."""
        sent = 0
        for chunk in self.chunks(directive.scope):
            batch = []
            for recipient in self.recipients.stream(chunk, directive.audience):
                batch.append(recipient)
                if len(batch) >= BATCH:
                    sent += self._remind_batch(directive, batch)
                    batch = []
            sent += self._remind_batch(directive, batch)
        self.producer.flush()
        log.info(
            "reminders queued", fields={"directive_id": directive.directive_id, "reminders": sent}
        )
        return sent

    def _remind_batch(self, directive: Directive, batch: list) -> int:
        directive_id, channels = directive.directive_id, directive.channels
        acked = self.tally.acked_booths(directive_id, [recipient.booth_id for recipient in batch])
        sent = 0
        for recipient, done in zip(batch, acked):
            if done:
                continue
            self.producer.produce(
                Task(
                    delivery_id=delivery_id(
                        directive_id, recipient.appointment_id, channels[0], REMINDER
                    ),
                    send=REMINDER,
                    lane=lane_for(directive.priority),
                    booth_id=recipient.booth_id,
                    booth_path=recipient.booth_path,
                    recipient_id=recipient.appointment_id,
                    phone=recipient.phone,
                    locale=recipient.locale,
                    channels=channels,
                    directive_id=directive_id,
                    expires_at=directive.expires_at.timestamp(),
                    quiet_hours_override=directive.quiet_hours_lifted,
                    queued_at=self.clock(),
                )
            )
            sent += 1
        return sent

    def escalate(self, directive: Directive) -> dict[str, int]:
        """Tell each sector with booths still silent how many; {sector: booths}."""
        directive_id = directive.directive_id
        silent = self.tally.booths_without(directive_id, "acked", limit=10**7)
        by_sector: dict[str, int] = defaultdict(int)
        for booth in silent:
            by_sector[booth.rsplit("-", 1)[0]] += 1
        title = directive.title["en"]
        for sector, booths in by_sector.items():
            self.producer.produce(
                Task(
                    delivery_id=delivery_id(directive_id, sector, "webhook", ESCALATION),
                    send=ESCALATION,
                    lane=lane_for(directive.priority),
                    booth_id=sector,
                    booth_path=None,
                    recipient_id=sector,
                    phone="",
                    locale="en",
                    channels=("webhook",),
                    directive_id=directive_id,
                    expires_at=directive.expires_at.timestamp(),
                    campaign=False,
                    queued_at=self.clock(),
                    text=(
                        f"{booths} booth(s) of {sector} have not acknowledged "
                        f"the directive '{title}'."
                    ),
                )
            )
        self.producer.flush()
        log.info(
            "escalated",
            fields={"directive_id": directive_id, "units": len(by_sector), "booths": len(silent)},
        )
        return dict(by_sector)
