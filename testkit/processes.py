"""Start a service or a server as a real process for a test, and stop it afterwards."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy" / "local"))
from stack import port_open, service_command  # noqa: E402  the very command `make up` runs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port() -> int:
    """A loopback port nothing listens on: a dependency that is down."""
    return free_port()


class Process:
    def __init__(self, command: list[str], env: dict[str, str], log: Path):
        self.log = log
        self._file = open(log, "wb")
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=self._file,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._file.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def start_service(name: str, env: dict[str, str], tmp_path: Path) -> tuple[Process, str]:
    """Run one service as `make up` does, on a free port; returns it and its base URL."""
    port = free_port()
    command, service_env = service_command(name, port, tmp_path / "analytics")
    process = Process(command, {**service_env, **env}, tmp_path / f"{name}.log")
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(base + "/healthz"), 60, process)
    return process, base


def start_redis(tmp_path: Path) -> tuple[Process, str]:
    port = free_port()
    process = Process(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--dir",
            str(tmp_path),
        ],
        {},
        tmp_path / "redis.log",
    )
    wait_until(lambda: port_open(port), 10, process)
    return process, f"redis://127.0.0.1:{port}/0"


def wait_until(condition, timeout_s: float, process: Process | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if process and process.proc.poll() is not None:
            raise AssertionError(f"process exited early:\n{process.output()}")
        if time.monotonic() > deadline:
            raise AssertionError("timed out" + (f":\n{process.output()}" if process else ""))
        time.sleep(0.2)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
