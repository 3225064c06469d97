"""The channel workers: every lane's consumer feeding the sender, in one asyncio loop of their own.

Lanes are served separately (their own topic, consumer group and in-flight budget), so an urgent
task is read at once however much bulk work is queued; the pacing gives it the next slot on its
sending number. A batch is committed after its bookkeeping is written, so a crash redelivers it
and the ledger drops what was already sent.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from notifier.adapters.events import EventsUnavailable, NotifierEvents
from notifier.adapters.http import Batches, PooledHttp
from notifier.adapters.lanes import TaskConsumer, TaskProducer
from notifier.domain.tasks import Task
from notifier.handlers.ports import Ports
from notifier.handlers.receipts import announce, fall_back_late, receipt_events
from notifier.sending import SKIPPED, Sender, Settlement
from shared.background import Background
from shared.kafka.consumer import EVENTS_DEAD_LETTERED, REJECTED, dead_letter_headers
from shared.kafka.deadletters import DeadLetterSeal
from shared.kafka.producer import ConfirmedProducer
from shared.logging import get_logger

log = get_logger(__name__)


@dataclass
class Lane:
    name: str
    consumer: Callable[[], TaskConsumer]
    producer: TaskProducer  # fallbacks to the next channel
    events: NotifierEvents
    concurrency: int  # provider calls in flight: the lane's own connections and threads


LOGGED_IDS = 20  # delivery ids a batch's log names per reason; the count is always whole


def not_sent(out: Settlement) -> dict[str, dict]:
    """Why the batch's other tasks were not sent now, by reason: how many, and which (delivery ids,
    never a phone or a text), so one missing message can be traced from the log."""
    return {
        reason: {"tasks": len(ids), "delivery_ids": ids[:LOGGED_IDS]}
        for reason, ids in sorted(out.why_not.items())
    }


class LaneWorkers:
    """Every lane in one asyncio loop, on a shared background thread (restarted after a failure).
    The service starts and stops `background`, like its other workers."""

    def __init__(
        self,
        lanes: list[Lane],
        ports: Ports,
        dead_letters: ConfirmedProducer,
        dead_letter_topic: str,
        *,
        seal: DeadLetterSeal,
        batch: int,
        provider_url: str,
        provider_timeout_s: float,
        provider_batch: int = 1,
        provider_linger_s: float = 0.02,
    ):
        self.lanes, self.ports = lanes, ports
        self._dead, self._dead_topic, self._seal = dead_letters, dead_letter_topic, seal
        self._batch = batch
        self._provider_url, self._provider_timeout_s = provider_url, provider_timeout_s
        self._provider_batch, self._provider_linger_s = provider_batch, provider_linger_s
        self._dead_lock = threading.Lock()
        self.background = Background("notifier-lanes", lambda stop: asyncio.run(self._serve(stop)))

    async def _serve(self, stop: threading.Event) -> None:
        # Each lane its own connections, so bulk calls never hold the ones urgent sends need;
        # made per run, so a restart after a failure starts with fresh ones.
        clients = {
            lane.name: PooledHttp(
                self._provider_url,
                threads=lane.concurrency,
                timeout_s=self._provider_timeout_s,
                name=lane.name,
            )
            for lane in self.lanes
        }
        try:
            await asyncio.gather(
                *(
                    self._lane_forever(
                        lane,
                        Batches(
                            clients[lane.name],
                            size=self._provider_batch,
                            linger_s=self._provider_linger_s,
                        ),
                        stop,
                    )
                    for lane in self.lanes
                )
            )
        finally:
            for client in clients.values():
                client.close()

    async def _lane_forever(self, lane: Lane, client: Batches, stop: threading.Event) -> None:
        while not stop.is_set():
            consumer, bookkeeping = None, None
            try:
                consumer = await asyncio.to_thread(lane.consumer)
                sender = Sender(self.ports, client)
                while not stop.is_set():
                    sent = await self._one_batch(lane, consumer, sender, bookkeeping)
                    if sent is not None:
                        bookkeeping = sent
                        continue
                    if bookkeeping is not None and bookkeeping.done():
                        # raises if it failed: the lane restarts from the last commit
                        bookkeeping.result()
                        bookkeeping = None
                    await asyncio.sleep(0.02)
                if bookkeeping is not None:
                    await bookkeeping
            except (
                Exception
            ) as exc:  # keep the lane alive: restart its consumer from the last commit
                log.error(
                    "lane failed; restarting",
                    fields={
                        "lane": lane.name,
                        "error_class": type(exc).__name__,
                        "error": str(exc)[:300],
                    },
                )
                await asyncio.sleep(2)
            finally:
                if consumer is not None:
                    await asyncio.to_thread(consumer.close)

    async def _one_batch(
        self, lane: Lane, consumer: TaskConsumer, sender: Sender, previous: asyncio.Task | None
    ) -> asyncio.Task | None:
        """Send one batch; its bookkeeping and commit run while the next batch sends. The
        previous batch's bookkeeping is awaited first, so commits stay in order."""
        records, offsets = consumer.poll(self._batch, 0)  # non-blocking: the loop serves every lane
        if not records:
            return None
        tasks = [task for _, task in records if task is not None]
        malformed = len(records) - len(tasks)
        if malformed:
            SKIPPED.labels(lane.name, "malformed").inc(malformed)
        origins = {
            task.delivery_id: (record.topic(), record.partition(), record.offset())
            for record, task in records
            if task is not None
        }
        started = time.monotonic()
        settlement = await sender.deliver(tasks)
        sent_s = time.monotonic() - started
        if previous is not None:
            await previous  # at most one batch's bookkeeping outstanding; raises if it failed

        async def bookkeeping() -> None:
            await asyncio.to_thread(self._apply, lane, settlement, origins)
            await asyncio.to_thread(consumer.commit, offsets)
            log.info(
                "lane batch",
                fields={
                    "lane": lane.name,
                    "tasks": len(tasks),
                    "sent": len(settlement.sent),
                    "not_sent": not_sent(settlement),
                    "malformed": malformed,
                    "send_s": round(sent_s, 3),
                    "total_s": round(time.monotonic() - started, 3),
                },
            )

        return asyncio.create_task(bookkeeping())

    def _apply(self, lane: Lane, out: Settlement, origins: dict) -> None:
        ledger = self.ports.ledger
        # A retry's lease goes before the retry is written: the mover may put it back on the lane
        # within a quarter second, and a lease still held would park it for LEASE_S (an OTP code
        # two minutes late). A crash in between loses nothing: the batch is not committed yet.
        ledger.settle(released=out.released)
        ledger.defer(out.deferred)
        for task in out.fallbacks:
            lane.producer.produce(task)
        lane.producer.flush()
        if out.dead:
            self._dead_letter(lane.name, out.dead, origins)
        ledger.settle(sent=out.sent, failed=out.failed)
        for reason, n in out.skipped.items():
            SKIPPED.labels(lane.name, reason).inc(n)
        early = ledger.take_early([provider_id for _, provider_id in out.sent])
        contexts = ledger.delivered_by([receipt["message_id"] for receipt in early])
        events = [event for event in out.events if event is not None]
        events += receipt_events(
            [(context, receipt) for context, receipt in zip(contexts, early) if context is not None]
        )
        try:
            announce(events, self.ports.tally, lane.events)
        except EventsUnavailable as exc:
            # The ledger already holds the outcome; later receipts still move the counts.
            log.warning(
                "delivery-status events not published",
                fields={"lane": lane.name, "error": str(exc)[:200]},
            )
        try:
            fall_back_late(
                early, ledger, lane.producer
            )  # a failure reported before the send returned
        except (
            Exception
        ) as exc:  # the next channel's task stays in the ledger; logged for the operators
            log.warning(
                "late fallback not queued",
                fields={"lane": lane.name, "error_class": type(exc).__name__},
            )

    def _dead_letter(self, lane: str, dead: list[tuple[Task, str]], origins: dict) -> None:
        with self._dead_lock:
            for task, code in dead:
                topic, partition, offset = origins.get(task.delivery_id, ("fallback", -1, -1))
                value, sealed = self._seal(task.to_json())  # the task holds the recipient's phone
                headers = dead_letter_headers(
                    [],
                    reason=REJECTED,
                    error_class="ProviderRefused",
                    error=f"provider refused on {task.channel}: {code}",
                    topic=topic,
                    partition=partition,
                    offset=offset,
                    group=f"notifier-{lane}",
                    sealed=sealed,
                )
                self._dead.produce(
                    self._dead_topic, task.booth_id.encode(), value, headers, ref=task.delivery_id
                )
            self._dead.flush()
        EVENTS_DEAD_LETTERED.labels(f"notifier-{lane}", REJECTED).inc(
            len(dead)
        )  # the same count as every consumer's
