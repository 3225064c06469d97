"""The recovery watch crashes a worker whose table recovery has stopped moving, and the partition
watch fails its health check when an owned partition with records waiting stops moving: each
only then."""

from types import SimpleNamespace

from analytics.coverage.watchdog import PartitionStallWatch, RecoveryStalled, RecoveryWatch


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def watch(recovery, clock):
    stalls = []
    return RecoveryWatch(recovery, timeout_s=60, on_stall=stalls.append, clock=clock), stalls


def test_a_recovery_that_reads_nothing_for_the_timeout_is_a_stall():
    clock, recovery = Clock(), SimpleNamespace(in_recovery=True, active_offsets={"tp": 10})
    guard, stalls = watch(recovery, clock)
    assert guard.check()
    clock.now = 59
    assert guard.check() and stalls == []
    clock.now = 61
    assert not guard.check()
    assert isinstance(stalls[0], RecoveryStalled)


def test_a_slow_recovery_that_keeps_reading_is_left_alone():
    clock, recovery = Clock(), SimpleNamespace(in_recovery=True, active_offsets={"tp": 10})
    guard, stalls = watch(recovery, clock)
    for step in range(1, 10):
        clock.now = step * 50
        recovery.active_offsets = {"tp": 10 + step}
        assert guard.check()
    assert stalls == []


def test_time_outside_recovery_does_not_count():
    clock, recovery = Clock(), SimpleNamespace(in_recovery=False, active_offsets={})
    guard, stalls = watch(recovery, clock)
    clock.now = 500
    assert guard.check()
    recovery.in_recovery, recovery.active_offsets = True, {"tp": 0}
    assert guard.check()
    clock.now = 530
    assert guard.check() and stalls == []


def test_our_own_wait_inside_recovery_is_not_a_stall():
    clock, recovery = Clock(), SimpleNamespace(in_recovery=True, active_offsets={"tp": 10})
    guard, stalls = watch(recovery, clock)
    guard.check()
    with guard.held():
        clock.now = 300
        assert guard.check()
    clock.now = 330
    assert guard.check() and stalls == []


TP0, TP1 = ("appointments", 0), ("appointments", 1)


def test_an_owned_partition_with_records_waiting_and_no_commit_for_the_timeout_is_stalled():
    clock = Clock()
    guard = PartitionStallWatch(timeout_s=120, clock=clock)
    assert guard.observe({TP0, TP1}, {TP0: 5, TP1: 7}, {TP0: 3, TP1: 0}, busy=False) == []
    clock.now = 119
    assert guard.observe({TP0, TP1}, {TP0: 5, TP1: 7}, {TP0: 3, TP1: 0}, busy=False) == []
    clock.now = 121
    assert guard.observe({TP0, TP1}, {TP0: 5, TP1: 7}, {TP0: 3, TP1: 0}, busy=False) == [TP0]
    assert guard.stalled == [TP0]


def test_a_partition_that_commits_or_catches_up_is_not_stalled():
    clock = Clock()
    guard = PartitionStallWatch(timeout_s=120, clock=clock)
    guard.observe({TP0, TP1}, {TP0: 5, TP1: 7}, {TP0: 3, TP1: 2}, busy=False)
    clock.now = 100
    guard.observe(
        {TP0, TP1}, {TP0: 9, TP1: 7}, {TP0: 4, TP1: 0}, busy=False
    )  # TP0 moved, TP1 caught up
    clock.now = 200
    assert guard.observe({TP0, TP1}, {TP0: 9, TP1: 7}, {TP0: 4, TP1: 0}, busy=False) == []
    clock.now = 221
    assert guard.observe({TP0, TP1}, {TP0: 9, TP1: 7}, {TP0: 4, TP1: 0}, busy=False) == [TP0]


def test_partitions_of_other_workers_and_paused_streams_are_not_stalls():
    clock = Clock()
    guard = PartitionStallWatch(timeout_s=120, clock=clock)
    guard.observe({TP1}, {TP0: 5}, {TP0: 3}, busy=False)  # another worker's partition lags
    clock.now = 500
    assert guard.observe({TP1}, {TP0: 5}, {TP0: 3}, busy=False) == []
    guard.observe({TP0}, {TP0: 5}, {TP0: 3}, busy=False)
    clock.now = 1000
    assert guard.observe({TP0}, {TP0: 5}, {TP0: 3}, busy=True) == [], (
        "rebalancing or recovering: paused on purpose"
    )
    clock.now = 1100
    assert guard.observe({TP0}, {TP0: 5}, {TP0: 3}, busy=False) == [], (
        "the wait starts again after a rebalance"
    )
