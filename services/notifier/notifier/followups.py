"""Follow-ups for booths that have not acknowledged a directive: a reminder to their recipients
after `remind_after_s`, then, after `escalate_after_s`, word to the unit above each such booth
(its sector) through the organisation's app webhook. Each happens once per directive, recorded
on the directive, and reminders have their own delivery ids, so a repeated run sends nothing new.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timezone

from notifier.adapters.lanes import TaskProducer
from notifier.adapters.recipients import RecipientSource
from notifier.adapters.store import SENT, DirectiveStore
from notifier.adapters.tally import Tally
from notifier.domain.tasks import ESCALATION, REMINDER, Task, delivery_id, lane_for
from notifier.settings import NotifierSettings
from shared.logging import get_logger

log = get_logger(__name__)

BATCH = 1000


class FollowUps:
    def __init__(self, *, store: DirectiveStore, tally: Tally, recipients: RecipientSource,
                 chunks: Callable[[list[str]], list[str]], producer: TaskProducer, settings: NotifierSettings,
                 clock: Callable[[], float] = time.time):
        self.store, self.tally, self.recipients, self.chunks = store, tally, recipients, chunks
        self.producer, self.settings, self.clock = producer, settings, clock

    def run_once(self) -> bool:
        now = self.clock()
        for doc in self.store.sent_since((SENT,)):
            fanned = doc.get("fanned_out_at")
            if fanned is None:
                continue
            since = now - fanned.replace(tzinfo=fanned.tzinfo or timezone.utc).timestamp()
            done = doc.get("follow_ups") or {}
            if "reminded" not in done and since >= self.settings.remind_after_s:
                sent = self.remind(doc)
                self.store.record(doc["_id"], **{"follow_ups.reminded": _now(), "follow_ups.reminders": sent})
            elif "reminded" in done and "escalated" not in done and since >= self.settings.escalate_after_s:
                units = self.escalate(doc)
                self.store.record(doc["_id"], **{"follow_ups.escalated": _now(), "follow_ups.escalations": units})
        return False

    def remind(self, doc: dict) -> int:
        """A reminder to every recipient of a booth that has not acknowledged; how many."""
        lane, channels, sent = lane_for(doc["priority"]), tuple(doc["channels"]), 0
        for chunk in self.chunks(doc["scope"]):
            batch = []
            for recipient in self.recipients.stream(chunk, doc["audience"]):
                batch.append(recipient)
                if len(batch) >= BATCH:
                    sent += self._remind_batch(doc, batch, lane, channels)
                    batch = []
            sent += self._remind_batch(doc, batch, lane, channels)
        self.producer.flush()
        log.info("reminders queued", fields={"directive_id": doc["_id"], "reminders": sent})
        return sent

    def _remind_batch(self, doc: dict, batch: list, lane: str, channels: tuple[str, ...]) -> int:
        acked = self.tally.acked_booths(doc["_id"], [r.booth_id for r in batch])
        sent = 0
        for recipient, done in zip(batch, acked):
            if done:
                continue
            self.producer.produce(Task(
                delivery_id=delivery_id(doc["_id"], recipient.appointment_id, channels[0], REMINDER), send=REMINDER,
                lane=lane, booth_id=recipient.booth_id, booth_path=recipient.booth_path,
                recipient_id=recipient.appointment_id, phone=recipient.phone, locale=recipient.locale,
                channels=channels, directive_id=doc["_id"], expires_at=doc["expires_ts"],
                quiet_hours_override=bool(doc.get("quiet_hours_override")), queued_at=self.clock(),
            ))
            sent += 1
        return sent

    def escalate(self, doc: dict) -> dict[str, int]:
        """Tell each sector with booths still silent how many; {sector: booths}."""
        silent = self.tally.booths_without(doc["_id"], "acked", limit=10**7)
        by_sector: dict[str, int] = defaultdict(int)
        for booth in silent:
            by_sector[booth.rsplit("-", 1)[0]] += 1
        title = doc["title"]["en"]
        for sector, booths in by_sector.items():
            self.producer.produce(Task(
                delivery_id=delivery_id(doc["_id"], sector, "webhook", ESCALATION), send=ESCALATION,
                lane=lane_for(doc["priority"]), booth_id=sector, booth_path=None, recipient_id=sector, phone="",
                locale="en", channels=("webhook",), directive_id=doc["_id"], expires_at=doc["expires_ts"],
                campaign=False, queued_at=self.clock(),
                text=f"{booths} booth(s) of {sector} have not acknowledged the directive '{title}'.",
            ))
        self.producer.flush()
        log.info("escalated", fields={"directive_id": doc["_id"], "units": len(by_sector), "booths": len(silent)})
        return dict(by_sector)


def _now() -> datetime:
    return datetime.now(timezone.utc)
