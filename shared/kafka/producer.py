"""Publishing to Kafka with every delivery confirmed.

`flush()` raises `DeliveryError` unless the broker acknowledged every message since the last
flush, so a caller (an outbox relay) marks an event sent only when it really is.
"""

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
    """A confluent Producer that tracks each message by a caller's ref until the broker acks it."""

    def __init__(self, bootstrap: str, config: dict[str, Any] | None = None):
        self._producer = Producer(client_config(bootstrap, {**RELIABLE, **(config or {})}))
        self._pending: dict[int, str] = {}  # one entry per produce call, even for a repeated ref
        self._failed: dict[str, str] = {}
        self._tally: _Tally | None = None  # `produce_many`'s messages since the last flush
        self._sent = 0
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
        self._sent += 1
        seq = self._sent

        def delivered(err: KafkaError | None, msg: Message) -> None:
            if self._pending.pop(seq, None) is None:  # a timed-out flush already reported it
                return
            if err is not None:
                self._failed[ref] = err.str()
                PUBLISH_FAILURES.labels(topic).inc()
            elif on_delivered is not None:
                on_delivered()

        self._pending[seq] = ref
        try:
            self._send(topic, key, value, headers, delivered)
        except Exception:
            del self._pending[seq]
            raise
        if poll:
            self._producer.poll(0)  # serve earlier delivery reports

    def produce_many(self, topic: str, records: Iterable[tuple[bytes, bytes, list]]) -> int:
        """Queue (key, value, headers) records that need no ref of their own, e.g. a fan-out that
        publishes again from its cursor whatever a flush did not confirm; how many. One delivery
        callback serves them all and a failure is named by the message's key, so a record costs
        a third of `produce`'s CPU (no closure, no pending entry); `flush` still raises unless
        every one was acknowledged."""
        if self._tally is None:
            self._tally = _Tally()
        tally = self._tally
        delivered, send = tally.delivered, self._send
        count = 0
        for key, value, headers in records:
            tally.owed += 1
            try:
                send(topic, key, value, headers, delivered)
            except Exception:
                tally.owed -= 1
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
        """Wait for every message produced so far; raise DeliveryError if any failed or timed
        out."""
        self._producer.flush(timeout)
        failed, self._failed = self._failed, {}
        for ref in self._pending.values():
            failed.setdefault(ref, f"not acknowledged within {timeout}s")
        self._pending = {}
        # A report arriving after this flush gave up goes to the tally it was sent with, not the
        # next flush's.
        tally, self._tally = self._tally, None
        if tally is not None:
            failed.update(tally.failed)
            if tally.owed > 0:
                failed[f"{tally.owed} record(s) of a batch"] = f"not acknowledged within {timeout}s"
        if failed:
            raise DeliveryError(failed)

    def close(self, timeout: float = 10.0) -> None:
        """Flush (raising if anything was lost), then release the client. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self.flush(timeout)
        finally:
            # Whatever is still queued was reported lost above; closing must not wait for it.
            self._producer.purge()
            self._producer.close()


class _Tally:
    """What `produce_many` still waits for since a flush, and what failed (by message key)."""

    __slots__ = ("owed", "failed")

    def __init__(self) -> None:
        self.owed = 0
        self.failed: dict[str, str] = {}

    def delivered(self, err: KafkaError | None, msg: Message) -> None:
        self.owed -= 1
        if err is not None:
            self.failed[(msg.key() or b"").decode(errors="replace")] = err.str()
            PUBLISH_FAILURES.labels(msg.topic()).inc()


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
