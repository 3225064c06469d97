"""The provider simulator's own log, as a real process writes it: no phone, however it was spelt."""

import secrets

import httpx
import pytest

from testkit.processes import ROOT, Process, free_port, wait_until

pytestmark = pytest.mark.integration


def test_filtering_the_simulators_message_list_by_phone_leaves_no_phone_in_its_log(tmp_path):
    port = free_port()
    log = tmp_path / "simulator.log"
    command = [
        str(ROOT / ".venv" / "bin" / "python"),
        "-m",
        "uvicorn",
        "simulator.api:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    simulator = Process(
        command, {"SANGATHAN_ENV": "test", "PROVIDER_WEBHOOK_SECRET": secrets.token_hex(32)}, log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _ready(base), 60, simulator)
        for to in ("+919812345678", "919812345678x", "phone9812345678"):
            assert (
                httpx.get(
                    f"{base}/v1/messages", params={"to": to, "limit": 1}, timeout=10
                ).status_code
                == 200
            )
        wait_until(lambda: log.read_text().count("/v1/messages") >= 3, 10, simulator)
    finally:
        simulator.stop()
    written = log.read_text()
    assert "%2B91" not in written and "12345678" not in written, written[-2000:]


def _ready(base: str) -> bool:
    try:
        return httpx.get(base + "/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
