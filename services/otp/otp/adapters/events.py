"""The OTP service's events on Kafka: otp-verified and otp-failed, each confirmed before return.

Event ids are derived from the request, so an event published twice (a retried verification,
a redelivered request) carries the same id and consumers drop the copy.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timezone

from confluent_kafka import KafkaException

from shared.events import types
from shared.kafka.producer import DeliveryError, EventPublisher

SOURCE = "/sangathan/otp"
_IDS = uuid.UUID("5f0c9d0e-7f1a-4b43-9a8e-0d6c2f1b7a31")  # namespace of this service's event ids


class EventsUnavailable(Exception):
    """Kafka did not confirm the event in time; nothing may be decided on it."""


class OtpEvents:
    """Publishes and confirms one event at a time: a shared producer's flush would otherwise
    report one thread's lost message to another, and answer 200 for an event never written."""

    def __init__(self, publisher: EventPublisher, timeout_s: float):
        self._publisher, self._timeout_s = publisher, timeout_s
        self._lock = threading.Lock()

    def verified(self, *, request_id: str, appointment_id: str, booth_id: str, at: float) -> None:
        self._emit(types.OTP_VERIFIED, f"verified:{request_id}", at, {
            "request_id": request_id, "appointment_id": appointment_id, "booth_id": booth_id,
            "verified_at": _iso(at),
        })

    def failed(self, *, request_id: str, appointment_id: str, booth_id: str, reason: str, at: float) -> None:
        self._emit(types.OTP_FAILED, f"failed:{request_id}", at, {
            "request_id": request_id, "appointment_id": appointment_id, "booth_id": booth_id,
            "reason": reason, "failed_at": _iso(at),
        })

    def close(self) -> None:
        self._publisher.close(self._timeout_s)

    def _emit(self, event_type: str, name: str, at: float, data: dict) -> None:
        with self._lock:
            try:
                self._publisher.emit(event_type, data, event_id=str(uuid.uuid5(_IDS, name)),
                                     time=datetime.fromtimestamp(at, timezone.utc))
                self._publisher.flush(self._timeout_s)
            except (DeliveryError, KafkaException, BufferError) as exc:
                raise EventsUnavailable(str(exc)) from exc


def publisher(bootstrap: str, timeout_s: float, topic_for: Callable[[str], str] | None = None) -> EventPublisher:
    """`topic_for` is the registry by default; tests pass scratch topics."""
    # librdkafka gives up on a message when the caller stops waiting for it, so a 503 is not
    # followed by the event turning up later anyway.
    return EventPublisher(bootstrap, SOURCE, config={"message.timeout.ms": int(timeout_s * 1000)}, topic_for=topic_for)


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).isoformat()
