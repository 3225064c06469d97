"""Fan-out: a due directive becomes one delivery task per recipient, on its priority's lane.

The scope is expanded chunk by chunk (a national scope by state, a state by district, anything
smaller whole), each chunk read as one stream of recipients from the appointments service and
turned into tasks batch by batch: the audience never sits in memory, and there is no query per
booth. A chunk counts as done only after Kafka took all its tasks; its targeted counts and the
resume point are then written together, so a fan-out cut short resumes at its first unfinished
chunk, and a chunk begun twice produces tasks with the same delivery ids, which send once.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone

from prometheus_client import Counter as Metric

from notifier.adapters.lanes import TaskProducer
from notifier.adapters.ledger import Ledger
from notifier.adapters.recipients import Recipient, RecipientSource, RecipientsUnavailable
from notifier.adapters.store import ACCEPTED, CANCELLED, SCHEDULED, SENDING, SENT, DirectiveStore
from notifier.adapters.tally import Tally, count_target
from notifier.domain.directives import independent, splits
from notifier.domain.policy import SendingPolicy
from notifier.domain.tasks import DIRECTIVE, Task, delivery_id, lane_for
from shared.logging import get_logger
from shared.orgtree.repository import OrgRegistry

log = get_logger(__name__)

TASKS_PRODUCED = Metric("sangathan_notifier_tasks_produced", "Delivery tasks the fan-out put on a lane", ["lane"])
OPTED_OUT = Metric("sangathan_notifier_recipients_opted_out", "Recipients left out of a fan-out because they opted out")

FLUSH_EVERY = 50_000  # tasks; bounds what the producer tracks in memory between confirmations
RETRY_S = 10.0


class FanOut:
    def __init__(self, *, store: DirectiveStore, ledger: Ledger, tally: Tally, recipients: RecipientSource,
                 registry: OrgRegistry, producer: TaskProducer, policy: SendingPolicy, batch: int,
                 lease_s: float = 300.0, clock: Callable[[], float] = time.time):
        self.store, self.ledger, self.tally = store, ledger, tally
        self.recipients, self.registry, self.producer = recipients, registry, producer
        self.policy, self.batch, self.lease_s, self.clock = policy, batch, lease_s, clock

    def run_due(self) -> bool:
        """Fan out one due directive, if any; True if there was one."""
        directive_id = self.ledger.take_due_fanout(self.clock(), self.lease_s)
        if directive_id is None:
            return False
        try:
            self.run(directive_id)
        except RecipientsUnavailable as exc:
            log.warning("recipients unavailable; fan-out resumes later",
                        fields={"directive_id": directive_id, "error": str(exc)[:200]})
            self.ledger.reschedule_fanout(directive_id, self.clock() + RETRY_S)
        return True

    def run(self, directive_id: str) -> None:
        doc = self.store.get(directive_id)
        if doc is None or doc["state"] in (CANCELLED, SENT) or doc["expires_ts"] <= self.clock():
            self.ledger.finish_fanout(directive_id)  # another instance's, over, or too late
            return
        opens = self._window(doc)
        if opens is not None:
            self.ledger.reschedule_fanout(directive_id, opens)
            self.store.move(directive_id, (ACCEPTED,), SCHEDULED, due_at=datetime.fromtimestamp(opens, timezone.utc))
            log.info("directive waits for its sending window", fields={"directive_id": directive_id})
            return
        if self.store.move(directive_id, (ACCEPTED, SCHEDULED, SENDING), SENDING) is None:
            self.ledger.finish_fanout(directive_id)  # cancelled meanwhile
            return
        done = self.ledger.chunks_done(directive_id)
        for chunk in self.chunks(doc["scope"]):
            if chunk in done:
                continue
            if self.ledger.cancelled([directive_id]):
                log.info("fan-out stopped: directive cancelled", fields={"directive_id": directive_id})
                self.ledger.finish_fanout(directive_id)
                return
            self._chunk(doc, chunk)
            self.ledger.renew_fanout(directive_id, self.clock() + self.lease_s)
        self.store.move(directive_id, (SENDING,), SENT, fanned_out_at=datetime.now(timezone.utc))
        self.ledger.finish_fanout(directive_id)
        log.info("fan-out done", fields={"directive_id": directive_id})

    def chunks(self, scope: list[str]) -> list[str]:
        chunks = []
        for unit in independent(scope):
            children = [c["id"] for c in self.registry.children(unit)] if splits(unit) else []
            chunks.extend(children or [unit])
        return chunks

    def _window(self, doc: dict) -> float | None:
        """When the directive as a whole may start (quiet hours); per-booth rules wait at send time."""
        if doc.get("quiet_hours_override"):
            return None
        now = datetime.fromtimestamp(max(self.clock(), doc.get("send_ts") or 0), timezone.utc)
        opens = self.policy.opens_at(now, campaign=True, priority=doc["priority"], channel=doc["channels"][0], booth_id="")
        return opens.timestamp() if opens else None

    def _chunk(self, doc: dict, unit: str) -> None:
        started = time.monotonic()
        counts: Counter[str] = Counter()
        booths: set[str] = set()
        batch: list[Recipient] = []
        unconfirmed = 0
        for recipient in self.recipients.stream(unit, doc["audience"]):
            batch.append(recipient)
            if len(batch) >= self.batch:
                unconfirmed += self._emit(doc, batch, counts, booths)
                batch = []
                if unconfirmed >= FLUSH_EVERY:
                    self.producer.flush()
                    unconfirmed = 0
        self._emit(doc, batch, counts, booths)
        self.producer.flush()  # raises unless Kafka took every task of the chunk
        with self.ledger.redis.pipeline() as pipe:
            self.tally.targeted_ops(pipe, doc["_id"], counts, booths)
            self.ledger.chunk_done_ops(pipe, doc["_id"], unit)
            pipe.execute()
        log.info("fan-out chunk done", fields={"directive_id": doc["_id"], "unit": unit, "recipients": counts["all"],
                                               "booths": len(booths), "seconds": round(time.monotonic() - started, 2)})

    def _emit(self, doc: dict, batch: list[Recipient], counts: Counter, booths: set[str]) -> int:
        if not batch:
            return 0
        opted_out = self.ledger.opted_out([self.ledger.phone_hash(r.phone) for r in batch])
        lane, channels, now = lane_for(doc["priority"]), tuple(doc["channels"]), self.clock()
        produced = 0
        for recipient, out in zip(batch, opted_out):
            if out:
                OPTED_OUT.inc()
                continue
            self.producer.produce(Task(
                delivery_id=delivery_id(doc["_id"], recipient.appointment_id, channels[0], DIRECTIVE),
                send=DIRECTIVE, lane=lane, booth_id=recipient.booth_id, booth_path=recipient.booth_path,
                recipient_id=recipient.appointment_id, phone=recipient.phone, locale=recipient.locale,
                channels=channels, directive_id=doc["_id"], expires_at=doc["expires_ts"],
                campaign=not doc.get("quiet_hours_override"), queued_at=now,
            ))
            count_target(counts, recipient.booth_path)
            booths.add(recipient.booth_id)
            produced += 1
        TASKS_PRODUCED.labels(lane).inc(produced)
        return produced
