"""Other services' per-recipient messages (POST /v1/messages, a meeting's invitations) against the
real Kafka, Redis and FerretDB, with the provider simulator as a real process: each lands once on
its lane topic, reaches the simulator as written, a retried request queues nothing again, the
polling blackout holds a campaign message (and an erasure then drops it), and bad messages are
named by their index."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import redis
from confluent_kafka import Consumer, TopicPartition

from notifier.adapters.lanes import LANE_TOPICS
from notifier.domain.tasks import PERSONAL, Task
from shared import topics
from shared.auth.issuer import service_token
from shared.events import types
from shared.kafka.producer import EventPublisher
from testkit.phones import indian_mobile
from testkit.processes import wait_until
from testkit.topic_tail import TopicTail
from tests.conftest import random_suffix
from tests.integration.test_notifier_erasure import erased_event
from tests.integration.test_notifier_flow import start_stack, stop_stack

pytestmark = pytest.mark.integration

OPEN_BOOTH = "IN-HP-D02-A01-M01-S01-B001"
POLLING_BOOTH = "IN-HP-D03-A01-M01-S01-B001"  # its district votes tomorrow: inside the blackout
CLOSE_OF_POLL = datetime.now(timezone.utc) + timedelta(hours=24)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = start_stack(
        tmp_path_factory.mktemp("notifier-messages"),
        simulator_env={
            "SIMULATOR_TRANSIENT_FAILURE_SHARE": "0",
            "SIMULATOR_PERMANENT_FAILURE_SHARE": "0",
        },
        notifier_env={"NOTIFIER_POLLS": f"IN-HP-D03={CLOSE_OF_POLL.isoformat()}"},
    )
    yield running
    stop_stack(running)


def invitation(booth_id: str = OPEN_BOOTH, **changes) -> dict:
    return {
        "message_id": f"meeting-test:{uuid.uuid4()}",
        "appointment_id": str(uuid.uuid4()),
        "booth_id": booth_id,
        "phone": indian_mobile(spaced=False),
        "channel": "sms",
        "locale": "hi-IN",
        "text": f"Audio meeting at 18:00: dial +911140001234, PIN {secrets.randbelow(10**6):06d}",
        "lane": "bulk",
        **changes,
    }


def post(stack, messages: list[dict], token: str | None = None) -> httpx.Response:
    return httpx.post(
        f"{stack.notifier}/v1/messages",
        json={"messages": messages},
        headers={"Authorization": f"Bearer {token or service_token('otp')}"},
        timeout=30,
    )


def lane_tasks(stack, lane: str, message_ids: set[str], timeout_s: float = 10) -> list[Task]:
    """The tasks on the stack's lane topic (read from its start) that carry these messages."""
    topic = f"{stack.ns}.{LANE_TOPICS[lane].name}"
    reader = Consumer(
        {"bootstrap.servers": stack.settings.kafka_bootstrap, "group.id": f"t-{random_suffix()}"}
    )
    partitions = reader.list_topics(topic, timeout=10).topics[topic].partitions
    reader.assign([TopicPartition(topic, p, 0) for p in partitions])
    found, deadline = [], time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            for record in reader.consume(500, 0.5):
                if not record.error():
                    task = Task.from_json(record.value())
                    if task.message_id in message_ids:
                        found.append(task)
    finally:
        reader.close()
    return found


def deferred(stack) -> list[Task]:
    client = redis.Redis.from_url(stack.settings.redis_url)
    return [Task.from_json(raw) for raw in client.zrange(f"{stack.ns}:deferred", 0, -1)]


def test_invitations_land_once_on_their_lane_and_reach_the_provider_as_written(stack):
    sent = [invitation(), invitation(channel="whatsapp", lane="normal")]
    response = post(stack, sent)
    assert response.status_code == 202, response.text
    assert response.json() == {"queued": 2, "duplicates": 0}

    [bulk] = lane_tasks(stack, "bulk", {sent[0]["message_id"]}, timeout_s=3)
    [normal] = lane_tasks(stack, "normal", {sent[1]["message_id"]}, timeout_s=3)
    assert bulk.send == normal.send == PERSONAL and bulk.campaign and normal.campaign
    assert (bulk.recipient_id, bulk.phone) == (sent[0]["appointment_id"], sent[0]["phone"])
    wait_until(lambda: all(stack.messages(to=m["phone"]) for m in sent), 20)
    [sms] = stack.messages(to=sent[0]["phone"])
    [whatsapp] = stack.messages(to=sent[1]["phone"])
    assert sms["channel"] == "sms" and sms["text"] == sent[0]["text"]
    assert sms["dlt_template_id"] == "1107170000000000005" and sms["sender"] == "SNGTHN"
    assert whatsapp["template"] == {
        "name": "personal_v1",
        "language": "hi",
        "parameters": [sent[1]["text"]],
    }


def test_a_sent_invitation_is_a_delivery_status_event_naming_no_directive_and_no_phone(stack):
    sent = invitation()
    assert post(stack, [sent]).status_code == 202
    tail = TopicTail.from_start(
        stack.settings.kafka_bootstrap, f"{stack.ns}.{topics.DELIVERY_STATUS.name}"
    )
    try:  # read back through the schema (from_kafka validates delivery-status.v1)
        [event] = tail.wait_until(
            lambda e: (
                e.data["recipient_id"] == sent["appointment_id"] and e.data["status"] == "sent"
            ),
            timeout=30,
        )
    finally:
        tail.close()
    [task] = lane_tasks(stack, "bulk", {sent["message_id"]}, timeout_s=3)
    assert event.data["delivery_id"] == task.delivery_id and event.subject == OPEN_BOOTH
    assert event.data["directive_id"] is None and event.data["otp_request_id"] is None
    assert event.data["booth_path"]["district"] == "IN-HP-D02" and event.data["channel"] == "sms"
    assert sent["phone"] not in json.dumps(event.data)


def test_a_retried_request_queues_nothing_twice(stack):
    sent = [invitation() for _ in range(3)]
    first = post(stack, sent)
    again = post(stack, [*sent, invitation(message_id=sent[0]["message_id"])])
    assert first.json() == {"queued": 3, "duplicates": 0}
    assert again.status_code == 202 and again.json() == {"queued": 0, "duplicates": 4}
    on_lane = lane_tasks(stack, "bulk", {m["message_id"] for m in sent})
    assert sorted(t.message_id for t in on_lane) == sorted(m["message_id"] for m in sent)
    wait_until(lambda: all(stack.messages(to=m["phone"]) for m in sent), 20)
    assert all(len(stack.messages(to=m["phone"])) == 1 for m in sent)


def test_the_polling_blackout_holds_an_invitation_until_the_close_of_poll_and_an_erasure_drops_it(
    stack,
):
    held, free = invitation(POLLING_BOOTH), invitation(OPEN_BOOTH)
    assert post(stack, [held, free]).json() == {"queued": 2, "duplicates": 0}
    wait_until(lambda: stack.messages(to=free["phone"]), 20)
    wait_until(lambda: any(t.message_id == held["message_id"] for t in deferred(stack)), 10)
    client = redis.Redis.from_url(stack.settings.redis_url)
    [(_, opens)] = [
        (raw, at)
        for raw, at in client.zrange(f"{stack.ns}:deferred", 0, -1, withscores=True)
        if Task.from_json(raw).message_id == held["message_id"]
    ]
    assert opens == pytest.approx(CLOSE_OF_POLL.timestamp(), abs=1)
    assert stack.messages(to=held["phone"]) == []

    publisher = EventPublisher(
        stack.settings.kafka_bootstrap,
        "/test",
        topic_for=lambda _: f"{stack.ns}.{topics.ERASURES.name}",
    )
    publisher.emit(types.PERSON_ERASED, erased_event(held["appointment_id"]))
    publisher.flush(10)
    wait_until(lambda: all(t.message_id != held["message_id"] for t in deferred(stack)), 30)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"phone": "12345"}, "messages.1.phone"),
        ({"booth_id": "IN-HP-D03"}, "messages.1.booth_id"),
        ({"channel": "app_push"}, "messages.1.channel"),
        ({"lane": "urgent"}, "messages.1.lane"),
        ({"locale": "Hindi"}, "messages.1.locale"),
    ],
)
def test_a_bad_message_is_refused_naming_its_index_and_queues_none(stack, changes, field):
    good, bad = invitation(), invitation(**changes)
    response = post(stack, [good, bad])
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/validation-error")
    assert [error["field"] for error in problem["errors"]] == [field]
    assert bad.get("phone") not in response.text
    assert post(stack, [good]).json() == {"queued": 1, "duplicates": 0}, "nothing was queued"


def test_a_thousand_long_hindi_messages_are_taken_and_a_thousand_and_one_refused(stack):
    hindi = "बैठक " * 200  # 1,000 characters, 3,000 bytes
    thousand = [invitation(text=hindi[:1000], lane="normal") for _ in range(1000)]
    taken = post(stack, thousand)
    assert taken.status_code == 202 and taken.json() == {"queued": 1000, "duplicates": 0}
    too_many = post(stack, [invitation() for _ in range(1001)])
    assert too_many.status_code == 422
    assert [error["field"] for error in too_many.json()["errors"]] == ["messages"]


def test_a_caller_that_is_not_a_service_holding_messages_send_is_refused(stack):
    organiser = stack.organiser()["Authorization"].removeprefix("Bearer ")
    assert post(stack, [invitation()], token=organiser).status_code == 403
