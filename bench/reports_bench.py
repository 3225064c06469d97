"""Benchmark of field reports: a state's daily report to every booth president, its answers
through the HTTP path, and how soon analytics counts them (make bench).

    .venv/bin/python bench/reports_bench.py [--state UP] [--submissions 30000] [--clients 64]
    .venv/bin/python bench/reports_bench.py --small     # HP, 3,000 answers: a CI-sized machine
    .venv/bin/python bench/reports_bench.py --state IN --submissions 3000 --counting 0  # nation

One run with a reports service of its own (a scratch database holding the state's tree, so its
fan-out reads real booth pages) on the platform's Kafka and FerretDB:

1. Dispatch: HQ's built-in daily feedback form is dispatched to the state's booth presidents
   (POST /v1/dispatches); timed until every report-dispatched is on Kafka (the last record's
   broker create time). The fan-out writes to a scratch topic (`<ns>.` + the submissions topic):
   the platform's analytics worker is spared a state's worth of dispatches it would still be
   counting when the next step measures it. Baseline: raw confluent-kafka produce of as many
   records of the same size. `--state IN` dispatches to the nation's 1,048,202 booths (its tree
   takes ~6 minutes to load into the scratch database); a state's run extrapolates the nation
   from its rate in the printout, and says so.
2. Answers: `--clients` concurrent keep-alive clients (benchkit.http_load) over loopback POST one
   submission per booth (client-made ids; every 20th is sent twice, and the second must be the same
   submission, 200) for at most `--seconds` or `--submissions`. Submissions go to the platform's
   submissions topic, which the platform's analytics worker counts; its /reports/IN for the form and
   today is polled throughout. Reported: answers accepted per second, how soon analytics counted
   them all (its ingest rate), the lag per answer under that load (201 returned -> a poll showing
   it), and, once quiet, `--probes` single answers each polled every 50 ms until counted. Baselines:
   the same clients on the service's trivial GET /healthz; raw pymongo inserts of as many documents
   like the service's booth reports, one `insert_one` each and one `insert_many` per batch of the
   service's mean group-commit batch size (its /metrics); raw confluent-kafka produce of as many
   records of report-submitted's size.
3. Peak memory (VmHWM) and CPU seconds of the reports service and of the platform's analytics
   worker (if this checkout runs it); the load average before and after.
4. Counting (`--counting`, 0 to skip; `--counting-only` runs this step alone, needing only
   Kafka): report-submitted events for the state's booths (every 20th sent twice, as a relay
   repeats one) written straight to scratch topics, then counted by a worker of the step's own
   (a scratch Faust app id, testkit/rollout.py): from a backlog, events per second of wall time
   and per CPU second of the worker between 5% and 95% of it (its own counters), and seconds
   until /reports/IN shows them all; then `--counting-pace` events a second for
   `--counting-seconds`, each event's time to a /reports/IN poll (every 50 ms) showing it,
   p50/p99. Baseline: raw confluent-kafka produce of as many records of the same size.

Everything is loopback and bounded in time and count; whatever the run started is stopped by pid
and its scratch database and topics dropped, also on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import httpx  # noqa: E402
import uvloop  # noqa: E402
from benchkit import (  # noqa: E402  (beside this file)
    PYTHON,
    Poller,
    cpu_seconds,
    http_load,
    http_request,
    load_line,
    pct,
    raw_produce,
    ready,
    stop_and_drop,
    vm_hwm_mb,
    wait_ready,
)
from confluent_kafka import Consumer, Producer, TopicPartition  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from pymongo import MongoClient  # noqa: E402

from shared import topics  # noqa: E402
from shared.auth.issuer import organiser_token  # noqa: E402
from shared.events import types  # noqa: E402
from shared.events.contracts import CONTENT_TYPE, from_kafka, schema_uri  # noqa: E402
from shared.orgtree.generator import generate_national, generate_state  # noqa: E402
from shared.orgtree.levels import booth_path  # noqa: E402
from shared.orgtree.repository import OrgRegistry  # noqa: E402
from shared.settings import PlatformSettings  # noqa: E402
from testkit.processes import Process, free_port, start_service  # noqa: E402
from testkit.reports import REPORTS_SOURCE  # noqa: E402
from testkit.rollout import ScratchStream  # noqa: E402

ANALYTICS_URL = os.environ.get("ANALYTICS_URL", "http://127.0.0.1:8004")
NATIONAL_BOOTHS = 1_048_202
DAILY_FORM = "2b1f0c7e-4d3a-4f5b-9c8e-1a0d2e3f4b5c"  # reports/forms/daily_feedback.yaml
ANSWERS = {"mood": "good", "meeting_held": True, "attendees": 12, "raised_issue": False}


def bench_app():
    """The reports service as `make up` wires it, but for its fan-out's topic: report-dispatched
    goes to `$BENCH_NS.<topic>` (run by uvicorn --factory in the service's own process)."""
    from reports.api import create_reports_app
    from reports.bootstrap import bootstrap
    from reports.settings import ReportsSettings
    from shared.events import types

    scratch = f"{os.environ['BENCH_NS']}.{topics.REPORT_SUBMISSIONS.name}"

    def topic_for(event_type: str) -> str:
        if event_type == types.REPORT_DISPATCHED:
            return scratch
        return topics.topic_for(event_type).name

    return create_reports_app(bootstrap(ReportsSettings(), topic_for=topic_for))


def in_no_order(booths: list[str]) -> list[str]:
    """The booths shuffled (the same way each run): a morning's answers come from all over the
    state. In the tree's order, consecutive answers share their sector, mandal and district, so
    the service finds their sector's page kept and analytics publishes a partial for many answers
    at once (1.17 partial records an answer, 3.48 shuffled): counting alone ran at 3,516/s in
    that order and 2,281/s shuffled (5 Dec)."""
    return random.Random(7).sample(booths, len(booths))


def tree(state: str):
    """The units of a state, or of the nation for `IN` (the national dispatch, 1,048,202 booths)."""
    return generate_national() if state == "IN" else generate_state(state)


def unit_of(state: str) -> str:
    return "IN" if state == "IN" else f"IN-{state}"


class Run:
    """The reports service over a scratch database with the state's tree; `close` removes all."""

    def __init__(self, tmp: Path, *, state: str):
        self.settings = PlatformSettings()
        self.ns = f"bench-{uuid.uuid4().hex[:8]}"
        self.db_name = f"bench_reports_{self.ns[6:]}"
        self.dispatch_topic = f"{self.ns}.{topics.REPORT_SUBMISSIONS.name}"
        self.processes: dict = {}
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        try:
            started = time.monotonic()
            db = MongoClient(self.settings.mongo_url)[self.db_name]
            OrgRegistry(db).load(tree(state))
            self.tree_load_s = time.monotonic() - started
            admin = AdminClient({"bootstrap.servers": self.settings.kafka_bootstrap})
            partitions = topics.REPORT_SUBMISSIONS.partitions
            new = NewTopic(self.dispatch_topic, partitions, 1)
            admin.create_topics([new])[self.dispatch_topic].result()
            command = [
                PYTHON, "-m", "uvicorn", "reports_bench:bench_app", "--factory", "--host",
                "127.0.0.1", "--port", str(port), "--no-access-log",
            ]  # fmt: skip
            self.processes["reports"] = Process(
                command,
                {
                    "SANGATHAN_ENV": "test",
                    "MONGO_DB": self.db_name,
                    "LOG_LEVEL": "WARNING",
                    "BENCH_NS": self.ns,
                    "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'bench'}",
                },
                tmp / "reports.log",
            )
            wait_ready([(self.processes["reports"], port)])
        except BaseException:
            self.close()
            raise

    def usage(self) -> dict[str, tuple[float, float]]:
        return {
            name: (vm_hwm_mb(p.proc.pid), cpu_seconds(p.proc.pid))
            for name, p in self.processes.items()
            if p.proc.poll() is None
        }

    def close(self) -> None:
        stop_and_drop(self.processes.values(), self.settings, self.ns, self.db_name)


def bearer(unit: str) -> dict:
    return {"Authorization": f"Bearer {organiser_token(sub=f'user-{unit.lower()}', unit=unit)}"}


# --- 1. dispatch -------------------------------------------------------------------------------


def dispatch(run: Run, state: str, expected: int, timeout: float) -> dict:
    """POST the state's daily round; seconds until every report-dispatched was on Kafka (the
    last record's create time), with the reports service's CPU seconds over it."""
    unit = unit_of(state)
    body = {
        "form_id": DAILY_FORM,
        "scope": [unit],
        "audience": ["booth_president"],
        "cadence": "once",
        "due_after_h": 12,
    }
    cpu_before = cpu_seconds(run.processes["reports"].proc.pid)
    t0 = time.time()
    answer = httpx.post(f"{run.url}/v1/dispatches", json=body, headers=bearer(unit), timeout=60)
    answer.raise_for_status()
    asked = time.time() - t0
    dispatch_id = answer.json()["rounds"][0]["dispatch_id"]
    watch = Consumer({"bootstrap.servers": run.settings.kafka_bootstrap, "group.id": run.ns})
    parts = [
        TopicPartition(run.dispatch_topic, p) for p in range(topics.REPORT_SUBMISSIONS.partitions)
    ]
    fanned_out, deadline = None, time.time() + timeout
    url = f"{run.url}/v1/dispatches/{dispatch_id}"
    while time.time() < deadline and not fanned_out:
        time.sleep(0.2)
        # Done once the cursor is at the end, Kafka having confirmed every page before it.
        fanned_out = httpx.get(url, headers=bearer(unit), timeout=30).json().get("fanned_out")
    on_kafka = sum(watch.get_watermark_offsets(tp, timeout=10)[1] for tp in parts)
    cpu = cpu_seconds(run.processes["reports"].proc.pid) - cpu_before
    last, size = _last_record(watch, parts)
    watch.close()
    return {
        "dispatch_id": dispatch_id,
        "on_kafka": on_kafka,
        "seconds": last - t0 if fanned_out else None,
        "post_s": asked,
        "bytes": size,
        "cpu_s": cpu,
    }


def _last_record(consumer: Consumer, parts: list[TopicPartition]) -> tuple[float, int]:
    """The newest create time (s) over the partitions' last records, and one record's size."""
    ends = [consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in parts]
    consumer.assign(
        [TopicPartition(tp.topic, tp.partition, max(0, end - 1)) for tp, end in zip(parts, ends)]
    )
    wanted, newest, size = sum(1 for end in ends if end), 0.0, 0
    deadline = time.time() + 30
    while wanted and time.time() < deadline:
        for msg in consumer.consume(wanted, 1):
            if not msg.error():
                newest = max(newest, msg.timestamp()[1] / 1000)
                size = len(msg.value())
                wanted -= 1
    return newest, size


# --- 2. answers --------------------------------------------------------------------------------


def submitted_reader(period_key: str):
    """How many answers the platform analytics counts for the form and period, nationwide."""
    client = httpx.Client(base_url=ANALYTICS_URL, headers=bearer("IN"), timeout=10)
    params = {"form_id": DAILY_FORM, "period_key": period_key}

    def read() -> int:
        answer = client.get("/reports/IN", params=params)
        answer.raise_for_status()
        return answer.json()["submitted"]

    return read


def submissions(run: Run, dispatch_id: str, booths: list[str], args) -> dict:
    """One answer per booth from concurrent clients (every 20th sent twice); analytics polled."""
    url = f"{run.url}/v1/dispatches/{dispatch_id}/submissions"
    headers = bearer(booths[0].split("-D")[0])

    def requests():
        for n, booth in enumerate(booths):
            body = {"submission_id": str(uuid.uuid4()), "booth_id": booth, "answers": ANSWERS}
            request = http_request("POST", url, body, headers)
            yield request
            if n % 20 == 0:
                yield request

    cpu = time.process_time()
    results = load(run.url, requests(), args.clients, args.seconds, args.pace)
    cpu = time.process_time() - cpu  # the clients', and the analytics poller's
    statuses: dict[int, int] = {}
    for status, _, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    acked = sorted(returned for status, _, returned in results if status == 201)
    first = min(sent for _, sent, _ in results)
    last = max(returned for _, _, returned in results)
    return {
        "statuses": statuses,
        "acked": acked,
        "first": first,
        "seconds": last - first,
        "latencies": [returned - sent for _, sent, returned in results],
        "client_cpu_s": cpu,
    }


def counted_by(poller: Poller, base: int, wanted: int, timeout: float) -> float | None:
    """When (a poll returned) analytics had counted `wanted` more than `base`; None: not in time."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for _, returned, value in poller.samples[-5:]:
            if value - base >= wanted:
                return next(r for _, r, v in poller.samples if v - base >= wanted)
        time.sleep(0.2)
    return None


def lags_under_load(acked: list[float], samples: list, base: int) -> tuple[list[float], int]:
    """Per accepted answer, in order: seconds from its 201 to a poll that returned showing that
    many counted; and how many no poll showed."""
    lags, j = [], 0
    for k, at in enumerate(acked, 1):
        while j < len(samples) and samples[j][2] - base < k:
            j += 1
        if j == len(samples):
            return lags, len(acked) - k + 1
        lags.append(max(0.0, samples[j][1] - at))
    return lags, 0


def probes(run: Run, dispatch_id: str, booths: list[str], period_key: str) -> list[float]:
    """Quiet: one answer at a time, analytics asked every 50 ms until it counts it (at most
    10 s each); seconds from the 201 to the poll that showed it (inf: not seen, or the answer
    was never taken: 503 five times)."""
    read = submitted_reader(period_key)
    url = f"{run.url}/v1/dispatches/{dispatch_id}/submissions"
    headers = bearer(booths[0].split("-D")[0])
    lags = []
    with httpx.Client(timeout=30) as client:
        for booth in booths:
            before = read()
            body = {"submission_id": str(uuid.uuid4()), "booth_id": booth, "answers": ANSWERS}
            for _ in range(5):  # a 503 is retried after its Retry-After, as a client would
                answer = client.post(url, json=body, headers=headers)
                if answer.status_code != 503:
                    break
                time.sleep(float(answer.headers.get("Retry-After", "1")))
            if answer.status_code != 201:
                lags.append(float("inf"))
                continue
            acked = time.time()
            while time.time() < acked + 10:
                if read() > before:
                    lags.append(time.time() - acked)
                    break
                time.sleep(0.05)
            else:
                lags.append(float("inf"))
    return lags


# --- baselines ---------------------------------------------------------------------------------


def load(
    base: str, requests, clients: int, seconds: float, pace: float = 0
) -> list[tuple[int, float, float]]:
    """The requests over `clients` keep-alive connections (benchkit.http_load, on uvloop)."""
    host, port = base.removeprefix("http://").split(":")
    return uvloop.run(http_load(host, int(port), requests, clients, seconds, pace))


def raw_http(url: str, count: int, clients: int, seconds: float) -> tuple[int, float]:
    """The same clients, as many GETs of the service's trivial /healthz: (answered, seconds)."""
    request = http_request("GET", url)
    results = load(url.rsplit("/", 1)[0], (request for _ in range(count)), clients, seconds)
    ok = [r for r in results if r[0] == 200]
    return len(ok), max(r[2] for r in results) - min(r[1] for r in results)


def raw_mongo(db, template: dict, count: int) -> float:
    """pymongo alone: insert_one of `count` documents like the service's booth reports (the
    service's own write per answer, without its reads, pointer, relay or HTTP)."""
    docs = db["raw_booth_reports"]
    template = {k: v for k, v in template.items() if k != "_id"}
    started = time.monotonic()
    for n in range(count):
        docs.insert_one({**template, "_id": f"raw/{n}"})
    return time.monotonic() - started


def raw_mongo_batched(db, template: dict, count: int, batch: int) -> float:
    """pymongo alone: the same documents written `batch` at a time with one
    insert_many(ordered=False) each, as the service's group commit writes first answers."""
    docs = db["raw_booth_reports_batched"]
    template = {k: v for k, v in template.items() if k != "_id"}
    started = time.monotonic()
    for first in range(0, count, batch):
        last = min(first + batch, count)
        docs.insert_many([{**template, "_id": f"raw/{n}"} for n in range(first, last)], False)
    return time.monotonic() - started


def mean_batch(url: str) -> float:
    """The mean size of the service's booth-report batches, from its /metrics (1: none)."""
    found: dict[str, float] = {}
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        named = line.startswith("sangathan_group_commit_batch_size_")
        if named and 'batch="booth-reports"' in line:
            name, value = line.split("{", 1)[0], float(line.rsplit(" ", 1)[1])
            found[name] = value
    count = found.get("sangathan_group_commit_batch_size_count", 0)
    return found["sangathan_group_commit_batch_size_sum"] / count if count else 1.0


# --- 4. counting -------------------------------------------------------------------------------
# The load generator is not what is measured: records are written in binary mode directly (the
# first checked with from_kafka, so a drift from the contract fails the run, not skews it).

COUNTED = re.compile(
    r'^sangathan_analytics_events_total\{outcome="[^"]+",type="'
    + re.escape(types.REPORT_SUBMITTED)
    + r'"\} ([0-9.e+]+)$',
    re.M,
)
WORKER_CPU = re.compile(r"^process_cpu_seconds_total ([0-9.e+]+)$", re.M)
PARTIALS = re.compile(r"^sangathan_analytics_partials_published_total ([0-9.e+]+)$", re.M)


def submitted_record(booth: str, dispatch_id: str, period_key: str) -> tuple[bytes, bytes, list]:
    at = datetime.now(timezone.utc)
    data = {
        "dispatch_id": dispatch_id,
        "form_id": DAILY_FORM,
        "booth_id": booth,
        "booth_path": booth_path(booth),
        "period_key": period_key,
        "submission_id": str(uuid.uuid4()),
        "form_version": 1,
        "submitted_by": "user-bench",
        "attempt": 1,
        "late": False,
        "answers": [
            {"question_id": "mood", "option_ids": ["good"], "number": None, "yes": None,
             "date": None, "text_given": False},
            {"question_id": "meeting_held", "option_ids": None, "number": None, "yes": True,
             "date": None, "text_given": False},
            {"question_id": "attendees", "option_ids": None, "number": 12, "yes": None,
             "date": None, "text_given": False},
        ],
        "submitted_at": at.isoformat(),
    }  # fmt: skip
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_source", REPORTS_SOURCE.encode()),
        ("ce_type", types.REPORT_SUBMITTED.encode()),
        ("ce_subject", booth.encode()),
        ("ce_time", at.isoformat().replace("+00:00", "Z").encode()),
        ("content-type", CONTENT_TYPE.encode()),
        ("ce_dataschema", schema_uri(types.REPORT_SUBMITTED).encode()),
    ]
    return booth.encode(), json.dumps(data).encode(), headers


class Answers:
    """One submission per booth and dispatch: a new dispatch id each time the booths run out."""

    def __init__(self, booths: list[str], period_key: str):
        self.booths, self.period_key, self.n = booths, period_key, 0
        self.dispatch_id = ""

    def next(self) -> tuple[bytes, bytes, list]:
        if self.n % len(self.booths) == 0:
            self.dispatch_id = str(uuid.uuid4())
        booth = self.booths[self.n % len(self.booths)]
        self.n += 1
        return submitted_record(booth, self.dispatch_id, self.period_key)


def produce_answers(
    producer: Producer, topic: str, answers: Answers, count: int, pace: float | None = None
) -> tuple[list[float], int]:
    """`count` distinct answers, every 20th sent twice: (each distinct one's send time, bytes)."""
    sent, size = [], 0
    started = time.monotonic()
    for i in range(count):
        if pace:
            wait = started + i / pace - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        key, value, headers = answers.next()
        if i < 3:
            from_kafka(headers, key, value)  # the contract still holds
        size = len(value)
        for _ in range(2 if i % 20 == 0 else 1):
            while True:
                try:
                    producer.produce(topic, value, key, headers=headers)
                    break
                except BufferError:
                    producer.poll(0.1)
        producer.poll(0)
        sent.append(time.time())
    producer.flush(60)
    return sent, size


def worker_counters(base: str) -> tuple[float, float]:
    """(report-submitted events the worker has handled, whatever it did; its CPU seconds)."""
    text = httpx.get(base + "/metrics", timeout=5).text
    return sum(float(v) for v in COUNTED.findall(text)), float(WORKER_CPU.search(text)[1])


def drain(base: str, expected: int, timeout_s: float) -> tuple[float, float]:
    """(events per second of wall time, per CPU second of the worker) between 5% and 95% of a
    backlog of `expected` records."""
    marks: list[tuple[float, float, float]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        n, cpu = worker_counters(base)
        marks.append((time.monotonic(), n, cpu))
        if n >= expected:
            break
        time.sleep(0.25)
    else:
        raise SystemExit(f"the worker handled {marks[-1][1]:.0f} of {expected} in {timeout_s} s")
    low = next(m for m in marks if m[1] >= 0.05 * expected)
    high = next(m for m in marks if m[1] >= 0.95 * expected)
    events = high[1] - low[1]
    return (
        events / max(high[0] - low[0], 1e-6),
        events / max(high[2] - low[2], 1e-6),
        high[0] - low[0],
    )


def counting(args, tmp: Path) -> dict:
    """Step 4 (see the module's docstring), on scratch topics and a scratch worker."""
    settings = PlatformSettings()
    booths = [u["id"] for u in tree(args.state) if u["level"] == "booth"]
    period_key = datetime.now(timezone.utc).date().isoformat()
    answers = Answers(in_no_order(booths), period_key)
    scratch = ScratchStream(settings.kafka_bootstrap, f"bench-counting-{uuid.uuid4().hex[:8]}")
    scratch.create()
    topic = scratch.topic(topics.REPORT_SUBMISSIONS)
    producer = Producer(
        {"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True,
         "acks": "all", "linger.ms": 20}
    )  # fmt: skip
    worker = None
    out: dict = {"count": args.counting, "sent": args.counting + (args.counting + 19) // 20}
    try:
        started = time.monotonic()
        _, out["bytes"] = produce_answers(producer, topic, answers, args.counting)
        out["produce_s"] = time.monotonic() - started
        out["raw_s"] = raw_produce(
            settings.kafka_bootstrap, out["sent"], out["bytes"], scratch.prefix
        )
        print(f"counting: {out['sent']:,} records on Kafka in {out['produce_s']:.1f} s", flush=True)
        (tmp / "counting").mkdir(exist_ok=True)
        worker, base = start_service("analytics", scratch.worker_env(), tmp / "counting")
        out["pid"] = worker.proc.pid
        read = httpx.Client(base_url=base, headers=bearer("IN"), timeout=10)
        params = {"form_id": DAILY_FORM, "period_key": period_key}

        def submitted() -> int:
            answer = read.get("/reports/IN", params=params)
            return answer.json()["submitted"] if answer.status_code == 200 else 0

        first = time.monotonic()
        out["rate"], out["cpu_rate"], out["drain_s"] = drain(base, out["sent"], args.count_timeout)
        while submitted() < args.counting:
            if time.monotonic() - first > args.count_timeout:
                raise SystemExit(f"/reports/IN showed {submitted()} of {args.counting}")
            time.sleep(0.05)
        out["visible_s"] = time.monotonic() - first
        metrics = httpx.get(base + "/metrics", timeout=5).text
        out["partials"] = float(PARTIALS.search(metrics)[1])
        # What the worker burns with nothing to count (timers, lag probe, view reader): on a
        # loaded machine a slow drain adds this to every event's CPU share.
        _, idle0 = worker_counters(base)
        time.sleep(5)
        out["idle_cpu"] = (worker_counters(base)[1] - idle0) / 5
        print(
            f"counting: backlog {out['rate']:,.0f} events/s ({out['cpu_rate']:,.0f} per CPU "
            f"second), all on /reports/IN {out['visible_s']:.1f} s after the worker was up",
            flush=True,
        )
        paced = int(args.counting_pace * args.counting_seconds)
        if paced:
            poller = Poller(submitted, every=0.05)
            base_count = poller.read()
            poller.start()
            n0, cpu0 = worker_counters(base)
            sent_at, _ = produce_answers(producer, topic, answers, paced, args.counting_pace)
            out["pace"] = paced / (sent_at[-1] - sent_at[0]) if paced > 1 else 0
            deadline = time.time() + args.count_timeout
            while time.time() < deadline and (
                not poller.samples or poller.samples[-1][2] - base_count < paced
            ):
                time.sleep(0.1)
            poller.stop()
            n1, cpu1 = worker_counters(base)
            out["paced_cpu_ms"] = (cpu1 - cpu0) / max(n1 - n0, 1) * 1000
            out["paced_s"] = time.time() - sent_at[0]
            out["lags"] = lags_under_load(sent_at, poller.samples, base_count)
        return out
    finally:
        producer.flush(10)
        if worker is not None:
            worker.stop()
        scratch.delete()


def report_counting(c: dict, args) -> None:
    print(
        f"\nCounting: {c['count']:,} report-submitted answers of {unit_of(args.state)} "
        f"({c['sent']:,} records, every 20th twice, {c['bytes']} B each), a worker of its own"
    )
    print(
        f"  backlog: {c['rate']:,.0f} events/s, {c['cpu_rate']:,.0f} per worker CPU second "
        f"({1000 / c['cpu_rate']:.2f} ms CPU per event); all {c['count']:,} on /reports/IN "
        f"{c['visible_s']:.1f} s after the worker was up; {c['partials']:,.0f} partial records "
        f"published ({c['partials'] / c['count']:.2f} per answer)"
    )
    # Between 5% and 95% of the backlog: CPU per event less what the worker burns idle.
    events = c["rate"] * c["drain_s"]
    marginal = (events / c["cpu_rate"] - c["idle_cpu"] * c["drain_s"]) / events
    print(
        f"  worker idle: {c['idle_cpu'] * 1000:.0f} ms CPU a second; backlog less idle: "
        f"{marginal * 1000:.2f} ms CPU per event ({1 / marginal:,.0f} events per CPU second)"
    )
    print(
        f"  baseline: raw confluent-kafka produce of {c['sent']:,} x {c['bytes']} B: "
        f"{c['raw_s']:.1f} s, {c['sent'] / c['raw_s']:,.0f}/s (this run's own produce: "
        f"{c['produce_s']:.1f} s)"
    )
    if "lags" in c:
        lags, unseen = c["lags"]
        print(
            f"  paced at {c['pace']:,.0f}/s for {args.counting_seconds:.0f} s: visible on "
            f"/reports/IN p50 {pct(lags, 50):.2f} s, p99 {pct(lags, 99):.2f} s, max "
            f"{max(lags, default=float('nan')):.2f} s ({unseen} not seen); worker CPU "
            f"{c['paced_cpu_ms']:.2f} ms per event"
        )


# --- the run -----------------------------------------------------------------------------------


def platform_pid(name: str) -> int | None:
    """A process of the platform this checkout runs (analytics, ferretdb), if it runs."""
    try:
        pid = int((ROOT / ".state" / "run" / f"{name}.pid").read_text())
        cpu_seconds(pid)
        return pid
    except (OSError, ValueError):
        return None


def cpu_of(pid: int | None) -> float:
    return cpu_seconds(pid) if pid else 0.0


def bench(args, tmp: Path) -> dict:
    booths = [u["id"] for u in tree(args.state) if u["level"] == "booth"]
    out: dict = {"expected": len(booths), "load_before": os.getloadavg()}
    analytics = platform_pid("analytics") if ready(f"{ANALYTICS_URL}/readyz") else None
    ferretdb, kafka = platform_pid("ferretdb"), platform_pid("kafka")
    run = Run(tmp, state=args.state)
    out["tree_load_s"] = run.tree_load_s
    poller = None
    try:
        out["dispatch"] = dispatch(run, args.state, len(booths), args.dispatch_timeout)
        print(f"dispatch: {out['dispatch']}", flush=True)  # kept if a later step fails
        out["usage_dispatch"] = run.usage()
        round_ = httpx.get(
            f"{run.url}/v1/dispatches/{out['dispatch']['dispatch_id']}",
            headers=bearer("IN"),
            timeout=30,
        ).json()
        period_key, dispatch_id = round_["period_key"], round_["dispatch_id"]
        answering = in_no_order(booths)[: args.submissions + args.probes]
        answering, quiet = answering[: args.submissions], answering[args.submissions :]
        if analytics:
            poller = Poller(submitted_reader(period_key), every=0.2)
            base = poller.read()
            poller.start()
        cpu0 = {name: cpu for name, (_, cpu) in run.usage().items()}
        analytics_cpu0, ferretdb_cpu0 = cpu_of(analytics), cpu_of(ferretdb)
        kafka_cpu0 = cpu_of(kafka)
        sub = submissions(run, dispatch_id, answering, args)
        out["submissions"] = sub
        time.sleep(2)  # the relay's last events are written after the last answer
        out["cpu_submissions"] = {
            name: cpu - cpu0.get(name, 0) for name, (_, cpu) in run.usage().items()
        }
        out["cpu_submissions"]["ferretdb"] = cpu_of(ferretdb) - ferretdb_cpu0
        out["cpu_submissions"]["kafka"] = cpu_of(kafka) - kafka_cpu0
        print(
            f"submissions: {sub['statuses']} in {sub['seconds']:.1f} s; CPU s "
            f"{out['cpu_submissions']}",
            flush=True,
        )
        if poller:
            accepted = len(sub["acked"])
            out["all_counted"] = counted_by(poller, base, accepted, args.count_timeout)
            out["analytics_cpu"] = cpu_of(analytics) - analytics_cpu0
            poller.stop()
            out["lags"] = lags_under_load(sub["acked"], poller.samples, base)
            out["probes"] = probes(run, dispatch_id, quiet, period_key)
        out["usage_end"] = run.usage()
        out["analytics_usage"] = (
            (vm_hwm_mb(analytics), cpu_seconds(analytics)) if analytics else None
        )
        # Baselines on quiet servers.
        n = len(sub["acked"])
        out["mean_batch"] = mean_batch(run.url)
        out["raw_http"] = raw_http(f"{run.url}/healthz", n, args.clients, args.seconds)
        db = MongoClient(run.settings.mongo_url)[run.db_name]
        template = db.report_booth_reports.find_one({}) or {"pad": "x" * 900}
        out["doc_bytes"] = len(json.dumps(template, default=str))
        run.processes["reports"].stop()
        ferretdb_cpu0, started = cpu_of(ferretdb), time.process_time()
        out["raw_mongo"] = raw_mongo(db, template, n)
        out["raw_mongo_cpu"] = (time.process_time() - started, cpu_of(ferretdb) - ferretdb_cpu0)
        batch = max(1, round(out["mean_batch"]))
        out["raw_mongo_batched"] = raw_mongo_batched(db, template, n, batch)
        bootstrap = run.settings.kafka_bootstrap
        dispatched = out["dispatch"]
        out["raw_dispatch"] = raw_produce(
            bootstrap, len(booths), dispatched["bytes"] or 700, run.ns
        )
        out["submitted_bytes"] = args.submitted_bytes
        out["raw_submitted"] = raw_produce(bootstrap, n, args.submitted_bytes, run.ns)
        out["load_after"] = os.getloadavg()
        return out
    finally:
        if poller:
            poller.stop()
        run.close()


def report(out: dict, args) -> None:
    d, sub, n = out["dispatch"], out["submissions"], out["expected"]
    acked = len(sub["acked"])
    counted = out.get("all_counted")
    counted_s = counted - sub["first"] if counted else None
    raw_ok, raw_s = out["raw_http"]
    rows = [
        ("report-dispatched all on Kafka", f"{n:,} booths", d["seconds"]),
        ("  baseline: raw confluent-kafka produce", f"{n:,} x {d['bytes']} B",
         out["raw_dispatch"]),
        (f"answers accepted (HTTP 201), {args.clients} clients", f"{acked:,} answers",
         sub["seconds"]),
        ("  baseline: same clients, GET /healthz", f"{raw_ok:,} requests", raw_s),
        ("  baseline: raw pymongo insert_one", f"{acked:,} x {out['doc_bytes']} B",
         out["raw_mongo"]),
        (f"  baseline: raw insert_many, {max(1, round(out['mean_batch']))} per call",
         f"{acked:,} x {out['doc_bytes']} B", out["raw_mongo_batched"]),
        ("  baseline: raw confluent-kafka produce", f"{acked:,} x {out['submitted_bytes']} B",
         out["raw_submitted"]),
        ("answers all counted by analytics", f"{acked:,} answers", counted_s),
    ]  # fmt: skip
    print(
        f"\nReports benchmark: {unit_of(args.state)} booth presidents ({n:,} booths), "
        f"{args.clients} clients (logs in {out['tmp']}; "
        f"tree loaded in {out['tree_load_s']:.0f} s)\n"
    )
    print(f"| {'measure':<44} | {'volume':>22} | {'seconds':>8} | {'per second':>10} |")
    print(f"|{'-' * 46}|{'-' * 24}|{'-' * 10}|{'-' * 12}|")
    for name, volume, took in rows:
        count = int(volume.split()[0].replace(",", ""))
        took_s = f"{took:8.1f}" if took else "    n/a "
        rate = f"{count / took:10,.0f}" if took else "       n/a"
        print(f"| {name:<44} | {volume:>22} | {took_s} | {rate} |")
    if d["seconds"]:
        rate = n / d["seconds"]
        print(
            f"\ndispatch: POST answered in {d['post_s']:.2f} s; {rate:,.0f} booths/s, "
            f"{d['cpu_s'] / n * 1e6:.1f} us of the service's CPU per booth; "
            f"{d['on_kafka'] - n:,} records published twice (a page whose confirmation timed out "
            "is published again, same event ids); "
            + (
                "the nation measured (--state IN)"
                if n == NATIONAL_BOOTHS
                else f"the nation's {NATIONAL_BOOTHS:,} at this rate (extrapolated, not measured): "
                f"{NATIONAL_BOOTHS / rate:.0f} s; measure it with --state IN"
            )
        )
    lat = sub["latencies"]
    print(
        f"answers: statuses {sub['statuses']} (every 20th sent twice: 200 = the same submission); "
        f"group commit: {out['mean_batch']:.1f} answers a batch on average; "
        f"request p50 {pct(lat, 50) * 1000:.0f} ms, p99 {pct(lat, 99) * 1000:.0f} ms"
    )
    cpu, store = out["cpu_submissions"]["reports"], out["cpu_submissions"]["ferretdb"]
    client, raw_store = out["raw_mongo_cpu"]
    per = 1e6 / max(acked, 1)
    print(
        f"  CPU per answer: reports service {cpu * per:.0f} us, FerretDB {store * per:.0f} us; "
        f"baseline raw insert_one: pymongo {client * per:.0f} us, FerretDB {raw_store * per:.0f} us"
    )
    print(
        f"  CPU per answer, the rest of the box: Kafka broker "
        f"{out['cpu_submissions']['kafka'] * per:.0f} us; this process (the clients, the "
        f"analytics poller) {sub['client_cpu_s'] * per:.0f} us"
    )
    if "lags" in out:
        lags, unseen = out["lags"]
        print(
            f"  analytics counted them all {counted_s:.1f} s after the first was sent"
            if counted_s
            else f"  analytics had not counted them all within {args.count_timeout:.0f} s",
            f"(its CPU {out['analytics_cpu'] / max(acked, 1) * 1e6:.0f} us per answer)",
        )
        print(
            f"rollup visible under load (201 -> /reports/IN showing it): p50 {pct(lags, 50):.2f} s,"
            f" p99 {pct(lags, 99):.2f} s ({unseen} not seen)"
        )
        probe = out["probes"]
        print(
            f"rollup visible when quiet, {len(probe)} single answers polled every 50 ms: "
            f"p50 {pct(probe, 50):.2f} s, p99 {pct(probe, 99):.2f} s, max {max(probe):.2f} s"
        )
    else:
        print(f"analytics: no worker answering at {ANALYTICS_URL}; rollup lag not measured")
    print("\npeak memory (VmHWM, MB) / CPU seconds:")
    for name, (mb, cpu) in out["usage_end"].items():
        print(f"  {name} service: {mb:,.0f} MB; CPU {cpu:,.1f} s")
    if out["analytics_usage"]:
        mb, cpu = out["analytics_usage"]
        print(f"  platform analytics worker (its whole life): {mb:,.0f} MB; CPU {cpu:,.1f} s")
    print("\n" + load_line(out["load_before"], out["load_after"]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--state", default="UP", help="state code: its booth presidents (IN: the whole nation)"
    )
    parser.add_argument("--submissions", type=int, default=30_000, help="answers sent, at most")
    parser.add_argument("--seconds", type=float, default=60, help="answering stops after this")
    # At 2,000 answers a second and ~0.1-0.2 s each, phones all over a state hold ~200-400
    # requests open at once (Little's law); 64 clients capped the rate at 64 / latency.
    parser.add_argument("--clients", type=int, default=256, help="concurrent HTTP clients")
    parser.add_argument(
        "--pace", type=float, default=0, help="answers sent a second at most (0: as they go)"
    )
    parser.add_argument("--probes", type=int, default=40, help="single answers timed when quiet")
    parser.add_argument("--dispatch-timeout", type=float, default=600)
    parser.add_argument("--count-timeout", type=float, default=300, help="analytics' catch-up")
    parser.add_argument("--submitted-bytes", type=int, default=900, help=argparse.SUPPRESS)
    parser.add_argument(
        "--counting", type=int, default=20_000, help="answers counted from a backlog (0: none)"
    )
    parser.add_argument("--counting-pace", type=float, default=1500, help="answers/s, paced")
    parser.add_argument("--counting-seconds", type=float, default=20, help="paced for this long")
    parser.add_argument("--counting-only", action="store_true", help="step 4 alone (Kafka only)")
    parser.add_argument(
        "--small", action="store_true", help="HP, 3,000 answers, 20 probes: a CI-sized run"
    )
    args = parser.parse_args(argv)
    if args.small:
        args.state, args.submissions, args.probes = "HP", min(args.submissions, 3000), 20
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = Path(tempfile.mkdtemp(prefix="reports-bench-"))
    if not args.counting_only:
        out = bench(args, tmp)
        out["tmp"] = tmp
        report(out, args)
    if args.counting:
        report_counting(counting(args, tmp), args)


if __name__ == "__main__":
    main()
