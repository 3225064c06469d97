"""What the benchmarks share: processes of their own (a uvicorn app, the recipients stand-in that
generates the national tree's booth teams), readiness, peak memory, and the raw Kafka baseline
they are all measured against."""

from __future__ import annotations

import asyncio
import json
import math
import os
import threading
import time
from pathlib import Path

import httpx
import redis
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from pymongo import MongoClient

from testkit.processes import ROOT, Process, wait_until

PYTHON = str(ROOT / ".venv" / "bin" / "python")


def uvicorn(app: str, port: int, env: dict, log: Path) -> Process:
    """One ASGI app on a loopback port, as its own process (stopped by `Process.stop`)."""
    command = [PYTHON, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    return Process(command + ["--no-access-log"], env, log)


def recipients_stand_in(port: int, log: Path, *, stride: int = 1) -> Process:
    """testkit.recipients over the generated national tree: every `stride`-th booth's team, with
    phones and appointment ids derived from the booth, so no appointments store is needed."""
    env = {
        "SANGATHAN_ENV": "test",
        "SIMULATOR_RECIPIENTS_SOURCE": "generated",
        "SIMULATOR_BOOTH_STRIDE": str(stride),
    }
    return uvicorn("testkit.recipients:app", port, env, log)


def ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_ready(started: list[tuple[Process, int]], timeout_s: float = 90) -> None:
    for process, port in started:
        wait_until(lambda: ready(f"http://127.0.0.1:{port}/readyz"), timeout_s, process)


def vm_hwm_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stop_and_drop(processes, settings, ns: str, db_name: str) -> None:
    """Stop a run's processes, then drop what it made: topics and Redis keys under `ns`, and its
    scratch database."""
    for process in processes:
        process.stop()
    drop_topics(settings.kafka_bootstrap, ns + ".")
    client = redis.Redis.from_url(settings.redis_url)
    for key in client.scan_iter(match=f"{ns}:*", count=10_000):
        client.delete(key)
    MongoClient(settings.mongo_url).drop_database(db_name)


def drop_topics(bootstrap: str, prefix: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    mine = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
    if mine:
        for future in admin.delete_topics(mine, operation_timeout=60).values():
            future.result()


def sample_size(bootstrap: str, topic: str, group: str) -> int:
    """The mean value size of up to 100 records at the start of partition 0."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    consumer.assign([TopicPartition(topic, 0, 0)])
    messages = [m for m in consumer.consume(100, 10) if not m.error()]
    consumer.close()
    return int(sum(len(m.value()) for m in messages) / max(1, len(messages)))


def raw_produce(bootstrap: str, count: int, size: int, ns: str) -> float:
    """confluent-kafka alone: as many messages of the same size, booth-keyed, idempotent,
    acks=all, to a scratch topic `<ns>.raw-baseline` of three partitions (dropped with `ns`)."""
    topic = f"{ns}.raw-baseline"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    if topic not in admin.list_topics(timeout=10).topics:
        admin.create_topics([NewTopic(topic, 3, 1)])[topic].result()
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "batch.num.messages": 10000,
        }
    )
    value = json.dumps({"pad": "x" * max(0, size - 12)}).encode()
    started = time.monotonic()
    for i in range(count):
        while True:
            try:
                producer.produce(topic, value, f"IN-XX-D01-A01-M01-S01-B{i % 1000:03d}".encode())
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    producer.flush(120)
    return time.monotonic() - started


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far: on a shared machine the steadier
    measure of what a step costs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of the values; nan for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1)]


def load_line(before: tuple, after: tuple) -> str:
    return "load average before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f} (2 cores)".format(
        *before, *after
    )


class Poller(threading.Thread):
    """Asks `read` back to back (at most every `every` seconds); keeps (sent, returned, value)."""

    def __init__(self, read, every: float = 0.5):
        super().__init__(daemon=True)
        self.read, self.every = read, every
        self.samples: list[tuple[float, float, object]] = []
        self.stopping = threading.Event()
        self.failures = 0

    def run(self) -> None:
        while not self.stopping.is_set():
            sent = time.time()
            try:
                value = self.read()
            except (httpx.HTTPError, KeyError, ValueError):
                self.failures += 1
                value = None
            if value is not None:
                self.samples.append((sent, time.time(), value))
            self.stopping.wait(max(0.0, self.every - (time.time() - sent)))

    def stop(self) -> None:
        self.stopping.set()
        if self.ident is not None:  # a run that failed before it started must not hide why
            self.join(60)


# --- a lean HTTP/1.1 load client ---------------------------------------------------------------


class _Connection(asyncio.Protocol):
    """One keep-alive connection sending one request at a time: its answer's status once the
    whole response (Content-Length bodies, as the services send) has arrived."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiting: asyncio.Future | None = None
        self.closed = False

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiting is None or self.waiting.done():
            return
        head = bytes(self.buffer[:end]).lower().split(b"\r\n")
        length = next((int(h[15:]) for h in head if h.startswith(b"content-length:")), 0)
        if len(self.buffer) < end + 4 + length:
            return
        del self.buffer[: end + 4 + length]
        self.waiting.set_result(int(head[0][9:12]))

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_result(0)

    async def send(self, request: bytes, timeout_s: float) -> int:
        """The status of the answer to `request`; 0 if none came within `timeout_s`."""
        loop = asyncio.get_running_loop()
        self.waiting = waiting = loop.create_future()
        late = loop.call_later(timeout_s, lambda: waiting.done() or waiting.set_result(0))
        self.transport.write(request)
        status = await waiting
        late.cancel()
        if status == 0:
            self.transport.close()
            self.closed = True
        return status


def http_request(
    method: str, url: str, body: dict | None = None, headers: dict | None = None
) -> bytes:
    """One HTTP/1.1 request as bytes (JSON body if given)."""
    target = url.split("://", 1)[1]
    host, _, path = target.partition("/")
    lines = [f"{method} /{path} HTTP/1.1", f"host: {host}"]
    payload = b"" if body is None else json.dumps(body).encode()
    if body is not None:
        lines += ["content-type: application/json", f"content-length: {len(payload)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def http_load(
    host: str, port: int, requests, clients: int, seconds: float, pace: float = 0
) -> list[tuple[int, float, float]]:
    """Send `requests` (bytes each, http_request's) over `clients` keep-alive connections for at
    most `seconds`, at most `pace` a second if given; (status, sent, returned) per request, 0 for
    a connection lost. A load generator lean enough not to take the cores from what it measures
    (aiohttp's client took a tenth of the box at 1,000 requests a second)."""
    loop = asyncio.get_running_loop()
    results: list[tuple[int, float, float]] = []
    queue = enumerate(requests)
    started = loop.time()
    deadline = time.time() + seconds

    async def client() -> None:
        connection = None
        for n, request in queue:
            if pace and (wait := started + n / pace - loop.time()) > 0:
                await asyncio.sleep(wait)
            if time.time() > deadline:
                break
            if connection is None or connection.closed:
                _, connection = await loop.create_connection(_Connection, host, port)
            sent = time.time()
            status = await connection.send(request, 60)
            results.append((status, sent, time.time()))
        if connection is not None:
            connection.transport.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return results
