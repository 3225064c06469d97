"""What inviting a meeting's audience costs the meetings process: CPU per invitee, store commands
per chunk, Kafka produce calls and flushes.

    .venv/bin/python bench/meetings_invite_ops.py [--invitees 5000] [--districts 5] [--runs 3]
        [--mongo mongodb://127.0.0.1:27017] [--kafka 127.0.0.1:9092]

Runs handlers.invite_audience in this process on the real store (a scratch database, dropped
after) and a real EventPublisher (a scratch topic, dropped after). The audience is a state's
booth presidents spread over `--districts` districts (a chunk each), read from NDJSON lines made
in advance by testkit.recipients and parsed as shared.recipients parses the appointments
service's stream: the parse is counted, the HTTP is not. CPU is the process's (every thread,
librdkafka's too) from the job's start to its end; on a shared machine it is steadier than the
wall time, which is shown beside it. Every command pymongo sends is counted (a CommandListener).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import secrets
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from pymongo import MongoClient  # noqa: E402

from bench.meetings_ops import Commands  # noqa: E402
from meetings import handlers  # noqa: E402
from meetings.adapters.store import MongoInvitees, MongoMeetings  # noqa: E402
from meetings.commands import InviteAudience, ScheduleMeeting  # noqa: E402
from meetings.links import JoinLinks  # noqa: E402
from shared.crypto.fields import FieldCipher  # noqa: E402
from shared.kafka.producer import EventPublisher  # noqa: E402
from shared.recipients import _recipient  # noqa: E402
from shared.sending.policy import SendingPolicy  # noqa: E402
from testkit.recipients import appointee  # noqa: E402

STATE = "IN-MP"


class Audience:
    """The appointments service's stream, its lines made in advance: one district a chunk."""

    def __init__(self, invitees: int, districts: int):
        self.lines: dict[str, list[str]] = {d: [] for d in self.districts(districts)}
        names = list(self.lines)
        for n in range(invitees):
            district = names[n % districts]
            booth = f"{district}-A01-M{1 + n // 9000:02d}-S01-B{n % 9000 + 1:04d}"
            self.lines[district].append(json.dumps(appointee(booth, 0)))

    @staticmethod
    def districts(count: int) -> list[str]:
        return [f"{STATE}-D{d + 1:02d}" for d in range(count)]

    def stream(self, unit_id: str, roles):
        for line in self.lines.get(unit_id, ()):
            yield _recipient(json.loads(line))


class Registry:
    def __init__(self, districts: list[str]):
        self.districts = districts

    def get(self, unit_id: str):
        return {"id": unit_id}

    def children(self, unit_id: str):
        return [{"id": d} for d in self.districts] if unit_id == STATE else []


class GcTime:
    """CPU seconds the garbage collector took, by generation (gc.callbacks), since the last take."""

    def __init__(self):
        self.seconds, self.runs, self._started = Counter(), Counter(), 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.seconds[info["generation"]] += time.thread_time() - self._started
            self.runs[info["generation"]] += 1

    def take(self) -> str:
        shown = ", ".join(
            f"gen{g} {self.runs[g]}x {self.seconds[g] * 1000:.0f} ms CPU" for g in sorted(self.runs)
        )
        self.seconds, self.runs = Counter(), Counter()
        return shown or "none"


class CountingEvents:
    """The real publisher, what inviting calls on it counted, and below it the confluent-kafka
    producer's produce, poll and flush calls."""

    def __init__(self, publisher: EventPublisher):
        self.publisher, self.calls = publisher, Counter()
        self.calls.last = {}  # when each kind of call last returned
        confirmed = publisher._producer
        confirmed._producer = CountingProducer(confirmed._producer, self.calls)

    def __getattr__(self, name):  # emit, emit_many, flush: counted, then found directly
        counted = _counted(self.calls, name, getattr(self.publisher, name))
        setattr(self, name, counted)
        return counted


class CountingProducer:
    def __init__(self, producer, calls: Counter):
        self.producer, self.calls = producer, calls

    def __getattr__(self, name):  # produce, poll, flush: counted, then found directly
        counted = _counted(self.calls, f"kafka.{name}", getattr(self.producer, name))
        setattr(self, name, counted)
        return counted


def _counted(calls: Counter, name: str, call):
    def counted(*args, **kwargs):
        calls[name] += 1
        try:
            return call(*args, **kwargs)
        finally:
            calls.last[name] = time.monotonic()

    return counted


def vm_hwm_mb() -> float:
    """This process's peak resident memory so far (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def thread_cpu() -> Counter:
    """CPU seconds so far of this process's live threads, by kind: the job's own thread,
    librdkafka's, and the rest (pymongo's, the readers' and writers' while they live)."""
    seen: Counter = Counter()
    main = threading.main_thread().native_id
    for task in Path("/proc/self/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        kind = "main" if int(task.name) == main else "librdkafka" if name.startswith("rdk:") else ""
        seen[kind or "other"] += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seen


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invitees", type=int, default=5000)
    parser.add_argument("--districts", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mongo", default="mongodb://127.0.0.1:27017")
    parser.add_argument("--kafka", default="127.0.0.1:9092")
    parser.add_argument(
        "--no-freeze", action="store_true", help="skip the gc.freeze() the service's start does"
    )
    args = parser.parse_args(argv)
    commands, collections = Commands(), GcTime()
    client = MongoClient(args.mongo, event_listeners=[commands])
    name = f"invite_ops_{secrets.token_hex(4)}"
    topic = f"{name}.participant-invited"
    admin = AdminClient({"bootstrap.servers": args.kafka})
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result()
    publisher = EventPublisher(
        args.kafka, "/bench/meetings", config={"linger.ms": 20}, topic_for=lambda _: topic
    )
    try:
        audience = Audience(args.invitees, args.districts)
        ports = make_ports(client[name], publisher, audience)
        if not args.no_freeze:
            gc.freeze()  # as meetings.bootstrap.Adapters.start does
        for run in range(args.runs):
            invite_once(ports, commands, collections, args, run)
    finally:
        publisher.close(10)
        client.drop_database(name)
        admin.delete_topics([topic])[topic].result()


def make_ports(db, publisher: EventPublisher, audience: Audience) -> handlers.Ports:
    cipher = FieldCipher({"0": secrets.token_bytes(32)}, "0")
    return handlers.Ports(
        meetings=MongoMeetings(db, "meetings_", cipher),
        invitees=MongoInvitees(db, "meetings_", cipher),
        events=CountingEvents(publisher),
        recipients=audience,
        messages=None,  # inviting sends no message
        registry=Registry(list(audience.lines)),
        policy=SendingPolicy(),
        links=JoinLinks(secrets.token_bytes(32), "https://links.example"),
        dial_in="+911140000700",
    )


def invite_once(ports: handlers.Ports, commands: Commands, collections: GcTime, args, run: int):
    [meeting], _ = handlers.schedule_meeting(scheduled(), ports)
    ports.events.calls.clear(), ports.events.calls.last.clear()
    commands.take(), commands.took(), collections.take()
    wall, cpu, threads = time.monotonic(), time.process_time(), thread_cpu()
    handlers.invite_audience(InviteAudience(meeting.meeting_id), ports)
    started, wall, cpu = wall, time.monotonic() - wall, time.process_time() - cpu
    produced = ports.events.calls.last.get("emit_many", ports.events.calls.last.get("emit", 0))
    threads = thread_cpu() - threads
    seen, took = commands.take(), commands.took()
    n, chunks = args.invitees, args.districts + 1  # the districts and the speakers' chunk
    reached = ports.meetings.progress(meeting.meeting_id)["invite"]["reached"]
    print(
        f"run {run + 1}: {n:,} invitees in {chunks} chunks, reached {reached:,}: "
        f"CPU {cpu / n * 1e6:.0f} µs/invitee ({cpu:.2f} s), wall {wall:.2f} s "
        f"(the last event produced at {produced - started:.2f} s); "
        f"kafka {dict(ports.events.calls)}"
    )
    print(f"  garbage collections: {collections.take()}; peak memory so far {vm_hwm_mb():.0f} MB")
    threads["rest"] = cpu - threads["main"] - threads["librdkafka"]
    per = {kind: f"{threads[kind] / n * 1e6:.0f}" for kind in ("main", "librdkafka", "rest")}
    print(
        f"  CPU µs/invitee: the job's thread {per['main']}, librdkafka's {per['librdkafka']}, "
        f"the rest (readers, writers, pymongo) {per['rest']}"
    )
    for key, count in sorted(seen.items()):
        print(
            f"  {key:32} {count:6} ({count / chunks:6.2f}/chunk)  {took[key] / 1000:8.0f} ms "
            "in the store"
        )


def scheduled() -> ScheduleMeeting:
    return ScheduleMeeting(
        organiser="bench",
        organiser_unit=STATE,
        kind="audio_bridge",
        scope=(STATE,),
        audience=("booth_president",),
        title={"hi": "बैठक", "en": "Meeting"},
        starts_at=_next_morning(),
        duration_minutes=60,
        idempotency_key=str(uuid.uuid4()),
    )


def _next_morning() -> datetime:
    """11:00 India time tomorrow: outside quiet hours, whenever the bench runs."""
    now = datetime.now(timezone.utc)
    return datetime(now.year, now.month, now.day, 5, 30, tzinfo=timezone.utc) + timedelta(days=1)


if __name__ == "__main__":
    main()
