"""A national database for benchmarks: the national tree and one verified president per booth.

    .venv/bin/python bench/national_seed.py      # seeds (once) and says what it holds

Database `bench_national` on the platform's MongoDB API server, kept between runs: seeding takes
several minutes on 2 cores, and a later run finds it done and returns at once. It holds what the
real recipients path reads: the org registry (national, 10,48,202 booths), a booth team per
booth with one verified booth president (written as the appointments service writes teams), and
their entries in the verified-recipient directory. The platform's own database is untouched;
`make clean` removes it with everything else.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections import defaultdict
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "services" / "appointments")]

from pymongo import MongoClient  # noqa: E402
from pymongo.database import Database  # noqa: E402

from appointments.adapters.mongo import BoothTeams  # noqa: E402
from appointments.adapters.personal import personal_data  # noqa: E402
from appointments.adapters.recipients import RecipientDirectory, document_id, entry  # noqa: E402
from appointments.domain import BoothTeam, Person  # noqa: E402
from appointments.settings import AppointmentsSettings  # noqa: E402
from shared.mongo import insert_ignoring_duplicates  # noqa: E402
from shared.orgtree.generator import DEFAULT_SEED, generate_national  # noqa: E402
from shared.orgtree.levels import booth_path  # noqa: E402
from shared.orgtree.repository import OrgRegistry  # noqa: E402
from shared.settings import PlatformSettings  # noqa: E402
from shared.teams.rules import PRESIDENT, rules_for  # noqa: E402

DB = "bench_national"
SEEDED = {"_id": "presidents", "version": 1}
BATCH = 5000


def seed(settings: PlatformSettings | None = None) -> Database:
    """The seeded database (seeding it first if it is not)."""
    settings = settings or PlatformSettings()
    db = MongoClient(settings.mongo_url)[DB]
    registry = OrgRegistry(db)
    report = registry.load(generate_national(DEFAULT_SEED), tree="national", seed=DEFAULT_SEED)
    if not report.skipped:
        print(f"[seed] national tree: {report.units:,} units in {report.seconds:.0f} s", flush=True)
    if db.bench_meta.find_one(SEEDED):
        return db
    personal = personal_data(AppointmentsSettings())
    started, teams = time.monotonic(), BoothTeams(db, rules_for, personal)
    booths = (u for u in generate_national(DEFAULT_SEED) if u["level"] == "booth")
    seats: dict[str, dict[str, dict]] = defaultdict(dict)  # directory documents of the open state
    state, done = None, 0
    while batch := [president_team(unit, n) for n, unit in enumerate(islice(booths, BATCH), done)]:
        teams.insert_new(batch)
        for team in batch:
            if team.booth_path["state"] != state:
                _write_seats(db, seats)
                state = team.booth_path["state"]
            seat = seats[document_id(team.booth_path["assembly"], PRESIDENT)]
            seat[team.booth_id] = entry(team, PRESIDENT, personal.seal_phone)
        done += len(batch)
        if done % 100_000 < BATCH:
            print(f"[seed] {done:,} booth teams ({time.monotonic() - started:.0f} s)", flush=True)
    _write_seats(db, seats)
    teams.ensure_indexes()  # as the service would at start; built here, not while a benchmark runs
    RecipientDirectory(db, registry, lambda s: rules_for(s).roles, personal).backfill(
        []
    )  # every team is in it
    db.bench_meta.replace_one({"_id": SEEDED["_id"]}, SEEDED, upsert=True)
    print(f"[seed] {done:,} verified presidents in {time.monotonic() - started:.0f} s", flush=True)
    return db


def president_team(unit: dict, n: int) -> BoothTeam:
    """A booth team whose president is appointed and verified, its events taken as published."""
    now = datetime.now(timezone.utc)
    team = BoothTeam(
        booth_id=unit["id"], booth_path=booth_path(unit["id"]), rules=rules_for(unit["state"])
    )
    person = Person(
        name=f"President {n}", phone=f"+917{n:09d}", gender="female", channel="whatsapp"
    )
    appointment = team.appoint(role=PRESIDENT, person=person, organiser="bench-seed", now=now)
    team.confirm_otp(
        appointment_id=appointment.id,
        otp_request_id=appointment.otp_request_id,
        event_id=str(uuid.uuid4()),
        now=now,
    )
    team.outbox.clear()
    team.version = 1  # as insert_new stores it
    return team


def _write_seats(db: Database, seats: dict[str, dict[str, dict]]) -> None:
    # A seeding cut short and run again finds some there already: those are kept.
    insert_ignoring_duplicates(
        db.verified_recipients, [{"_id": d, "booths": b} for d, b in seats.items()]
    )
    seats.clear()


if __name__ == "__main__":
    db = seed()
    print(f"{DB}: seeded ({db.bench_meta.find_one(SEEDED)})")
