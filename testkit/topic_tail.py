"""Reading a real topic from its current end, picking the events a test caused."""

import time

from confluent_kafka import Consumer, TopicPartition

from shared.events.contracts import Event, from_kafka
from testkit import random_suffix


class TopicTail:
    """Assigned to every partition at its end when made, so only later events are seen."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        from_start: bool = False,
        offsets: dict[int, int] | None = None,
    ):
        """From the end, the start (`from_start`) or given offsets by partition (`offsets`)."""
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"test-tail-{random_suffix()}",
                "enable.auto.commit": False,
            }
        )
        self.consumer.assign(
            [
                TopicPartition(topic, p, o)
                for p, o in (offsets or self.offsets(topic, 0 if from_start else 1)).items()
            ]
        )

    def offsets(self, topic: str, end: int = 1) -> dict[int, int]:
        """Each partition's first (end=0) or next (end=1) offset."""
        partitions = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {
            p: self.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[end]
            for p in partitions
        }

    @classmethod
    def from_start(cls, bootstrap: str, topic: str) -> "TopicTail":
        return cls(bootstrap, topic, from_start=True)

    def wait_for(self, appointment_id: str, count: int = 1, timeout: float = 15.0) -> list[Event]:
        """Events about one appointment, until `count` arrived or the timeout passed."""
        return self.wait_until(
            lambda e: e.data.get("appointment_id") == appointment_id, count, timeout
        )

    def wait_until(self, wanted, count: int = 1, timeout: float = 15.0) -> list[Event]:
        found, deadline = [], time.monotonic() + timeout
        while len(found) < count and time.monotonic() < deadline:
            first = self.consumer.poll(0.5)
            batch = [] if first is None else [first, *self.consumer.consume(100, 0)]
            for msg in batch:
                if not msg.error():
                    event = from_kafka(msg.headers(), msg.key(), msg.value())
                    if wanted(event):
                        found.append(event)
        return found

    def ids_until(
        self, wanted, expected: set[str], key: str = "appointment_id", timeout: float = 30.0
    ) -> set[str]:
        """Collect `data[key]` of wanted events until all `expected` were seen
        (duplicates allowed)."""
        seen, deadline = set(), time.monotonic() + timeout
        while not expected <= seen and time.monotonic() < deadline:
            seen |= {e.data[key] for e in self.wait_until(wanted, count=1, timeout=1)}
        return seen

    def close(self) -> None:
        """Idempotent."""
        if self.consumer is not None:
            self.consumer.close()
            self.consumer = None
