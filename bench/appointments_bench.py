"""Benchmark of the appointments service, with the whole platform running (make bench).

    .venv/bin/python bench/appointments_bench.py [--api 1500] [--bulk-booths 400] [--latency 100]

It starts an appointments service of its own (scratch database holding a copy of one Himachal
district's registry, its own consumer group) so the demo data is untouched; the platform's
Kafka, FerretDB and OTP service do the rest. It measures, on this machine:

1. API: appointments accepted per second, `--api` POSTs from 8 client threads;
2. bulk import: rows per second for one CSV of `--bulk-booths` booths × 12 members;
3. latency from appoint to `appointment-verified` on Kafka, through the OTP sink and
   verification, for `--latency` appointments one at a time: p50/p99;
4. baselines in the same run: raw pymongo inserts of the same booth documents (8 threads) and
   raw confluent-kafka produces of the same number of events, so each rate reads as a ratio.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import httpx  # noqa: E402
from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from pymongo import MongoClient  # noqa: E402

from shared.auth.issuer import organiser_token  # noqa: E402
from shared.events import types  # noqa: E402
from shared.orgtree.levels import Unit  # noqa: E402
from shared.orgtree.repository import OrgRegistry  # noqa: E402
from shared.settings import PlatformSettings  # noqa: E402
from shared.topics import APPOINTMENTS  # noqa: E402
from tests.processes import start_service  # noqa: E402
from tests.topic_tail import TopicTail  # noqa: E402

DISTRICT = "IN-HP-D03"
SCHEMA = ROOT / "shared/events/schemas/booth-president-appointed/v1.json"
OTP = "http://127.0.0.1:8002"
ROLES = (["booth_president", "mann_ki_baat_pramukh", "labharthi_pramukh", "whatsapp_pramukh", "it_social_media"]
         + ["panna_pramukh"] * 7)


def phone() -> str:
    return f"+919{random.randrange(10**9):09d}"


def copy_district(source, target) -> list[str]:
    """The district's units (and its ancestors) into the scratch database; returns its booth ids."""
    units = [registry_unit(d) for d in source.org_units.find(
        {"$or": [{"ancestors": DISTRICT}, {"_id": {"$in": ["IN", "IN-HP", DISTRICT]}}]})]
    OrgRegistry(target).load(sorted(units, key=lambda u: u["id"]))
    return sorted(u["id"] for u in units if u["level"] == "booth")


def registry_unit(doc: dict) -> Unit:
    return Unit(id=doc["_id"], **{k: v for k, v in doc.items() if k != "_id"})


def timed_threads(n_threads: int, work: list, do) -> float:
    """Run `do(item)` over `work` from n threads; returns items per second."""
    queue, lock = list(work), threading.Lock()

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                item = queue.pop()
            do(item)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(work) / (time.perf_counter() - started)


def bench_api(base: str, headers: dict, booths: list[str], n: int) -> float:
    seats = [(b, role) for b in booths for role in ROLES][:n]
    random.shuffle(seats)  # organisers work on many booths at once, not all on one
    if len(seats) < n:
        raise SystemExit(f"only {len(seats)} seats in {DISTRICT}; lower --api")

    def appoint(seat):
        booth, role = seat
        body = {"role": role, "name": "Bench", "phone": phone(), "gender": random.choice(["female", "male"])}
        r = httpx.post(f"{base}/booths/{booth}/appointments", json=body, headers=headers, timeout=30)
        assert r.status_code == 201, r.text

    return timed_threads(8, seats, appoint)


def bench_bulk(base: str, headers: dict, booths: list[str]) -> tuple[float, int]:
    lines = ["booth_id,role,name,phone,gender"]
    lines += [f"{b},{role},Bulk,{phone()},{'female' if i < 3 else 'male'}" for b in booths for i, role in enumerate(ROLES)]
    body = ("\n".join(lines) + "\n").encode()
    started = time.perf_counter()
    r = httpx.post(f"{base}/units/{DISTRICT}/appointments/import", content=body,
                   headers={**headers, "Content-Type": "text/csv"}, timeout=3600)
    elapsed = time.perf_counter() - started
    summary = r.text.strip().splitlines()[-1]
    assert '"refused": 0' in summary, summary
    return (len(lines) - 1) / elapsed, len(lines) - 1


def bench_latency(base: str, headers: dict, booths: list[str], n: int, bootstrap: str) -> list[float]:
    tail = TopicTail(bootstrap, APPOINTMENTS.name)
    latencies = []
    try:
        for booth in booths[:n]:
            started = time.perf_counter()
            body = {"role": "booth_president", "name": "Latency", "phone": phone(), "gender": "female"}
            appointment = httpx.post(f"{base}/booths/{booth}/appointments", json=body, headers=headers).json()
            code = None
            while code is None:
                found = httpx.get(f"{OTP}/v1/dev/deliveries", params={"appointment_id": appointment["id"]}).json()
                code = found["deliveries"][0]["code"] if found["deliveries"] else time.sleep(0.005)
            httpx.post(f"{base}/booths/{booth}/appointments/{appointment['id']}/verification", json={"code": code},
                       headers=headers, timeout=30)
            seen = tail.wait_until(lambda e: e.type == types.APPOINTMENT_VERIFIED
                                   and e.data["appointment_id"] == appointment["id"], timeout=30)
            assert seen, f"no appointment-verified for {appointment['id']}"
            latencies.append(time.perf_counter() - started)
    finally:
        tail.close()
    return latencies


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def baseline_mongo(db, n: int) -> float:
    docs = [{"_id": f"raw-{i}", "booth_path": {"state": "IN-HP"}, "appointments": [{"id": str(uuid.uuid4()),
             "role": "member", "person": {"name": "Raw", "phone": phone()}}], "outbox": [], "version": 1}
            for i in range(n)]
    return timed_threads(8, docs, db.raw_baseline.insert_one)


def baseline_kafka(bootstrap: str, n: int) -> float:
    topic = f"bench.raw-appointments.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 12, 1)])[topic].result(15)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5})
    producer.list_topics(topic, timeout=10)  # connected and knowing the partitions before the clock starts
    # The same bytes an appointment event carries: its schema's example as the value.
    payload = json.dumps(json.loads(SCHEMA.read_text())["examples"][0]).encode()
    started = time.perf_counter()
    for i in range(n):
        producer.produce(topic, payload, key=f"b{i % 500}")
        producer.poll(0)
    producer.flush(60)
    rate = n / (time.perf_counter() - started)
    admin.delete_topics([topic])
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", type=int, default=600, help="appointments through the API")
    parser.add_argument("--bulk-booths", type=int, default=150, help="booths in the bulk CSV (12 rows each)")
    parser.add_argument("--latency", type=int, default=50, help="appoint-to-verified round trips")
    args = parser.parse_args()
    settings = PlatformSettings()
    client = MongoClient(settings.mongo_url)
    scratch = client[f"bench_{uuid.uuid4().hex[:8]}"]
    booths = copy_district(client[settings.mongo_db], scratch)
    headers = {"Authorization": f"Bearer {organiser_token(sub='user-bench', unit=DISTRICT)}"}
    with tempfile.TemporaryDirectory() as tmp:
        service, base = start_service("appointments", {
            "MONGO_DB": scratch.name, "APPOINTMENTS_CONSUMER_GROUP": f"bench-{uuid.uuid4().hex[:8]}",
            "LOG_LEVEL": "WARNING"}, Path(tmp))
        try:
            api_booths = booths[: (args.api + len(ROLES) - 1) // len(ROLES)]
            rest = booths[len(api_booths):]
            api_rate = bench_api(base, headers, api_booths, args.api)
            rss_before = peak_rss_mb(service.proc.pid)
            bulk_rate, bulk_rows = bench_bulk(base, headers, rest[: args.bulk_booths])
            rss_after = peak_rss_mb(service.proc.pid)
            latency = bench_latency(base, headers, rest[args.bulk_booths:], args.latency, settings.kafka_bootstrap)
            # Baselines big enough that connection set-up does not dominate them.
            mongo_rate = baseline_mongo(scratch, max(args.api, 3000))
            kafka_rate = baseline_kafka(settings.kafka_bootstrap, max(args.api * 2, 30_000))
        finally:
            service.stop()
            client.drop_database(scratch.name)
    q = statistics.quantiles(latency, n=100)
    print(f"\nappointments benchmark (district {DISTRICT}, 2 cores, FerretDB on SQLite, one Kafka broker)")
    print(f"{'measure':<52}{'value':>14}{'baseline':>14}{'ratio':>8}")
    print(f"{'API appointments/s (8 clients, ' + str(args.api) + ')':<52}{api_rate:>14.0f}"
          f"{mongo_rate:>14.0f}{api_rate / mongo_rate:>8.2f}   baseline: raw pymongo insert_one/s, 8 threads")
    print(f"{'bulk import rows/s (' + str(bulk_rows) + ' rows)':<52}{bulk_rate:>14.0f}"
          f"{mongo_rate:>14.0f}{bulk_rate / mongo_rate:>8.2f}   baseline: same")
    print(f"{'service peak RSS before / after bulk import (MB)':<52}{rss_before:>14.0f}{rss_after:>14.0f}")
    print(f"{'events the API rate implies/s (2 per appointment)':<52}{api_rate * 2:>14.0f}"
          f"{kafka_rate:>14.0f}{api_rate * 2 / kafka_rate:>8.3f}   baseline: raw confluent-kafka produce/s")
    print(f"{'appoint -> appointment-verified on Kafka p50 (ms)':<52}{q[49] * 1000:>14.0f}")
    print(f"{'appoint -> appointment-verified on Kafka p99 (ms)':<52}{q[98] * 1000:>14.0f}   ({len(latency)} round trips)")


if __name__ == "__main__":
    main()
