"""Consumer lag on /metrics (`sangathan_kafka_consumer_lag{group,topic,partition}`) against the
real broker.

Both sources: an EventConsumer's librdkafka statistics, and the probe of a group's committed
offsets used for the Faust worker's group. Each test has its own scratch topic and consumer group.
"""

import copy
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from prometheus_client import REGISTRY

from shared.events import types
from shared.events.contracts import load_schema, new_event, to_kafka
from shared.kafka.consumer import EventConsumer
from shared.kafka.lag import GroupLagProbe
from tests.conftest import random_suffix

pytestmark = pytest.mark.integration


def lag(group: str, topic: str, partition: int = 0) -> float | None:
    return REGISTRY.get_sample_value(
        "sangathan_kafka_consumer_lag",
        {"group": group, "topic": topic, "partition": str(partition)},
    )


def produce_events(bootstrap: str, topic: str, n: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(n):
        data = copy.deepcopy(load_schema(types.BOOTH_MEMBER_APPOINTED)["examples"][0])
        data["booth_id"] = f"IN-MP-D07-A03-M02-S05-B{i:03d}"
        _, key, value, headers = to_kafka(
            new_event(types.BOOTH_MEMBER_APPOINTED, data, "/sangathan/test")
        )
        producer.produce(topic, value, key, headers=headers)
    assert producer.flush(10) == 0


def test_event_consumer_reports_records_left_after_its_last_commit(kafka_bootstrap, scratch):
    topic, dead_letters = scratch(), scratch()
    produce_events(kafka_bootstrap, topic, 10)
    group = f"test-lag-{random_suffix()}"
    handled = []

    def handler(event):
        # Handles four, then stops its consumer: the rest stays behind the committed offset.
        if len(handled) == 4:
            consumer._stop.set()
            raise RuntimeError("stopped on purpose")
        handled.append(event.id)

    consumer = EventConsumer(
        kafka_bootstrap,
        group,
        [topic],
        handler,
        dead_letter_topic=dead_letters,
        batch_size=4,
        poll_timeout_s=0.2,
        backoff_s=0.01,
        config={"statistics.interval.ms": 200},
    )
    try:
        deadline = time.monotonic() + 20
        while lag(group, topic) != 6:
            assert time.monotonic() < deadline, f"lag never reached 6 (last {lag(group, topic)})"
            consumer.run_once(timeout=0.2)
        assert len(handled) == 4
    finally:
        consumer.close()
    assert lag(group, topic) is None, "a closed consumer no longer reports its partitions"


def test_probe_measures_a_group_from_its_committed_offsets(kafka_bootstrap, scratch):
    topic = scratch(partitions=2)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(7):
        producer.produce(topic, b"x", partition=i % 2)  # 4 on partition 0, 3 on partition 1
    assert producer.flush(10) == 0
    group = f"test-probe-{random_suffix()}"
    committer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group})
    try:
        committer.commit(
            offsets=[TopicPartition(topic, 0, 1), TopicPartition(topic, 1, 3)], asynchronous=False
        )
    finally:
        committer.close()

    probe = GroupLagProbe(kafka_bootstrap, group, [topic, f"{topic}-not-created"])
    probe.update()

    assert (lag(group, topic, 0), lag(group, topic, 1)) == (3, 0)
    probe.clear()
    assert lag(group, topic, 0) is None


def test_probe_counts_every_kept_record_of_a_partition_the_group_never_committed(
    kafka_bootstrap, scratch
):
    # A worker that owns a partition and never starts it (nothing committed) must show a lag, or
    # the analytics stall watch cannot see it (analytics/coverage/watchdog.py).
    topic = scratch(partitions=2)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for _ in range(5):
        producer.produce(topic, b"x", partition=0)  # partition 1 stays empty
    assert producer.flush(10) == 0
    group = f"test-probe-{random_suffix()}"

    probe = GroupLagProbe(kafka_bootstrap, group, [topic])
    probe.update()

    assert lag(group, topic, 0) == 5 and probe.committed == {(topic, 0): 0}
    assert lag(group, topic, 1) is None, "an empty partition with nothing committed says nothing"
    probe.clear()
