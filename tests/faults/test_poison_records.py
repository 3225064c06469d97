"""Poison on the platform's own otp-requests topic (a record that is not an event, an event that
breaks its schema) goes to the dead-letter topic with its reason, and the OTP service goes on: the
next code request on the same partition, behind the poison, is delivered.

(The shared consumer's dead-lettering is proven in detail on scratch topics by
tests/integration/test_kafka_events.py; this is the same guarantee on the running platform.)"""

import json
import random
import string
import time
import uuid
from datetime import datetime, timezone

import httpx
import pytest
from confluent_kafka import Producer

from shared import topics
from shared.events import types
from shared.events.contracts import new_event, to_kafka
from shared.kafka.producer import EventPublisher
from testkit.processes import wait_until
from testkit.topic_tail import TopicTail
from tests.faults.conftest import OTP, figure

pytestmark = pytest.mark.faults

BOOTH = "IN-HP-D11-A01-M01-S01-B001"  # the key: poison and the good request share a partition
SOURCE = "/sangathan/appointments"


def dead_letters_since(
    bootstrap: str, offsets: dict[int, int], markers: list[bytes]
) -> dict[bytes, dict]:
    """The dead letters whose value holds one of `markers`: their headers, by marker."""
    tail = TopicTail(bootstrap, topics.DEAD_LETTER.name, offsets=offsets)
    found: dict[bytes, dict] = {}
    try:
        deadline = time.monotonic() + 60
        while len(found) < len(markers) and time.monotonic() < deadline:
            for msg in tail.consumer.consume(100, 1):
                for marker in markers if not msg.error() else []:
                    if marker in msg.value():
                        found[marker] = dict(msg.headers() or [])
    finally:
        tail.close()
    return found


def test_poison_on_the_otp_requests_topic_is_dead_lettered_with_reasons_and_codes_still_go_out(
    kafka_bootstrap,
):
    probe = TopicTail(kafka_bootstrap, topics.DEAD_LETTER.name)
    dead_from = probe.offsets(topics.DEAD_LETTER.name)
    probe.close()
    data = {
        "request_id": str(uuid.uuid4()),
        "appointment_id": str(uuid.uuid4()),
        "booth_id": BOOTH,
        "phone": f"+919{random.randrange(10**9):09d}",
        "channel": "sms",
        "purpose": "appointment_verification",
        "locale": "en",
        "requested_by": "user-faults",
        "requested_at": datetime.now(timezone.utc).isoformat(),
    }
    # Letters only: ten digits in a row in a record that is not JSON would be taken for a phone
    # and sealed whole (shared/kafka/deadletters.py), hiding the marker.
    marker = "".join(random.choices(string.ascii_lowercase, k=32)).encode()
    _, key, value, headers = to_kafka(new_event(types.OTP_REQUESTED, data, SOURCE))
    invalid = json.dumps(
        {**json.loads(value), "channel": "pigeon", "marker": marker.decode()}
    ).encode()
    raw = Producer({"bootstrap.servers": kafka_bootstrap})
    raw.produce(topics.OTP_REQUESTS.name, b"{not json " + marker, key)
    raw.produce(topics.OTP_REQUESTS.name, invalid, key, headers=headers)
    raw.flush(10)
    publisher = EventPublisher(kafka_bootstrap, SOURCE)
    publisher.emit(types.OTP_REQUESTED, data)  # behind the poison on the booth's partition
    publisher.close()
    sent = time.monotonic()

    def delivered() -> bool:
        found = httpx.get(
            f"{OTP}/v1/dev/deliveries",
            params={"appointment_id": data["appointment_id"]},
            timeout=10,
        )
        return bool(found.json()["deliveries"])

    wait_until(delivered, 60)
    figure("code behind two poison records delivered after", time.monotonic() - sent)
    letters = dead_letters_since(
        kafka_bootstrap, dead_from, [b"{not json " + marker, marker + b'"}']
    )
    assert [h.get("dlt_reason") for h in letters.values()] == [b"unparseable", b"invalid"], letters
    assert all(
        h["dlt_group"] == b"otp" and h["dlt_original_topic"] == topics.OTP_REQUESTS.name.encode()
        for h in letters.values()
    )
