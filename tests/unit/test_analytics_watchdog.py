"""The recovery watch crashes a worker whose table recovery has stopped moving, and only then."""

from types import SimpleNamespace

from analytics.coverage.watchdog import RecoveryStalled, RecoveryWatch


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
