"""The report forms the reports view offers: every dashboard replica reads the forms topic from
its start (few records, kept for ever, form-keyed) into an in-memory catalogue, and keeps
following it. It never commits (a group of its own per process, within the dashboard's group
prefix): each replica must hold the whole catalogue."""

from __future__ import annotations

import threading
import uuid

from confluent_kafka import Consumer

from dashboard.reports import FormCatalogue
from shared.events import types
from shared.events.contracts import EventError, from_kafka
from shared.kafka.security import client_config
from shared.logging import get_logger

log = get_logger(__name__)
GROUP_PREFIX = "dashboard-live-forms"
# Both versions: the reports service publishes v2 (with labels), the topic keeps v1 forms for ever.
FORM_PUBLISHED = (types.FORM_PUBLISHED, types.FORM_PUBLISHED_V2)


class FormFeed:
    def __init__(self, bootstrap: str, topic: str):
        self.bootstrap, self.topic = bootstrap, topic
        self.catalogue = FormCatalogue()
        self._lock = threading.Lock()

    def readable_by(self, unit: str) -> list[dict]:
        with self._lock:
            return self.catalogue.readable_by(unit)

    def run(self, stop: threading.Event) -> None:
        consumer = Consumer(
            client_config(
                self.bootstrap,
                {
                    "group.id": f"{GROUP_PREFIX}-{uuid.uuid4()}",
                    "auto.offset.reset": "earliest",
                    "enable.auto.commit": False,
                },
            )
        )
        consumer.subscribe([self.topic])
        try:
            while not stop.is_set():
                message = consumer.poll(0.5)
                if message is not None and not message.error():
                    self.take(message.headers(), message.key(), message.value())
        finally:
            consumer.close()

    def take(self, headers, key, value) -> None:
        try:
            event = from_kafka(headers, key, value)
        except EventError:
            return  # the topic's own consumers dead-letter it; the catalogue just skips it
        if event.type not in FORM_PUBLISHED:
            return
        with self._lock:
            if self.catalogue.on_published(event.data):
                log.info("form known", fields={"form_id": event.data["form_id"]})
