"""The worker's own topics (table changelogs, coverage partials), created and seen in the
broker's metadata before Faust starts.

Faust creates them itself at start and subscribes a moment later. On KRaft the broker's metadata
can lag that moment ("Topic ... not found in cluster metadata"): the consumer then holds a
changelog topic with no partitions until its next metadata refresh, minutes later, and every
write to that table fails faust-streaming's co-partitioning check (`PartitionsMismatch: ... the
changelog topic ... has 0 partitions`), crashing the table's agent again and again. Seen in a
fresh `make test`: directive reach stopped counting for a whole test module.

Compacted topics roll a segment every 10 minutes (or 64 MiB), as Kafka Streams' own internal
topics do: Kafka compacts only closed segments, and at its defaults (1 GiB, 7 days) a worker's
partials topic held 20 million records, all read back at every start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from shared.kafka.security import client_config
from shared.logging import get_logger

log = get_logger(__name__)


COMPACTED = {
    "cleanup.policy": "compact",
    "segment.ms": str(10 * 60 * 1000),
    "segment.bytes": str(64 * 1024 * 1024),
}


@dataclass(frozen=True)
class WorkerTopic:
    name: str
    partitions: int
    compacted: bool = True


def ensure_worker_topics(
    bootstrap: str, wanted: list[WorkerTopic], replication: int, timeout_s: float = 120.0
) -> None:
    """Create what is missing, then wait until the broker lists every partition with a leader."""
    admin = AdminClient(client_config(bootstrap))
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            existing = admin.list_topics(timeout=10).topics
            _create(admin, [topic for topic in wanted if topic.name not in existing], replication)
            _compact_sooner(admin, [t for t in wanted if t.compacted and t.name in existing])
            if _all_ready(admin.list_topics(timeout=10).topics, wanted):
                return
        except KafkaException as exc:  # broker still starting: keep trying until the deadline
            log.info("waiting for Kafka before the worker starts", fields={"error": str(exc)[:200]})
        if time.monotonic() > deadline:
            raise TimeoutError(f"the worker's topics were not ready within {timeout_s:.0f} s")
        time.sleep(0.5)


def _create(admin: AdminClient, missing: list[WorkerTopic], replication: int) -> None:
    if not missing:
        return
    new = [
        NewTopic(
            topic.name,
            num_partitions=topic.partitions,
            replication_factor=replication,
            config=COMPACTED if topic.compacted else {},
        )
        for topic in missing
    ]
    for future in admin.create_topics(new, operation_timeout=30).values():
        try:
            future.result()
        except KafkaException as exc:
            if (
                exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS
            ):  # another worker made it first
                raise


def _compact_sooner(admin: AdminClient, existing: list[WorkerTopic]) -> None:
    """Topics made before their segments were bounded get the bound too (idempotent)."""
    if not existing:
        return
    entries = [
        ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
        for name, value in COMPACTED.items()
    ]
    resources = [ConfigResource("topic", t.name, incremental_configs=entries) for t in existing]
    for resource, future in admin.incremental_alter_configs(resources).items():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_AUTHORIZATION_FAILED:
                raise
            # Counting goes on; the topic is compacted later (its segments roll at the defaults).
            log.warning(
                "not allowed to bound a compacted topic's segments",
                fields={"topic": resource.name, "error": str(exc)[:200]},
            )


def _all_ready(listed, wanted: list[WorkerTopic]) -> bool:
    for topic in wanted:
        meta = listed.get(topic.name)
        if meta is None or meta.error is not None or len(meta.partitions) != topic.partitions:
            return False
        if any(p.leader < 0 for p in meta.partitions.values()):
            return False
    return True
