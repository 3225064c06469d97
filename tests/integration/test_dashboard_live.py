"""The dashboard's live stream against the real Kafka: a dashboard process tails a scratch
coverage topic; a change inside the viewer's page reaches their server-sent-event stream, and
changes outside their jurisdiction (or below the page's children) never do."""

import json
import queue
import signal
import subprocess
import threading
import time
from datetime import datetime, timezone

import httpx
import pytest

from shared.events import types
from shared.kafka.producer import EventPublisher
from testkit.processes import start_service

pytestmark = pytest.mark.integration


@pytest.fixture
def coverage_topic(scratch) -> str:
    return scratch(1)  # one partition: events arrive in the order they were published


@pytest.fixture
def dashboard_process(coverage_topic, tmp_path):
    """A dashboard process of its own, started as `make up` does, reading the scratch topic."""
    env = {"DASHBOARD_COVERAGE_TOPIC": coverage_topic, "SANGATHAN_ENV": "development"}
    process, base = start_service("dashboard", env, tmp_path)
    try:
        yield process, base
    finally:
        process.stop()


@pytest.fixture
def dashboard(dashboard_process) -> str:
    return dashboard_process[1]


def coverage(unit_id: str, level: str, verified: int) -> dict:
    return {
        "unit_id": unit_id,
        "level": level,
        "booths_total": 100,
        "booths_with_verified_president": verified,
        "booths_complete": 0,
        "booths_with_whatsapp_pramukh": 0,
        "verified_appointees": verified,
        "as_of": datetime.now(timezone.utc).isoformat(),
    }


class Stream:
    """A server-sent-event stream read on a thread: (event, data) pairs in a queue."""

    def __init__(self, url: str, cookies: httpx.Cookies):
        self.events: queue.Queue = queue.Queue()
        self.ended = threading.Event()  # the server closed the stream
        self._client = httpx.Client(cookies=cookies, timeout=httpx.Timeout(5, read=60))
        self._response = self._client.send(self._client.build_request("GET", url), stream=True)
        assert self._response.status_code == 200, self._response.read()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        name = None
        try:
            for line in self._response.iter_lines():
                if line.startswith("event: "):
                    name = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    self.events.put((name, json.loads(line.removeprefix("data: "))))
        except httpx.HTTPError:
            pass
        finally:
            self.ended.set()

    def next(self, timeout: float):
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._response.close()
        self._client.close()


def signed_in(base: str, unit: str) -> httpx.Cookies:
    from shared.auth.issuer import organiser_token

    answer = httpx.post(
        f"{base}/api/session", json={"token": organiser_token(sub="user-it", unit=unit)}
    )
    assert answer.status_code == 200, answer.text
    return answer.cookies


def test_a_change_in_the_viewers_state_reaches_their_stream_and_others_do_not(
    dashboard, coverage_topic, kafka_bootstrap
):
    stream = Stream(f"{dashboard}/api/live/IN-HP", signed_in(dashboard, "IN-HP"))
    publisher = EventPublisher(
        kafka_bootstrap, "/tests/dashboard", topic_for=lambda _: coverage_topic
    )
    try:
        assert stream.next(10) == ("ready", {"unit_id": "IN-HP"})
        # The dashboard's consumer starts at the topic's end once it has its partition, which it
        # does not announce: publish until a change arrives. Each round first publishes what the
        # viewer must not get, on the same partition, so it was dispatched before what arrives.
        received, deadline, round_ = [], time.monotonic() + 45, 0
        while not received and time.monotonic() < deadline:
            round_ += 1
            publisher.emit(
                types.COVERAGE_UPDATED, coverage("IN-UP", "state", round_)
            )  # another state
            publisher.emit(
                types.COVERAGE_UPDATED, coverage("IN", "national", round_)
            )  # above the viewer
            publisher.emit(
                types.COVERAGE_UPDATED, coverage("IN-HP-D05-A05", "assembly", round_)
            )  # below the page
            publisher.emit(
                types.COVERAGE_UPDATED, coverage("IN-HP-D05", "district", round_)
            )  # a child: shown
            publisher.flush()
            while (event := stream.next(1.5)) is not None:
                received.append(event)
        assert received, "no coverage change reached the stream"
        assert {name for name, _ in received} == {"coverage"}
        assert {data["unit_id"] for _, data in received} == {"IN-HP-D05"}
        assert received[0][1]["booths_with_verified_president"] >= 1
        assert set(received[0][1]) == {
            "unit_id",
            "level",
            "booths_total",
            "booths_with_verified_president",
            "booths_complete",
            "booths_with_whatsapp_pramukh",
            "verified_appointees",
            "as_of",
        }
    finally:
        stream.close()
        publisher.close()


def test_a_stream_outside_the_viewers_unit_is_refused(dashboard):
    cookies = signed_in(dashboard, "IN-HP-D05")
    answer = httpx.get(f"{dashboard}/api/live/IN-HP", cookies=cookies)
    assert answer.status_code == 403 and answer.json()["type"].endswith("/outside-jurisdiction")
    assert httpx.get(f"{dashboard}/api/live/IN-HP-D05").status_code == 401  # no cookie, no stream


def test_a_busy_stream_ends_when_its_token_expires(dashboard, coverage_topic, kafka_bootstrap):
    from datetime import timedelta

    from shared.auth.issuer import organiser_token

    token = organiser_token(sub="user-it-short", unit="IN-HP", ttl=timedelta(seconds=15))
    signed = httpx.post(f"{dashboard}/api/session", json={"token": token})
    assert signed.status_code == 200, signed.text
    expires = time.time() + 15
    stream = Stream(f"{dashboard}/api/live/IN-HP", signed.cookies)
    publisher = EventPublisher(
        kafka_bootstrap, "/tests/dashboard", topic_for=lambda _: coverage_topic
    )
    try:
        assert stream.next(10) == ("ready", {"unit_id": "IN-HP"})
        seen, round_ = [], 0
        while time.time() < expires + 10 and ("signed-out", {}) not in seen:
            round_ += (
                1  # a change every 0.2 s: the stream is never quiet long enough for a keep-alive
            )
            publisher.emit(types.COVERAGE_UPDATED, coverage("IN-HP-D05", "district", round_))
            publisher.flush()
            while (event := stream.next(0.2)) is not None:
                seen.append(event)
        assert "coverage" in {name for name, _ in seen}, "the stream was busy before it ended"
        assert seen[-1] == ("signed-out", {}), "the stream did not end when its token expired"
        assert time.time() < expires + 3
    finally:
        stream.close()
        publisher.close()


def test_a_stopping_dashboard_ends_the_streams_still_open_instead_of_waiting_for_their_viewers(
    dashboard_process,
):
    """uvicorn waits for every open connection before it exits, and a live page never leaves on
    its own: a dashboard told to stop (a rollout, a scale-down) must end its streams (browsers
    reconnect elsewhere) rather than wait for Kubernetes' kill."""
    process, base = dashboard_process
    stream = Stream(f"{base}/api/live/IN-HP", signed_in(base, "IN-HP"))
    try:
        assert stream.next(10) == ("ready", {"unit_id": "IN-HP"})
        process.proc.send_signal(signal.SIGTERM)
        try:
            process.proc.wait(30)  # graceful shutdown 5 s, then the jobs stop
        except subprocess.TimeoutExpired:
            raise AssertionError("the dashboard waited for its open stream:\n" + process.output())
        assert stream.ended.wait(5), "the viewer's stream was not closed"
    finally:
        stream.close()
