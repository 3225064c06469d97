"""Reading consumer lag from librdkafka's statistics document
(the shape of statistics.interval.ms's JSON)."""

import json

from prometheus_client import REGISTRY

from shared.kafka.lag import LagStats, partition_lags


def stats(**partitions) -> dict:
    return {"topics": {"sangathan.otp-requests.v1": {"partitions": partitions}}}


def part(fetch_state="active", consumer_lag=0, hi_offset=10, lo_offset=0) -> dict:
    return {
        "fetch_state": fetch_state,
        "consumer_lag": consumer_lag,
        "hi_offset": hi_offset,
        "lo_offset": lo_offset,
    }


def test_lag_of_each_owned_partition_is_reported():
    lags = partition_lags(stats(**{"0": part(consumer_lag=7), "1": part(consumer_lag=0)}))
    assert lags == {("sangathan.otp-requests.v1", 0): 7, ("sangathan.otp-requests.v1", 1): 0}


def test_partitions_not_owned_and_the_internal_one_are_left_out():
    lags = partition_lags(
        stats(
            **{
                "-1": part(consumer_lag=5),
                "2": part(fetch_state="none", consumer_lag=5),
                "3": part(fetch_state="stopped", consumer_lag=5),
            }
        )
    )
    assert lags == {}


def test_before_the_first_commit_the_whole_retained_log_is_behind():
    lags = partition_lags(
        stats(
            **{
                "0": part(consumer_lag=-1, hi_offset=12, lo_offset=2),
                "1": part(consumer_lag=-1, hi_offset=-1, lo_offset=-1),
            }
        )
    )
    assert lags == {("sangathan.otp-requests.v1", 0): 10}


def gauge(group: str, partition: str) -> float | None:
    return REGISTRY.get_sample_value(
        "sangathan_kafka_consumer_lag",
        {"group": group, "topic": "sangathan.otp-requests.v1", "partition": partition},
    )


def test_a_partition_moved_away_by_a_rebalance_disappears_from_the_gauge():
    meter = LagStats("unit-lag-group")
    meter.on_stats(json.dumps(stats(**{"0": part(consumer_lag=3), "1": part(consumer_lag=4)})))
    assert (gauge("unit-lag-group", "0"), gauge("unit-lag-group", "1")) == (3, 4)

    meter.on_stats(json.dumps(stats(**{"0": part(consumer_lag=1), "1": part(fetch_state="none")})))

    assert (gauge("unit-lag-group", "0"), gauge("unit-lag-group", "1")) == (1, None)


def test_a_statistics_document_it_cannot_read_changes_nothing_and_raises_nothing():
    meter = LagStats("unit-lag-bad")
    meter.on_stats(json.dumps(stats(**{"0": part(consumer_lag=2)})))
    meter.on_stats("not json")
    assert gauge("unit-lag-bad", "0") == 2
