"""What the benchmarks share: processes of their own (a uvicorn app, the recipients stand-in that
generates the national tree's booth teams), readiness, peak memory, and the raw Kafka baseline
they are all measured against."""

from __future__ import annotations

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
        self.join(60)
