"""Faust's Kafka producer, made to keep table rows and committed offsets in step across a crash.

A table write (`booths[booth] = row`) queues the row's changelog record with `send_soon`; Faust
commits a source offset once the record's event is handled, after `producer.flush()`. That
flush does not wait for every queued record (faust-streaming 0.15.3):

- `ProducerBuffer.flush_atmost` gives up after 0.1 s without a record leaving its queue, and
- it never sees the record `ProducerBuffer._handle_pending` has taken off the queue and is still
  handing to aiokafka (waiting for room in a full batch, say), which aiokafka's own flush does
  not hold yet either.

`Consumer._commit_offsets` then commits. A worker SIGKILLed before that last record reaches the
broker has committed an event whose row is gone: its replacement recovers the table without it
and never reads the event again (a booth stays one verified member short for good).

Here flush also waits for every record queued before it to be acknowledged by the broker, so an
offset is committed only once its events' rows are on the changelog.
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.transport.drivers.aiokafka import Producer
from faust.types.tuples import FutureMessage


class ChangelogNotDelivered(Exception):
    """Records queued before an offset commit did not reach the broker: the commit must not
    happen."""


class DeliveredBeforeCommitProducer(Producer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._undelivered: set[FutureMessage] = set()

    def send_soon(self, fut: FutureMessage) -> None:
        self._undelivered.add(fut)
        fut.add_done_callback(self._undelivered.discard)
        super().send_soon(fut)

    async def flush(self) -> None:
        queued = list(self._undelivered)
        await super().flush()
        if not queued:
            return
        # Bounded like aiokafka's own delivery: a record it gives up on fails its future.
        done, pending = await asyncio.wait(queued, timeout=self.request_timeout)
        failed = [fut for fut in done if not fut.cancelled() and fut.exception() is not None]
        if pending or failed:
            raise ChangelogNotDelivered(
                f"{len(pending)} records still unsent after {self.request_timeout:.0f}s, "
                f"{len(failed)} refused; offsets not committed"
            )
