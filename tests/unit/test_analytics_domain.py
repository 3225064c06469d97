"""Booth coverage rules: what events do to a booth, and what a booth counts for."""

import uuid

import pytest

from analytics.coverage.domain import (
    ACKNOWLEDGED,
    DELIVERED,
    PENDING,
    REVOKED,
    VERIFIED,
    AppointmentChange,
    BoothTeam,
    Counts,
    contributions,
    directive_mark,
    mark_directive,
    path_matches,
    reach_of,
    units_above,
)
from shared.events import types as t
from shared.orgtree.levels import outermost

PATH = {
    "state": "IN-HP",
    "district": "IN-HP-D01",
    "assembly": "IN-HP-D01-A01",
    "mandal": "IN-HP-D01-A01-M01",
    "sector": "IN-HP-D01-A01-M01-S01",
}
BOOTH = "IN-HP-D01-A01-M01-S01-B001"
FULL_TEAM = [
    ("booth_president", "female"),
    ("mann_ki_baat_pramukh", "male"),
    ("labharthi_pramukh", "female"),
    ("whatsapp_pramukh", "male"),
    ("it_social_media", "male"),
    ("panna_pramukh", "female"),
]


def team(units=None) -> BoothTeam:
    return BoothTeam(BOOTH, units or units_above(PATH))


def change(
    role="booth_president", gender="female", status=VERIFIED, at=1000.0, appointment_id=None
):
    return AppointmentChange(appointment_id or str(uuid.uuid4()), role, gender, status, at)


def verified_team(members=FULL_TEAM, at=1000.0) -> BoothTeam:
    booth = team()
    for role, gender in members:
        booth = booth.apply(change(role, gender, at=at))
    return booth


def test_a_pending_appointment_does_not_count_and_changes_nothing():
    booth = team()
    assert booth.apply(change(status=PENDING)) is booth
    assert booth.counts().booths_with_verified_president == 0


def test_a_verified_president_counts_for_the_booth():
    booth = team().apply(change())
    counts = booth.counts()
    assert (
        counts.booths_with_verified_president,
        counts.verified_appointees,
        counts.verified_women,
    ) == (1, 1, 1)
    assert booth.president_since == 1000.0


def test_the_same_verification_twice_is_the_same_booth():
    once = team().apply(change(appointment_id="a" * 8))
    assert once.apply(change(appointment_id="a" * 8, at=2000.0)) is once


def test_a_revocation_after_verification_takes_the_booth_out():
    appointment = str(uuid.uuid4())
    booth = (
        team()
        .apply(change(appointment_id=appointment))
        .apply(change(status=REVOKED, appointment_id=appointment, at=1500.0))
    )
    assert booth.counts().booths_with_verified_president == 0
    assert booth.president_since is None
    assert booth.as_of == 1500.0


def test_a_late_duplicate_verification_does_not_bring_a_revoked_appointment_back():
    appointment = str(uuid.uuid4())
    revoked = (
        team()
        .apply(change(appointment_id=appointment))
        .apply(change(status=REVOKED, appointment_id=appointment))
    )
    assert revoked.apply(change(appointment_id=appointment)) is revoked


def test_a_revocation_of_an_appointment_never_verified_is_remembered():
    appointment = str(uuid.uuid4())
    booth = team().apply(change(status=REVOKED, appointment_id=appointment))
    assert booth.seats[appointment].status == REVOKED
    assert booth.apply(change(appointment_id=appointment)) is booth


def test_a_team_is_complete_with_every_required_role_and_three_women():
    booth = verified_team()
    assert booth.is_complete()
    counts = booth.counts()
    assert counts.booths_complete == 1
    assert counts.booths_with_whatsapp_pramukh == 1
    assert counts.verified_by_role == {role: 1 for role, _ in FULL_TEAM}
    assert booth.complete_since == 1000.0


def test_a_team_with_two_women_is_not_complete():
    members = [(role, "male" if role == "panna_pramukh" else gender) for role, gender in FULL_TEAM]
    assert not verified_team(members).is_complete()


def test_ladakh_needs_only_two_women():
    members = [(role, "male" if role == "panna_pramukh" else gender) for role, gender in FULL_TEAM]
    ladakh = (
        "IN",
        "IN-LA",
        "IN-LA-D01",
        "IN-LA-D01-A01",
        "IN-LA-D01-A01-M01",
        "IN-LA-D01-A01-M01-S01",
    )
    booth = BoothTeam("IN-LA-D01-A01-M01-S01-B001", ladakh)
    for role, gender in members:
        booth = booth.apply(change(role, gender))
    assert booth.is_complete()


def test_losing_a_required_member_makes_the_team_incomplete_again():
    booth = verified_team()
    whatsapp = next(k for k, s in booth.seats.items() if s.role == "whatsapp_pramukh")
    booth = booth.apply(change("whatsapp_pramukh", "male", REVOKED, 3000.0, whatsapp))
    assert not booth.is_complete()
    assert booth.complete_since is None
    assert booth.counts().booths_with_whatsapp_pramukh == 0


def test_a_booth_counts_towards_itself_and_every_unit_above_with_hours_on_the_state_only():
    booth = verified_team(at=7200.0)
    shares = contributions(booth)
    assert set(shares) == {"IN", *PATH.values(), BOOTH}
    assert shares["IN-HP"].complete_hours == {2: 1} and shares["IN-HP"].president_hours == {2: 1}
    assert shares["IN-HP-D01"].complete_hours == {} and shares[BOOTH].president_hours == {}
    assert all(c.booths_complete == 1 for c in shares.values())


def test_counts_added_then_subtracted_come_back_to_zero():
    total = Counts()
    part = verified_team().counts(with_hours=True)
    total.add(part)
    total.add(part)
    total.add(part, -1)
    assert total.numbers() == part.numbers() and total.verified_by_role == part.verified_by_role
    total.add(part, -1)
    assert total.numbers() == (0, 0, 0, 0, 0)
    assert total.verified_by_role == {} and total.complete_hours == {}


def test_subtracting_from_a_pruned_hour_leaves_no_negative_bucket():
    total = Counts()
    part = verified_team(at=3600.0).counts(with_hours=True)
    total.add(part)
    total.prune_hours(oldest_hour=5)
    total.add(part, -1)
    assert total.complete_hours == {} and total.president_hours == {}


def test_counts_survive_json():
    counts = verified_team().counts(with_hours=True)
    assert Counts.from_json(counts.to_json()) == counts


def test_a_path_must_match_the_registry():
    units = units_above(PATH)
    assert path_matches(BOOTH, units, list(units))
    assert not path_matches(BOOTH, units, ["IN", "IN-HP", "IN-HP-D02", *units[3:]])
    assert not path_matches("IN-HP-D09-A01-M01-S01-B001", units, list(units))


@pytest.mark.parametrize(
    "status,expected", [("sent", 0), ("failed", 0), ("delivered", DELIVERED), ("read", DELIVERED)]
)
def test_only_delivered_or_read_reach_a_booth(status, expected):
    data = {"directive_id": str(uuid.uuid4()), "status": status}
    assert directive_mark(t.DELIVERY_STATUS, data) == expected


def test_a_one_time_code_delivery_says_nothing_about_directives():
    assert directive_mark(t.DELIVERY_STATUS, {"directive_id": None, "status": "delivered"}) == 0


def test_directive_marks_ignore_repeats_and_order():
    read_first = mark_directive({}, "d1", DELIVERED)
    assert mark_directive(read_first, "d1", DELIVERED) is None
    both = mark_directive(read_first, "d1", ACKNOWLEDGED)
    acked_first = mark_directive(mark_directive({}, "d1", ACKNOWLEDGED), "d1", DELIVERED)
    assert both == acked_first == {"d1": DELIVERED | ACKNOWLEDGED}
    assert reach_of(both["d1"], None).numbers() == (1, 1)


def test_a_scope_inside_another_scope_unit_counts_once():
    assert outermost(["IN-HP-D01", "IN-HP", "IN-UP-D44", "IN-UP-D44"]) == ["IN-HP", "IN-UP-D44"]
    assert outermost(["IN-HP-D1", "IN-HP-D10"]) == ["IN-HP-D1", "IN-HP-D10"]
