"""A unit's office-bearers: the role registry (shared/teams/offices.py) and the office's life
cycle (appointments/offices.py), over plain objects."""

import json
from datetime import datetime, timezone

import pytest

from appointments.domain import VERIFIED, Person, RoleFilled, RuleBroken, roles_reached_differently
from appointments.offices import new_office, unit_path
from shared.audience import require_audience
from shared.auth.tokens import ORGANISER, Principal
from shared.events import types
from shared.events.contracts import validate
from shared.problems import ProblemError
from shared.teams.offices import MANDAL_PRESIDENT, audience_roles, office_at, offices
from shared.teams.rules import rules_for

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)
MANDAL = "IN-HP-D01-A01-M02"
BOOTH = f"{MANDAL}-S01-B003"
PHONE = "+919816000123"


def office():
    return new_office(MANDAL, office_at(MANDAL))


def appoint(o, role=MANDAL_PRESIDENT, phone=PHONE, home_booth=BOOTH):
    person = Person(name="राजेश ठाकुर", phone=phone, gender="male")
    return o.appoint(role=role, person=person, organiser="user-d01", now=NOW, home_booth=home_booth)


def test_a_mandal_has_a_president_seat_and_a_booth_has_no_office():
    mandal = office_at(MANDAL)
    assert mandal.level == "mandal" and mandal.rules.roles[MANDAL_PRESIDENT].max == 1
    assert mandal.rules.roles[MANDAL_PRESIDENT].name_hi == "मंडल अध्यक्ष"
    assert office_at(f"{MANDAL}-S01").level == "sector"
    assert office_at(BOOTH) is None and office_at("IN-HP-D01") is None


def test_office_roles_never_share_a_name_with_a_booth_teams():
    office_roles = [r for o in offices().values() for r in o.rules.roles]
    assert len(office_roles) == len(set(office_roles))
    assert not set(office_roles) & set(rules_for().roles)
    assert set(office_roles) | set(rules_for().roles) == set(audience_roles())


@pytest.mark.parametrize(
    ("organiser_unit", "allowed"),
    [
        ("IN", True),
        ("IN-HP", True),
        ("IN-HP-D01", True),
        ("IN-HP-D01-A01", False),  # below the district
        (MANDAL, False),  # the mandal does not choose its own president
        ("IN-HP-D02", False),  # another district
        ("IN-MP", False),
        (None, False),
    ],
)
def test_a_mandals_office_bearers_are_appointed_by_its_district_or_above(organiser_unit, allowed):
    assert office_at(MANDAL).may_appoint(organiser_unit, MANDAL) is allowed


def test_a_sectors_office_bearers_are_appointed_by_its_mandal_or_above():
    sector = f"{MANDAL}-S01"
    assert office_at(sector).may_appoint(MANDAL, sector)
    assert not office_at(sector).may_appoint(sector, sector)


def test_an_audience_of_mandal_presidents_is_accepted_and_an_unknown_role_is_not():
    who = Principal(subject="user-hp", kind=ORGANISER, unit="IN-HP")
    require_audience(who, ["IN-HP-D01"], [MANDAL_PRESIDENT, "booth_president"])
    with pytest.raises(ProblemError) as refused:
        require_audience(who, ["IN-HP-D01"], ["mandal_emperor"])
    assert refused.value.status == 422 and MANDAL_PRESIDENT in refused.value.detail


def test_a_mandal_president_is_pending_until_the_code_and_announced_without_a_phone():
    o = office()
    appointment = appoint(o)
    assert appointment.home_booth == BOOTH and o.unit_id == MANDAL
    assert (
        o.booth_path
        == unit_path(MANDAL)
        == {
            "state": "IN-HP",
            "district": "IN-HP-D01",
            "assembly": "IN-HP-D01-A01",
            "mandal": MANDAL,
        }
    )
    announced, code = o.outbox
    assert announced["type"] == types.UNIT_OFFICER_CHANGED
    assert announced["data"]["change"] == "appointed" and announced["data"]["booth_id"] == BOOTH
    assert PHONE not in json.dumps(announced)
    validate(announced["type"], announced["data"])
    # The code request goes where a booth appointee's goes, keyed by the unit's office.
    assert code["type"] == types.OTP_REQUESTED and code["data"]["booth_id"] == MANDAL

    assert o.confirm_otp(
        appointment_id=appointment.id,
        otp_request_id=appointment.otp_request_id,
        event_id="e1",
        now=NOW,
    )
    assert o.get(appointment.id).status == VERIFIED
    verified = o.outbox[-1]
    assert (verified["data"]["change"], verified["data"]["organiser_id"]) == ("verified", "svc:otp")
    assert roles_reached_differently(o.outbox) == {MANDAL_PRESIDENT}


def test_a_mandal_has_one_president_and_two_general_secretaries():
    o = office()
    appoint(o)
    with pytest.raises(RoleFilled):
        appoint(o, phone="+919816000124")
    appoint(o, role="mandal_general_secretary", phone="+919816000125")
    appoint(o, role="mandal_general_secretary", phone="+919816000126")
    with pytest.raises(RoleFilled):
        appoint(o, role="mandal_general_secretary", phone="+919816000127")
    with pytest.raises(RuleBroken):
        appoint(o, role="booth_president", phone="+919816000128")


@pytest.mark.parametrize("home_booth", [None, "IN-HP-D01-A01-M03-S01-B001", MANDAL + "-S01"])
def test_an_office_bearer_names_a_booth_inside_their_unit(home_booth):
    with pytest.raises(RuleBroken) as refused:
        appoint(office(), home_booth=home_booth)
    assert refused.value.field == "booth_id"


def test_a_revoked_mandal_president_is_announced_revoked_and_frees_the_seat():
    o = office()
    first = appoint(o)
    o.revoke(first.id, organiser="user-d01", now=NOW)
    assert o.outbox[-1]["data"]["change"] == "revoked"
    assert appoint(o, phone="+919816000124").id != first.id
