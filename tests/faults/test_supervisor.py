"""What `make up` starts is supervised: a process that crashes is started again after a short
backoff, the restart is logged, and `make status` shows it."""

import os
import signal
import subprocess
import time

import pytest

from testkit.processes import ROOT, wait_until
from tests.faults.conftest import component, figure, stack

pytestmark = pytest.mark.faults


@pytest.fixture
def supervisor():
    """The supervisor `make up` left running, or one started here (`make test` runs none)."""
    ours = not stack.supervisor_pid()
    if ours:
        stack.start_supervisor()
    yield
    if ours:
        stack.stop_supervisor()


def status() -> str:
    done = subprocess.run(
        [stack.PYTHON, "deploy/local/stack.py", "status"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.stdout


def test_a_crashed_service_is_restarted_logged_and_shown_in_status(supervisor):
    simulator = component("simulator")
    before = stack.restart_record(simulator)["count"]
    crashed = simulator.pid()
    killed = time.monotonic()
    os.killpg(crashed, signal.SIGKILL)
    wait_until(lambda: stack.restart_record(simulator)["count"] == before + 1, 60)
    figure("simulator SIGKILLed, running again after", time.monotonic() - killed)
    assert simulator.pid() not in (None, crashed)
    line = next(s for s in status().splitlines() if s.strip().startswith("simulator"))
    assert f"running (pid {simulator.pid()}), restarted {before + 1}x" in line, line
    log = (stack.LOGS / "supervisor.log").read_text()
    assert (
        "simulator is not running" in log
        and f"simulator: restarted as pid {simulator.pid()}" in log
    )


def test_a_service_that_crashes_again_soon_after_its_restart_is_restarted_again(supervisor):
    """A second crash within a minute waits twice as long (2 s), and is restarted all the same:
    the supervisor forgot the wait on its next look and counted the crash again, every second,
    so the backoff grew to a minute and the component was never started again."""
    simulator = component("simulator")
    before = stack.restart_record(simulator)["count"]
    for n in (1, 2):
        crashed = simulator.pid()
        killed = time.monotonic()
        os.killpg(crashed, signal.SIGKILL)
        wait_until(lambda: stack.restart_record(simulator)["count"] == before + n, 60)
        figure(f"simulator SIGKILLed ({n} of 2), running again after", time.monotonic() - killed)
        assert simulator.pid() not in (None, crashed)
