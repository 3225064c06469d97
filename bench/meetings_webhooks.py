"""Where a webhook's time goes: many concurrent webhooks through meetings.live on the real store
and the real Kafka, as the provider posts them (each thread one webhook at a time).

    .venv/bin/python bench/meetings_webhooks.py [--invitees 600] [--threads 32]

Sets up a scratch database as bench/meetings_ops.py does (its stand-in meeting and provider),
dials every invitee, then folds each kind of webhook (ringing, answered, joined, left) for every
call from `--threads` threads at once, with a real EventPublisher (the events go to their topics
on the local Kafka). Prints per kind: webhooks/s, latency p50/p99, the store's commands and
milliseconds per webhook, and Kafka flushes per webhook. Small and local: compare before and
after a change on one machine, not against the README's benchmark.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from meetings_ops import Commands, Meeting, Provider, scratch_database, webhook  # noqa: E402

from meetings.adapters.live import MongoLive  # noqa: E402
from meetings.bootstrap import group_webhooks  # noqa: E402
from meetings.conference import Pacing  # noqa: E402
from meetings.live import (  # noqa: E402
    BusyParticipant,
    LivePorts,
    dial_due,
    provider_event,
    start_meeting,
)
from shared import topics  # noqa: E402
from shared.crypto.fields import FieldCipher  # noqa: E402
from shared.kafka.producer import DeliveryError, EventPublisher  # noqa: E402
from shared.orgtree.levels import booth_path  # noqa: E402

LINGER = {"linger.ms": 20}  # the service's (meetings.bootstrap.PRODUCER_CONFIG)
KINDS = ("call.ringing", "call.answered", "participant.joined", "participant.left")


class CountedEvents:
    """The real publisher, counting flushes and the time spent in them."""

    def __init__(self, publisher: EventPublisher):
        self.publisher, self.flushes, self.flush_s = publisher, 0, 0.0

    def emit(self, *args, **kwargs):
        return self.publisher.emit(*args, **kwargs)

    def flush(self, timeout: float = 10.0) -> None:
        started = time.perf_counter()
        try:
            self.publisher.flush(timeout)
        finally:
            self.flushes += 1
            self.flush_s += time.perf_counter() - started

    def take(self) -> tuple[int, float]:
        taken, self.flushes, self.flush_s = (self.flushes, self.flush_s), 0, 0.0
        return taken


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invitees", type=int, default=600)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64, help="the group commit's size; 1: none")
    parser.add_argument("--linger", type=float, default=0.0)
    parser.add_argument("--mongo", default="mongodb://127.0.0.1:27017")
    parser.add_argument("--kafka", default="127.0.0.1:9092")
    args = parser.parse_args(argv)
    topics.ensure_topics(args.kafka)
    commands = Commands()
    pool = {"maxPoolSize": args.threads + 8}
    with scratch_database(args.mongo, "hooks", commands, **pool) as db:
        run(db, commands, args)


def run(db, commands: Commands, args) -> None:
    cipher = FieldCipher({"0": secrets.token_bytes(32)}, "0")
    meeting_id = str(uuid.uuid4())
    db["meetings_meetings"].insert_one({"_id": meeting_id, "state": "scheduled"})
    db["meetings_invitees"].insert_many(invitees(meeting_id, args.invitees, cipher))
    provider = Provider()
    events = CountedEvents(EventPublisher(args.kafka, "/bench/meetings", config=LINGER))
    ports = LivePorts(
        provider=provider,
        live=MongoLive(db, "meetings_", cipher),
        meetings=type("M", (), {"get": lambda self, i: Meeting(i)})(),
        events=events,
        caller_hash=lambda phone: f"h{phone[-6:]}",
        callback_url="http://127.0.0.1:1/hook",
        pacing=Pacing(1e6, 0),
        clock=lambda: datetime.now(timezone.utc) + timedelta(hours=1),
        sleep=lambda s: None,
    )
    start_meeting(meeting_id, ports)
    while dial_due(ports):
        pass
    if args.batch > 1:  # as bootstrap wires it: the webhooks' events on a producer of their own
        events = CountedEvents(EventPublisher(args.kafka, "/bench/meetings", config=LINGER))
        size, linger_s = args.batch, args.linger
        group_webhooks(ports, events, size=size, linger_s=linger_s, wait_s=8.0)
    commands.take(), commands.took(), events.take()
    at = datetime.now(timezone.utc)
    refused: list[str] = []
    ferretdb = stack_pid("ferretdb")

    def cpu_now() -> dict[str, float]:
        return {"ferretdb": cpu_s(ferretdb), "bench": time.process_time()}

    with ThreadPoolExecutor(args.threads) as pool:
        for kind in KINDS:
            hooks = [webhook(kind, call, at) for call in provider.calls]

            def fold(event, meeting_id=meeting_id):
                started = time.perf_counter()
                while True:  # a 503 is posted again, as the provider does (without its wait)
                    try:
                        provider_event(meeting_id, event, ports)
                        return time.perf_counter() - started
                    except (DeliveryError, BusyParticipant):
                        refused.append(event.event_id)

            began, before = time.perf_counter(), cpu_now()
            took = sorted(pool.map(fold, hooks))
            wall, after = time.perf_counter() - began, cpu_now()
            cpu = {k: after[k] - before[k] for k in after}
            show(kind, took, wall, commands, events, cpu)
            print(f"    answered 503 (posted again): {len(refused)}")
            refused.clear()
    events.publisher.close(10)


def invitees(meeting_id: str, count: int, cipher: FieldCipher) -> list[dict]:
    docs = []
    for n in range(count):
        participant = str(uuid.uuid4())  # the events' contract wants a uuid
        booth = f"IN-MP-D07-A01-M{1 + n // 300:02d}-S01-B{n % 300 + 1:03d}"
        docs.append(
            {
                "_id": f"{meeting_id}/{participant}",
                "meeting_id": meeting_id,
                "participant_id": participant,
                "booth_id": booth,
                "booth_path": booth_path(booth),
                "part": "listener",
                "phone": cipher.seal(f"+9198{n:08d}", "phone"),
            }
        )
    return docs


def cpu_s(pid: int | None) -> float:
    """CPU seconds a process has used (user + system): FerretDB's work, whatever else runs on
    the box, where its milliseconds per command are mostly waiting on a shared machine."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stack_pid(name: str) -> int | None:
    path = ROOT / ".state" / "run" / f"{name}.pid"
    return int(path.read_text()) if path.exists() else None


def show(kind: str, took: list[float], wall: float, commands: Commands, events, cpu) -> None:
    n = len(took)
    seen, store = commands.take(), commands.took()
    flushes, flush_s = events.take()
    print(
        f"{kind:20} {n / wall:6.0f} webhooks/s  p50 {took[n // 2] * 1000:6.1f} ms"
        f"  p99 {took[int(n * 0.99)] * 1000:6.1f} ms  store {sum(seen.values()) / n:.2f} cmds"
        f" {sum(store.values()) / 1000 / n:5.1f} ms  kafka {flushes / n:.2f} flushes"
        f" {flush_s * 1000 / n:5.1f} ms  (per webhook)"
    )
    print(
        f"    CPU per webhook: FerretDB {cpu['ferretdb'] * 1000 / n:.2f} ms, this process"
        f" {cpu['bench'] * 1000 / n:.2f} ms"
    )
    for key, count in sorted(seen.items()):
        print(f"    {key:40} {count / n:6.2f}  {store[key] / 1000 / n:6.2f} ms")


if __name__ == "__main__":
    main()
