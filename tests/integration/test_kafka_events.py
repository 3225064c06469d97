"""Publisher, consumer and dead-letter topic against the real broker.

Each test publishes to its own randomly named scratch topics (deleted afterwards), so nothing
lands on the platform's real topics, and uses a random consumer group.
"""

import copy
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from prometheus_client import REGISTRY

from shared import topics
from shared.events import types
from shared.events.contracts import (
    Event,
    InvalidEventError,
    from_kafka,
    load_schema,
    new_event,
    to_kafka,
)
from shared.kafka.consumer import EventConsumer, PermanentEventError
from shared.kafka.deadletters import dead_letter_seal
from shared.kafka.producer import ConfirmedProducer, DeliveryError, EventPublisher
from shared.settings import PlatformSettings
from tests.conftest import random_suffix

pytestmark = pytest.mark.integration

SOURCE = "/sangathan/appointments"


def appointed(booth_number: int, event_type: str = types.BOOTH_MEMBER_APPOINTED) -> Event:
    data = copy.deepcopy(load_schema(event_type)["examples"][0])
    data["booth_id"] = f"IN-MP-D07-A03-M02-S05-B{booth_number:03d}"
    return new_event(event_type, data, SOURCE)


@pytest.fixture
def consumers(kafka_bootstrap):
    """EventConsumer factory with fast retries; closes what it made."""
    made: list[EventConsumer] = []

    def make(
        topic: str, dead_letters: str, handler, group: str | None = None, **options
    ) -> EventConsumer:
        options = {"backoff_s": 0.01, "poll_timeout_s": 0.2, **options}
        consumer = EventConsumer(
            kafka_bootstrap,
            group or f"test-{random_suffix()}",
            [topic],
            handler,
            dead_letter_topic=dead_letters,
            **options,
        )
        made.append(consumer)
        return consumer

    yield make
    for consumer in made:
        consumer.close()


def run_until(consumer: EventConsumer, done: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out waiting for the consumer"
        consumer.run_once(timeout=0.2)


def read_records(bootstrap: str, topic: str, count: int, timeout: float = 10.0) -> list:
    reader = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{random_suffix()}",
            "enable.auto.commit": False,
        }
    )
    reader.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    records, deadline = [], time.monotonic() + timeout
    try:
        while len(records) < count and time.monotonic() < deadline:
            records += [m for m in reader.consume(count - len(records), 0.5) if not m.error()]
    finally:
        reader.close()
    return records


def committed_offset(bootstrap: str, group: str, topic: str) -> int:
    probe = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
    )
    try:
        return probe.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
    finally:
        probe.close()


def publisher_to(bootstrap: str, topic: str) -> EventPublisher:
    return EventPublisher(bootstrap, SOURCE, topic_for=lambda _: topic)


def test_ensure_topics_creates_every_registry_topic_and_is_idempotent(kafka_bootstrap, admin):
    topics.ensure_topics(kafka_bootstrap)
    assert topics.ensure_topics(kafka_bootstrap) == []
    existing = admin.list_topics(timeout=10).topics
    for topic in topics.TOPICS:
        assert len(existing[topic.name].partitions) == topic.partitions, topic.name
    from confluent_kafka.admin import ConfigResource

    resource = ConfigResource(ConfigResource.Type.TOPIC, topics.OTP_REQUESTS.name)
    config = admin.describe_configs([resource])[resource].result()
    assert config["retention.ms"].value == str(topics.OTP_REQUESTS.retention_ms)


def test_published_events_are_consumed_validated_with_headers_intact(
    kafka_bootstrap, scratch, consumers
):
    topic, dead_letters = scratch(), scratch()
    sent = [appointed(1, types.BOOTH_PRESIDENT_APPOINTED), appointed(2)]
    publisher = publisher_to(kafka_bootstrap, topic)
    for event in sent:
        publisher.publish(event)
    publisher.close()

    received: list[Event] = []
    run_until(consumers(topic, dead_letters, received.append), lambda: len(received) == 2)

    assert received == sent
    raw = read_records(kafka_bootstrap, topic, 2)
    for record, event in zip(raw, sent):
        _, key, value, headers = to_kafka(event)
        assert (record.key(), record.value(), record.headers()) == (key, value, headers)


def invited(n: int) -> tuple[dict, str]:
    data = copy.deepcopy(load_schema(types.PARTICIPANT_INVITED)["examples"][0])
    data["booth_id"] = f"IN-MP-D07-A03-M02-S05-B{n:03d}"
    data["participant_id"] = str(uuid.uuid4())
    return data, str(uuid.uuid4())


def test_a_batch_emitted_at_once_arrives_as_events_with_their_own_ids_and_one_time(
    kafka_bootstrap, scratch, consumers
):
    topic, dead_letters = scratch(), scratch()
    batch = [invited(n) for n in range(1, 6)]
    publisher = publisher_to(kafka_bootstrap, topic)
    assert publisher.emit_many(types.PARTICIPANT_INVITED, iter(batch)) == 5
    publisher.flush(10)  # confirms the batch: raises unless Kafka took every event
    publisher.close()

    received: list[Event] = []
    run_until(consumers(topic, dead_letters, received.append), lambda: len(received) == 5)

    assert [(e.data, e.id) for e in received] == batch
    assert len({e.time for e in received}) == 1 and {e.subject for e in received} == {
        data["booth_id"] for data, _ in batch
    }
    for record, event in zip(read_records(kafka_bootstrap, topic, 5), received):
        _, key, value, headers = to_kafka(event)
        assert (record.key(), record.value(), record.headers()) == (key, value, headers)


def test_a_batch_refuses_an_event_breaking_its_contract():
    publisher = EventPublisher("127.0.0.1:1", SOURCE, config={"message.timeout.ms": 1000})
    data, event_id = invited(1)
    with pytest.raises(InvalidEventError):
        publisher.emit_many(types.PARTICIPANT_INVITED, [({**data, "phone": "+919812345678"}, "x")])
    publisher.close(timeout=1)


def test_invalid_records_are_dead_lettered_with_their_reason_and_the_next_event_is_still_handled(
    kafka_bootstrap, scratch, consumers
):
    topic, dead_letters = scratch(), scratch()
    valid = appointed(3)
    _, key, value, headers = to_kafka(valid)
    with_phone = json.dumps(valid.data | {"phone": "+919876543210"}).encode()
    raw = Producer({"bootstrap.servers": kafka_bootstrap})
    raw.produce(topic, b"{not json", b"booth-x", headers=[("traceparent", b"00-abc-01")])
    raw.produce(topic, with_phone, key, headers=headers)
    raw.flush(10)
    publisher = publisher_to(kafka_bootstrap, topic)
    publisher.publish(valid)
    publisher.close()

    received: list[Event] = []
    group = f"test-{random_suffix()}"
    run_until(
        consumers(topic, dead_letters, received.append, group=group), lambda: len(received) == 1
    )

    assert received == [valid]
    assert committed_offset(kafka_bootstrap, group, topic) == 3
    unparseable, invalid = read_records(kafka_bootstrap, dead_letters, 2)
    assert (unparseable.key(), unparseable.value()) == (b"booth-x", b"{not json")
    assert invalid.key() == key and b"9876543210" not in invalid.value()
    assert unparseable.headers()[0] == ("traceparent", b"00-abc-01")
    assert invalid.headers()[: len(headers)] == headers
    dlt = [dict(m.headers()) for m in (unparseable, invalid)]
    assert [h["dlt_reason"] for h in dlt] == [b"unparseable", b"invalid"]
    assert [h["dlt_error_class"] for h in dlt] == [b"UnparseableEventError", b"InvalidEventError"]
    assert b"phone is not allowed" in dlt[1]["dlt_error"]
    assert [
        (h["dlt_original_topic"], h["dlt_original_partition"], h["dlt_original_offset"])
        for h in dlt
    ] == [
        (topic.encode(), b"0", b"0"),
        (topic.encode(), b"0", b"1"),
    ]
    assert all(h["dlt_group"] == group.encode() and h["dlt_time"] for h in dlt)
    assert (
        REGISTRY.get_sample_value(
            "sangathan_events_dead_lettered_total", {"group": group, "reason": "invalid"}
        )
        == 1
    )
    assert (
        REGISTRY.get_sample_value(
            "sangathan_events_consumed_total", {"group": group, "type": valid.type}
        )
        == 1
    )


def test_a_poison_record_carrying_a_phone_is_dead_lettered_sealed_with_its_reason_and_opens_for_a_replay(  # noqa: E501
    kafka_bootstrap, scratch, consumers
):
    topic, dead_letters = scratch(), scratch()
    request = new_event(
        types.OTP_REQUESTED,
        {**load_schema(types.OTP_REQUESTED)["examples"][0], "phone": "+919812345678"},
        SOURCE,
    )
    _, key, value, headers = to_kafka(request)
    raw = Producer({"bootstrap.servers": kafka_bootstrap})
    raw.produce(topic, value, key, headers=headers)  # a valid event its handler refuses
    raw.produce(topic, b"not an event, call +91 98123 45679", b"x")  # unparseable, a phone inside
    raw.flush(10)

    def refuse(event: Event) -> None:
        raise PermanentEventError(f"cannot send to {event.data['phone']}")

    consumer, consumed, deadline = consumers(topic, dead_letters, refuse), 0, time.monotonic() + 15
    while consumed < 2 and time.monotonic() < deadline:
        consumed += consumer.run_once(timeout=0.2)

    refused, unparseable = read_records(kafka_bootstrap, dead_letters, 2)
    for letter in (refused, unparseable):
        assert b"12345678" not in letter.value() and b"123456" not in b"".join(
            v for _, v in letter.headers()
        )
    meta = dict(refused.headers())
    assert (meta["dlt_reason"], meta["dlt_sealed"], meta["ce_id"]) == (
        b"rejected",
        b"fields",
        request.id.encode(),
    )
    assert json.loads(refused.value())["request_id"] == request.data["request_id"], (
        "the rest stays readable"
    )
    assert dict(unparseable.headers())["dlt_reason"] == b"unparseable"

    seal = dead_letter_seal(PlatformSettings())
    replayed = from_kafka(refused.headers(), refused.key(), seal.opened(refused.value(), "fields"))
    assert replayed.data == request.data
    assert seal.opened(unparseable.value(), "value") == b"not an event, call +91 98123 45679"


def test_transient_handler_errors_are_retried_and_permanent_ones_dead_lettered(
    kafka_bootstrap, scratch, consumers
):
    topic, dead_letters = scratch(), scratch()
    flaky, refused, broken = appointed(4), appointed(5), appointed(6)
    publisher = publisher_to(kafka_bootstrap, topic)
    for event in (flaky, refused, broken):
        publisher.publish(event)
    publisher.close()

    calls: dict[str, int] = {}
    handled: list[str] = []

    def handler(event: Event) -> None:
        calls[event.id] = calls.get(event.id, 0) + 1
        if event is refused or event.id == refused.id:
            raise PermanentEventError("booth is not in the org tree")
        if event.id == broken.id or calls[event.id] < 3:
            raise ConnectionError("database unavailable")
        handled.append(event.id)

    consumer = consumers(topic, dead_letters, handler, max_attempts=3)
    run_until(consumer, lambda: calls.get(broken.id) == 3)

    assert handled == [flaky.id]
    assert calls == {flaky.id: 3, refused.id: 1, broken.id: 3}
    letters = read_records(kafka_bootstrap, dead_letters, 2)
    assert [(dict(m.headers())["ce_id"], dict(m.headers())["dlt_reason"]) for m in letters] == [
        (refused.id.encode(), b"rejected"),
        (broken.id.encode(), b"retries_exhausted"),
    ]
    assert dict(letters[1].headers())["dlt_error_class"] == b"ConnectionError"


def test_a_consumer_restarted_after_commit_does_not_reprocess(kafka_bootstrap, scratch, consumers):
    topic, dead_letters = scratch(), scratch()
    group = f"test-{random_suffix()}"
    publisher = publisher_to(kafka_bootstrap, topic)
    first, second, third = appointed(7), appointed(8), appointed(9)
    publisher.publish(first)
    publisher.publish(second)
    publisher.flush()

    before: list[Event] = []
    consumer = consumers(topic, dead_letters, before.append, group=group)
    run_until(consumer, lambda: len(before) == 2)
    consumer.close()

    publisher.publish(third)
    publisher.close()
    after: list[Event] = []
    restarted = consumers(topic, dead_letters, after.append, group=group)
    run_until(restarted, lambda: len(after) == 1)
    restarted.run_once(timeout=0.5)

    assert [e.id for e in before] == [first.id, second.id]
    assert [e.id for e in after] == [third.id]


def test_publisher_flush_raises_when_the_broker_is_unreachable():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{s.getsockname()[1]}"
    publisher = EventPublisher(closed, SOURCE, config={"message.timeout.ms": 1000})
    event = publisher.emit(types.OTP_VERIFIED, load_schema(types.OTP_VERIFIED)["examples"][0])

    started = time.monotonic()
    with pytest.raises(DeliveryError) as caught:
        publisher.flush(timeout=5)
    assert set(caught.value.failed) == {event.id}
    assert time.monotonic() - started < 5
    publisher.close(timeout=1)  # nothing left: closes at once without raising


def test_a_batch_kafka_did_not_take_is_reported_by_flush_naming_every_event():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{s.getsockname()[1]}"
    publisher = EventPublisher(closed, SOURCE, config={"message.timeout.ms": 1000})
    batch = [invited(n) for n in range(1, 4)]
    publisher.emit_many(types.PARTICIPANT_INVITED, batch)

    with pytest.raises(DeliveryError) as caught:
        publisher.flush(timeout=5)
    assert set(caught.value.failed) == {event_id for _, event_id in batch}
    publisher.close(timeout=1)


def _closed_port() -> str:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def test_records_produced_many_at_once_that_kafka_did_not_take_are_named_by_key_by_flush():
    producer = ConfirmedProducer(_closed_port(), {"message.timeout.ms": 1000})
    records = [(f"booth-{n}".encode(), b"{}", [("ce_id", str(n).encode())]) for n in range(3)]
    assert producer.produce_many("report-dispatches", iter(records)) == 3

    with pytest.raises(DeliveryError) as caught:
        producer.flush(timeout=5)
    assert set(caught.value.failed) == {"booth-0", "booth-1", "booth-2"}
    producer.flush(timeout=1)  # reported once: the next flush owes nothing
    producer.close(timeout=1)


def test_a_flush_that_gives_up_on_records_produced_many_at_once_counts_them_as_lost_once():
    producer = ConfirmedProducer(_closed_port(), {"message.timeout.ms": 60000})
    producer.produce_many("report-dispatches", [(b"booth-1", b"{}", []), (b"booth-2", b"{}", [])])

    with pytest.raises(DeliveryError) as caught:
        producer.flush(timeout=0.5)
    assert caught.value.failed == {"2 record(s) of a batch": "not acknowledged within 0.5s"}
    producer.flush(timeout=0.1)  # still undelivered, but already reported: not again
    producer.close(timeout=0.1)


def test_records_produced_many_at_once_reach_kafka_in_order_per_key(kafka_bootstrap, scratch):
    topic = scratch()
    producer = ConfirmedProducer(kafka_bootstrap)
    records = [(b"IN-MP-D07-A03-M02-S05-B001", f"{n}".encode(), []) for n in range(50)]
    assert producer.produce_many(topic, records) == 50
    producer.flush(timeout=10)  # every one acknowledged, or this raises
    consumer = Consumer(
        {"bootstrap.servers": kafka_bootstrap, "group.id": f"test-{random_suffix()}"}
    )
    partitions = consumer.list_topics(topic).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    values: list[int] = []
    deadline = time.monotonic() + 20
    while len(values) < 50 and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            values.append(int(message.value()))
    consumer.close()
    assert values == list(range(50))
    producer.close(timeout=1)


def test_each_thread_sharing_a_producer_is_told_only_of_its_own_messages(kafka_bootstrap, scratch):
    """A service's outbox relay and its scheduler share one producer: a message of one thread
    that Kafka refused (a topic the broker does not have) fails that thread's flush only."""
    topic, missing = scratch(), f"test.missing-{random_suffix()}"
    producer = ConfirmedProducer(kafka_bootstrap, {"message.timeout.ms": 2000})
    produced, flushed, told = threading.Event(), threading.Event(), []

    def relay() -> None:
        producer.produce(missing, b"IN-MP-D07", b"{}", [], ref="the relay's")
        produced.set()
        flushed.wait(30)
        try:
            producer.flush(timeout=5)
        except DeliveryError as caught:
            told.append(caught.failed)

    other = threading.Thread(target=relay)
    other.start()
    assert produced.wait(10)
    producer.produce(topic, b"IN-MP-D07", b"{}", [], ref="the scheduler's")
    producer.flush(timeout=10)  # the scheduler's was taken: nothing to raise here
    flushed.set()
    other.join(30)
    assert [list(failed) for failed in told] == [["the relay's"]]
    producer.close(timeout=1)


def test_stopping_during_a_retry_leaves_the_event_uncommitted_for_the_next_consumer(
    kafka_bootstrap, scratch, consumers
):
    topic, dead_letters = scratch(), scratch()
    group = f"test-{random_suffix()}"
    event = appointed(10)
    publisher = publisher_to(kafka_bootstrap, topic)
    publisher.publish(event)
    publisher.close()

    stop, failing = threading.Event(), threading.Event()

    def unavailable(_: Event) -> None:
        failing.set()
        raise ConnectionError("database unavailable")

    consumer = consumers(topic, dead_letters, unavailable, group=group, backoff_s=30)
    worker = threading.Thread(target=consumer.run, args=(stop,))
    worker.start()
    assert failing.wait(15)
    stop.set()
    worker.join(2)
    assert not worker.is_alive(), "stop did not cut the backoff short"
    consumer.close()

    assert committed_offset(kafka_bootstrap, group, topic) < 0  # nothing committed
    received: list[Event] = []
    run_until(
        consumers(topic, dead_letters, received.append, group=group), lambda: len(received) == 1
    )
    assert received == [event]
