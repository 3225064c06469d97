"""Retiring a personal-data key: `python -m appointments.rekey` as an operator runs it, against the
real MongoDB API server, re-seals what an old key sealed so the keyring can drop it."""

import os
import re
import secrets
import subprocess

import pytest

from appointments import handlers
from appointments.adapters.mongo import BoothTeams, PresidentPosts
from appointments.adapters.personal import PersonalData
from appointments.adapters.recipients import RecipientDirectory
from appointments.rekey import reseal
from shared.crypto.fields import keyring
from shared.teams.rules import rules_for
from testkit.processes import ROOT
from tests.integration.test_appointments_personal_data import BOOTH, someone

pytestmark = pytest.mark.integration

OLD, NEW = f"A:{secrets.token_hex(32)}", f"B:{secrets.token_hex(32)}"


def rekey(db, ring: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MONGO_DB": db.name, "PERSONAL_DATA_KEYS": ring}
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "appointments.rekey", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def stores(ports, db, ring: str) -> tuple[handlers.Ports, RecipientDirectory]:
    personal = PersonalData(keyring(ring.encode(), "test keys"), ports.teams.personal.index)
    teams = BoothTeams(db, rules_for, personal)
    directory = RecipientDirectory(
        db, ports.registry, lambda state: rules_for(state).roles, personal
    )
    return handlers.Ports(
        registry=ports.registry, teams=teams, posts=PresidentPosts(db, teams)
    ), directory


def test_an_old_key_is_retired_only_after_rekey_and_everything_still_reads_without_it(
    ports, mongo_db
):
    before, directory = stores(ports, mongo_db, OLD)
    president, member = someone("Savitri Negi"), someone("Lata Rana")
    appointed = handlers.appoint(
        before, booth_id=BOOTH, role="booth_president", person=president, organiser="u", key="k1"
    )
    handlers.appoint(before, booth_id=BOOTH, role="member", person=member, organiser="u")
    handlers.otp_verified(
        before,
        event_id="e1",
        booth_id=BOOTH,
        appointment_id=appointed.id,
        request_id=appointed.otp_request_id,
    )
    directory.backfill([before.teams.get(BOOTH)])
    # An idempotency entry as an older release wrote it: with an unkeyed hash of the request.
    mongo_db.booth_teams.update_one(
        {"_id": BOOTH},
        {
            "$set": {
                "idempotency.legacy": {
                    "appointment_id": appointed.id,
                    "fingerprint": secrets.token_hex(32),
                }
            }
        },
    )
    assert key_ids(mongo_db) == {"A"}

    rotated = f"{OLD}\n{NEW}"
    refused = rekey(mongo_db, rotated, "--retire", "A")
    assert refused.returncode == 1 and "still in use" in refused.stdout, (
        refused.stdout + refused.stderr
    )
    current = rekey(mongo_db, rotated, "--retire", "B")
    assert current.returncode == 2 and "current key" in current.stdout

    run = rekey(mongo_db, rotated)
    assert run.returncode == 0, run.stderr
    assert "booth_teams: 1 read, 1 re-sealed under key B" in run.stdout
    assert re.search(r"verified_recipients: \d+ read, 1 re-sealed", run.stdout), run.stdout
    assert key_ids(mongo_db) == {"B"} and "fingerprint" not in repr(mongo_db.booth_teams.find_one())
    retired = rekey(mongo_db, rotated, "--retire", "A")
    assert retired.returncode == 0 and "seals nothing" in retired.stdout, (
        retired.stdout + retired.stderr
    )

    after, directory = stores(ports, mongo_db, NEW)  # the old key's line removed
    team = after.teams.get(BOOTH)
    assert {a.person for a in team.appointments} == {president, member}
    assert [r["phone"] for r in directory.under(BOOTH, {"booth_president"})] == [president.phone]
    again = handlers.appoint(
        after, booth_id=BOOTH, role="booth_president", person=president, organiser="u", key="k1"
    )
    assert again.id == appointed.id, "a retried request is still answered from what it made"


def test_a_rekey_pass_resumes_where_it_stopped_and_loses_no_write_made_meanwhile(ports, mongo_db):
    before, _ = stores(ports, mongo_db, OLD)
    booths = [f"{BOOTH[:-3]}{n:03d}" for n in (1, 2, 3)]
    for booth_id in booths:
        handlers.appoint(
            before, booth_id=booth_id, role="member", person=someone("Purana"), organiser="u"
        )
    after, _ = stores(ports, mongo_db, f"{OLD}\n{NEW}")
    mongo_db.personal_data_meta.insert_one(
        {"_id": "rekey", "key": "B", "store": "booth_teams", "after": booths[0]}
    )

    # A write made during the pass by a service already on the new keyring,
    # to a team not yet reached.
    handlers.appoint(
        after, booth_id=booths[2], role="member", person=someone("Naya"), organiser="u"
    )
    counts = reseal(mongo_db, after.teams.personal, batch=1)

    assert counts["booth_teams"].scanned == 2, "resumed after the first booth"
    assert key_ids(mongo_db, booths[0]) == {"A"} and key_ids(mongo_db, booths[1]) == {"B"}
    assert {a.person.name for a in after.teams.get(booths[2]).appointments} == {"Purana", "Naya"}
    assert mongo_db.personal_data_meta.find_one({"_id": "rekey"})["store"] == "done"
    # A finished pass is not resumed: the next one starts from the first booth.
    assert reseal(mongo_db, after.teams.personal, batch=2)["booth_teams"].resealed == 1


def test_a_team_written_between_the_passs_read_and_its_save_is_read_again_and_keeps_that_write(
    ports, mongo_db
):
    before, _ = stores(ports, mongo_db, OLD)
    handlers.appoint(before, booth_id=BOOTH, role="member", person=someone("Pehla"), organiser="u")
    rotated = PersonalData(
        keyring(f"{OLD}\n{NEW}".encode(), "test keys"), ports.teams.personal.index
    )

    class Racing(BoothTeams):
        """The real adapter, but an old-keyring process writes the team just before the first
        save."""

        raced = False

        def save(self, team):
            if not Racing.raced:
                Racing.raced = True
                handlers.appoint(
                    before, booth_id=BOOTH, role="member", person=someone("Doosra"), organiser="u"
                )
            super().save(team)

    page = Racing(mongo_db, rules_for, rotated).reseal_page(after="", limit=10)

    assert (page.scanned, page.raced, page.resealed) == (1, 1, 1)
    assert {
        a.person.name for a in BoothTeams(mongo_db, rules_for, rotated).get(BOOTH).appointments
    } == {"Pehla", "Doosra"}, "the write made meanwhile is kept"
    assert key_ids(mongo_db) == {"B"}


def key_ids(db, booth_id: str | None = None) -> set[str]:
    query = {"_id": booth_id} if booth_id else {}
    found = repr(list(db.booth_teams.find(query))) + repr(list(db.verified_recipients.find()))
    return set(re.findall(r"pd1\.([\w-]+)\.", found))
