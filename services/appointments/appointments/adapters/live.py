"""Live appointment changes for portal pages: the appointments topic, fanned out to SSE listeners.

Each process tails the topic from its end with a group of its own and never commits: a live
page wants what happens from now on, and every replica must see every change. A listener whose
queue is full (a stalled browser) loses its oldest items, never the process's memory.
"""

import asyncio
import threading
import uuid
from dataclasses import dataclass

from confluent_kafka import Consumer

from shared.events.contracts import EventError, from_kafka
from shared.logging import get_logger
from shared.topics import APPOINTMENTS

log = get_logger(__name__)
QUEUE_SIZE = 1000


@dataclass(eq=False)
class Listener:
    unit_id: str
    queue: asyncio.Queue
    loop: asyncio.AbstractEventLoop

    def wants(self, booth_id: str) -> bool:
        return booth_id == self.unit_id or booth_id.startswith(self.unit_id + "-")

    def offer(self, item: dict) -> None:
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(item)


class LiveFeed:
    def __init__(self, bootstrap: str):
        self.bootstrap = bootstrap
        self._listeners: set[Listener] = set()
        self._lock = threading.Lock()

    def listen(self, unit_id: str) -> Listener:
        listener = Listener(unit_id, asyncio.Queue(QUEUE_SIZE), asyncio.get_running_loop())
        with self._lock:
            self._listeners.add(listener)
        return listener

    def forget(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.discard(listener)

    def run(self, stop: threading.Event) -> None:
        consumer = Consumer({
            "bootstrap.servers": self.bootstrap, "group.id": f"appointments-live-{uuid.uuid4()}",
            "auto.offset.reset": "latest", "enable.auto.commit": False,
        })
        consumer.subscribe([APPOINTMENTS.name])
        try:
            while not stop.is_set():
                message = consumer.poll(0.5)
                if message is None or message.error():
                    continue
                self._dispatch(message)
        finally:
            consumer.close()

    def _dispatch(self, message) -> None:
        try:
            event = from_kafka(message.headers(), message.key(), message.value())
        except EventError:
            return  # the appointments consumer dead-letters it; a live page just skips it
        item = {"id": event.id, "type": event.type, "time": event.time.isoformat(), "data": event.data}
        with self._lock:
            listeners = [l for l in self._listeners if l.wants(event.data["booth_id"])]
        for listener in listeners:
            listener.loop.call_soon_threadsafe(listener.offer, item)
