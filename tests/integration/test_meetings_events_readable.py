"""What the meetings service publishes, the analytics worker can read: records produced with the
service's own producer settings, read back by aiokafka (the client under the Faust worker), on the
real broker. An lz4-compressed batch crashed the worker (aiokafka has no lz4 codec here) as soon
as a meeting's events reached the topics, and again on every restart."""

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from meetings.bootstrap import PRODUCER_CONFIG

pytestmark = pytest.mark.integration


@pytest.fixture
def scratch_topic(kafka_bootstrap):
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    topic = f"test-meetings-readable-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result()
    yield topic
    admin.delete_topics([topic])[topic].result()


async def read_back(bootstrap: str, topic: str, count: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=10_000, max_records=count)
        return [record.value for records in batches.values() for record in records]
    finally:
        await consumer.stop()


def test_the_analytics_worker_reads_the_meetings_services_records(kafka_bootstrap, scratch_topic):
    values = [f'{{"meeting_id": "m", "n": {n}}}'.encode() for n in range(50)]
    producer = Producer({"bootstrap.servers": kafka_bootstrap, **PRODUCER_CONFIG})
    for value in values:
        producer.produce(scratch_topic, value, b"IN-HP-D01-A01-M01-S01-B001")
    assert producer.flush(10) == 0

    assert asyncio.run(read_back(kafka_bootstrap, scratch_topic, len(values))) == values
