"""The notifier's events on Kafka: directive-issued, delivery-status, directive-acknowledged.

Event ids are derived from what happened (the directive; the delivery and its status; the
directive and the recipient), so an event published twice is recognisably the same event and
consumers drop the copy. One lock per publisher: a shared producer's flush would otherwise report
one thread's lost message to another.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timezone

from confluent_kafka import KafkaException

from shared.events import types
from shared.events.contracts import Event
from shared.kafka.producer import DeliveryError, EventPublisher
from shared.topics import topic_for

SOURCE = "/sangathan/notifier"
_IDS = uuid.UUID("3c9d1e7a-8b2f-4c6d-a0e5-f4b7c2d91a68")


class EventsUnavailable(Exception):
    """Kafka did not confirm in time."""


def event_id(name: str) -> str:
    return str(uuid.uuid5(_IDS, name))


class NotifierEvents:
    def __init__(self, publisher: EventPublisher, timeout_s: float = 10.0):
        self._publisher, self._timeout_s = publisher, timeout_s
        self._lock = threading.Lock()

    def publish(self, events: list[tuple[str, str, dict, datetime]]) -> None:
        """(type, event id, data, time) each, confirmed together; EventsUnavailable if not."""
        if not events:
            return
        with self._lock:
            try:
                for event_type, identifier, data, at in events:
                    # Built here rather than by `emit`, which validates the data a second time:
                    # `publish` validates it on the way out, once per event (~0.2 ms each).
                    subject = data[topic_for(event_type).key_field]
                    self._publisher.publish(
                        Event(identifier, event_type, self._publisher.source, subject, at, data)
                    )
                self._publisher.flush(self._timeout_s)
            except (DeliveryError, KafkaException, BufferError) as exc:
                raise EventsUnavailable(str(exc)) from exc

    def close(self) -> None:
        self._publisher.close(self._timeout_s)


def directive_issued(data: dict) -> tuple[str, str, dict, datetime]:
    return (
        types.DIRECTIVE_ISSUED,
        event_id(f"issued:{data['directive_id']}"),
        data,
        datetime.fromisoformat(data["issued_at"]),
    )


def delivery_status(
    context: dict, status: str, at: datetime, provider_id: str | None, error: dict | None
) -> tuple[str, str, dict, datetime]:
    data = {
        "delivery_id": context["delivery_id"],
        "directive_id": context["directive_id"],
        "otp_request_id": context["otp_request_id"],
        "booth_id": context["booth_id"],
        "booth_path": context["booth_path"],
        "recipient_id": context["recipient_id"],
        "channel": context["channel"],
        "status": status,
        "provider_message_id": provider_id,
        "occurred_at": at.isoformat(),
        "error": error,
    }
    return types.DELIVERY_STATUS, event_id(f"status:{context['delivery_id']}:{status}"), data, at


def acknowledged(
    *, directive_id: str, booth_id: str, booth_path: dict, recipient_id: str, via: str, at: datetime
) -> tuple[str, str, dict, datetime]:
    data = {
        "directive_id": directive_id,
        "booth_id": booth_id,
        "booth_path": booth_path,
        "recipient_id": recipient_id,
        "via": via,
        "acknowledged_at": at.isoformat(),
    }
    return types.DIRECTIVE_ACKNOWLEDGED, event_id(f"ack:{directive_id}:{recipient_id}"), data, at


def publisher(
    bootstrap: str, topic_name: Callable[[str], str], timeout_s: float = 10.0
) -> EventPublisher:
    return EventPublisher(
        bootstrap,
        SOURCE,
        config={"message.timeout.ms": int(timeout_s * 1000)},
        topic_for=lambda event_type: topic_name(topic_for(event_type).name),
    )


def now() -> datetime:
    return datetime.now(timezone.utc)
