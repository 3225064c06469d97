"""Publishing to Kafka with every delivery confirmed.

`flush()` raises `DeliveryError` unless the broker acknowledged every message since the last
flush, so a caller (an outbox relay) marks an event sent only when it really is.
"""

import itertools
import threading
from collections.abc import Iterable
from datetime import datetime, timezone
from functools import cache
from typing import Any, Callable

from confluent_kafka import KafkaError, Message, Producer
from prometheus_client import Counter

from shared import topics
from shared.events.contracts import Batch, Event, new_event, to_kafka
from shared.kafka.security import client_config

EVENTS_PUBLISHED = Counter(
    "sangathan_events_published", "Events the broker acknowledged, by type", ["type"]
)
PUBLISH_FAILURES = Counter(
    "sangathan_event_publish_failures",
    "Messages the broker did not acknowledge, by topic",
    ["topic"],
)

# Idempotence makes the producer's own retries safe (no duplicates, order kept per partition).
# No compression: Faust's client (aiokafka) reads zstd, lz4 and snappy only with extra packages.
RELIABLE = {"enable.idempotence": True, "acks": "all", "linger.ms": 5}


@cache
def _published(event_type: str) -> Callable[[], None]:
    """The delivered count of one type (its labelled child found once, not once an event)."""
    return EVENTS_PUBLISHED.labels(event_type).inc


class DeliveryError(Exception):
    """Some messages were not acknowledged. `failed` maps each message's ref to the reason."""

    def __init__(self, failed: dict[str, str]):
        self.failed = failed
        first = next(iter(failed.items()))
        super().__init__(f"{len(failed)} message(s) not delivered; first {first[0]}: {first[1]}")


class ConfirmedProducer:
    """A confluent Producer that tracks each message by a caller's ref until the broker acks it.

    One producer may serve several threads (a service's outbox relay, its scheduler, its request
    handlers): each thread's `flush` confirms what that thread produced since its own last flush,
    and reports only that thread's failures, so one thread's message still in flight never fails
    another thread's flush."""

    def __init__(self, bootstrap: str, config: dict[str, Any] | None = None):
        self._producer = Producer(client_config(bootstrap, {**RELIABLE, **(config or {})}))
        self._flights = _Flights()
        self._seq = itertools.count(1)
        self._closed = False

    def produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: list[tuple[str, bytes]],
        ref: str,
        on_delivered: Callable[[], None] | None = None,
        *,
        poll: bool = True,
    ) -> None:
        """Queue one message; `poll=False` leaves serving delivery reports to the caller (a batch
        serves them once, `poll()`, rather than once a message)."""
        seq, flight = next(self._seq), self._flights.current
        pending, failed = flight.pending, flight.failed

        def delivered(err: KafkaError | None, msg: Message) -> None:
            if pending.pop(seq, None) is None:  # a timed-out flush already reported it
                return
            if err is not None:
                failed[ref] = err.str()
                PUBLISH_FAILURES.labels(topic).inc()
            elif on_delivered is not None:
                on_delivered()

        pending[seq] = ref  # one entry per produce call, even for a repeated ref
        try:
            self._send(topic, key, value, headers, delivered)
        except Exception:
            del pending[seq]
            raise
        if poll:
            self._producer.poll(0)  # serve earlier delivery reports

    def produce_many(self, topic: str, records: Iterable[tuple[bytes, bytes, list]]) -> int:
        """Queue (key, value, headers) records that need no ref of their own, e.g. a fan-out that
        publishes again from its cursor whatever a flush did not confirm; how many. One delivery
        callback serves them all and a failure is named by the message's key, so a record costs
        a third of `produce`'s CPU (no closure, no pending entry); `flush` still raises unless
        every one was acknowledged."""
        flight = self._flights.current
        delivered, send = flight.delivered, self._send
        count = 0
        for key, value, headers in records:
            flight.owed += 1
            try:
                send(topic, key, value, headers, delivered)
            except Exception:
                flight.owed -= 1
                raise
            count += 1
        self._producer.poll(0)
        return count

    def poll(self) -> None:
        """Serve the delivery reports that have arrived, without waiting."""
        self._producer.poll(0)

    def _send(self, topic, key, value, headers, on_delivery) -> None:
        try:
            self._producer.produce(topic, value, key, headers=headers, on_delivery=on_delivery)
        except BufferError:
            # Local queue full: serve delivery reports to make room, then try once more.
            self._producer.poll(1.0)
            self._producer.produce(topic, value, key, headers=headers, on_delivery=on_delivery)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait for every message this thread produced since its last flush; raise DeliveryError
        if any failed or timed out. (librdkafka waits for every thread's messages; only this
        thread's are reported.)"""
        self._producer.flush(timeout)
        # A report arriving after this flush gave up goes to the landed flight: ignored.
        failed = self._flights.land().failures(timeout)
        if failed:
            raise DeliveryError(failed)

    def close(self, timeout: float = 10.0) -> None:
        """Flush (raising if anything this thread produced was lost), then release the client.
        Idempotent. Threads that produce stop, and flush, before their producer is closed."""
        if self._closed:
            return
        self._closed = True
        try:
            self.flush(timeout)
        finally:
            # Whatever is still queued was reported lost above; closing must not wait for it.
            self._producer.purge()
            self._producer.close()


class _Flight:
    """What one thread produced since its last flush: refs waiting for their acks, failures by
    ref (or by key, for `produce_many`), and how many keyless records are still owed."""

    __slots__ = ("pending", "failed", "owed", "landed")

    def __init__(self) -> None:
        self.pending: dict[int, str] = {}
        self.failed: dict[str, str] = {}
        self.owed = 0
        self.landed = False

    def delivered(self, err: KafkaError | None, msg: Message) -> None:
        """`produce_many`'s one callback."""
        if self.landed:
            return
        self.owed -= 1
        if err is not None:
            self.failed[(msg.key() or b"").decode(errors="replace")] = err.str()
            PUBLISH_FAILURES.labels(msg.topic()).inc()

    def failures(self, timeout: float) -> dict[str, str]:
        self.landed = True
        failed = dict(self.failed)
        for ref in self.pending.values():
            failed.setdefault(ref, f"not acknowledged within {timeout}s")
        self.pending.clear()  # late reports find nothing to pop
        if self.owed > 0:
            failed[f"{self.owed} record(s) of a batch"] = f"not acknowledged within {timeout}s"
        return failed


class _Flights(threading.local):
    """Each thread's current flight."""

    def __init__(self) -> None:
        self.current = _Flight()

    def land(self) -> _Flight:
        flight, self.current = self.current, _Flight()
        return flight


class EventPublisher:
    """Publishes validated events to their registry topic as CloudEvents (binary mode).

    `topic_for` is the registry by default; tests pass their own to publish to scratch topics.
    """

    def __init__(
        self,
        bootstrap: str,
        source: str,
        *,
        config: dict[str, Any] | None = None,
        topic_for: Callable[[str], str] | None = None,
    ):
        self.source = source
        self._topic_for = topic_for or (lambda event_type: topics.topic_for(event_type).name)
        self._producer = ConfirmedProducer(bootstrap, config)

    def publish(self, event: Event, *, validated: bool = False, poll: bool = True) -> None:
        """Queue the event (validated on the way out, unless `new_event` just did); `flush`
        confirms it. Refs are event ids."""
        _, key, value, headers = to_kafka(event, validated=validated)
        self._producer.produce(
            self._topic_for(event.type),
            key,
            value,
            headers,
            ref=event.id,
            on_delivered=_published(event.type),
            poll=poll,
        )

    def emit(
        self,
        event_type: str,
        data: dict[str, Any],
        *,
        event_id: str | None = None,
        time: datetime | None = None,
    ) -> Event:
        """Build and publish an event from this publisher's source.

        An outbox re-publishing passes the stored `event_id` and `time`, so a consumer that
        already saw the event recognises it.
        """
        event = new_event(event_type, data, self.source, event_id=event_id, time=time)
        self.publish(event, validated=True)
        return event

    def emit_many(self, event_type: str, batch: Iterable[tuple[dict[str, Any], str]]) -> int:
        """Build and publish a batch of events of one type, each (data, event id), made at one
        time; how many. As `emit` each, but what the batch shares is written once and delivery
        reports are served once, not once an event (a state's 65,015 invitations). `flush`
        confirms them."""
        records = Batch(event_type, self.source, datetime.now(timezone.utc))
        topic, delivered = self._topic_for(event_type), _published(event_type)
        count = 0
        for data, event_id in batch:
            key, value, headers = records.record(event_id, data)
            self._producer.produce(
                topic, key, value, headers, ref=event_id, on_delivered=delivered, poll=False
            )
            count += 1
        self._producer.poll()
        return count

    def flush(self, timeout: float = 10.0) -> None:
        self._producer.flush(timeout)

    def close(self, timeout: float = 10.0) -> None:
        self._producer.close(timeout)
