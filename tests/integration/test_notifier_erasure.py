"""The notifier honours person-erased from the real Kafka topic: the appointee's waiting tasks
(which hold their phone) leave Redis, and a task of theirs still on a lane is not sent."""

import time
import uuid

import pytest

from notifier import consumer
from notifier.handlers.ports import Ports
from shared.events import types
from shared.kafka.consumer import EventConsumer
from shared.kafka.producer import EventPublisher
from testkit.processes import wait_until
from tests.conftest import random_suffix
from tests.integration.test_notifier_sending import deliver, ledger, make_sender, task  # noqa: F401

pytestmark = pytest.mark.integration


def erased_event(appointment_id: str) -> dict:
    return {
        "erasure_id": str(uuid.uuid4()),
        "appointment_id": appointment_id,
        "booth_id": "IN-HP-D01-A01-M01-S01-B001",
        "requested_by": "user-hp",
        "reason": "request",
        "erased_at": "2026-01-01T00:00:00+00:00",
    }


def test_a_person_erased_event_drops_their_waiting_tasks_and_stops_their_queued_ones(
    ledger,  # noqa: F811 (the fixture imported above)
    kafka_bootstrap,
    scratch,
):
    erased, kept = task("+919811100001"), task("+919811100002")
    ledger.defer([(erased, time.time() + 3600), (kept, time.time() + 3600)])
    ledger.redis.set(f"{ledger.prefix}fb:pm-{uuid.uuid4().hex}", erased.fallback().to_json())

    topic = scratch(partitions=1)
    publisher = EventPublisher(kafka_bootstrap, "/test", topic_for=lambda _: topic)
    publisher.emit(types.PERSON_ERASED, erased_event(erased.recipient_id))
    publisher.flush(10)
    ports = Ports(
        store=None,
        ledger=ledger,
        tally=None,
        events=None,
        producer=None,
        registry=None,
        policy=None,
    )
    reader = EventConsumer(
        kafka_bootstrap, f"test-{random_suffix()}", [topic], consumer.erasure_handler(ports)
    )
    try:
        wait_until(lambda: reader.run_once(1.0) >= 0 and ledger.erased([erased.recipient_id]), 30)
    finally:
        reader.close()

    held = b"".join(
        _value(ledger.redis, k) for k in ledger.redis.scan_iter(match=ledger.prefix + "*")
    )
    assert erased.phone.encode() not in held and kept.phone.encode() in held
    sender, channels = make_sender(ledger)
    settlement = deliver(sender, [erased, kept])
    assert settlement.skipped["erased"] == 1 and [c[0] for c in channels["whatsapp"].calls] == [
        kept.phone
    ]


def _value(client, key: bytes) -> bytes:
    """What a key holds, as bytes, whatever its type (the ledger uses strings, sets and zsets)."""
    kind = client.type(key)
    if kind == b"string":
        return client.get(key) or b""
    if kind == b"zset":
        return b"".join(client.zrange(key, 0, -1))
    if kind == b"set":
        return b"".join(client.smembers(key))
    return b"".join(client.hvals(key)) if kind == b"hash" else b""
