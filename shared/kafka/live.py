"""Live pages: one Kafka topic, tailed by each process and fanned out to its SSE listeners.

Each process tails the topic from its end with a group of its own and never commits: a live
page wants what happens from now on, and every replica must see every event. An event goes
only to listeners whose unit is its subject (a booth or unit id, the message key) or above
it, so nobody is sent what lies outside their jurisdiction. A listener whose queue is full (a
stalled browser) loses its oldest items, never the process's memory.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer

from shared.events.contracts import EventError, from_kafka
from shared.kafka.security import client_config
from shared.logging import get_logger
from shared.orgtree.levels import is_within
from shared.topics import Topic

log = get_logger(__name__)
QUEUE_SIZE = 1000


@dataclass(eq=False)
class Listener:
    unit_id: str
    queue: asyncio.Queue
    loop: asyncio.AbstractEventLoop
    depth: int | None = None  # levels below the unit it wants (0: the unit only); None: all

    def wants(self, subject: str) -> bool:
        if not is_within(subject, self.unit_id):
            return False
        return self.depth is None or subject.count("-") - self.unit_id.count("-") <= self.depth

    def offer(self, item: dict) -> None:
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(item)


class TopicFanout:
    """Tails `topic` in `run` (a background thread) and hands each event to the listeners that want
    it."""

    def __init__(self, bootstrap: str, topic: Topic | str, group_prefix: str):
        self.bootstrap = bootstrap
        self.topic = topic.name if isinstance(topic, Topic) else topic
        self.group_prefix = group_prefix
        self._listeners: set[Listener] = set()
        self._lock = threading.Lock()
        self.assigned = threading.Event()  # set once the consumer holds its partitions

    def listen(self, unit_id: str, depth: int | None = None) -> Listener:
        listener = Listener(unit_id, asyncio.Queue(QUEUE_SIZE), asyncio.get_running_loop(), depth)
        with self._lock:
            self._listeners.add(listener)
        return listener

    def forget(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.discard(listener)

    def run(self, stop: threading.Event) -> None:
        consumer = Consumer(
            client_config(
                self.bootstrap,
                {
                    "group.id": f"{self.group_prefix}-{uuid.uuid4()}",
                    "auto.offset.reset": "latest",
                    "enable.auto.commit": False,
                },
            )
        )
        consumer.subscribe([self.topic], on_assign=lambda *_: self.assigned.set())
        try:
            while not stop.is_set():
                message = consumer.poll(0.5)
                if message is None or message.error():
                    continue
                self.dispatch(message.headers(), message.key(), message.value())
        finally:
            self.assigned.clear()
            consumer.close()

    def dispatch(self, headers, key, value) -> int:
        """Hand one record to the listeners that want it; return how many did."""
        try:
            event = from_kafka(headers, key, value)
        except EventError:
            return 0  # the topic's own consumers dead-letter it; a live page just skips it
        item = {
            "id": event.id,
            "type": event.type,
            "time": event.time.isoformat(),
            "data": event.data,
        }
        with self._lock:
            listeners = [listener for listener in self._listeners if listener.wants(event.subject)]
        for listener in listeners:
            listener.loop.call_soon_threadsafe(listener.offer, item)
        return len(listeners)
