"""Consuming events: validate each record, handle it, and commit only what was handled.

A record that cannot be used (unparseable, breaking its contract, refused by the handler with
`PermanentEventError`, or still failing after bounded retries) goes to the dead-letter topic
with its personal fields sealed (shared/kafka/deadletters.py) and otherwise unchanged, with
`dlt_*` headers saying why and where it came from, and consumption goes on.
Offsets are committed after the batch is handled and its dead letters acknowledged, so a crash
re-delivers (at-least-once): handlers must be idempotent, e.g. by event id.
"""

import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from prometheus_client import Counter

from shared.events.contracts import Event, InvalidEventError, UnparseableEventError, from_kafka
from shared.kafka.deadletters import DLT_SEALED, DeadLetterSeal, dead_letter_seal
from shared.kafka.lag import LagStats
from shared.kafka.producer import ConfirmedProducer
from shared.kafka.security import client_config
from shared.logging import get_logger, mask_phones
from shared.settings import PlatformSettings
from shared.topics import DEAD_LETTER, Topic

log = get_logger(__name__)

EVENTS_CONSUMED = Counter(
    "sangathan_events_consumed", "Events handled, by consumer group and type", ["group", "type"]
)
EVENTS_DEAD_LETTERED = Counter(
    "sangathan_events_dead_lettered",
    "Records sent to the dead-letter topic, by consumer group and reason",
    ["group", "reason"],
)
HANDLER_RETRIES = Counter(
    "sangathan_event_handler_retries", "Handler calls retried after an error", ["group", "type"]
)

# Dead-letter reasons (the dlt_reason header and the metric's label).
UNPARSEABLE = "unparseable"
INVALID = "invalid"
REJECTED = "rejected"
RETRIES_EXHAUSTED = "retries_exhausted"
DEAD_LETTER_REASONS = (UNPARSEABLE, INVALID, REJECTED, RETRIES_EXHAUSTED)

# Headers added to a dead letter, after the original ones.
DLT_REASON = "dlt_reason"
DLT_ERROR_CLASS = "dlt_error_class"
DLT_ERROR = "dlt_error"
DLT_ORIGINAL_TOPIC = "dlt_original_topic"
DLT_ORIGINAL_PARTITION = "dlt_original_partition"
DLT_ORIGINAL_OFFSET = "dlt_original_offset"
DLT_GROUP = "dlt_group"
DLT_TIME = "dlt_time"


def dead_letter_headers(
    original: list[tuple[str, bytes]],
    *,
    reason: str,
    error_class: str,
    error: str,
    topic: str,
    partition: int,
    offset: int,
    group: str,
    sealed: str | None = None,
) -> list[tuple[str, bytes]]:
    """A dead letter's headers: the record's own, then why (reason, error) and where it came from
    (topic, partition, offset, group), and how its personal data was sealed (DLT_SEALED). The
    one shape every dead letter has, whoever writes it; the error text is masked as logs are,
    since it can quote what was wrong."""
    return (
        list(original)
        + [
            (DLT_REASON, reason.encode()),
            (DLT_ERROR_CLASS, error_class.encode()),
            (DLT_ERROR, mask_phones(error)[:1000].encode()),
            (DLT_ORIGINAL_TOPIC, topic.encode()),
            (DLT_ORIGINAL_PARTITION, str(partition).encode()),
            (DLT_ORIGINAL_OFFSET, str(offset).encode()),
            (DLT_GROUP, group.encode()),
            (DLT_TIME, datetime.now(timezone.utc).isoformat().encode()),
        ]
        + ([(DLT_SEALED, sealed.encode())] if sealed else [])
    )


class PermanentEventError(Exception):
    """Raised by a handler for an event that can never succeed: dead-letter it now, no retries."""


Handler = Callable[[Event], Any]


class EventConsumer:
    def __init__(
        self,
        bootstrap: str,
        group_id: str,
        topics: Iterable[str | Topic],
        handler: Handler,
        *,
        dead_letter_topic: str = DEAD_LETTER.name,
        max_attempts: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 10.0,
        batch_size: int = 100,
        poll_timeout_s: float = 1.0,
        config: dict[str, Any] | None = None,
        seal: DeadLetterSeal | None = None,
    ):
        """`max_attempts` handler calls per event, waiting backoff_s, 2*backoff_s, ... in between.

        `config` overrides the consumer's librdkafka settings. A new group starts from the
        earliest retained event; a service that must not replay history sets auto.offset.reset.
        `seal` takes personal data out of dead letters; by default the keyring the environment
        names.
        """
        self.group_id = group_id
        self.dead_letter_topic = dead_letter_topic
        self.max_attempts, self.backoff_s, self.max_backoff_s = (
            max_attempts,
            backoff_s,
            max_backoff_s,
        )
        self.batch_size, self.poll_timeout_s = batch_size, poll_timeout_s
        self._handler = handler
        self._stop = threading.Event()
        self._closed = False
        self._lag = LagStats(group_id)  # sangathan_kafka_consumer_lag, from librdkafka's statistics
        self._consumer = Consumer(
            client_config(
                bootstrap,
                {
                    "group.id": group_id,
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                    **self._lag.config(),
                    **(config or {}),
                },
            )
        )
        self._consumer.subscribe(
            [topic.name if isinstance(topic, Topic) else topic for topic in topics]
        )
        self._dead_letters = ConfirmedProducer(bootstrap)
        self._seal = seal or dead_letter_seal(PlatformSettings())

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set; it also cuts short a retry's backoff.

        Raises DeliveryError if the dead-letter topic cannot be written (nothing of that batch
        is committed, so a restart re-reads it) and KafkaException on a fatal client error.
        """
        self._stop = stop
        while not stop.is_set():
            self.run_once()

    def run_once(self, timeout: float | None = None) -> int:
        """Poll one batch, handle it, commit it; return how many records were consumed."""
        # Wait for the first record only; then take whatever else is ready. (consume(n, t) would
        # wait the whole timeout for a batch that is not full, adding up to a second per hop.)
        first = self._consumer.poll(self.poll_timeout_s if timeout is None else timeout)
        messages = [] if first is None else [first, *self._consumer.consume(self.batch_size - 1, 0)]
        next_offsets: dict[tuple[str, int], int] = {}
        consumed = 0
        for i, msg in enumerate(messages):
            if msg.error():
                self._on_error(msg.error())
                continue
            if not self._process(msg):
                self._rewind(messages[i:])  # stopped mid-retry: leave the rest for next time
                break
            next_offsets[(msg.topic(), msg.partition())] = msg.offset() + 1
            consumed += 1
        # Raises (and so commits nothing) if a dead letter was not acknowledged: never drop a
        # record.
        self._dead_letters.flush()
        self._commit(next_offsets)
        return consumed

    def close(self) -> None:
        """Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._dead_letters.close()
        finally:
            self._consumer.close()  # leaves the group now, so partitions move without waiting
            self._lag.clear()  # its partitions are someone else's to report now

    # --- one record ----------------------------------------------------------------------------

    def _process(self, msg: Message) -> bool:
        """Handle or dead-letter one record; False only if stopped while waiting to retry."""
        try:
            event = from_kafka(msg.headers(), msg.key(), msg.value())
        except UnparseableEventError as exc:
            self._dead_letter(msg, UNPARSEABLE, exc)
            return True
        except InvalidEventError as exc:
            self._dead_letter(msg, INVALID, exc)
            return True
        for attempt in range(1, self.max_attempts + 1):
            try:
                self._handler(event)
                EVENTS_CONSUMED.labels(self.group_id, event.type).inc()
                return True
            except PermanentEventError as exc:
                self._dead_letter(msg, REJECTED, exc)
                return True
            except Exception as exc:
                if attempt == self.max_attempts:
                    self._dead_letter(msg, RETRIES_EXHAUSTED, exc)
                    return True
                delay = min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s)
                HANDLER_RETRIES.labels(self.group_id, event.type).inc()
                log.warning(
                    "event handler failed; retrying",
                    fields={
                        **_where(msg),
                        "type": event.type,
                        "event_id": event.id,
                        "attempt": attempt,
                        "error_class": type(exc).__name__,
                        "retry_in_s": delay,
                    },
                )
                if self._stop.wait(delay):
                    return False
        return True  # max_attempts < 1: nothing to do

    def _dead_letter(self, msg: Message, reason: str, exc: Exception) -> None:
        value, sealed = self._seal(msg.value())
        headers = dead_letter_headers(
            msg.headers() or [],
            reason=reason,
            error_class=type(exc).__name__,
            error=str(exc),
            topic=msg.topic(),
            partition=msg.partition(),
            offset=msg.offset(),
            group=self.group_id,
            sealed=sealed,
        )
        where = _where(msg)
        ref = f"{where['topic']}/{where['partition']}/{where['offset']}"
        self._dead_letters.produce(self.dead_letter_topic, msg.key(), value, headers, ref=ref)
        EVENTS_DEAD_LETTERED.labels(self.group_id, reason).inc()
        log.warning(
            "record dead-lettered",
            fields={
                **where,
                "reason": reason,
                "error_class": type(exc).__name__,
                "error": str(exc)[:300],
            },
        )

    # --- offsets -------------------------------------------------------------------------------

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise KafkaException(error)
        # E.g. a subscribed topic not created yet: librdkafka keeps trying by itself.
        log.warning("consumer error", fields={"group": self.group_id, "error": error.str()})

    def _rewind(self, unprocessed: list[Message]) -> None:
        first: dict[tuple[str, int], int] = {}
        for msg in unprocessed:
            if not msg.error():
                first.setdefault((msg.topic(), msg.partition()), msg.offset())
        for (topic, partition), offset in first.items():
            self._consumer.seek(TopicPartition(topic, partition, offset))

    def _commit(self, next_offsets: dict[tuple[str, int], int]) -> None:
        if not next_offsets:
            return
        offsets = [
            TopicPartition(topic, partition, offset)
            for (topic, partition), offset in next_offsets.items()
        ]
        try:
            results = self._consumer.commit(offsets=offsets, asynchronous=False) or []
        except KafkaException as exc:
            # Usually a rebalance moved the partition: its new owner re-handles from the last
            # commit, which idempotent handlers absorb.
            log.warning("offset commit failed", fields={"group": self.group_id, "error": str(exc)})
            return
        for tp in results:
            if tp.error:
                log.warning(
                    "offset commit failed",
                    fields={
                        "group": self.group_id,
                        "topic": tp.topic,
                        "partition": tp.partition,
                        "error": str(tp.error),
                    },
                )


def _where(msg: Message) -> dict[str, Any]:
    return {"topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset()}
