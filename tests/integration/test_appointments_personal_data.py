"""Names and phones at rest in the real MongoDB API server: what a copy of the database shows.

Every collection appointments writes a person to is read raw (pymongo, no service code) after
an appointment, a verification, a relay round and a directory update: no name, no phone."""

import random
import re

import bson
import pytest

from appointments import handlers
from appointments.adapters.mongo import BoothTeams, PresidentPosts
from appointments.adapters.personal import PersonalData
from appointments.adapters.recipients import RecipientDirectory
from appointments.domain import Person
from shared.crypto.fields import keyring
from shared.events import types
from shared.teams.rules import rules_for

pytestmark = pytest.mark.integration

BOOTH = "IN-HP-D01-A01-M01-S01-B001"
PERSONAL_COLLECTIONS = ("booth_teams", "president_posts", "verified_recipients", "outbox_pending")


def someone(name: str) -> Person:
    return Person(name=name, phone=f"+9198{random.randrange(10**8):08d}", gender="female")


def raw_text(db) -> str:
    """Every document of every collection appointments keeps people in, as one searchable text."""
    return "\n".join(
        repr(bson.decode(bson.encode(doc)))
        for name in PERSONAL_COLLECTIONS
        for doc in db[name].find()
    )


def verify(ports, booth_id: str, appointment) -> None:
    handlers.otp_verified(
        ports,
        event_id=f"e-{appointment.id}",
        booth_id=booth_id,
        appointment_id=appointment.id,
        request_id=appointment.otp_request_id,
    )


def test_the_raw_documents_hold_no_name_or_phone_of_an_appointee(ports, mongo_db):
    president, member = someone("Sunita Devi Rawat"), someone("Kamla Thakur")
    appointed = handlers.appoint(
        ports, booth_id=BOOTH, role="booth_president", person=president, organiser="u"
    )
    handlers.appoint(ports, booth_id=BOOTH, role="member", person=member, organiser="u")
    verify(ports, BOOTH, appointed)
    directory = RecipientDirectory(
        mongo_db, ports.registry, lambda state: rules_for(state).roles, ports.teams.personal
    )
    directory.backfill([ports.teams.get(BOOTH)])
    ports.teams.mark_pending(BOOTH)

    text = raw_text(mongo_db)
    assert "outbox" in text and "otp-requested" in text, (
        "the unpublished otp-requested events are there"
    )
    for person in (president, member):
        for clear in (person.name, person.phone, person.phone[3:], person.name.split()[0]):
            assert clear not in text
    unsealed = re.sub(r"pd1\.[\w-]+\.[\w-]+", "", text)
    assert not re.search(r"(?<![\da-f])[6-9]\d{9}(?![\da-f])", unsealed), (
        "nothing shaped like a mobile number"
    )

    # ...while the service still reads them back, and finds the president's post by phone.
    team = ports.teams.get(BOOTH)
    assert team.get(appointed.id).person == president
    assert next(e for e in team.outbox if e["type"] == types.OTP_REQUESTED)["data"]["phone"] in (
        president.phone,
        member.phone,
    )
    assert [r["phone"] for r in directory.under(BOOTH, {"booth_president"})] == [president.phone]
    assert mongo_db.president_posts.find_one({"_id": ports.teams.personal.index(president.phone)})


def test_documents_sealed_before_a_key_rotation_still_read_and_are_resealed_on_the_next_write(
    ports, mongo_db
):
    old_ring = "old:" + "o" * 43
    before = _ports_with_ring(ports, mongo_db, old_ring)
    appointed = handlers.appoint(
        before, booth_id=BOOTH, role="booth_president", person=someone("Asha"), organiser="u"
    )
    assert _key_ids(mongo_db) == {"old"}

    after = _ports_with_ring(ports, mongo_db, f"{old_ring}\nnew:" + "n" * 43)
    assert after.teams.get(BOOTH).get(appointed.id).person.name == "Asha"
    handlers.appoint(after, booth_id=BOOTH, role="member", person=someone("Meena"), organiser="u")
    assert _key_ids(mongo_db) == {"new"}, (
        "the write sealed every field of the team with the current key"
    )


def _ports_with_ring(ports, db, ring: str) -> handlers.Ports:
    personal = PersonalData(keyring(ring.encode(), "test keys"), ports.teams.personal.index)
    teams = BoothTeams(db, rules_for, personal)
    return handlers.Ports(registry=ports.registry, teams=teams, posts=PresidentPosts(db, teams))


def _key_ids(db) -> set[str]:
    return set(re.findall(r"pd1\.([\w-]+)\.", repr(list(db.booth_teams.find()))))


def test_teams_and_posts_written_before_encryption_are_sealed_at_start_up_and_still_hold_the_rule(
    ports, mongo_db
):
    legacy = someone("Purani Pradhan")
    appointed = handlers.appoint(
        ports, booth_id=BOOTH, role="booth_president", person=legacy, organiser="u"
    )
    team = mongo_db.booth_teams.find_one(
        {"_id": BOOTH}
    )  # made as main wrote it: plaintext, phone as post id
    for a in team["appointments"]:
        a["person"] = {
            "name": legacy.name,
            "phone": legacy.phone,
            "gender": "female",
            "channel": "sms",
            "locale": "hi",
        }
    team.pop("phone_indexes")
    mongo_db.booth_teams.replace_one({"_id": BOOTH}, team)
    mongo_db.president_posts.delete_many({})
    mongo_db.president_posts.insert_one(
        {"_id": legacy.phone, "booth_id": BOOTH, "appointment_id": appointed.id}
    )

    assert ports.posts.rekey_plaintext() == 1 and ports.teams.seal_plaintext() == 1
    assert legacy.phone[3:] not in raw_text(mongo_db) and legacy.name not in raw_text(mongo_db)
    assert ports.teams.get(BOOTH).get(appointed.id).person == legacy
    with pytest.raises(handlers.PresidentElsewhere):
        handlers.appoint(
            ports,
            booth_id="IN-HP-D01-A01-M01-S01-B002",
            role="booth_president",
            person=legacy,
            organiser="u",
        )
    assert ports.teams.seal_plaintext() == 0 and ports.posts.rekey_plaintext() == 0, "once"
