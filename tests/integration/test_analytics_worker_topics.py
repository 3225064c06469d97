"""The analytics worker's own topics exist, with a leader for every partition, before Faust
subscribes to them (analytics/adapters/topics.py): a changelog the consumer first saw with no
partitions crashed its table's agent on every write until the next metadata refresh."""

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import ConfigResource, ResourceType

from analytics.adapters.topics import WorkerTopic, ensure_worker_topics
from shared.settings import PlatformSettings
from testkit.processes import wait_until
from tests.conftest import random_suffix

pytestmark = pytest.mark.integration

BOOTSTRAP = PlatformSettings().kafka_bootstrap


def test_the_workers_topics_are_listed_with_every_partition_led_before_it_starts(admin):
    suffix = random_suffix()
    wanted = [
        WorkerTopic(f"scratch-worker-{suffix}-booths-changelog", 12),
        WorkerTopic(f"scratch-worker-{suffix}-coverage-partials", 12),
    ]
    try:
        ensure_worker_topics(BOOTSTRAP, wanted, replication=1)
        # What a new consumer of the worker sees at once, with no retry of its own:
        consumer = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": f"scratch-{suffix}"})
        listed = consumer.list_topics(timeout=10).topics
        consumer.close()
        for topic in wanted:
            partitions = listed[topic.name].partitions
            assert len(partitions) == 12 and all(p.leader >= 0 for p in partitions.values()), (
                topic.name
            )
        configs = admin.describe_configs(
            [ConfigResource(ResourceType.TOPIC, t.name) for t in wanted]
        )
        for future in configs.values():
            assert future.result()["cleanup.policy"].value == "compact", (
                "changelogs and partials are compacted"
            )
        ensure_worker_topics(
            BOOTSTRAP, wanted, replication=1
        )  # a second worker: nothing to create, no error
    finally:
        for future in admin.delete_topics([t.name for t in wanted], operation_timeout=30).values():
            future.result()


def test_a_compacted_topic_rolls_its_segments_often_enough_to_be_compacted_even_if_made_before(
    admin,
):
    """Kafka compacts closed segments only; at 1 GiB / 7 days a worker's partials topic grew
    to 20 million records, every one read back at each start."""
    from confluent_kafka.admin import NewTopic

    name = f"scratch-worker-{random_suffix()}-meeting-attendance-changelog"
    made_before = NewTopic(name, num_partitions=2, config={"cleanup.policy": "compact"})
    admin.create_topics([made_before], operation_timeout=30)[name].result()
    try:
        ensure_worker_topics(BOOTSTRAP, [WorkerTopic(name, 2)], replication=1)
        resource = ConfigResource(ResourceType.TOPIC, name)

        def config() -> dict:
            return admin.describe_configs([resource])[resource].result()

        # The broker answering may not have applied the controller's change yet (KRaft).
        wait_until(lambda: int(config()["segment.ms"].value) == 10 * 60 * 1000, 10)
        assert config()["cleanup.policy"].value == "compact"
        assert int(config()["segment.bytes"].value) == 64 * 1024 * 1024
    finally:
        admin.delete_topics([name], operation_timeout=30)[name].result()
