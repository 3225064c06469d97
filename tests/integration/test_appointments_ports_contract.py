"""One contract, two implementations: every test body runs against the in-memory booth teams and
president posts the handler tests use (tests/fakes/appointments.py) and against the MongoDB
adapters, so the fakes cannot drift from what the real store does."""

import random
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from appointments.adapters.mongo import BoothTeams, PresidentPosts
from appointments.domain import PRESIDENT, BoothTeam, Person
from appointments.ports import ConcurrentUpdate
from shared.orgtree.levels import booth_path
from shared.teams.rules import rules_for
from tests.fakes.appointments import InMemoryBoothTeams, InMemoryPresidentPosts

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
BOOTHS = ["IN-HP-D01-A01-M01-S01-B001", "IN-HP-D01-A01-M01-S01-B002", "IN-HP-D02-A01-M01-S01-B001"]


@pytest.fixture(params=["in-memory", "mongodb"])
def stores(request):
    if request.param == "in-memory":
        teams = InMemoryBoothTeams(rules_for)
        return teams, InMemoryPresidentPosts(teams)
    db, personal = request.getfixturevalue("mongo_db"), request.getfixturevalue("personal")
    teams = BoothTeams(db, rules_for, personal)
    return teams, PresidentPosts(db, teams)


def phone() -> str:
    return f"+9198{random.randrange(10**8):08d}"


def new_team(booth_id: str, *presidents: Person) -> BoothTeam:
    team = BoothTeam(booth_id=booth_id, booth_path=booth_path(booth_id), rules=rules_for("HP"))
    for person in presidents:
        team.appoint(role=PRESIDENT, person=person, organiser="u", now=NOW)
    return team


def person(number: str | None = None) -> Person:
    return Person(name="Test Person", phone=number or phone(), gender="female")


def test_a_save_of_a_team_read_before_another_save_is_a_concurrent_update(stores):
    teams, _ = stores
    teams.save(new_team(BOOTHS[0]))
    first, second = teams.get(BOOTHS[0]), teams.get(BOOTHS[0])
    first.appoint(role="member", person=person(), organiser="u", now=NOW)
    teams.save(first)
    with pytest.raises(ConcurrentUpdate):
        teams.save(second)
    assert len(teams.get(BOOTHS[0]).appointments) == 1


def test_a_new_team_saved_twice_from_nothing_is_a_concurrent_update(stores):
    teams, _ = stores
    teams.save(new_team(BOOTHS[0]))
    with pytest.raises(ConcurrentUpdate):
        teams.save(new_team(BOOTHS[0]))


def test_inserting_new_teams_leaves_existing_ones_and_names_them(stores):
    teams, _ = stores
    teams.save(new_team(BOOTHS[0], person()))
    assert teams.insert_new([new_team(BOOTHS[0]), new_team(BOOTHS[1], person())]) == {BOOTHS[0]}
    assert (
        len(teams.get(BOOTHS[0]).appointments) == 1 and len(teams.get(BOOTHS[1]).appointments) == 1
    )


def test_a_phones_teams_are_found_inside_a_unit_only(stores):
    teams, _ = stores
    same = person()
    for booth in BOOTHS:
        teams.save(new_team(booth, same))
    assert sorted(teams.with_phone(same.phone, "IN-HP-D01")) == BOOTHS[:2]
    assert sorted(teams.with_phone(same.phone, "IN")) == sorted(BOOTHS)
    assert teams.with_phone(phone(), "IN") == []


def test_teams_with_people_past_retention_come_in_booth_order_pages(stores):
    teams, _ = stores
    for booth in BOOTHS:
        team = new_team(booth, person())
        team.revoke(team.appointments[0].id, organiser="u", now=NOW)
        teams.save(team)
    teams.save(new_team("IN-HP-D01-A01-M01-S01-B003", person()))  # nobody left: not due
    cutoff = NOW + timedelta(days=1)
    first = teams.ended_before(cutoff, limit=2)
    rest = teams.ended_before(cutoff, after=first[-1].booth_id, limit=2)
    assert [t.booth_id for t in first + rest] == sorted(BOOTHS)
    assert teams.ended_before(NOW - timedelta(days=1)) == []


def test_a_post_held_by_a_saved_president_is_refused_and_free_once_released(stores):
    teams, posts = stores
    holder = person()
    team = new_team(BOOTHS[0], holder)
    teams.save(team)
    president = team.appointments[0]
    assert posts.claim(holder.phone, BOOTHS[0], president.id) is None
    assert posts.claim(holder.phone, BOOTHS[1], str(uuid.uuid4())) == BOOTHS[0]
    posts.release(holder.phone, "someone-else")
    assert posts.claim(holder.phone, BOOTHS[1], str(uuid.uuid4())) == BOOTHS[0], (
        "only the holder releases"
    )
    posts.release(holder.phone, president.id)
    assert posts.claim(holder.phone, BOOTHS[1], str(uuid.uuid4())) is None


def test_a_claim_whose_team_was_never_saved_is_taken_over(stores):
    _, posts = stores
    same = phone()
    posts.claim(same, BOOTHS[0], str(uuid.uuid4()))  # a crash before the team was saved
    assert posts.claim(same, BOOTHS[1], str(uuid.uuid4())) is None


def test_claiming_in_a_batch_names_the_phones_already_held(stores):
    _, posts = stores
    held, free = phone(), phone()
    posts.claim(held, BOOTHS[0], str(uuid.uuid4()))
    taken = posts.claim_new(
        [(held, BOOTHS[1], str(uuid.uuid4())), (free, BOOTHS[2], str(uuid.uuid4()))]
    )
    assert taken == {held}
