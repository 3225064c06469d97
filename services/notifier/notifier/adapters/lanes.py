"""Delivery tasks on Kafka: one topic per lane, keyed by booth id, so a booth's messages keep
their order on one partition and a national send spreads over every partition and worker.

Producing goes through the shared confirmed producer (idempotent, acks=all): `flush` raises
unless the broker took every task. Consuming commits only after a batch is handled, so a crash
redelivers and the idempotency ledger drops what was already sent.
"""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from notifier.domain.tasks import BULK, NORMAL, URGENT, Task
from shared import topics
from shared.kafka.lag import LagStats
from shared.kafka.producer import ConfirmedProducer
from shared.kafka.security import client_config
from shared.logging import get_logger

log = get_logger(__name__)

LANE_TOPICS = {
    URGENT: topics.DELIVERY_TASKS_URGENT,
    NORMAL: topics.DELIVERY_TASKS_NORMAL,
    BULK: topics.DELIVERY_TASKS_BULK,
}


class TaskProducer:
    def __init__(
        self, bootstrap: str, topic_name: Callable[[str], str], config: dict | None = None
    ):
        self._producer = ConfirmedProducer(
            bootstrap, {"linger.ms": 20, "batch.num.messages": 10000, **(config or {})}
        )
        self._topic = {lane: topic_name(topic.name) for lane, topic in LANE_TOPICS.items()}

    def produce(self, task: Task) -> None:
        self._producer.produce(
            self._topic[task.lane], task.booth_id.encode(), task.to_json(), [], ref=task.delivery_id
        )

    def produce_raw(self, lane: str, key: bytes, value: bytes, ref: str) -> None:
        self._producer.produce(self._topic[lane], key, value, [], ref=ref)

    def flush(self, timeout: float = 30.0) -> None:
        self._producer.flush(timeout)

    def close(self) -> None:
        self._producer.close()


class TaskConsumer:
    """One lane's consumer: batches of tasks, committed after they are handled."""

    def __init__(self, bootstrap: str, topic: str, group_id: str, config: dict | None = None):
        self.topic = topic
        self._lag = LagStats(group_id)  # sangathan_kafka_consumer_lag of this lane's partitions
        self._consumer = Consumer(
            client_config(
                bootstrap,
                {
                    "group.id": group_id,
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                    "fetch.wait.max.ms": 50,
                    **self._lag.config(),
                    **(config or {}),
                },
            )
        )
        self._consumer.subscribe([topic])

    def poll(self, size: int, timeout: float) -> tuple[list[tuple[Message, Task | None]], dict]:
        """Up to `size` records (a record that is not a task comes back with None) and the
        offsets that commit them."""
        batch, offsets = [], {}
        for msg in self._consumer.consume(size, timeout):
            if msg.error():
                if msg.error().fatal():
                    raise KafkaException(msg.error())
                if msg.error().code() != KafkaError._PARTITION_EOF:
                    log.warning(
                        "lane consumer error",
                        fields={"topic": self.topic, "error": msg.error().str()},
                    )
                continue
            offsets[(msg.topic(), msg.partition())] = msg.offset() + 1
            try:
                batch.append((msg, Task.from_json(msg.value())))
            except (ValueError, TypeError, KeyError):
                batch.append((msg, None))
        return batch, offsets

    def commit(self, offsets: dict) -> None:
        if not offsets:
            return
        try:
            self._consumer.commit(
                offsets=[
                    TopicPartition(topic, partition, offset)
                    for (topic, partition), offset in offsets.items()
                ],
                asynchronous=False,
            )
        except KafkaException as exc:
            # A rebalance moved the partition: its new owner re-reads from the last commit, and the
            # ledger makes that harmless.
            log.warning("lane commit failed", fields={"topic": self.topic, "error": str(exc)})

    def close(self) -> None:
        self._consumer.close()
        self._lag.clear()
