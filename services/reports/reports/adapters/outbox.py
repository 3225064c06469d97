"""The outbox relay: publishes the events forms and booth reports hold, then removes them.

At-least-once: a crash after publishing and before removal publishes again with the same event
ids, which consumers de-duplicate; the loop, its backoff and sweep are shared.outbox's. An event
that breaks its contract can never be published: it is set aside in `report_outbox_dead_letters`
with its reason and the document's other events go on.
"""

from __future__ import annotations

import threading
from datetime import datetime

from prometheus_client import Counter
from pymongo.database import Database

from reports.adapters.mongo import OutboxPointers, take_outbox, take_published
from shared.events.contracts import EventError
from shared.kafka.producer import DeliveryError, EventPublisher
from shared.logging import get_logger
from shared.outbox import FLUSH_TIMEOUT_S, relay_until_stopped

log = get_logger(__name__)

RELAYED = Counter(
    "sangathan_reports_outbox_relayed",
    "Reports outbox events published to Kafka, by type",
    ["type"],
)
QUARANTINED = Counter(
    "sangathan_reports_outbox_quarantined",
    "Reports outbox events that break their contract, set aside",
    ["type"],
)
COLLECTIONS = ("report_forms", "report_booth_reports", "report_whatsapp_groups")


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        pointers: OutboxPointers,
        publisher: EventPublisher,
        *,
        batch: int = 500,
        interval_s: float = 0.05,
        sweep_interval_s: float = 60.0,
        max_backoff_s: float = 5.0,
    ):
        self.db, self.pointers, self.publisher = db, pointers, publisher
        self.dead_letters = db.report_outbox_dead_letters
        self.batch, self.interval_s, self.sweep_interval_s = batch, interval_s, sweep_interval_s
        self.max_backoff_s = max_backoff_s

    def run(self, stop: threading.Event) -> None:
        relay_until_stopped(
            stop,
            self.relay_once,
            lambda: self.pointers.sweep(COLLECTIONS),
            interval_s=self.interval_s,
            sweep_interval_s=self.sweep_interval_s,
            max_backoff_s=self.max_backoff_s,
        )

    def relay_once(self) -> int:
        """Publish the events of up to `batch` documents; returns how many went out. A few
        round trips a batch, whatever its size: the pointers read and cleared, each
        collection's documents read with one `$in`, one flush, and each collection's outboxes
        emptied with one bulk write of compare-and-sets on the revision read."""
        pointed = self.pointers.take(self.batch)
        if not pointed:
            return 0
        # Clear the pointers before reading: a write after this point sets its pointer again.
        self.pointers.clear_many(pointed)
        ids: dict[str, list[str]] = {}
        for collection, doc_id in pointed:
            ids.setdefault(collection, []).append(doc_id)
        taken: dict[str, list[tuple[dict, list[dict]]]] = {}
        for collection, doc_ids in ids.items():
            found = self.db[collection].find({"_id": {"$in": doc_ids}}, {"outbox": 1, "rev": 1})
            for doc in found:
                events = [
                    e for e in doc.get("outbox") or [] if self._publish(collection, doc["_id"], e)
                ]
                taken.setdefault(collection, []).append((doc, events))
        try:
            self.publisher.flush(FLUSH_TIMEOUT_S)
        except DeliveryError:
            self.pointers.mark_many(pointed)
            raise
        sent = 0
        for collection, docs in taken.items():
            take_published(self.db[collection], [(d, {e["id"] for e in es}) for d, es in docs])
            for _, events in docs:
                for event in events:
                    RELAYED.labels(event["type"]).inc()
                sent += len(events)
        return sent

    def _publish(self, collection: str, doc_id: str, event: dict) -> bool:
        try:
            self.publisher.emit(
                event["type"],
                event["data"],
                event_id=event["id"],
                time=datetime.fromisoformat(event["time"]),
            )
            return True
        except EventError as bad:
            self.dead_letters.insert_one(
                {"collection": collection, "doc_id": doc_id, "event": event, "reason": str(bad)}
            )
            take_outbox(self.db[collection], doc_id, {event["id"]})
            QUARANTINED.labels(event["type"]).inc()
            log.error(
                "reports outbox event quarantined",
                fields={"doc_id": doc_id, "type": event["type"], "reason": str(bad)},
            )
            return False
