"""The analytics worker's numbers survive a restart, a SIGKILL mid-stream, a rebalance between
two workers and the broker itself being SIGKILLed and restarted: real broker, real worker
processes, scratch topics per test."""

import os
import signal
import threading
import time

import httpx
import pytest
from stack import kafka_component  # noqa: E402  (testkit.processes puts deploy/local on the path)

from shared.settings import PlatformSettings
from shared.topics import APPOINTMENTS
from testkit.processes import start_service
from testkit.rollout import CoverageClient, ScratchStream, rollout_events

pytestmark = pytest.mark.integration

SETTINGS = PlatformSettings()
# A killed worker's partitions move after the session timeout: the broker's minimum here.
FAST = {
    "ANALYTICS_PUBLISH_INTERVAL_S": "0.2",
    "ANALYTICS_COVERAGE_INTERVAL_S": "0.5",
    "ANALYTICS_SESSION_TIMEOUT_S": "6",
    "ANALYTICS_PARTITION_STALL_S": "10",
}
STATE = "IN-HP"


@pytest.fixture(scope="module")
def booths(org_registry):
    """The first booths of Himachal's first district, in id order."""
    ids = sorted(org_registry.booth_ids_under("IN-HP-D01"))[:400]
    return [org_registry.get(b) for b in ids]


@pytest.fixture
def scratch():
    stream = ScratchStream(SETTINGS.kafka_bootstrap)
    stream.create()
    yield stream
    stream.delete()


def publish(scratch, events) -> None:
    publisher = scratch.publisher()
    for event in events:
        publisher.publish(event)
    publisher.close()


def start(scratch, tmp_path, name: str):
    (tmp_path / name).mkdir()
    process, base = start_service("analytics", scratch.worker_env(**FAST), tmp_path / name)
    client = CoverageClient(base)
    client.wait_for(client.ready, 60)
    return process, client


def snapshot(api: CoverageClient, units: list[str]) -> dict:
    return {u: {k: v for k, v in api.get(u).items() if k != "deadline"} for u in units}


def kill(process) -> None:
    os.killpg(process.proc.pid, signal.SIGKILL)
    process.proc.wait(10)
    process.stop()  # closes its log


def supervised_until(scratch, tmp_path, process, api, condition, timeout_s: float):
    """Wait for `condition(api)`, restarting the worker whenever its /healthz says a partition
    stalled, as the Kubernetes liveness probe does: faust-streaming can hold a partition after a
    rebalance and never fetch it again (analytics/coverage/watchdog.py). Returns the worker."""
    deadline, restarts = time.monotonic() + timeout_s, 0
    while time.monotonic() < deadline:
        try:
            if condition(api):
                return process, api
        except Exception:  # noqa: BLE001  (not ready yet, a 503 while recovering, ...)
            pass
        if httpx.get(f"{api.base}/healthz", timeout=5).status_code == 503:
            process.stop()
            restarts += 1
            process, api = start(scratch, tmp_path, f"restart-{restarts}")
        time.sleep(0.5)
    raise AssertionError(
        f"condition not met within {timeout_s}s ({restarts} restarts after a stall); "
        f"committed/end per appointments partition: {scratch.unread()}"
    )


def test_a_restarted_worker_comes_back_with_the_same_numbers(scratch, booths, tmp_path):
    mine = booths[:6]
    events = list(rollout_events(mine))
    publish(scratch, events)
    process, api = start(scratch, tmp_path, "first")
    try:
        # Every verification counted, not only enough for six complete teams: a 12th member may
        # still be on its way when the sixth team is complete.
        api.wait_for(lambda: api.get(STATE)["verified_appointees"] == 72, 30)
        units = [STATE, mine[0]["ancestors"][2], mine[0]["ancestors"][4], mine[0]["id"]]
        before = snapshot(api, units)
    finally:
        process.stop()

    process, api = start(scratch, tmp_path, "second")
    try:
        # Partials republished from the recovered booth table: all twelve partitions rebuilt.
        api.wait_for(lambda: api.metric("sangathan_analytics_partitions_owned") == 12, 30)
        time.sleep(0.5)
        assert snapshot(api, units) == before
        # The tables really came back: the same events again are all duplicates.
        publish(scratch, events)
        api.wait_for(
            lambda: (
                api.metric(
                    "sangathan_analytics_events_total",
                    '{outcome="duplicate",type="org.sangathan.appointment-verified.v1"}',
                )
                == 72
            ),
            30,
        )
        assert snapshot(api, units) == before
    finally:
        process.stop()


def test_a_worker_killed_mid_stream_loses_nothing(scratch, booths, tmp_path):
    mine = booths[:300]  # 7,200 events: several seconds of work for one worker
    publish(scratch, rollout_events(mine))
    process, api = start(scratch, tmp_path, "first")
    try:
        seen = api.wait_for(
            lambda: (n := api.get(STATE)["verified_appointees"]) >= 200 and n, 30, 0.05
        )
    finally:
        kill(process)
    assert seen < 300 * 12, "the worker must be killed mid-stream"

    process, api = start(scratch, tmp_path, "second")
    try:
        process, api = supervised_until(
            scratch, tmp_path, process, api, lambda a: a.get(STATE)["booths_complete"] == 300, 120
        )
        time.sleep(1)  # anything counted twice would show by now
        body = api.get(STATE)
        assert (
            body["booths_with_verified_president"],
            body["booths_complete"],
            body["booths_with_whatsapp_pramukh"],
            body["verified_appointees"],
        ) == (300, 300, 300, 3600)
    finally:
        process.stop()


def test_two_workers_share_the_partitions_and_totals_stay_right_through_a_rebalance(
    scratch, booths, tmp_path
):
    first, second = booths[:100], booths[100:200]
    publish(scratch, rollout_events(first))
    a_process, a = start(scratch, tmp_path, "a")
    b_process, b = start(scratch, tmp_path, "b")
    watching = threading.Event()
    highest = []

    def watch():
        while not watching.is_set():
            try:
                highest.append(a.get(STATE)["verified_appointees"])
            except Exception:
                pass
            time.sleep(0.05)

    try:
        owned = a.wait_for(
            lambda: (
                (
                    x := (
                        a.metric("sangathan_analytics_partitions_owned") or 0,
                        b.metric("sangathan_analytics_partitions_owned") or 0,
                    )
                )
                and sum(x) == 12
                and min(x) > 0
                and x
            ),
            30,
        )
        for api in (a, b):
            assert api.wait_for(lambda api=api: api.get(STATE)["verified_appointees"] == 1200, 30)
        assert owned[0] > 0 and owned[1] > 0

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        publish(scratch, rollout_events(second))
        time.sleep(0.5)
        b_process.stop()  # leaves the group mid-stream: its partitions move to a
        a.wait_for(lambda: a.metric("sangathan_analytics_partitions_owned") == 12, 40)
        try:
            # A moved partition is restored from its changelog before it is read again: on a
            # busy box that took longer than 20 s (one partition uncommitted, the rest counted).
            body = a.wait_for(lambda: (x := a.get(STATE))["verified_appointees"] == 2400 and x, 60)
        except AssertionError:
            raise AssertionError(
                f"totals after the rebalance: {a.get(STATE)}; seen mid-rebalance up to "
                f"{max(highest, default=None)}; committed/end per partition: "
                f"{scratch.unread()}"
            ) from None
        assert body["booths_complete"] == 200 and body["booths_with_verified_president"] == 200
        time.sleep(1)
        assert a.get(STATE)["verified_appointees"] == 2400
        watching.set()
        watcher.join()
        assert max(highest) <= 2400, "a total never counts a booth twice, even mid-rebalance"
    finally:
        watching.set()
        a_process.stop()
        b_process.stop()


def restart_kafka(down_s: float) -> None:
    """SIGKILL the platform's broker (its pid from the state folder), keep it down, start it
    again."""
    kafka = kafka_component()
    pid = kafka.pid()
    assert pid, "the platform's broker is not running (make up or make test starts it)"
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while not _gone(pid):
        assert time.monotonic() < deadline, f"broker {pid} still there 30s after SIGKILL"
        time.sleep(0.2)
    time.sleep(down_s)
    kafka.start()


def _gone(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # ours after an earlier restart: reap it
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def appointments_lags(api: CoverageClient, scratch) -> list[float]:
    """sangathan_kafka_consumer_lag of the worker's group on each appointments partition it
    reports."""
    wanted = (
        f'group="{scratch.app_id}"',
        f'topic="{scratch.topic(APPOINTMENTS)}"',
    )  # labels come sorted by name
    lines = api.http.get("/metrics").text.splitlines()
    return [
        float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith("sangathan_kafka_consumer_lag{")
        and all(label in line for label in wanted)
    ]


RESTARTS = 3


def test_the_worker_outlives_kafka_restarts_and_keeps_counting(scratch, booths, tmp_path):
    before, after = booths[:20], booths[20:40]
    publish(scratch, rollout_events(before))
    process, api = start(scratch, tmp_path, "worker")
    try:
        api.wait_for(lambda: api.get(STATE)["booths_complete"] == 20, 60)
        for restart in range(1, RESTARTS + 1):
            # Down for longer than the lag probe's 10 s, so it asks a missing broker,
            # as in an outage.
            restart_kafka(down_s=12)
            time.sleep(12)  # the abort came within a second or so of the broker's return
            assert process.proc.poll() is None, (
                f"worker died after Kafka restart {restart}:\n{process.output()}"
            )
        publish(scratch, rollout_events(after))
        body = api.wait_for(lambda: (x := api.get(STATE))["booths_complete"] == 40 and x, 120)
        assert (
            body["booths_with_verified_president"],
            body["booths_complete"],
            body["booths_with_whatsapp_pramukh"],
            body["verified_appointees"],
        ) == (40, 40, 40, 480)
        # The lag probe still measures the group: every partition it committed, all caught up.
        assert api.wait_for(
            lambda: (lags := appointments_lags(api, scratch)) and set(lags) == {0.0}, 30
        )
        assert process.proc.poll() is None
    finally:
        process.stop()
