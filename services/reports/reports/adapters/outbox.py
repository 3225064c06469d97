"""The outbox relay: publishes the events forms, booth reports and WhatsApp groups hold, then
removes them; and the events that booths' first answers carry in a pointer per batch
(adapters/mongo.py), then deletes those pointers, never reading nor rewriting the reports.

Every pointer is written before its documents, so the relay only ever follows pointers: nothing
sweeps the collections. A pointer at one document names the `rev` its write makes: a document at
that revision or later is written, and its outbox is published; an older one (or none) is a write
on its way or one that failed. A carrying pointer's documents are written when stored: those
this process saw written (`Written`), else those whose stored document holds what the event tells
of (`HOLDS`, one read of the pointer's documents). A document that holds another submission was
refused (its `_id` taken) and its events are never published. One rule for both: a pointer whose
write is not there is passed over for a second at a time, and once `unwritten_after_s` old it is
done with what is stored: that write failed, and its caller was told. What a document's outbox
holds came from writes that succeeded, so a failed write never publishes anything.

At-least-once: a crash after publishing and before removal publishes again with the same event
ids, which consumers de-duplicate; the loop and its backoff are shared.outbox's. An event that
breaks its contract can never be published: it is set aside in `report_outbox_dead_letters` with
its reason and the document's other events go on.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

from prometheus_client import Counter
from pymongo.database import Database

from reports.adapters.mongo import (
    OutboxPointers,
    Written,
    holds_submission,
    take_outbox,
    take_published,
)
from shared.events.contracts import EventError
from shared.kafka.producer import EventPublisher
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
# How a stored document shows it holds a carried event, by collection.
HOLDS = {"report_booth_reports": holds_submission}
# A pointer's documents are written right after it, or never: a write cut off by an outage ends
# within the client's timeouts (seconds). Far beyond that, a document still not there (or older
# than the pointer says) was never written.
UNWRITTEN_AFTER_S = 300.0
LOOK_AGAIN_S = 1.0  # a pointer whose documents are not all there yet is looked at again after
# A carrying pointer holds a batch of answers (up to the group commit's size): a round takes this
# many times fewer pointers than its `batch` of documents, so its events stay a few thousand.
ANSWERS_PER_POINTER = 20


class OutboxRelay:
    def __init__(
        self,
        db: Database,
        pointers: OutboxPointers,
        publisher: EventPublisher,
        *,
        batch: int = 500,
        interval_s: float = 0.05,
        unwritten_after_s: float = UNWRITTEN_AFTER_S,
        max_backoff_s: float = 5.0,
        written: Written | None = None,
    ):
        self.db, self.pointers, self.publisher = db, pointers, publisher
        self.written = written or Written()
        self.waiting: dict[str, float] = {}  # pointers passed over, until when
        self.dead_letters = db.report_outbox_dead_letters
        self.batch, self.interval_s, self.max_backoff_s = batch, interval_s, max_backoff_s
        self.unwritten_after_s = unwritten_after_s

    def run(self, stop: threading.Event) -> None:
        relay_until_stopped(
            stop,
            self.relay_once,
            None,  # every write points first: nothing to sweep for
            interval_s=self.interval_s,
            max_backoff_s=self.max_backoff_s,
        )

    def relay_once(self) -> int:
        """Publish the events of up to `batch` pointed documents; returns how many went out. A
        few round trips a batch, whatever its size: the pointers read; for those that carry their
        events, the documents of the pointers this process did not write read with one `$in`; for
        the others, each collection's documents read with one `$in`; one flush; each collection's
        outboxes emptied with one bulk write of compare-and-sets on the revision read; the
        pointers deleted."""
        now = time.monotonic()
        # Passed over until their second is up, or until this process has written their documents.
        self.waiting = {
            p: until
            for p, until in self.waiting.items()
            if until > now and self.written.of(p) is None
        }
        limit = max(1, self.batch // ANSWERS_PER_POINTER)
        pointed, carrying = self.pointers.take(limit, self.waiting)
        if not pointed and not carrying:
            return 0
        taken, cleared = self._publish_outboxes(pointed)
        sent, done = self._publish_carried(carrying)
        self.publisher.flush(FLUSH_TIMEOUT_S)  # failing, every pointer stays for the next round
        for collection, docs in taken.items():
            take_published(self.db[collection], [(d, {e["id"] for e in es}) for d, es in docs])
            sent += [e for _, es in docs for e in es]
        self.pointers.clear(cleared)
        self.pointers.drop(done)
        self.written.forget(done)
        for event in sent:
            RELAYED.labels(event["type"]).inc()
        return len(sent)

    def _publish_outboxes(
        self, pointed: list[dict]
    ) -> tuple[dict[str, list[tuple[dict, list[dict]]]], list[dict]]:
        """Publish the outboxes of the documents pointed at that are written: (per collection,
        (document, the events that went out)), the pointers done with."""
        ids: dict[str, list[str]] = {}
        for pointer in pointed:
            ids.setdefault(pointer["collection"], []).append(pointer["doc_id"])
        stored: dict[tuple[str, str], dict] = {}
        for collection, doc_ids in ids.items():
            found = self.db[collection].find({"_id": {"$in": doc_ids}}, {"outbox": 1, "rev": 1})
            stored.update(((collection, d["_id"]), d) for d in found)
        taken: dict[str, list[tuple[dict, list[dict]]]] = {}
        cleared: list[dict] = []
        for pointer in pointed:
            collection, doc = (
                pointer["collection"],
                stored.get((pointer["collection"], pointer["doc_id"])),
            )
            if not _is_written(doc, pointer) and self._still_young(pointer):
                self._look_again(pointer)
                continue
            cleared.append(pointer)
            if doc is not None and doc.get("outbox"):
                events = [e for e in doc["outbox"] if self._publish(collection, doc["_id"], e)]
                taken.setdefault(collection, []).append((doc, events))
        return taken, cleared

    def _still_young(self, pointer: dict) -> bool:
        """Whether a pointer whose write is not all there may still see it land (and is passed
        over for now); once it is old, that write failed and the pointer is done with what is
        stored. The one rule of both kinds of pointer."""
        if _age_s(pointer) < self.unwritten_after_s:
            return True
        log.info(
            "an outbox write never stored; its pointer goes", fields={"pointer": pointer["_id"]}
        )
        return False

    def _look_again(self, pointer: dict) -> None:
        self.waiting[pointer["_id"]] = time.monotonic() + LOOK_AGAIN_S

    def _publish_carried(self, carrying: list[dict]) -> tuple[list[dict], list[str]]:
        """Publish the events of the carrying pointers' written documents: (the events that went
        out, the pointers done with)."""
        sent: list[dict] = []
        done: list[str] = []
        for pointer in carrying:
            written = self._written(pointer)
            if written is None:
                self._look_again(pointer)
                continue
            for entry in pointer["carried"]:
                if entry["doc_id"] in written:
                    sent += [
                        e
                        for e in entry["events"]
                        if self._publish(pointer["collection"], entry["doc_id"], e, carried=True)
                    ]
            done.append(pointer["_id"])
        return sent, done

    def _written(self, pointer: dict) -> frozenset[str] | None:
        """The ids of the pointer's documents written with its events; None while some document
        is not there yet (and the pointer young)."""
        known = self.written.of(pointer["_id"])
        if known is not None:
            return known
        if self.written.being_written(pointer["_id"]):
            return None  # by this process, now: its documents come next
        holds = HOLDS[pointer["collection"]]
        ids = [e["doc_id"] for e in pointer["carried"]]
        # What HOLDS judges by (a booth report's submissions), not the whole document.
        found = self.db[pointer["collection"]].find({"_id": {"$in": ids}}, {"submissions": 1})
        docs = {d["_id"]: d for d in found}
        if len(docs) < len(set(ids)) and self._still_young(pointer):
            return None
        return frozenset(
            e["doc_id"]
            for e in pointer["carried"]
            if e["doc_id"] in docs and all(holds(docs[e["doc_id"]], ev) for ev in e["events"])
        )

    def _publish(self, collection: str, doc_id: str, event: dict, *, carried: bool = False) -> bool:
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
            if not carried:  # a carried event goes with its pointer
                take_outbox(self.db[collection], doc_id, {event["id"]})
            QUARANTINED.labels(event["type"]).inc()
            log.error(
                "reports outbox event quarantined",
                fields={"doc_id": doc_id, "type": event["type"], "reason": str(bad)},
            )
            return False


def _is_written(doc: dict | None, pointer: dict) -> bool:
    """Whether the write a pointer at one document expects has landed: the document is at the
    pointer's revision or later (a pointer from before pointers said their rev: it is there)."""
    if doc is None:
        return False
    return pointer["rev"] is None or doc["rev"] >= pointer["rev"]


def _age_s(pointer: dict) -> float:
    at = datetime.fromisoformat(pointer["at"])
    return (datetime.now(at.tzinfo) - at) / timedelta(seconds=1)
