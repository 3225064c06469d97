"""The fan-out: one report-dispatched event per booth of each round's scope.

A round is its own outbox: the round document is written once, and this job walks its scope's
booths page by page (the registry's booth pages, 1,000 booths a lookup, so the nation's 1,048,202
booths are ~1,050 reads, never one per booth), publishes a page's events, and after Kafka
confirmed them moves the round's cursor on. A crash between publishing and the cursor publishes
those pages again with the same event ids (derived from dispatch and booth), which consumers
de-duplicate; nothing is skipped. Rounds are few, so one thread serves them in turn, and each
round is leased to one process at a time (renewed at every confirmed step), so the service's
replicas never fan the same round out together; a lease left by a crashed process runs out and
another process goes on from the cursor.

Every event of a round is the same but for its booth (the id, the path read from it, and the
event id derived from both), so the first event of each page goes through the full contract
(`to_kafka`: schema, CloudEvents binding) and the page's others are that record with the booth's
fields put in, each booth id checked against the schema's pattern first: the schema's judgement
without paying for it a million times (the nation's dispatch must be on Kafka in 30 s).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from prometheus_client import Counter

from reports import domain
from reports.adapters.mongo import Rounds
from reports.domain import Round
from reports.ports import Units
from shared.events import types
from shared.events.contracts import Event, load_schema, to_kafka
from shared.kafka.producer import ConfirmedProducer, DeliveryError
from shared.logging import get_logger
from shared.orgtree.levels import booth_path

log = get_logger(__name__)

DISPATCHED = Counter(
    "sangathan_reports_booths_dispatched", "report-dispatched events Kafka confirmed"
)
FLUSH_TIMEOUT_S = 30.0
LEASE_S = 60.0  # well above a confirmed step (pages_per_flush pages and their flush)
# Large batches: a national round is a million small records in a few seconds.
FANOUT_CONFIG = {
    "linger.ms": 20,
    "batch.num.messages": 10000,
    "queue.buffering.max.messages": 500000,
}
BOOTH_ID = re.compile(load_schema(types.REPORT_DISPATCHED)["properties"]["booth_id"]["pattern"])


class FanOut:
    def __init__(
        self,
        rounds: Rounds,
        units: Units,
        producer: ConfirmedProducer,
        source: str,
        *,
        topic_for: Callable[[str], str] | None = None,
        pages_per_flush: int = 20,
        interval_s: float = 0.5,
    ):
        self.rounds, self.units, self.producer, self.source = rounds, units, producer, source
        self.topic_for = topic_for
        self.owner = f"{os.uname().nodename}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.lease_s, self.clock = LEASE_S, time.time
        self.pages_per_flush, self.interval_s = pages_per_flush, interval_s
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="fanout-read")

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                worked = self.once(stop)
            except DeliveryError as exc:
                log.warning("fan-out could not publish", fields={"error": str(exc)[:200]})
                worked = False
            if not worked:
                stop.wait(self.interval_s)

    def once(self, stop: threading.Event | None = None) -> bool:
        """Finish (or go on with) every round still fanning out; whether there was any."""
        found = False
        for round_, _ in self.rounds.fanning_out():
            cursor = self.rounds.claim(round_.dispatch_id, self.owner, self.clock(), self.lease_s)
            if cursor is not None:
                found = True
                self.fan_out(round_, dict(cursor), stop)
        return found

    def fan_out(self, round_: Round, cursor: dict, stop: threading.Event | None = None) -> None:
        pages = 0
        for unit, page, booths in self._pages(round_.scope, cursor["unit"], cursor["page"]):
            if stop is not None and stop.is_set():
                return
            self._publish_page(round_, booths)
            cursor.update(unit=unit, page=page + 1, booths=cursor["booths"] + len(booths))
            pages += 1
            if pages % self.pages_per_flush == 0 and not self._confirm(round_, cursor):
                return
        cursor.update(unit=len(round_.scope), page=0, done=True)
        if not self._confirm(round_, cursor):
            return
        log.info(
            "report dispatched",
            fields={"dispatch_id": round_.dispatch_id, "booths": cursor["booths"]},
        )

    def _pages(
        self, scope: tuple[str, ...], unit: int, page: int
    ) -> Iterator[tuple[int, int, list]]:
        """(unit index, page, booth ids) from the cursor on, each page read from the registry
        while the page before it is published: the reads were a fifth of the fan-out's time."""

        def read(unit: int, page: int) -> Future:
            return self._reader.submit(self.units.booth_page, scope[unit], page)

        if unit >= len(scope):
            return
        reading = read(unit, page)
        while True:
            booths = reading.result()
            if not booths:
                unit, page = unit + 1, 0
                if unit >= len(scope):
                    return
                reading = read(unit, page)
                continue
            reading = read(unit, page + 1)
            yield unit, page, booths
            page += 1

    def _confirm(self, round_: Round, cursor: dict) -> bool:
        """Kafka has the pages so far: move the cursor (False: another process took the round
        over, this one stops)."""
        before = (self.rounds.progress(round_.dispatch_id) or {}).get("booths", 0)
        self.producer.flush(FLUSH_TIMEOUT_S)
        until = self.clock() + self.lease_s
        if not self.rounds.advance(round_.dispatch_id, cursor, self.owner, until):
            log.warning("fan-out lease lost", fields={"dispatch_id": round_.dispatch_id})
            return False
        DISPATCHED.inc(cursor["booths"] - before)
        return True

    def _publish_page(self, round_: Round, booths: list[str]) -> None:
        topic, _, value, headers = to_kafka(self._event(round_, booths[0]))
        topic = self.topic_for(types.REPORT_DISPATCHED) if self.topic_for else topic
        self.producer.produce_many(topic, _records(round_, booths, value, headers))

    def _event(self, round_: Round, booth_id: str) -> Event:
        # The id and time are the round's, so a page published again is the very same event.
        data = domain.report_dispatched(round_, booth_id, booth_path(booth_id), round_.send_at)
        return Event(
            domain.dispatched_event_id(round_.dispatch_id, booth_id),
            types.REPORT_DISPATCHED,
            self.source,
            booth_id,
            round_.send_at,
            data,
        )


def _records(
    round_: Round, booths: list[str], first: bytes, headers: list[tuple[str, bytes]]
) -> Iterator[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    """Each booth's (key, value, headers): the first booth's record with the booth's fields put
    in."""
    before, between, after = _value_template(json.loads(first))
    event_id = EventIds(round_.dispatch_id)
    names = [name for name, _ in headers]
    id_at, subject_at = names.index("ce_id"), names.index("ce_subject")
    paths: dict[str, str] = {}  # a page's booths share a few sectors, so a few paths
    for booth_id in booths:
        # The pattern admits no character JSON escapes, so the id and its ancestors' ids are
        # written into the record as they are.
        sector = booth_id.rpartition("-")[0]
        path_json = paths.get(sector)
        if path_json is None:
            path = booth_path(booth_id)
            path_json = paths[sector] = _path_json(path) if path else ""
        if not path_json or not BOOTH_ID.fullmatch(booth_id):
            raise ValueError(f"{booth_id!r} from the registry is not a booth id")
        key = booth_id.encode()
        record_headers = headers.copy()
        record_headers[id_at] = ("ce_id", event_id(booth_id).encode())
        record_headers[subject_at] = ("ce_subject", key)
        yield key, f'{before}"{booth_id}"{between}{{{path_json}}}{after}'.encode(), record_headers


class EventIds:
    """`domain.dispatched_event_id` for one round's booths, the round's id parsed once: a UUID 5
    is the SHA-1 of the namespace and the name, cut to 16 bytes with its version and variant
    bits set (RFC 9562), which `uuid.uuid5` recomputes with two UUID objects per call."""

    def __init__(self, dispatch_id: str):
        self.namespace = uuid.UUID(dispatch_id).bytes

    def __call__(self, booth_id: str) -> str:
        digest = bytearray(hashlib.sha1(self.namespace + booth_id.encode()).digest()[:16])
        digest[6] = (digest[6] & 0x0F) | 0x50
        digest[8] = (digest[8] & 0x3F) | 0x80
        h = digest.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _path_json(path: dict[str, str]) -> str:
    return ", ".join(f'"{level}": "{unit}"' for level, unit in path.items())


def _value_template(data: dict) -> tuple[str, str, str]:
    """The record's JSON around its booth id and booth path: (before, between, after)."""
    marker = "\u0000booth\u0000"
    text = json.dumps({**data, "booth_id": marker, "booth_path": marker}, ensure_ascii=False)
    before, between, after = text.split(json.dumps(marker))
    return before, between, after
