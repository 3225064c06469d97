"""The booth team's rules and life cycle, and the events each change puts in the outbox."""

from datetime import datetime, timezone

import pytest

from appointments.domain import (
    PENDING,
    REPLACED,
    REVOKED,
    VERIFIED,
    BoothTeam,
    IdempotencyKeyReused,
    Person,
    RoleFilled,
    RuleBroken,
    WrongState,
    roles_reached_differently,
)
from appointments.phones import InvalidPhone, mask, normalise_mobile
from shared.events import types
from shared.events.contracts import validate
from shared.orgtree.levels import booth_path
from shared.teams.rules import rules_for

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=timezone.utc)
BOOTH = "IN-HP-D01-A01-M01-S01-B001"
PATH = booth_path(BOOTH)


def team() -> BoothTeam:
    return BoothTeam(booth_id=BOOTH, booth_path=PATH, rules=rules_for("HP"))


def person(n: int = 0, gender: str = "female") -> Person:
    return Person(name=f"Person {n}", phone=f"+9198160{n:05d}", gender=gender)


def appoint(t: BoothTeam, role: str = "booth_president", n: int = 0, **kw):
    return t.appoint(
        role=role, person=person(n, kw.pop("gender", "female")), organiser="user-1", now=NOW, **kw
    )


def outbox_types(t: BoothTeam) -> list[str]:
    return [e["type"] for e in t.outbox]


def test_an_appointment_starts_pending_and_asks_for_an_otp():
    t = team()
    a = appoint(t)
    assert a.status == PENDING and a.otp_request_id
    assert outbox_types(t) == [types.BOOTH_PRESIDENT_APPOINTED, types.OTP_REQUESTED]


def test_every_outbox_event_meets_its_published_schema():
    t = team()
    first = appoint(t)
    appoint(t, "member", 1)
    t.confirm_otp(
        appointment_id=first.id, otp_request_id=first.otp_request_id, event_id="e1", now=NOW
    )
    appoint(t, n=2, replaces=first.id)
    for event in t.outbox:
        validate(event["type"], event["data"])


def test_only_the_otp_request_carries_the_phone():
    t = team()
    appoint(t)
    for event in t.outbox:
        assert ("phone" in event["data"]) == (event["type"] == types.OTP_REQUESTED)


def test_a_confirmed_otp_verifies_once_and_emits_appointment_verified():
    t = team()
    a = appoint(t)
    t.outbox.clear()
    assert t.confirm_otp(
        appointment_id=a.id, otp_request_id=a.otp_request_id, event_id="e1", now=NOW
    )
    assert a.status == VERIFIED
    assert outbox_types(t) == [types.APPOINTMENT_VERIFIED]
    assert not t.confirm_otp(
        appointment_id=a.id, otp_request_id=a.otp_request_id, event_id="e1", now=NOW
    )
    assert outbox_types(t) == [types.APPOINTMENT_VERIFIED], (
        "a duplicate otp-verified changes nothing"
    )


def test_only_a_verification_or_an_end_changes_who_a_role_reaches():
    t = team()
    president = appoint(t)
    member = appoint(t, role="whatsapp_pramukh", n=1)
    assert roles_reached_differently(t.outbox) == set(), (
        "pending appointees are reached by nobody yet"
    )
    t.outbox.clear()
    t.confirm_otp(
        appointment_id=president.id, otp_request_id=president.otp_request_id, event_id="e1", now=NOW
    )
    assert roles_reached_differently(t.outbox) == {"booth_president"}
    assert t.verified("booth_president") == [president] and t.verified("whatsapp_pramukh") == []
    t.outbox.clear()
    t.revoke(member.id, organiser="user-1", now=NOW)
    assert roles_reached_differently(t.outbox) == {"whatsapp_pramukh"}


def test_a_code_from_a_superseded_request_does_not_verify():
    t = team()
    a = appoint(t)
    old_request = a.otp_request_id
    t.request_otp_again(a.id, organiser="user-1", now=NOW)
    assert not t.confirm_otp(
        appointment_id=a.id, otp_request_id=old_request, event_id="e1", now=NOW
    )
    assert a.status == PENDING


def test_a_second_president_is_refused_as_role_filled():
    t = team()
    appoint(t)
    with pytest.raises(RoleFilled) as refused:
        appoint(t, n=1)
    assert refused.value.field == "role"


def test_a_thirteenth_member_is_refused():
    t = team()
    appoint(t)
    for n, role in enumerate(
        ["mann_ki_baat_pramukh", "labharthi_pramukh", "whatsapp_pramukh", "it_social_media"], 1
    ):
        appoint(t, role, n)
    for n in range(5, 12):
        appoint(t, "panna_pramukh" if n < 12 else "member", n)
    assert len(t.active()) == 12
    with pytest.raises(RuleBroken, match="12 members"):
        appoint(t, "member", 20)


def test_the_same_person_cannot_hold_two_seats_in_one_booth():
    t = team()
    appoint(t)
    with pytest.raises(RuleBroken, match="already holds"):
        appoint(t, "member", 0)


def test_retrying_the_same_appointment_changes_nothing():
    t = team()
    a = appoint(t)
    events = len(t.outbox)
    assert appoint(t) is a
    assert len(t.outbox) == events


def test_an_idempotency_key_returns_the_first_result_and_refuses_a_different_body():
    t = team()
    a = appoint(t, idempotency_key="k1")
    assert appoint(t, idempotency_key="k1") is a
    with pytest.raises(IdempotencyKeyReused):
        appoint(t, "member", 5, idempotency_key="k1")


def test_replacing_ends_the_old_appointment_and_links_the_new_one():
    t = team()
    old = appoint(t)
    t.outbox.clear()
    new = appoint(t, n=1, replaces=old.id)
    assert old.status == REPLACED and new.replaces == old.id and new.status == PENDING
    assert outbox_types(t) == [
        types.BOOTH_PRESIDENT_APPOINTED,
        types.APPOINTMENT_REVOKED,
        types.OTP_REQUESTED,
    ]
    revoked = t.outbox[1]["data"]
    assert revoked["reason"] == "replaced" and revoked["replaced_by_appointment_id"] == new.id


def test_a_revoked_appointment_cannot_be_replaced_and_revoking_twice_is_a_no_op():
    t = team()
    a = appoint(t)
    t.revoke(a.id, organiser="user-1", now=NOW)
    assert a.status == REVOKED
    events = len(t.outbox)
    t.revoke(a.id, organiser="user-1", now=NOW)
    assert len(t.outbox) == events
    with pytest.raises(WrongState):
        appoint(t, n=1, replaces=a.id)


def test_a_team_is_complete_only_with_verified_required_roles_and_three_women():
    t = team()
    roles = [
        "booth_president",
        "mann_ki_baat_pramukh",
        "labharthi_pramukh",
        "whatsapp_pramukh",
        "it_social_media",
        "panna_pramukh",
    ]
    made = [
        appoint(t, role, n, gender="female" if n < 3 else "male") for n, role in enumerate(roles)
    ]
    assert not t.is_complete(), "pending appointees do not count"
    for n, a in enumerate(made):
        t.confirm_otp(
            appointment_id=a.id, otp_request_id=a.otp_request_id, event_id=f"e{n}", now=NOW
        )
    assert t.is_complete()
    t.revoke(made[0].id, organiser="user-1", now=NOW)
    assert not t.is_complete()


def test_history_says_who_did_what_without_personal_data():
    t = team()
    a = appoint(t)
    t.revoke(a.id, organiser="user-2", now=NOW)
    assert [(h["action"], h["by"]) for h in t.history] == [
        ("appointed", "user-1"),
        ("otp_requested", "user-1"),
        ("revoked", "user-2"),
    ]
    assert all("Person" not in str(h) and "+91" not in str(h) for h in t.history)


@pytest.mark.parametrize("raw", ["98160 12345", "+91 98160-12345", "098160 12345", "919816012345"])
def test_indian_mobiles_are_normalised_to_e164(raw):
    assert normalise_mobile(raw) == "+919816012345"


@pytest.mark.parametrize(
    "raw, why",
    [
        ("12345", "valid"),
        ("+1 415 555 0123", "IN"),
        ("011 2345 6789", "mobile"),
        ("phone", "phone"),
    ],
)
def test_bad_phones_are_refused_with_a_reason(raw, why):
    with pytest.raises(InvalidPhone, match=why):
        normalise_mobile(raw)


def test_a_masked_phone_keeps_only_the_country_and_last_four_digits():
    assert mask("+919816012345") == "+91******2345"


def test_a_bad_locale_is_refused_like_a_bad_channel_and_leaves_the_team_unchanged():
    t = team()
    with pytest.raises(RuleBroken) as refused:
        t.appoint(
            role="booth_president",
            person=Person(name="A", phone="+919816000001", gender="female", locale="hindi"),
            organiser="user-1",
            now=NOW,
        )
    assert refused.value.field == "locale"
    assert (t.appointments, t.outbox, t.history) == ([], [], [])


def test_an_event_that_would_break_its_contract_refuses_the_change_and_undoes_it():
    t = team()
    with pytest.raises(RuleBroken) as refused:
        t.appoint(role="booth_president", person=person(), organiser="auth0|not an id", now=NOW)
    assert refused.value.field == "organiser_id"
    assert (t.appointments, t.outbox, t.history) == ([], [], [])


def test_twenty_wrong_codes_in_a_day_bar_the_appointment_until_a_higher_organiser_unlocks_it():
    from datetime import timedelta

    from appointments.domain import BARRED, WRONG_CODES_ALLOWED, Barred, NotHigher

    t = team()
    a = appoint(t)
    t.code_rejected(a.id, now=NOW - timedelta(hours=25))  # outside the day: not counted
    barred = [
        t.code_rejected(a.id, now=NOW + timedelta(minutes=i)) for i in range(WRONG_CODES_ALLOWED)
    ]
    assert barred == [False] * (WRONG_CODES_ALLOWED - 1) + [True] and a.otp_failure == BARRED
    with pytest.raises(Barred):
        t.request_otp_again(a.id, organiser="user-1", now=NOW)
    assert not t.otp_failed(
        appointment_id=a.id,
        otp_request_id=a.otp_request_id,
        reason="locked",
        event_id="e1",
        now=NOW,
    ), "a code's end does not hide the bar"
    with pytest.raises(NotHigher):
        t.unlock(
            a.id, organiser="user-2", unit="IN-HP-D01-A01", now=NOW
        )  # an assembly: below district
    with pytest.raises(NotHigher):
        t.unlock(a.id, organiser="user-1", unit="IN-HP-D01", now=NOW)  # the organiser who appointed
    with pytest.raises(NotHigher):
        t.unlock(a.id, organiser="user-3", unit="IN-HP-D02", now=NOW)  # another district
    t.unlock(a.id, organiser="user-3", unit="IN-HP-D01", now=NOW)
    assert a.otp_failure is None and a.wrong_codes == []
    assert t.history[-1]["action"] == "unlocked" and t.history[-1]["by"] == "user-3"
    t.request_otp_again(a.id, organiser="user-1", now=NOW)
