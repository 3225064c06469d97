"""Benchmark of the appointments service, with the whole platform running (make bench).

    .venv/bin/python bench/appointments_bench.py [--api 1500] [--bulk-booths 400] [--latency 100]
                                                 [--import-state MP]

It starts an appointments service of its own (scratch database holding a copy of one Himachal
district's registry, its own consumer group) so the demo data is untouched; the platform's
Kafka, FerretDB and OTP service do the rest. It measures, on this machine:

1. API: appointments accepted per second, `--api` POSTs from 8 client threads;
2. bulk import: rows per second for one CSV of `--bulk-booths` booths × 12 members;
3. latency from appoint to `appointment-verified` on Kafka, through the OTP sink and
   verification, for `--latency` appointments one at a time: p50/p99;
4. baselines in the same run: raw pymongo inserts of the same booth documents (8 threads), raw
   pymongo and confluent-kafka issuing one appointment's own reads, writes and produces (8
   threads: the API's target is half that rate), and raw confluent-kafka produces of the same
   number of events, so each rate reads as a ratio;
5. a whole state's import (`--import-state`, default Goa: 1,702 booths x 12 = 20,424 rows;
   Madhya Pradesh's 65,015 booths x 12 = 7,80,180 rows with `--import-state MP`, about half an
   hour at the rate measured on 2 cores) by a second appointments service of its own (scratch
   database with the state's tree, its events on scratch topics so no code is sent), timed to the
   report's summary, with its peak memory, beside raw pymongo doing the same batched writes of the
   same team documents; meanwhile (3) runs again on the first service: appoint -> verified beside
   the import, sharing its MongoDB and Kafka.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import sys
import tempfile
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

from shared import topics  # noqa: E402
from shared.auth.issuer import organiser_token  # noqa: E402
from shared.events import types  # noqa: E402
from shared.orgtree.generator import generate_state, national_unit  # noqa: E402
from shared.orgtree.repository import OrgRegistry  # noqa: E402
from shared.settings import PlatformSettings  # noqa: E402
from shared.topics import APPOINTMENTS  # noqa: E402
from testkit.processes import start_service  # noqa: E402

# The benchmark's own service measures throughput, not the abuse budgets: one bench organiser
# imports a whole state (Madhya Pradesh's file is ~50 MB) and appoints far past a day's numbers.
UNBUDGETED = {
    "IMPORT_MAX_BYTES": str(1024**3),
    "NEW_NUMBERS_PER_ORGANISER_PER_DAY": str(10**9),
    "VERIFY_PER_ORGANISER_PER_MIN": str(10**9),
    "VERIFY_PER_APPOINTMENT_PER_MIN": str(10**9),
    "RESEND_PER_ORGANISER_PER_10MIN": str(10**9),
}
from testkit.topic_tail import TopicTail  # noqa: E402

DISTRICT = "IN-HP-D03"
SCHEMA = ROOT / "shared/events/schemas/booth-president-appointed/v1.json"
OTP = "http://127.0.0.1:8002"
ROLES = [
    "booth_president",
    "mann_ki_baat_pramukh",
    "labharthi_pramukh",
    "whatsapp_pramukh",
    "it_social_media",
] + ["panna_pramukh"] * 7


def phone() -> str:
    return f"+919{random.randrange(10**9):09d}"


def copy_district(source, target) -> list[str]:
    """The district's units (and its ancestors) into the scratch database; returns its booth ids."""
    registry = OrgRegistry(source)
    units = [registry.get("IN"), registry.get("IN-HP"), *registry.subtree(DISTRICT)]
    OrgRegistry(target).load(units)
    return sorted(u["id"] for u in units if u["level"] == "booth")


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
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(work) / (time.perf_counter() - started)


def bench_api(base: str, headers: dict, booths: list[str], n: int) -> float:
    seats = [(b, role) for b in booths for role in ROLES][:n]
    random.shuffle(seats)  # organisers work on many booths at once, not all on one
    if len(seats) < n:
        raise SystemExit(f"only {len(seats)} seats in {DISTRICT}; lower --api")

    def appoint(seat):
        booth, role = seat
        body = {
            "role": role,
            "name": "Bench",
            "phone": phone(),
            "gender": random.choice(["female", "male"]),
        }
        r = httpx.post(
            f"{base}/booths/{booth}/appointments", json=body, headers=headers, timeout=30
        )
        assert r.status_code == 201, r.text

    return timed_threads(8, seats, appoint)


def bench_bulk(base: str, headers: dict, booths: list[str]) -> tuple[float, int]:
    lines = ["booth_id,role,name,phone,gender"]
    lines += [
        f"{b},{role},Bulk,{phone()},{'female' if i < 3 else 'male'}"
        for b in booths
        for i, role in enumerate(ROLES)
    ]
    body = ("\n".join(lines) + "\n").encode()
    started = time.perf_counter()
    r = httpx.post(
        f"{base}/units/{DISTRICT}/appointments/import",
        content=body,
        headers={**headers, "Content-Type": "text/csv"},
        timeout=3600,
    )
    elapsed = time.perf_counter() - started
    summary = r.text.strip().splitlines()[-1]
    assert '"refused": 0' in summary, summary
    return (len(lines) - 1) / elapsed, len(lines) - 1


def load_state(db, code: str) -> list[str]:
    """A whole state's tree into the scratch database beside the district; returns its booth ids."""
    OrgRegistry(db).load(itertools.chain([national_unit()], generate_state(code)))
    return [u["id"] for u in generate_state(code) if u["level"] == "booth"]


def state_csv(booths: list[str], path: Path) -> int:
    """Every seat of every booth, as an organiser would upload them; returns the rows written."""
    with path.open("w") as out:
        out.write("booth_id,role,name,phone,gender\n")
        for n, booth in enumerate(booths):
            for i, role in enumerate(ROLES):
                out.write(
                    f"{booth},{role},Bulk,+916{n:06d}{i:03d},{'female' if i < 3 else 'male'}\n"
                )
    return len(booths) * len(ROLES)


def bench_state(code: str, tmp: Path, settings: PlatformSettings, beside) -> dict:
    """A whole state imported by an appointments service of its own (scratch database, its events
    on scratch topics, so 7.8 lakh codes are not sent), while `beside` runs on the platform."""
    client = MongoClient(settings.mongo_url)
    db = client[f"bench_state_{uuid.uuid4().hex[:8]}"]
    ns = f"bench-{uuid.uuid4().hex[:8]}."
    emitted = {
        topics.topic_for(t)
        for t in (
            types.BOOTH_PRESIDENT_APPOINTED,
            types.BOOTH_MEMBER_APPOINTED,
            types.APPOINTMENT_VERIFIED,
            types.APPOINTMENT_REVOKED,
            types.OTP_REQUESTED,
        )
    }
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    made = [ns + t.name for t in emitted]
    (tmp / "state").mkdir(exist_ok=True)
    for future in admin.create_topics(
        [NewTopic(ns + t.name, t.partitions, 1) for t in emitted]
    ).values():
        future.result(30)
    service, base = start_service(
        "appointments",
        {
            "MONGO_DB": db.name,
            "APPOINTMENTS_CONSUMER_GROUP": f"bench-{uuid.uuid4().hex[:8]}",
            "LOG_LEVEL": "WARNING",
            "APPOINTMENTS_TOPIC_NAMESPACE": ns,
            **UNBUDGETED,
        },
        tmp / "state",
    )
    try:
        booths = load_state(db, code)
        rows = state_csv(booths, tmp / "state.csv")
        during = threading.Thread(target=beside)
        rss_before = peak_rss_mb(service.proc.pid)
        during.start()
        seconds = bench_state_import(base, code, tmp / "state.csv", rows)
        during.join()
        result = {
            "booths": len(booths),
            "rows": rows,
            "seconds": seconds,
            "rss": (rss_before, peak_rss_mb(service.proc.pid)),
        }
        service.stop()  # its relay would compete with the baseline for the database
        result["raw_booths_per_s"] = baseline_state_import(db)
        return result
    finally:
        service.stop()
        client.drop_database(db.name)
        admin.delete_topics(made)


def bench_state_import(base: str, code: str, path: Path, rows: int) -> float:
    """Seconds for the whole import, the NDJSON report read to its summary."""
    headers = {
        "Authorization": f"Bearer {organiser_token(sub='user-bench-state', unit=f'IN-{code}')}",
        "Content-Type": "text/csv",
    }
    started = time.perf_counter()
    with path.open("rb") as body:
        r = httpx.post(
            f"{base}/units/IN-{code}/appointments/import",
            content=body,
            headers=headers,
            timeout=3600,
        )
    elapsed = time.perf_counter() - started
    summary = r.text.strip().splitlines()[-1]
    assert f'"appointed": {rows}' in summary, summary
    return elapsed


def baseline_state_import(db, sample: int = 2000, batch: int = 200) -> float:
    """Raw pymongo doing what the import does per booth, batched as it is: the same team documents
    (copies of ones the import wrote), a president's claim and an outbox pointer; booths/s."""
    teams = [d for d in db.booth_teams.find({}, limit=sample)]
    started = time.perf_counter()
    for i in range(0, len(teams), batch):
        chunk = [{**d, "_id": f"raw-{d['_id']}"} for d in teams[i : i + batch]]
        for d in chunk:  # the import reads each booth's sector: one lookup per ~5 booths
            if d["_id"].endswith("1"):
                db.org_children.find_one({"_id": d["booth_path"]["sector"]})
        db.raw_posts.insert_many(
            [{"_id": f"raw-{d['_id']}", "booth_id": d["_id"], "appointment_id": "a"} for d in chunk]
        )
        db.raw_teams.insert_many(chunk)
        db.raw_pending.insert_many([{"_id": d["_id"], "since": 0} for d in chunk])
    return len(teams) / (time.perf_counter() - started)


def bench_latency(
    base: str, headers: dict, booths: list[str], n: int, bootstrap: str
) -> list[float]:
    tail = TopicTail(bootstrap, APPOINTMENTS.name)
    latencies = []
    try:
        for booth in booths[:n]:
            started = time.perf_counter()
            body = {
                "role": "booth_president",
                "name": "Latency",
                "phone": phone(),
                "gender": "female",
            }
            appointment = httpx.post(
                f"{base}/booths/{booth}/appointments", json=body, headers=headers
            ).json()
            code = None
            while code is None:
                found = httpx.get(
                    f"{OTP}/v1/dev/deliveries", params={"appointment_id": appointment["id"]}
                ).json()
                code = found["deliveries"][0]["code"] if found["deliveries"] else time.sleep(0.005)
            httpx.post(
                f"{base}/booths/{booth}/appointments/{appointment['id']}/verification",
                json={"code": code},
                headers=headers,
                timeout=30,
            )
            seen = tail.wait_until(
                lambda e: (
                    e.type == types.APPOINTMENT_VERIFIED
                    and e.data["appointment_id"] == appointment["id"]
                ),
                timeout=30,
            )
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
    docs = [
        {
            "_id": f"raw-{i}",
            "booth_path": {"state": "IN-HP"},
            "appointments": [
                {
                    "id": str(uuid.uuid4()),
                    "role": "member",
                    "person": {"name": "Raw", "phone": phone()},
                }
            ],
            "outbox": [],
            "version": 1,
        }
        for i in range(n)
    ]
    return timed_threads(8, docs, db.raw_baseline.insert_one)


def baseline_same_operations(db, bootstrap: str, booths: list[str], n: int) -> float:
    """Raw pymongo and confluent-kafka issuing what one API appointment does, 8 threads: read the
    team and the booth, claim the president's post, insert the team with its outbox and its
    pointer; then the relay's part: take the pointer, read the team, produce its two events,
    write it back without them. Appointments per second."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5}
    )
    topic = f"bench.raw-same-ops.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 12, 1)])[topic].result(15)
    payload = json.dumps(json.loads(SCHEMA.read_text())["examples"][0]).encode()
    template = db.booth_teams.find_one({}) or {
        "appointments": [],
        "history": [],
        "outbox": [],
    }  # one the API wrote

    def appoint(i: int) -> None:
        booth = f"raw-{i}"
        db.raw_teams.find_one({"_id": booth})
        db.org_units.find_one({"_id": booths[i % len(booths)]})
        db.raw_posts.insert_one(
            {"_id": f"+91{i:010d}", "booth_id": booth, "appointment_id": str(uuid.uuid4())}
        )
        db.raw_teams.insert_one({**template, "_id": booth, "version": 1})
        db.raw_pending.update_one({"_id": booth}, {"$set": {"since": time.time()}}, upsert=True)
        db.raw_pending.delete_one({"_id": booth})
        team = db.raw_teams.find_one({"_id": booth})
        for _ in range(2):
            producer.produce(topic, payload, key=booth)
        producer.poll(0)  # the relay confirms a round's events with one flush; here, all at the end
        db.raw_teams.update_one(
            {"_id": booth, "version": team["version"]},
            {"$set": {"outbox": [], "version": team["version"] + 1}},
        )

    started = time.perf_counter()
    timed_threads(8, list(range(n)), appoint)
    producer.flush(60)
    rate = n / (time.perf_counter() - started)
    admin.delete_topics([topic])
    return rate


def baseline_kafka(bootstrap: str, n: int) -> float:
    topic = f"bench.raw-appointments.{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 12, 1)])[topic].result(15)
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5}
    )
    producer.list_topics(
        topic, timeout=10
    )  # connected and knowing the partitions before the clock starts
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
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--api", type=int, default=600, help="appointments through the API")
    parser.add_argument(
        "--bulk-booths", type=int, default=150, help="booths in the bulk CSV (12 rows each)"
    )
    parser.add_argument("--latency", type=int, default=50, help="appoint-to-verified round trips")
    parser.add_argument(
        "--import-state",
        default="GA",
        help="state whose every seat is imported in one CSV (MP for issue 10's figure)",
    )
    args = parser.parse_args()
    settings = PlatformSettings()
    client = MongoClient(settings.mongo_url)
    scratch = client[f"bench_{uuid.uuid4().hex[:8]}"]
    booths = copy_district(client[settings.mongo_db], scratch)
    headers = {"Authorization": f"Bearer {organiser_token(sub='user-bench', unit=DISTRICT)}"}
    with tempfile.TemporaryDirectory() as tmp:
        service, base = start_service(
            "appointments",
            {
                "MONGO_DB": scratch.name,
                "APPOINTMENTS_CONSUMER_GROUP": f"bench-{uuid.uuid4().hex[:8]}",
                "LOG_LEVEL": "WARNING",
                **UNBUDGETED,
            },
            Path(tmp),
        )
        try:
            api_booths = booths[: (args.api + len(ROLES) - 1) // len(ROLES)]
            rest = booths[len(api_booths) :]
            api_rate = bench_api(base, headers, api_booths, args.api)
            rss_before = peak_rss_mb(service.proc.pid)
            bulk_rate, bulk_rows = bench_bulk(base, headers, rest[: args.bulk_booths])
            rss_after = peak_rss_mb(service.proc.pid)
            latency = bench_latency(
                base, headers, rest[args.bulk_booths :], args.latency, settings.kafka_bootstrap
            )
            spare = rest[args.bulk_booths + args.latency :]
            beside: list[float] = []
            state = bench_state(
                args.import_state,
                Path(tmp),
                settings,
                lambda: beside.extend(
                    bench_latency(base, headers, spare, args.latency, settings.kafka_bootstrap)
                ),
            )
            # Baselines big enough that connection set-up does not dominate them.
            mongo_rate = baseline_mongo(scratch, max(args.api, 3000))
            same_rate = baseline_same_operations(
                scratch, settings.kafka_bootstrap, booths, max(args.api, 600)
            )
            kafka_rate = baseline_kafka(settings.kafka_bootstrap, max(args.api * 2, 30_000))
        finally:
            service.stop()
            client.drop_database(scratch.name)
    q = statistics.quantiles(latency, n=100)
    print(
        f"\nappointments benchmark (district {DISTRICT}, 2 cores, "
        "FerretDB on SQLite, one Kafka broker)"
    )
    print(f"{'measure':<52}{'value':>14}{'baseline':>14}{'ratio':>8}")
    print(
        f"{'API appointments/s (8 clients, ' + str(args.api) + ')':<52}{api_rate:>14.0f}"
        f"{mongo_rate:>14.0f}{api_rate / mongo_rate:>8.2f}"
        "   baseline: raw pymongo insert_one/s, 8 threads"
    )
    print(
        f"{'  the same, against the same operations raw':<52}{api_rate:>14.0f}"
        f"{same_rate:>14.0f}{api_rate / same_rate:>8.2f}"
        "   baseline: one appointment's reads, writes and produces, "
        f"8 threads"
    )
    print(
        f"{'bulk import rows/s (' + str(bulk_rows) + ' rows)':<52}{bulk_rate:>14.0f}"
        f"{mongo_rate:>14.0f}{bulk_rate / mongo_rate:>8.2f}   baseline: same"
    )
    print(
        f"{'service peak RSS before / after bulk import (MB)':<52}"
        f"{rss_before:>14.0f}{rss_after:>14.0f}"
    )
    print(
        f"{'events the API rate implies/s (2 per appointment)':<52}{api_rate * 2:>14.0f}"
        f"{kafka_rate:>14.0f}{api_rate * 2 / kafka_rate:>8.3f}"
        "   baseline: raw confluent-kafka produce/s"
    )
    print(f"{'appoint -> appointment-verified on Kafka p50 (ms)':<52}{q[49] * 1000:>14.0f}")
    print(
        f"{'appoint -> appointment-verified on Kafka p99 (ms)':<52}{q[98] * 1000:>14.0f}"
        f"   ({len(latency)} round trips)"
    )
    state_rate = state["rows"] / state["seconds"]
    raw_rate = state["raw_booths_per_s"] * len(ROLES)
    print(
        f"\nIN-{args.import_state}: every seat of its {state['booths']:,} booths in one CSV "
        f"({state['rows']:,} rows)"
    )
    print(f"{'state import: seconds to the summary':<52}{state['seconds']:>14.1f}")
    print(
        f"{'state import rows/s':<52}{state_rate:>14.0f}{raw_rate:>14.0f}"
        f"{state_rate / raw_rate:>8.2f}"
        f"   baseline: raw pymongo, the same batched writes of the same team documents"
    )
    print(
        f"{'service peak RSS before / after the state import (MB)':<52}"
        f"{state['rss'][0]:>14.0f}{state['rss'][1]:>14.0f}"
    )
    if beside:
        b = statistics.quantiles(beside, n=100)
        print(
            f"{'appoint -> verified beside the import p50 / p99 (ms)':<52}"
            f"{b[49] * 1000:>14.0f}{b[98] * 1000:>14.0f}"
            f"   ({len(beside)} round trips)"
        )


if __name__ == "__main__":
    main()
