"""Benchmark of the meetings service: a state-wide audio meeting for Madhya Pradesh's booth
presidents (make bench).

    .venv/bin/python bench/meetings_bench.py [--state MP] [--cps 50] [--cap 250] \
        [--dial-seconds 60] [--start-after 480]

One run with processes of its own on the platform's Kafka and FerretDB: the meetings service
(a scratch database holding the state and its districts), the recipients stand-in generating the
national tree's booth presidents (bench/benchkit.py, as the notifier bench), a notifier (its own
topic namespace, lanes off, so invitations stay on its lane topic) and the provider simulator
as the conference provider (per-bridge cap, calls per second, its default shares of no-answer,
busy, failed, early leavers, duplicated and swapped webhooks).

1. Invitations: the meeting is scheduled through POST /v1/meetings; timed until every
   participant-invited is on Kafka (the last record's broker-side create time, read back from
   the attendance topic) and until every invitation is on the notifier's lane topic (its high
   watermarks). Baseline: raw confluent-kafka produce of as many records of the same sizes.
2. Live: at the start the service plans bridges under the cap (the count is meeting-started's)
   and dials at the provider's calls per second. Dial-out runs `--dial-seconds` from the first
   call, then the organiser ends the meeting (POST .../end) and the end's reconciliation is
   timed. Achieved calls per second = calls the simulator took / seconds from first to last.
   Attendance lag, per join the simulator reported (its `occurred_at`):
   - stored: the participant-joined event's Kafka create time minus occurred_at (the service
     writes attendance, then publishes: the event's time bounds when the store had it);
   - on the API: GET /v1/meetings/{id}/attendance polled back to back; the k-th stored join is
     visible once a poll that *returned* at t shows joined >= k: lag = t - occurred_at. It
     therefore includes the GET's own duration (reported too), as a user asking would see it;
   - analytics: the same on the platform analytics' /meetings/{id}/reach?unit=IN, if it runs.
   Baselines: raw HTTP dial-out to the simulator at the same pace (as many calls), and the
   store's floor per webhook: raw pymongo reads and writes of one participant's document plus a
   confirmed Kafka produce, as many as the joins.
3. Peak memory (VmHWM) and CPU seconds of every process; the load average before and after.

Everything is loopback and bounded in time; whatever it started is stopped by pid and its
scratch database and topics dropped, also on failure. The meetings service has no topic
namespace: its events go to the platform's meetings topics (under a fresh meeting id), which
the platform's analytics worker counts; that is how the reach lag is measured.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import signal
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import httpx  # noqa: E402
from benchkit import (  # noqa: E402  (beside this file)
    Poller,
    cpu_seconds,
    raw_produce,
    ready,
    recipients_stand_in,
    sample_size,
    stop_and_drop,
    uvicorn,
    vm_hwm_mb,
    wait_ready,
)
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from pymongo import MongoClient  # noqa: E402

from meetings.conference import plan_bridges  # noqa: E402
from shared import topics  # noqa: E402
from shared.auth.issuer import organiser_token  # noqa: E402
from shared.events import types  # noqa: E402
from shared.orgtree.generator import generate_state  # noqa: E402
from shared.orgtree.repository import OrgRegistry  # noqa: E402
from shared.settings import PlatformSettings  # noqa: E402
from testkit.processes import free_port, wait_until  # noqa: E402

ANALYTICS_URL = os.environ.get("ANALYTICS_URL", "http://127.0.0.1:8004")
LATE_JOINER_SEATS = 50  # the meetings service's default (MEETINGS_LATE_JOINER_SEATS)


class Run:
    """The meetings service with its stand-ins; everything it made is removed by `close`."""

    def __init__(self, tmp: Path, *, state: str, cps: float, cap: int):
        self.settings = PlatformSettings()
        self.ns = f"bench-{uuid.uuid4().hex[:8]}"
        self.db_name = f"bench_meetings_{self.ns[6:]}"
        self.processes: dict = {}
        ports = {name: free_port() for name in ("meetings", "notifier", "simulator", "recipients")}
        self.urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        key = {"SANGATHAN_ENV": "test", "PROVIDER_WEBHOOK_SECRET": secrets.token_hex(32)}
        try:
            OrgRegistry(MongoClient(self.settings.mongo_url)[self.db_name]).load(
                u for u in generate_state(state) if u["level"] in ("state", "district")
            )
            self.processes["simulator"] = uvicorn(
                "simulator.api:app",
                ports["simulator"],
                {
                    **key,
                    "SIMULATOR_HONOUR_ERASURES": "false",
                    "SIMULATOR_CONFERENCE_CAP": str(cap),
                    "SIMULATOR_CONFERENCE_CPS": str(cps),
                    "SIMULATOR_CONFERENCE_BASE_URL": self.urls["simulator"],
                },
                tmp / "simulator.log",
            )
            self.processes["recipients stand-in"] = recipients_stand_in(
                ports["recipients"], tmp / "recipients.log"
            )
            self.processes["notifier"] = uvicorn(
                "notifier.api:app",
                ports["notifier"],
                {
                    **key,
                    "NOTIFIER_ACK_SECRET": secrets.token_hex(32),
                    "MONGO_DB": self.db_name,
                    "LOG_LEVEL": "WARNING",
                    "NOTIFIER_TOPIC_NAMESPACE": f"{self.ns}.",
                    "NOTIFIER_REDIS_PREFIX": f"{self.ns}:",
                    "NOTIFIER_RECIPIENTS_URL": self.urls["recipients"],
                    "PROVIDER_URL": self.urls["simulator"],
                    "NOTIFIER_QUIET_HOURS": "off",
                    "NOTIFIER_LANES": "",
                },
                tmp / "notifier.log",
            )
            self.processes["meetings"] = uvicorn(
                "meetings.api:app",
                ports["meetings"],
                {
                    **key,
                    "MONGO_DB": self.db_name,
                    "LOG_LEVEL": "WARNING",
                    "MEETINGS_PUBLIC_URL": self.urls["meetings"],
                    "MEETINGS_RECIPIENTS_URL": self.urls["recipients"],
                    "NOTIFIER_URL": self.urls["notifier"],
                    "PROVIDER_URL": self.urls["simulator"],
                    "MEETINGS_QUIET_HOURS": "off",
                    # No reminder job in the run: its 65,015 messages would load the dial-out.
                    "MEETINGS_REMINDER_BEFORE_MINUTES": str(24 * 60),
                    "MEETINGS_CONFERENCE_CAP": str(cap),
                    "MEETINGS_CALLS_PER_SECOND": str(cps),
                },
                tmp / "meetings.log",
            )
            wait_ready([(self.processes[name], ports[port]) for name, port in READINESS])
        except BaseException:
            self.close()  # a run that never got ready leaves no process behind
            raise

    def lane_topic(self) -> str:
        return f"{self.ns}.{topics.DELIVERY_TASKS_NORMAL.name}"

    def usage(self) -> dict[str, tuple[float, float]]:
        """(peak MB, CPU seconds) of each process."""
        return {
            name: (vm_hwm_mb(p.proc.pid), cpu_seconds(p.proc.pid))
            for name, p in self.processes.items()
            if p.proc.poll() is None
        }

    def close(self) -> None:
        stop_and_drop(self.processes.values(), self.settings, self.ns, self.db_name)


READINESS = (
    ("simulator", "simulator"),
    ("recipients stand-in", "recipients"),
    ("notifier", "notifier"),
    ("meetings", "meetings"),
)


class Tail(threading.Thread):
    """Reads the platform's meetings and attendance topics from their current ends and keeps, per
    meeting, what the figures need: invitations (count, last create time, a value size),
    the first join of each participant (occurred_at, create time), bridges, the end."""

    def __init__(self, bootstrap: str):
        super().__init__(daemon=True)
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-tail-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
            }
        )
        assigned = []
        for name in (topics.MEETINGS.name, topics.MEETING_ATTENDANCE.name):
            meta = self.consumer.list_topics(name, timeout=10).topics[name]
            for p in meta.partitions:
                end = self.consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1]
                assigned.append(TopicPartition(name, p, end))
        self.consumer.assign(assigned)
        self.lock = threading.Lock()
        self.meetings: dict[str, dict] = {}
        self.stopping = threading.Event()

    def of(self, meeting_id: str) -> dict:
        with self.lock:
            return self.meetings.setdefault(meeting_id, _seen())

    def run(self) -> None:
        while not self.stopping.is_set():
            for msg in self.consumer.consume(1000, 0.2):
                if not msg.error():
                    self._take(msg)
        self.consumer.close()

    def _take(self, msg) -> None:
        kind = dict(msg.headers() or ()).get("ce_type", b"").decode()
        data = json.loads(msg.value())
        created = msg.timestamp()[1] / 1000
        with self.lock:
            seen = self.meetings.setdefault(data.get("meeting_id", ""), _seen())
            seen["counts"][kind] = seen["counts"].get(kind, 0) + 1
            if kind == types.PARTICIPANT_INVITED:
                seen["invited"] += 1
                seen["invited_last"] = max(seen["invited_last"], created)
                seen["invited_bytes"] = len(msg.value())
            elif kind == types.PARTICIPANT_JOINED:
                at = datetime.fromisoformat(data["joined_at"]).timestamp()
                seen["joins"].setdefault(data["participant_id"], (at, created))
            elif kind == types.MEETING_STARTED:
                seen["bridges"] = data["bridges"]
            elif kind == types.MEETING_ENDED:
                seen["ended"] = created

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)


def _seen() -> dict:
    return {
        "counts": {},
        "invited": 0,
        "invited_last": 0.0,
        "invited_bytes": 0,
        "joins": {},
        "bridges": None,
        "ended": None,
    }


# --- 1. invitations ----------------------------------------------------------------------------


def schedule(run: Run, state: str, start_after: float) -> tuple[str, float, dict]:
    unit = f"IN-{state}"
    headers = {
        "Authorization": f"Bearer {organiser_token(sub=f'user-{state.lower()}', unit=unit)}",
        "Idempotency-Key": uuid.uuid4().hex,
    }
    starts_at = datetime.now(timezone.utc) + timedelta(seconds=start_after)
    body = {
        "kind": "audio_bridge",
        "scope": [unit],
        "audience": ["booth_president"],
        "title": {"hi": "प्रदेश के बूथ अध्यक्षों की बैठक", "en": "State booth presidents' meeting"},
        "starts_at": starts_at.isoformat(),
        "duration_minutes": 30,
    }
    started = time.time()
    answer = httpx.post(
        f"{run.urls['meetings']}/v1/meetings", json=body, headers=headers, timeout=30
    )
    answer.raise_for_status()
    del headers["Idempotency-Key"]
    return answer.json()["meetings"][0]["meeting_id"], started, headers


def invitations(run: Run, tail: Tail, meeting_id: str, t0: float, expected: int, timeout: float):
    """Seconds from the request until every participant-invited and every invitation task was
    on Kafka (None: not within the timeout)."""
    watch = Consumer({"bootstrap.servers": run.settings.kafka_bootstrap, "group.id": run.ns})
    lane = run.lane_topic()
    partitions = watch.list_topics(lane, timeout=10).topics[lane].partitions
    on_lane = None
    deadline = time.time() + timeout
    while time.time() < deadline:
        tasks = sum(
            watch.get_watermark_offsets(TopicPartition(lane, p), timeout=10)[1] for p in partitions
        )
        if on_lane is None and tasks >= expected:
            on_lane = time.time() - t0
        seen = tail.of(meeting_id)
        if on_lane is not None and seen["invited"] >= expected:
            break
        time.sleep(0.2)
    watch.close()
    seen = tail.of(meeting_id)
    on_kafka = seen["invited_last"] - t0 if seen["invited"] >= expected else None
    return {
        "invited": seen["invited"],
        "tasks": tasks,
        "on_kafka": on_kafka,
        "on_lane": on_lane,
        "invited_bytes": seen["invited_bytes"],
    }


# --- 2. live -----------------------------------------------------------------------------------


def conference_stats(run: Run) -> dict:
    stats = httpx.get(f"{run.urls['simulator']}/v1/stats", timeout=30).json()
    return {**stats["conference"], "webhooks": stats["stats"].get("conference_webhooks", 0)}


def live(run: Run, meeting_id: str, headers: dict, *, wait_s: float, dial_s: float) -> dict:
    """Waits (at most `wait_s`) for the first call, lets the dial-out run `dial_s`, then the
    organiser ends the meeting; the simulator's counters sampled every second."""
    samples: list[tuple[float, dict]] = []

    def first_call() -> bool:
        samples.append((time.time(), conference_stats(run)))
        return samples[-1][1].get("calls", 0) > 0

    first, failed = None, None
    try:
        wait_until(first_call, wait_s, run.processes["meetings"])
        first = samples[-1][0]
    except AssertionError as exc:
        failed = f"no call within {wait_s:.0f} s of waiting ({str(exc).splitlines()[0]})"
    while first is not None and time.time() < first + dial_s:
        time.sleep(1)
        samples.append((time.time(), conference_stats(run)))
    end_asked = time.time()
    answer = httpx.post(
        f"{run.urls['meetings']}/v1/meetings/{meeting_id}/end", headers=headers, timeout=60
    )
    if answer.status_code != 204:
        failed = (failed or "") + f"; end answered {answer.status_code}"
    return {"samples": samples, "first": first, "end_asked": end_asked, "failed": failed}


def attendance_reader(run: Run, meeting_id: str, headers: dict):
    url = f"{run.urls['meetings']}/v1/meetings/{meeting_id}/attendance"

    def read() -> dict:
        answer = httpx.get(url, headers=headers, timeout=120)
        answer.raise_for_status()
        return {**answer.json()["totals"], "state": answer.json()["state"]}

    return read


def reach_reader(meeting_id: str):
    """The platform analytics' reach of the meeting over the nation (404 until it counted one)."""
    token = organiser_token(sub="user-hq", unit="IN")
    url = f"{ANALYTICS_URL}/meetings/{meeting_id}/reach"

    def read() -> dict:
        answer = httpx.get(
            url, params={"unit": "IN"}, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        if answer.status_code == 404:
            return {"invited": 0, "joined": 0}
        answer.raise_for_status()
        return answer.json()["totals"]

    return read


def visible_after(joins: dict, samples: list, field: str = "joined") -> tuple[list[float], int]:
    """Per join (in the order the store took them): seconds from the provider's occurred_at until
    a poll that returned showed that many; and how many no poll showed."""
    order = sorted(joins.values(), key=lambda j: j[1])
    samples = sorted(samples, key=lambda s: s[1])
    lags, j = [], 0
    for k, (occurred, _) in enumerate(order, 1):
        while j < len(samples) and samples[j][2].get(field, 0) < k:
            j += 1
        if j == len(samples):
            return lags, len(order) - k + 1
        lags.append(samples[j][1] - occurred)
    return lags, 0


def first_at(samples: list, field: str, wanted: int) -> float | None:
    return next((returned for _, returned, v in samples if v.get(field, 0) >= wanted), None)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1)]


# --- baselines ---------------------------------------------------------------------------------


def raw_dial(simulator: str, calls: int, cps: float, cap: int) -> tuple[int, float]:
    """httpx alone dialling `calls` calls into bridges of `cap` (no webhooks) at `cps`, waiting
    out 429s; (calls taken, seconds from the first to the last)."""
    ns = uuid.uuid4().hex[:8]
    with httpx.Client(base_url=f"{simulator}/conference/v1", timeout=30) as client:
        bridges = [
            client.post(
                "/bridges",
                json={"bridge_ref": f"raw-{ns}-{b}", "capacity": cap, "listen_only": True},
            ).json()["bridge_id"]
            for b in range(max(1, math.ceil(calls / cap)))
        ]
        taken, started, last = 0, time.monotonic(), time.monotonic()
        for n in range(calls):
            time.sleep(max(0.0, started + n / cps - time.monotonic()))
            while True:
                answer = client.post(
                    f"/bridges/{bridges[n // cap]}/calls",
                    json={"call_ref": f"raw-{ns}-{n}", "to": f"+9198{n:08d}", "muted": True},
                )
                if answer.status_code != 429:
                    break
                time.sleep(float(answer.headers.get("Retry-After", "1")))
            taken += answer.status_code == 202
            last = time.monotonic()
        for bridge in bridges:
            client.post(f"/bridges/{bridge}/end")
    return taken, last - started


def raw_store(db, bootstrap: str, topic: str, n: int) -> list[float]:
    """The store's floor per webhook, pymongo and confluent-kafka alone, as the service does for
    one join: read the meeting and the participant, compare-and-set the attendance with its
    pending event, publish it confirmed, mark it published. Seconds per webhook."""
    meetings, invitees = db["raw_meetings"], db["raw_invitees"]
    meetings.insert_one({"_id": "m", "kind": "audio_bridge", "scope": ["IN-MP"]})
    invitees.insert_many([{"_id": f"m/{i}", "att_v": 0, "att": {}} for i in range(n)])
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    event = json.dumps({"meeting_id": "m", "pad": "x" * 400}).encode()
    took = []
    for i in range(n):
        started = time.perf_counter()
        meetings.find_one({"_id": "m"})
        doc = invitees.find_one({"_id": f"m/{i}"})
        invitees.update_one(
            {"_id": doc["_id"], "att_v": doc["att_v"]},
            {"$set": {"att": {"joined": True}, "att_pending": {"e": 1}}, "$inc": {"att_v": 1}},
        )
        producer.produce(topic, event, f"m/{i}".encode())
        producer.flush(10)
        invitees.update_one({"_id": doc["_id"]}, {"$unset": {"att_pending": ""}})
        took.append(time.perf_counter() - started)
    return took


# --- the run -----------------------------------------------------------------------------------


def bench(args, tmp: Path) -> dict:
    expected = sum(1 for u in generate_state(args.state) if u["level"] == "booth")
    out: dict = {"expected": expected, "load_before": os.getloadavg()}
    run = Run(tmp, state=args.state, cps=args.cps, cap=args.cap)
    threads: list = []
    try:
        tail = Tail(run.settings.kafka_bootstrap)
        threads.append(tail)
        tail.start()
        meeting_id, t0, headers = schedule(run, args.state, args.start_after)
        starts_at = t0 + args.start_after
        reach = Poller(reach_reader(meeting_id)) if ready(f"{ANALYTICS_URL}/readyz") else None
        if reach:
            threads.append(reach)
            reach.start()
        out["invitations"] = invitations(
            run, tail, meeting_id, t0, expected, timeout=args.start_after - 5
        )
        out["usage_invited"] = run.usage()
        print(f"invitations: {out['invitations']}", flush=True)  # kept if a later step fails
        api = Poller(attendance_reader(run, meeting_id, headers))
        threads.append(api)
        api.start()
        out["live"] = live(
            run,
            meeting_id,
            headers,
            wait_s=max(0.0, starts_at - time.time()) + 300,
            dial_s=args.dial_seconds,
        )
        out["usage_live"] = run.usage()
        try:
            wait_until(lambda: tail.of(meeting_id)["ended"] is not None, args.end_timeout)
            out["ended"] = time.time()
        except AssertionError:
            out["ended"] = None
        time.sleep(3)  # the last joins stored before the end reach a poll
        for poller in (api, reach):
            if poller:
                poller.stop()
        out["usage_end"] = run.usage()
        out["seen"] = tail.of(meeting_id)
        out["api"], out["reach"] = api.samples, reach.samples if reach else None
        out["api_failures"] = api.failures
        out["analytics_usage"] = _analytics_usage()
        # The baselines run on quiet servers: a service still retrying its jobs would load them.
        for name in ("meetings", "notifier", "recipients stand-in"):
            run.processes[name].stop()
        inv = out["invitations"]
        bootstrap = run.settings.kafka_bootstrap
        inv["raw_invited"] = raw_produce(bootstrap, expected, inv["invited_bytes"] or 900, run.ns)
        inv["task_bytes"] = sample_size(bootstrap, run.lane_topic(), f"{run.ns}-sample")
        inv["raw_tasks"] = raw_produce(bootstrap, expected, inv["task_bytes"], run.ns)
        calls = int(args.cps * args.dial_seconds)  # what the window holds at the pace
        out["raw_dial"] = raw_dial(run.urls["simulator"], calls, args.cps, args.cap)
        db = MongoClient(run.settings.mongo_url)[run.db_name]
        joins = max(100, min(len(out["seen"]["joins"]), 3000))
        out["raw_store"] = raw_store(db, bootstrap, f"{run.ns}.raw-baseline", joins)
        out["load_after"] = os.getloadavg()
        return out
    finally:
        for thread in threads:
            thread.stop()
        run.close()


def _analytics_usage() -> tuple[float, float] | None:
    """The platform's analytics worker, if this checkout runs it (its whole life so far)."""
    try:
        pid = int((ROOT / ".state" / "run" / "analytics.pid").read_text())
        return vm_hwm_mb(pid), cpu_seconds(pid)
    except (OSError, ValueError):
        return None


def report(out: dict, args) -> None:
    inv, lv, seen, n = out["invitations"], out["live"], out["seen"], out["expected"]
    samples = lv["samples"] or [(lv["end_asked"], {})]
    window = [s for s in samples if (lv["first"] or 0) <= s[0] <= lv["end_asked"]] or samples[-1:]
    (t_first, first), (t_last, last) = window[0], window[-1]
    calls = last.get("calls", 0) - first.get("calls", 0) + (1 if lv["first"] else 0)
    seconds = max(t_last - t_first, 1e-9)
    dialled = seconds if lv["first"] else None
    webhooks = last.get("webhooks", 0) - first.get("webhooks", 0)
    joins = {p: j for p, j in seen["joins"].items() if j[1] <= lv["end_asked"]}
    stored = [created - occurred for occurred, created in joins.values()]
    api_lags, api_unseen = visible_after(joins, out["api"])
    get_s = [returned - sent for sent, returned, _ in out["api"]]
    raw_calls, raw_s = out["raw_dial"]
    store = out["raw_store"]
    rows = [
        ("participant-invited all on Kafka", f"{inv['invited']:,} events", inv["on_kafka"]),
        ("  baseline: raw confluent-kafka produce", f"{n:,} x {inv['invited_bytes']} B",
         inv["raw_invited"]),
        ("invitations all on the notifier's lane", f"{inv['tasks']:,} tasks", inv["on_lane"]),
        ("  baseline: raw confluent-kafka produce", f"{n:,} x {inv['task_bytes']} B",
         inv["raw_tasks"]),
        (f"dial-out, configured {args.cps:g} cps", f"{calls:,} calls", dialled),
        ("  baseline: raw httpx dial-out, same pace", f"{raw_calls:,} calls", raw_s),
        ("webhooks the service took (dial window)", f"{webhooks:,} webhooks", dialled),
        ("  baseline: raw pymongo + kafka per webhook", f"{len(store):,} webhooks", sum(store)),
    ]  # fmt: skip
    print(
        f"\nMeetings benchmark: IN-{args.state} booth presidents ({n:,} invitees), cap {args.cap}, "
        f"{args.cps:g} calls/s (logs in {out['tmp']})\n"
    )
    print(f"| {'measure':<44} | {'volume':>20} | {'seconds':>8} | {'per second':>10} |")
    print(f"|{'-' * 46}|{'-' * 22}|{'-' * 10}|{'-' * 12}|")
    for name, volume, took in rows:
        count = int(volume.split()[0].replace(",", ""))
        took_s = f"{took:8.1f}" if took else "    n/a "
        rate = f"{count / took:10,.0f}" if took else "       n/a"
        print(f"| {name:<44} | {volume:>20} | {took_s} | {rate} |")
    print(
        f"\nbridges planned (meeting-started): {seen['bridges']} for {n:,} invitees under a cap "
        f"of {args.cap} (1 speaker bridge, relays, ceil(n / (cap - 1)) listener bridges = "
        f"{plan_bridges('m', n, args.cap, None, LATE_JOINER_SEATS).count})"
    )
    print(
        f"dial-out: {calls / seconds:.1f} calls/s achieved of {args.cps:g} configured "
        f"({last.get('paced', 0):,} answered 429 by the simulator); raw httpx at the same pace "
        f"{raw_calls / max(raw_s, 1e-9):.1f}/s; "
        f"callbacks {webhooks / seconds:.1f}/s, {webhooks / max(calls, 1):.2f} per call"
    )
    print(
        f"attendance, {len(joins):,} joins: stored (event created - occurred_at) p50 "
        f"{pct(stored, 50):.2f} s, p99 {pct(stored, 99):.2f} s; on GET .../attendance p50 "
        f"{pct(api_lags, 50):.2f} s, p99 {pct(api_lags, 99):.2f} s "
        f"({api_unseen} not seen before the end); the GET itself p50 {pct(get_s, 50):.2f} s, "
        f"p99 {pct(get_s, 99):.2f} s over {len(get_s)} polls"
    )
    print(
        f"  baseline store floor per webhook (raw): p50 {pct(store, 50) * 1000:.1f} ms, "
        f"p99 {pct(store, 99) * 1000:.1f} ms"
    )
    if lv["failed"]:
        print(f"live phase: {lv['failed']}")
    if out["ended"]:
        ended = out["ended"] - lv["end_asked"]
        print(f"end asked -> meeting-ended (bridges ended, reconciled): {ended:.1f} s")
    else:
        print(f"no meeting-ended within {args.end_timeout:.0f} s of the end being asked")
    failures = out["api_failures"]
    if failures:
        print(f"GET .../attendance failed {failures} times (timeouts, 503s) while polled")
    if out["reach"] is not None:
        reach_lags, reach_unseen = visible_after(joins, out["reach"])
        invited_at = first_at(out["reach"], "invited", n)
        invited_lag = invited_at - seen["invited_last"] if invited_at else None
        print(
            f"analytics /meetings/{{id}}/reach: all {n:,} invited "
            + (f"{invited_lag:.1f} s after the last was on Kafka" if invited_lag else "not seen")
            + f"; joins p50 {pct(reach_lags, 50):.2f} s, p99 {pct(reach_lags, 99):.2f} s "
            f"after occurred_at ({reach_unseen} not seen)"
        )
    else:
        print(f"analytics: no worker answering at {ANALYTICS_URL}; reach lag not measured")
    print("\npeak memory (VmHWM, MB) / CPU seconds:")
    for name, (mb, cpu) in out["usage_end"].items():
        inv_cpu = out["usage_invited"].get(name, (0, 0))[1]
        live_cpu = out["usage_live"].get(name, (0, 0))[1] - inv_cpu
        print(
            f"  {name}: {mb:,.0f} MB; CPU {cpu:,.1f} s (until invited {inv_cpu:.1f} s, "
            f"dial window {live_cpu:.1f} s)"
        )
    if out["analytics_usage"]:
        mb, cpu = out["analytics_usage"]
        print(f"  platform analytics worker (its whole life): {mb:,.0f} MB; CPU {cpu:,.1f} s")
    print(
        "\nload average before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f} (2 cores)".format(
            *out["load_before"], *out["load_after"]
        )
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--state", default="MP", help="state code: its booth presidents")
    parser.add_argument("--cps", type=float, default=50, help="the provider's calls per second")
    parser.add_argument("--cap", type=int, default=250, help="the provider's per-bridge cap")
    parser.add_argument("--dial-seconds", type=float, default=60, help="dial-out then ends")
    parser.add_argument(
        "--start-after",
        type=float,
        default=480,
        help="seconds from scheduling to the start: every invitation must be out by then",
    )
    parser.add_argument("--end-timeout", type=float, default=300, help="seconds the end may take")
    args = parser.parse_args(argv)
    # Stopped from outside (make bench interrupted, a timeout): still stop and drop what it made.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="meetings-bench-"))
    out = bench(args, tmp)
    out["tmp"] = tmp
    report(out, args)


if __name__ == "__main__":
    main()
