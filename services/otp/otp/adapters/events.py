"""The OTP service's events on Kafka: otp-verified and otp-failed, each confirmed before return.

Event ids are derived from the request, so an event published twice (a retried verification,
a redelivered request) carries the same id and consumers drop the copy.

Each event waits for the broker's acknowledgement of that very message (its own delivery
report), never for a flush of the shared producer: a flush would report one thread's lost
message to another and answer 200 for an event never written. So concurrent verifications need
no lock, and their events share produce requests (a group commit) instead of paying one Kafka
round trip after another: under load that serial wait was the service's limit (~130/s).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from confluent_kafka import KafkaException, Producer

from otp.ports import EventsUnavailable
from shared import topics
from shared.events import types
from shared.events.contracts import new_event, to_kafka
from shared.kafka.producer import EVENTS_PUBLISHED, PUBLISH_FAILURES, RELIABLE
from shared.kafka.security import client_config

SOURCE = "/sangathan/otp"
_IDS = uuid.UUID("5f0c9d0e-7f1a-4b43-9a8e-0d6c2f1b7a31")  # namespace of this service's event ids
# A verification waits for its event; batching it longer than a millisecond would only add latency.
LINGER_MS = 1


class ConfirmingPublisher:
    """A producer whose `publish` returns once the broker acknowledged that event, or raises.

    One thread serves the delivery reports; callers only wait for their own."""

    def __init__(
        self, bootstrap: str, timeout_s: float, topic_for: Callable[[str], str] | None = None
    ):
        # librdkafka gives up on a message when the caller stops waiting for it, so a 503 is not
        # followed by the event turning up later anyway.
        self._producer = Producer(
            client_config(
                bootstrap,
                {**RELIABLE, "linger.ms": LINGER_MS, "message.timeout.ms": int(timeout_s * 1000)},
            )
        )
        self._timeout_s = timeout_s
        self._topic_for = topic_for or (lambda event_type: topics.topic_for(event_type).name)
        self._stop = threading.Event()
        self._poller = threading.Thread(
            target=self._serve_reports, name="otp-events-reports", daemon=True
        )
        self._poller.start()

    def publish(
        self, event_type: str, data: dict[str, Any], *, event_id: str, time: datetime
    ) -> None:
        event = new_event(event_type, data, SOURCE, event_id=event_id, time=time)
        _, key, value, headers = to_kafka(event)
        topic, done, failure = self._topic_for(event_type), threading.Event(), []

        def delivered(err, _msg) -> None:
            if err is not None:
                failure.append(err.str())
            done.set()

        try:
            self._producer.produce(topic, value, key, headers=headers, on_delivery=delivered)
        except (KafkaException, BufferError) as exc:
            raise EventsUnavailable(str(exc)) from exc
        # librdkafka itself fails the message after message.timeout.ms; the extra second lets
        # that definite report arrive before this wait gives up.
        if not done.wait(self._timeout_s + 1):
            failure.append(f"not acknowledged within {self._timeout_s}s")
        if failure:
            PUBLISH_FAILURES.labels(topic).inc()
            raise EventsUnavailable(failure[0])
        EVENTS_PUBLISHED.labels(event_type).inc()

    def close(self) -> None:
        """Stop serving reports, wait for what is still queued, then release the client.
        Idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._poller.join()
        try:
            self._producer.flush(self._timeout_s)  # serves the last reports: their waiters return
        finally:
            # Whatever is still queued is reported lost to its waiter; closing must not wait for it.
            self._producer.purge()
            self._producer.poll(0)
            self._producer.close()

    def _serve_reports(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)


class OtpEvents:
    def __init__(self, publisher: ConfirmingPublisher):
        self._publisher = publisher

    def verified(self, *, request_id: str, appointment_id: str, booth_id: str, at: float) -> None:
        self._publisher.publish(
            types.OTP_VERIFIED,
            {
                "request_id": request_id,
                "appointment_id": appointment_id,
                "booth_id": booth_id,
                "verified_at": _iso(at),
            },
            event_id=_event_id(f"verified:{request_id}"),
            time=_at(at),
        )

    def failed(
        self, *, request_id: str, appointment_id: str, booth_id: str, reason: str, at: float
    ) -> None:
        self._publisher.publish(
            types.OTP_FAILED,
            {
                "request_id": request_id,
                "appointment_id": appointment_id,
                "booth_id": booth_id,
                "reason": reason,
                "failed_at": _iso(at),
            },
            event_id=_event_id(f"failed:{request_id}"),
            time=_at(at),
        )

    def close(self) -> None:
        self._publisher.close()


def publisher(
    bootstrap: str, timeout_s: float, topic_for: Callable[[str], str] | None = None
) -> ConfirmingPublisher:
    """`topic_for` is the registry by default; tests pass scratch topics."""
    return ConfirmingPublisher(bootstrap, timeout_s, topic_for)


def _event_id(name: str) -> str:
    return str(uuid.uuid5(_IDS, name))


def _at(at: float) -> datetime:
    return datetime.fromtimestamp(at, timezone.utc)


def _iso(at: float) -> str:
    return _at(at).isoformat()
