"""The fault suite: the platform's own servers (the Kafka, Redis and FerretDB `make up` /
`make test` run) are SIGKILLed as a crash would, the platform is watched while they are away,
and each server is started again by deploy/local/stack.py before the test ends, so whatever runs
next finds them up.

Each test reports its figures (seconds to a 503, events after a restart, ...) on stdout:
`pytest -s tests/faults` shows them.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

import httpx
import pytest

from testkit.processes import ROOT, wait_until

sys.path.insert(0, str(ROOT / "deploy" / "local"))
import stack  # noqa: E402  the platform's own components, by pid file

APPOINTMENTS = "http://127.0.0.1:8001"
OTP = "http://127.0.0.1:8002"
NOTIFIER = "http://127.0.0.1:8003"
ANALYTICS = "http://127.0.0.1:8004"
# A 503 must come at once or after the client's own short timeouts, never after a hang.
NO_HANG_S = 10


def component(name: str) -> stack.Component:
    [found] = [c for c in stack.all_components() if c.name == name]
    assert found.pid(), (
        f"{name} is not running from {stack.STATE}: run the fault suite with `make test`"
    )
    return found


@contextmanager
def killed(name: str):
    """SIGKILL one of the platform's servers; start it again (and wait for it) on the way out."""
    server = component(name)
    server.kill()
    started = time.monotonic()
    try:
        yield server
    finally:
        server.start_again()
        figure(f"{name} away", time.monotonic() - started)


def figure(what: str, seconds: float) -> None:
    print(f"[fault figure] {what}: {seconds:.1f}s", flush=True)


def ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=3).status_code == 200
    except httpx.HTTPError:
        return False


def wait_ready(*bases: str, timeout_s: float = 60) -> None:
    wait_until(lambda: all(ready(b) for b in bases), timeout_s)


def timed(call) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def assert_outage_problem(response: httpx.Response, seconds: float, dependency: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["type"].endswith("/dependency-unavailable") and body["dependency"] == dependency, (
        body
    )
    assert seconds < NO_HANG_S, f"answered after {seconds:.1f}s"


@pytest.fixture(autouse=True)
def platform_restored_after():
    """Whatever the test did, everything runs and answers again before the next test starts: a
    process that died meanwhile is started again (by the supervisor, when `make up` runs one)."""
    yield
    if not stack.supervisor_pid():
        for c in stack.all_components():
            if c.crashed():
                c.start_again()
    wait_ready(APPOINTMENTS, OTP, NOTIFIER, ANALYTICS, timeout_s=180)
