"""Kafka I/O beyond Faust's agents: partials out and back in, coverage events out, dead letters out.

Everything is sent through the Faust app's own producer, whose buffer Faust flushes before it
commits an offset, and waited for where order or loss matters.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer

from analytics.coverage.domain import Counts
from analytics.coverage.partials import CoverageView, directive_key, partial_key
from shared.events.contracts import new_event, to_kafka
from shared.events.types import COVERAGE_UPDATED
from shared.kafka.consumer import EVENTS_DEAD_LETTERED, dead_letter_headers
from shared.kafka.deadletters import DeadLetterSeal
from shared.kafka.security import aiokafka_auth
from shared.logging import get_logger, mask_phones

log = get_logger(__name__)

SOURCE = "/sangathan/analytics"


class PartialsView(Protocol):
    KINDS: frozenset[str]  # the first segment of the keys it keeps

    def on_record(self, key: str, value: dict | None) -> None: ...


def _json(value: dict) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class PartialsOut:
    """Publishes this worker's partials (compacted topic, one key per unit and partition)."""

    def __init__(self, producer_of: Callable[[], Any], topic: str):
        self._producer_of = producer_of  # the Faust producer exists only once the app runs
        self.topic = topic
        self.lock = asyncio.Lock()  # a revocation's last word must not overtake a timer's

    async def publish(self, kind: str, items: Iterable[tuple[int, str, Any]]) -> int:
        return await self.send(self.encode(kind, items))

    @staticmethod
    def encode(kind: str, items: Iterable[tuple[int, str, Any]]) -> list[tuple]:
        """(partition, key, value) of each partial as sent; None: withdrawn, a tombstone."""
        return [
            (
                partition,
                partial_key(kind, ident, partition).encode(),
                None if value is None else _json(value.to_json()),
            )
            for partition, ident, value in items
        ]

    async def send(self, records: list[tuple]) -> int:
        """Send `records` and wait for the broker to have them all."""
        producer = self._producer_of()
        pending = [
            await producer.send(self.topic, key, value, partition, None, None)
            for partition, key, value in records
        ]
        if pending:
            await asyncio.gather(*pending)
        return len(pending)

    async def publish_directive(self, directive: dict) -> None:
        await self.publish_record(directive_key(directive["directive_id"]), directive)

    async def publish_record(self, key: str, value: dict) -> None:
        """A fact every worker's view keeps by its key (a directive, a meeting), waited for."""
        await self._producer_of().send_and_wait(
            self.topic, key.encode(), _json(value), None, None, None
        )


class CoverageOut:
    """coverage-updated events, CloudEvents in binary mode like every other event."""

    def __init__(self, producer_of: Callable[[], Any], topic: str):
        self._producer_of, self.topic = producer_of, topic

    async def publish(self, updates: Iterable[dict]) -> int:
        producer = self._producer_of()
        pending = []
        for data in updates:
            _, key, value, headers = to_kafka(new_event(COVERAGE_UPDATED, data, SOURCE))
            pending.append(await producer.send(self.topic, key, value, None, None, headers))
        if pending:
            await asyncio.gather(*pending)
        return len(pending)


class DeadLetters:
    """Records the stream cannot use go to the dead-letter topic with why in dlt_* headers, their
    phones and names sealed as every service seals them (shared/kafka/deadletters.py)."""

    def __init__(
        self, producer_of: Callable[[], Any], topic: str, group: str, seal: DeadLetterSeal
    ):
        self._producer_of, self.topic, self.group, self._seal = producer_of, topic, group, seal

    async def send(self, message, reason: str, exc: Exception) -> None:
        value, sealed = self._seal(message.value)
        headers = dead_letter_headers(
            _header_pairs(message.headers),
            reason=reason,
            error_class=type(exc).__name__,
            error=str(exc),
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            group=self.group,
            sealed=sealed,
        )
        # Waited for: the offset is committed after this, and a dead letter must not be lost.
        await self._producer_of().send_and_wait(self.topic, message.key, value, None, None, headers)
        EVENTS_DEAD_LETTERED.labels(self.group, reason).inc()
        log.warning(
            "record dead-lettered",
            fields={
                "topic": message.topic,
                "partition": message.partition,
                "offset": message.offset,
                "reason": reason,
                "error_class": type(exc).__name__,
                "error": mask_phones(str(exc))[:300],
            },
        )


def _header_pairs(headers) -> Iterable[tuple[str, bytes]]:
    if not headers:
        return []
    pairs = headers.items() if isinstance(headers, dict) else headers
    return [
        (name, value if isinstance(value, bytes) else (value or "").encode())
        for name, value in pairs
    ]


class ViewReader:
    """Reads every partial and every published coverage record into this worker's view.

    No consumer group: each worker reads all partitions from the start (both topics are
    compacted, so that is the current picture), and is `ready` once it has caught up with
    where the topics ended when it started.
    """

    def __init__(
        self,
        bootstrap: str,
        partials_topic: str,
        coverage_topic: str,
        view: CoverageView,
        *others: PartialsView,
    ):
        self.bootstrap, self.partials_topic, self.coverage_topic = (
            bootstrap,
            partials_topic,
            coverage_topic,
        )
        self.view = view
        # Partials of other kinds (meetings) share the topic; each goes to the view keeping it.
        self._by_kind = {kind: other for other in others for kind in other.KINDS}
        self.ready = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self, prepare: Callable[[], Any], on_crash: Callable[[BaseException], Any]) -> None:
        """Start reading (once): `prepare` is awaited first (declaring the partials topic)."""
        if self._task is not None:
            return

        async def read() -> None:
            await prepare()
            await self.run()

        def done(task: asyncio.Task) -> None:
            if not task.cancelled() and task.exception() is not None:
                log.error(
                    "coverage view reader stopped", fields={"error": repr(task.exception())[:300]}
                )
                on_crash(task.exception())

        self._task = asyncio.ensure_future(read())
        self._task.add_done_callback(done)

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            self.partials_topic,
            self.coverage_topic,
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=50,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            **aiokafka_auth(),
        )
        await consumer.start()
        try:
            while not consumer.assignment():
                await asyncio.sleep(0.05)
            ends = await consumer.end_offsets(list(consumer.assignment()))
            behind = {tp for tp, end in ends.items() if end > 0}
            while True:
                batches = await consumer.getmany(timeout_ms=200, max_records=5000)
                for tp, records in batches.items():
                    for record in records:
                        self._apply(tp.topic, record)
                if behind:
                    behind = {tp for tp in behind if await consumer.position(tp) < ends[tp]}
                if not behind and not self.ready.is_set():
                    log.info("coverage view caught up", fields={"units": len(self.view.units())})
                    self.ready.set()
                await asyncio.sleep(0)  # let the agents and the web server have the loop
        finally:
            await consumer.stop()

    def _apply(self, topic: str, record) -> None:
        try:
            key = record.key.decode()
            value = None if record.value is None else json.loads(record.value)
        except (AttributeError, UnicodeDecodeError, ValueError):
            log.warning(
                "unreadable record skipped", fields={"topic": topic, "offset": record.offset}
            )
            return
        if topic == self.partials_topic:
            self._by_kind.get(key.partition("|")[0], self.view).on_record(key, value)
        elif value is not None and "unit_id" in value:
            # A coverage-updated event's data: what consumers were last told about the unit.
            self.view.published[value["unit_id"]] = tuple(value.get(n) for n in Counts.REPORTED)
