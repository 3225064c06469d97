"""Benchmark of the analytics worker: a state-wide team rollout in a burst, then at a steady pace.

    .venv/bin/python bench/analytics_bench.py [--state HP] [--booths 2000] \
        [--paced-booths 800] [--pace 5000]

Needs the platform's Kafka and registry (make up); touches neither's data: the rollout goes to
scratch topics that a worker of its own (a scratch Faust app id) counts, and they are deleted at
the end. What it measures, on this machine:

1. sustained rate: a backlog of appointed + verified events for `--booths` booths (12 members
   each), consumed by a fresh worker; events per second between 5% and 95% of the backlog,
   from the worker's own event counter, and per second of the worker's CPU time over the same
   span (its process_cpu_seconds_total): on a shared machine the CPU figure is the steadier one;
2. baseline: a plain confluent-kafka consumer reading the same records (raw, then also parsing
   and validating each with shared.events.contracts.from_kafka, as the worker must), per
   second of wall time and of this process's CPU time;
3. visibility lag: `--paced-booths` more booths published at `--pace` events/s (the issue's
   5,000; the rate reached is reported); for the k-th verification (in event time) the lag is
   when the state's verified_appointees, polled through the API every 50 ms, first reaches k,
   minus the event's time. p50/p99.

The default runs 2,000 Himachal booths (48,000 events) in the burst and 800 (19,200 events)
paced, to finish in a few minutes, and says what share of a state's rollout that is.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "services" / "analytics")]

import httpx  # noqa: E402
from confluent_kafka import Consumer, Producer  # noqa: E402
from pymongo import MongoClient  # noqa: E402

from shared.auth.issuer import organiser_token  # noqa: E402
from shared.events import types as t  # noqa: E402
from shared.events.contracts import CONTENT_TYPE, from_kafka, schema_uri  # noqa: E402
from shared.orgtree.repository import OrgRegistry  # noqa: E402
from shared.settings import PlatformSettings  # noqa: E402
from shared.teams.rules import PRESIDENT  # noqa: E402
from shared.topics import APPOINTMENTS  # noqa: E402
from testkit.processes import start_service  # noqa: E402
from testkit.rollout import APPOINTMENTS_SOURCE, ScratchStream, team  # noqa: E402

# Every input event the worker has handled, whatever it did with it
# (counted, pending, duplicate, ...).
EVENTS_HANDLED = re.compile(r"^sangathan_analytics_events_total\{[^}]*\} ([0-9.e+]+)$", re.M)
CPU_SECONDS = re.compile(r"^process_cpu_seconds_total ([0-9.e+]+)$", re.M)


# --- the rollout, encoded fast --------------------------------------------------------------------
# Building events with new_event/to_kafka validates each twice (~0.35 ms); the load generator is not
# what is measured, so it writes the same binary-mode records directly. The first records are
# checked with from_kafka, so a drift from the contract fails the run instead of skewing it.


def record(event_type: str, data: dict, at: datetime) -> tuple[bytes, bytes, list]:
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_source", APPOINTMENTS_SOURCE.encode()),
        ("ce_type", event_type.encode()),
        ("ce_subject", data["booth_id"].encode()),
        ("ce_time", at.isoformat().replace("+00:00", "Z").encode()),
        ("content-type", CONTENT_TYPE.encode()),
        ("ce_dataschema", schema_uri(event_type).encode()),
    ]
    return data["booth_id"].encode(), json.dumps(data).encode(), headers


def booth_records(booth: dict, at: datetime) -> list[tuple[bytes, bytes, list, float]]:
    """A booth's 12 appointments, then their 12 verifications, stamped `at` (send time, later)."""
    out = []
    seats = team(booth)
    for seat in seats:
        event_type = (
            t.BOOTH_PRESIDENT_APPOINTED if seat.role == PRESIDENT else t.BOOTH_MEMBER_APPOINTED
        )
        data = {
            **seat.base(),
            "organiser_id": "user-bench",
            "replaces_appointment_id": None,
            "appointed_at": at.isoformat(),
        }
        out.append((event_type, data))
    for seat in seats:
        out.append(
            (
                t.APPOINTMENT_VERIFIED,
                {**seat.base(), "otp_request_id": str(uuid.uuid4()), "verified_at": at.isoformat()},
            )
        )
    return out


def produce(
    producer: Producer, topic: str, items, paced_rate: float | None = None
) -> list[tuple[float, str]]:
    """Send (event_type, data) items; returns (event time, type) per item, in send order."""
    sent = []
    started = time.monotonic()
    for i, (event_type, data) in enumerate(items):
        if paced_rate:
            wait = started + i / paced_rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        at = datetime.now(timezone.utc)
        key, value, headers = record(event_type, data, at)
        if i < 3:
            from_kafka(headers, key, value)  # the contract still holds
        while True:
            try:
                producer.produce(topic, value, key, headers=headers)
                break
            except BufferError:
                producer.poll(0.5)
        producer.poll(0)
        sent.append((at.timestamp(), event_type))
    producer.flush(30)
    return sent


# --- measurements ---------------------------------------------------------------------------------


def baseline(bootstrap: str, topic: str, expected: int, parse: bool) -> tuple[float, float]:
    """(events per second of wall time, per second of CPU time) a plain confluent-kafka consumer
    reads (and optionally validates)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    seen, started, cpu_started = 0, None, None
    try:
        while seen < expected:
            for msg in consumer.consume(1000, 1.0):
                if msg.error():
                    continue
                if started is None:
                    started, cpu_started = time.monotonic(), time.process_time()
                if parse:
                    from_kafka(msg.headers(), msg.key(), msg.value())
                seen += 1
        return seen / (time.monotonic() - started), seen / max(
            time.process_time() - cpu_started, 1e-6
        )
    finally:
        consumer.close()


def handled(base: str) -> tuple[float, float]:
    """(events the worker has handled, CPU seconds it has used)."""
    text = httpx.get(base + "/metrics", timeout=5).text
    return sum(float(v) for v in EVENTS_HANDLED.findall(text)), float(CPU_SECONDS.search(text)[1])


def sustained_rate(base: str, expected: int, timeout_s: float) -> tuple[float, float, float]:
    """(events per second of wall time and of the worker's CPU time, between 5% and 95% of the
    backlog; seconds to count it all) from the worker's own counters."""
    marks: list[tuple[float, float, float]] = []
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        n, cpu = handled(base)
        marks.append((time.monotonic(), n, cpu))
        if n >= expected:
            break
        time.sleep(0.25)
    else:
        raise SystemExit(
            f"worker handled {marks[-1][1]:.0f} of {expected} events in {timeout_s:.0f} s"
        )
    low = next(m for m in marks if m[1] >= 0.05 * expected)
    high = next(m for m in marks if m[1] >= 0.95 * expected)
    first = next(m for m in marks if m[1] > 0)
    events = high[1] - low[1]
    return (
        events / max(high[0] - low[0], 1e-6),
        events / max(high[2] - low[2], 1e-6),
        marks[-1][0] - first[0],
    )


class StatePoller(threading.Thread):
    """Polls a unit's verified_appointees through the API every 50 ms: (wall time, count)."""

    def __init__(self, base: str, unit_id: str, headers: dict):
        super().__init__(daemon=True)
        self.url, self.headers = f"{base}/coverage/{unit_id}", headers
        self.samples: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self.stop.is_set():
                response = client.get(self.url, headers=self.headers)
                if response.status_code == 200:
                    self.samples.append((time.time(), response.json()["verified_appointees"]))
                self.stop.wait(0.05)


def lags(verifications: list[float], samples: list[tuple[float, int]], before: int) -> list[float]:
    """For the k-th verification in time order: when the count first reached before + k, minus
    its time."""
    result, i = [], 0
    for k, at in enumerate(sorted(verifications), start=1):
        while i < len(samples) and samples[i][1] < before + k:
            i += 1
        if i == len(samples):
            break
        result.append(max(0.0, samples[i][0] - at))
    return result


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


# --- the run --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--state", default="HP", help="a state loaded in the registry (default HP, the demo)"
    )
    parser.add_argument(
        "--booths", type=int, default=2000, help="booths in the burst (0: the whole state)"
    )
    parser.add_argument("--paced-booths", type=int, default=800, help="booths in the paced phase")
    parser.add_argument(
        "--pace", type=float, default=5000, help="events/s published in the paced phase"
    )
    parser.add_argument(
        "--timeout", type=float, default=240, help="seconds the worker gets for the burst"
    )
    args = parser.parse_args(argv)

    settings = PlatformSettings()
    registry = OrgRegistry(MongoClient(settings.mongo_url)[settings.mongo_db])
    state = registry.get(f"IN-{args.state}")
    if state is None:
        raise SystemExit(
            f"state IN-{args.state} is not in the registry; load it: "
            f"python -m shared.orgtree.load --state {args.state}"
        )
    print(f"reading {state['name']}'s booths from the registry ...", flush=True)
    all_booths = sorted(registry.booth_ids_under(state["id"]))
    burst_n = args.booths or len(all_booths) - args.paced_booths
    chosen = all_booths[: burst_n + args.paced_booths]
    booths = [registry.get(b) for b in chosen]
    burst, paced = booths[:burst_n], booths[burst_n:]
    now = datetime.now(timezone.utc)
    burst_items = [item for booth in burst for item in booth_records(booth, now)]
    paced_items = [item for booth in paced for item in booth_records(booth, now)]
    full = state["booths"] * 24
    print(
        f"burst: {len(burst)} booths, {len(burst_items):,} events "
        f"({len(burst_items) / full:.1%} of {state['name']}'s full rollout of {full:,}); "
        f"paced: {len(paced)} booths, {len(paced_items):,} events",
        flush=True,
    )

    scratch = ScratchStream(settings.kafka_bootstrap)
    scratch.create()
    topic = scratch.topic(APPOINTMENTS)
    producer = Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
        }
    )
    worker = None
    try:
        started = time.monotonic()
        produce(producer, topic, burst_items)
        print(f"burst published in {time.monotonic() - started:.1f} s", flush=True)

        raw = baseline(settings.kafka_bootstrap, topic, len(burst_items), parse=False)
        parsed = baseline(settings.kafka_bootstrap, topic, len(burst_items), parse=True)
        print(f"baselines: raw {raw[0]:,.0f}/s, with validation {parsed[0]:,.0f}/s", flush=True)

        tmp = Path(tempfile.mkdtemp(prefix="analytics-bench-"))
        worker, base = start_service("analytics", scratch.worker_env(), tmp)
        rate, cpu_rate, drain_s = sustained_rate(base, len(burst_items), args.timeout)
        print(
            f"worker: {rate:,.0f} events/s sustained ({cpu_rate:,.0f} per CPU second), "
            f"backlog counted in {drain_s:.1f} s",
            flush=True,
        )

        headers = {"Authorization": "Bearer " + organiser_token(sub="user-bench", unit="IN")}
        poller = StatePoller(base, state["id"], headers)
        poller.start()
        while not poller.samples or poller.samples[-1][1] < len(burst) * 12:
            time.sleep(0.1)
        before = poller.samples[-1][1]
        sending = time.monotonic()
        sent = produce(producer, topic, paced_items, paced_rate=args.pace)
        pace = len(sent) / (time.monotonic() - sending)  # what this machine reached
        verified = [at for at, event_type in sent if event_type == t.APPOINTMENT_VERIFIED]
        deadline = (
            time.monotonic() + 30 + len(paced_items) / rate
        )  # a worker slower than the pace catches up
        while poller.samples[-1][1] < before + len(verified) and time.monotonic() < deadline:
            time.sleep(0.1)
        poller.stop.set()
        poller.join()
        measured = lags(verified, poller.samples, before)
        if len(measured) < len(verified):
            raise SystemExit(
                f"only {len(measured)} of {len(verified)} verifications became visible"
            )
        report(
            len(burst_items),
            (rate, cpu_rate),
            drain_s,
            raw,
            parsed,
            args.pace,
            pace,
            measured,
            state,
            len(burst),
        )
        return 0
    finally:
        if worker is not None:
            worker.stop()
        scratch.delete()


def report(
    events: int,
    worker: tuple[float, float],
    drain_s: float,
    raw: tuple[float, float],
    parsed: tuple[float, float],
    asked: float,
    pace: float,
    measured: list[float],
    state: dict,
    booths: int,
) -> None:
    p50, p99 = percentile(measured, 50), percentile(measured, 99)
    rows = [
        ("analytics worker (Faust, counts + tables)", worker),
        ("confluent-kafka consumer, raw read", raw),
        ("confluent-kafka consumer + from_kafka validation", parsed),
    ]
    print()
    print(
        f"Burst: {events:,} events ({booths:,} booths x 12 appointed + 12 verified), "
        f"{events / (state['booths'] * 24):.1%} of {state['name']}'s full rollout; "
        f"counted in {drain_s:.1f} s."
    )
    print(f"{'consumer':<50} {'events/s':>10} {'worker ÷':>9} {'per CPU s':>10} {'worker ÷':>9}")
    for name, (wall, cpu) in rows:
        print(
            f"{name:<50} {wall:>10,.0f} {worker[0] / wall:>9.3f} "
            f"{cpu:>10,.0f} {worker[1] / cpu:>9.3f}"
        )
    print()
    reached = (
        ""
        if pace >= 0.95 * asked
        else f"; {asked:,.0f} asked, this machine's publisher reached no more"
    )
    print(
        "Visibility lag, event time -> state coverage through the API "
        f"(paced at {pace:,.0f} events/s{reached}; "
        f"{len(measured):,} verifications, API polled every 50 ms):"
    )
    print(f"{'p50':<6} {p50 * 1000:>8.0f} ms")
    print(f"{'p99':<6} {p99 * 1000:>8.0f} ms")
    print(f"{'max':<6} {max(measured) * 1000:>8.0f} ms")
    mp_events = 65_015 * 24
    print(
        f"\nAt {worker[0]:,.0f} events/s Madhya Pradesh's full rollout "
        f"({mp_events:,} events) takes "
        f"~{mp_events / worker[0] / 60:.0f} min for one worker."
    )


if __name__ == "__main__":
    sys.exit(main())
