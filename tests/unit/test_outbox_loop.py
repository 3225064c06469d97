"""The relay loop every outbox shares: it sweeps first, goes on at once while there is work, and
backs off (doubling, capped) while Kafka refuses, without ever stopping."""

import threading

from shared.kafka.producer import DeliveryError
from shared.outbox import relay_until_stopped


def test_the_loop_sweeps_first_keeps_going_through_failures_and_backs_off_doubling():
    stop, calls, waits = threading.Event(), [], []
    outcomes = iter([5, DeliveryError({"e": "down"}), DeliveryError({"e": "down"}), 0, 0])

    def relay_once():
        calls.append("relay")
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def wait(seconds):
        waits.append(seconds)
        if len(waits) == 4:
            stop.set()
        return stop.is_set()

    stop.wait = wait
    relay_until_stopped(
        stop,
        relay_once,
        lambda: calls.append("sweep"),
        interval_s=0.5,
        sweep_interval_s=3600,
        max_backoff_s=1.5,
    )
    assert calls == ["sweep", "relay", "relay", "relay", "relay", "relay"]
    # work found: no wait; two failures: 1.0 then capped 1.5; then idle at the interval
    assert waits == [1.0, 1.5, 0.5, 0.5]


def test_a_relay_whose_writes_point_first_runs_the_loop_without_a_sweep():
    stop, calls = threading.Event(), []

    def relay_once():
        calls.append("relay")
        stop.set()
        return 0

    # A zero interval: a sweep would be due at every turn, were there one.
    relay_until_stopped(
        stop, relay_once, None, interval_s=0.01, sweep_interval_s=0, max_backoff_s=0.1
    )
    assert calls == ["relay"]
