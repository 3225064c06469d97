"""Kafka consumer lag as one Prometheus gauge: records a consumer group has yet to handle, per
partition.

Two sources feed the same gauge, `sangathan_kafka_consumer_lag{group, topic, partition}`:

- `LagStats`, for confluent-kafka consumers (EventConsumer, the notifier's lanes): librdkafka's
  own statistics, every `statistics.interval.ms`, give each assigned partition's high watermark
  minus the group's committed offset. Only the partitions this process owns are reported, so the
  replicas of one group never report the same partition (except for a moment during a rebalance).
- `GroupLagProbe`, for a group whose client is not librdkafka (the Faust analytics worker, on
  aiokafka): the group's committed offsets against the partitions' high watermarks, read through a
  librdkafka consumer that never joins the group.

Labels are group, topic and partition only, so the series are bounded by the topic registry's
partitions per group, whatever the traffic.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from contextlib import suppress

from confluent_kafka import Consumer, TopicPartition
from prometheus_client import Gauge

from shared.kafka.security import client_config
from shared.logging import get_logger

log = get_logger(__name__)

CONSUMER_LAG = Gauge(
    "sangathan_kafka_consumer_lag",
    "Records not yet handled by a consumer group (high watermark minus committed offset), "
    "by partition",
    ["group", "topic", "partition"],
    # With worker processes (OTP_WORKERS), the value last set by any of them, not one per pid.
    multiprocess_mode="mostrecent",
)

STATS_INTERVAL_MS = 5000
# librdkafka fetch states of a partition this consumer does not (or no longer) fetch.
_NOT_OWNED = {"none", "stopping", "stopped"}

Lags = dict[tuple[str, int], int]


def partition_lags(stats: dict) -> Lags:
    """Lag of each partition this consumer owns, from one librdkafka statistics document.

    Before the group's first commit on a partition librdkafka reports -1; the lag is then the
    whole retained log (high minus low watermark), as every group here starts from the earliest.
    """
    lags: Lags = {}
    for topic, topic_stats in (stats.get("topics") or {}).items():
        for key, p in (topic_stats.get("partitions") or {}).items():
            partition = int(key)
            if partition < 0 or p.get("fetch_state", "none") in _NOT_OWNED:
                continue  # -1 is librdkafka's internal "unassigned" partition
            lag = p.get("consumer_lag", -1)
            if lag < 0:
                high, low = p.get("hi_offset", -1), p.get("lo_offset", -1)
                if high < 0 or low < 0:
                    continue  # watermarks not known yet: say nothing rather than a wrong number
                lag = high - low
            lags[(topic, partition)] = lag
    return lags


class _Reporter:
    """Sets one group's partitions and removes those it no longer reports (moved by a rebalance)."""

    def __init__(self, group: str):
        self.group = group
        self._reported: set[tuple[str, int]] = set()

    def publish(self, lags: Lags) -> None:
        for topic, partition in self._reported - lags.keys():
            with suppress(KeyError):  # another reporter of the same group removed it already
                CONSUMER_LAG.remove(self.group, topic, str(partition))
        for (topic, partition), lag in lags.items():
            CONSUMER_LAG.labels(self.group, topic, str(partition)).set(lag)
        self._reported = set(lags)

    def clear(self) -> None:
        self.publish({})


class LagStats(_Reporter):
    """librdkafka statistics of one consumer -> the lag gauge. Add `config()` to the consumer's
    settings."""

    def config(self, interval_ms: int = STATS_INTERVAL_MS) -> dict:
        return {"statistics.interval.ms": interval_ms, "stats_cb": self.on_stats}

    def on_stats(self, raw: str) -> None:
        # Called from the consumer's poll(): an exception here would surface there, so none escapes.
        try:
            self.publish(partition_lags(json.loads(raw)))
        except Exception as exc:
            log.warning(
                "consumer statistics not understood",
                fields={"group": self.group, "error": str(exc)[:200]},
            )


class GroupLagProbe(_Reporter):
    """Committed offsets vs high watermarks of a group's partitions of `topics`, on demand.

    Read with a consumer's committed() and get_watermark_offsets(), not the admin API: librdkafka's
    admin requests to a group coordinator (ListConsumerGroupOffsets) can abort the whole process
    when a broker goes away and comes back under them (`rd_kafka_enq_once_del_source_return:
    Assertion 'eonce->refcnt > 0'`, librdkafka #4605, still open in 2.16), which took the analytics
    worker down on every other Kafka restart. The consumer asks the coordinator through the
    consumer-group code instead, and never subscribes, so it never joins the group it measures.
    """

    def __init__(self, bootstrap: str, group: str, topics: Iterable[str], timeout_s: float = 5.0):
        super().__init__(group)
        self.bootstrap, self.topics, self.timeout_s = bootstrap, list(topics), timeout_s
        self._consumer: Consumer | None = (
            None  # made on first use: importing a worker connects to nothing
        )
        self.committed: dict[tuple[str, int], int] = {}  # as of the last measurement
        self.lags: Lags = {}

    def measure(self) -> Lags:
        """Lag of every partition of the topics with records the group has not handled (from the
        earliest record where it has committed nothing); raises if Kafka does not answer."""
        consumer = self._reader()
        partitions = [
            TopicPartition(topic, p) for topic in self.topics for p in self._partitions_of(topic)
        ]
        answer = consumer.committed(partitions, timeout=self.timeout_s) if partitions else []
        committed, lags = {}, {}
        for tp in answer:
            if tp.error is not None:
                continue
            low, high = consumer.get_watermark_offsets(
                TopicPartition(tp.topic, tp.partition), timeout=self.timeout_s, cached=False
            )
            if tp.offset < 0 and high <= low:
                continue  # nothing committed and nothing to read
            # Nothing committed yet: the group reads from the earliest kept record, so all of them
            # wait. Counted from there, a worker that never starts a partition shows as stalled.
            offset = tp.offset if tp.offset >= 0 else low
            committed[(tp.topic, tp.partition)] = offset
            lags[(tp.topic, tp.partition)] = max(0, high - offset)
        self.committed = committed
        return lags

    def _reader(self) -> Consumer:
        if self._consumer is None:
            self._consumer = Consumer(
                client_config(
                    self.bootstrap,
                    {
                        "group.id": self.group,
                        "enable.auto.commit": False,
                        "socket.timeout.ms": int(self.timeout_s * 1000),
                    },
                )
            )
        return self._consumer

    def _partitions_of(self, topic: str) -> list[int]:
        metadata = self._reader().list_topics(topic, timeout=self.timeout_s).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return []  # not created yet: nothing committed on it either
        return sorted(metadata.partitions)

    def update(self) -> None:
        """Measure and publish; a broker that does not answer leaves the last values (and a log
        line)."""
        try:
            self.lags = self.measure()
            self.publish(self.lags)
        except Exception as exc:
            self.lags, self.committed = {}, {}  # unknown, not unchanged
            log.warning(
                "consumer lag not measured", fields={"group": self.group, "error": str(exc)[:200]}
            )
