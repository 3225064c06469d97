"""The appointments handlers on in-memory ports (tests/fakes/appointments.py): what an organiser
asks, carried out in milliseconds. The same flows run against MongoDB, Redis, Kafka and the OTP
service in tests/integration and tests/e2e."""

import random
import uuid

import pytest

from appointments import commands, handlers
from appointments.domain import (
    PENDING,
    PRESIDENT,
    REPLACED,
    VERIFIED,
    WRONG_CODES_ALLOWED,
    Barred,
    CodeRejected,
    Person,
)
from shared.auth.tokens import Principal
from shared.events import types
from shared.ratelimit import Throttled
from tests.fakes.appointments import (
    Budgets,
    IdRegistry,
    InMemoryBoothTeams,
    InMemoryErasureLog,
    InMemoryPresidentPosts,
    ScriptedOtp,
)

BOOTH = "IN-HP-D01-A01-M01-S01-B001"
ELSEWHERE = "IN-UP-D01-A01-M01-S01-B001"
DISTRICT = Principal(
    subject="user-district",
    kind="organiser",
    unit="IN-HP-D01",
    scopes=frozenset({"appointments:write"}),
)


def make_ports(budgets: Budgets | None = None) -> handlers.Ports:
    teams = InMemoryBoothTeams()
    ports = handlers.Ports(
        registry=IdRegistry(),
        teams=teams,
        posts=InMemoryPresidentPosts(teams),
        erasures=InMemoryErasureLog(),
        limits=budgets or Budgets(),
        verification_wait_s=0.2,
    )
    # The OTP service's otp-verified, as it comes back through Kafka.
    ports.otp = ScriptedOtp(
        on_verified=lambda request_id, appointment_id: handlers.otp_verified(
            ports,
            event_id=str(uuid.uuid4()),
            booth_id=BOOTH,
            appointment_id=appointment_id,
            request_id=request_id,
        )
    )
    return ports


def person() -> Person:
    return Person(name="Asha Devi", phone=f"+9198{random.randrange(10**8):08d}", gender="female")


def appoint(ports, booth=BOOTH, who=DISTRICT, someone=None, role=PRESIDENT):
    return handlers.handle(
        ports, commands.Appoint(booth_id=booth, role=role, person=someone or person()), who
    )


def test_an_appointment_waits_for_its_code_and_asks_for_one():
    ports = make_ports()
    appointment = appoint(ports)
    assert appointment.status == PENDING and appointment.otp_request_id
    assert types.OTP_REQUESTED in [e["type"] for e in ports.teams.get(BOOTH).outbox]


def test_the_right_code_verifies_the_appointment():
    ports = make_ports()
    appointment = appoint(ports)
    verified = handlers.handle(
        ports, commands.VerifyCode(BOOTH, appointment.id, "123456"), DISTRICT
    )
    assert verified.status == VERIFIED
    assert ports.otp.asked == [(appointment.otp_request_id, DISTRICT.subject)], (
        "the organiser is named to OTP"
    )


def test_wrong_codes_are_counted_until_the_appointment_is_barred():
    ports = make_ports()
    appointment = appoint(ports)
    for _ in range(WRONG_CODES_ALLOWED):
        with pytest.raises(CodeRejected):
            handlers.handle(ports, commands.VerifyCode(BOOTH, appointment.id, "000000"), DISTRICT)
    with pytest.raises(Barred):
        handlers.handle(ports, commands.VerifyCode(BOOTH, appointment.id, "123456"), DISTRICT)
    assert len(ports.otp.asked) == WRONG_CODES_ALLOWED, (
        "a barred code is not sent to the OTP service"
    )


def test_a_spent_verification_budget_stops_before_the_otp_service_is_asked():
    ports = make_ports(Budgets(spent=("verification",)))
    appointment = appoint(ports)
    with pytest.raises(Throttled):
        handlers.handle(ports, commands.VerifyCode(BOOTH, appointment.id, "123456"), DISTRICT)
    assert ports.otp.asked == []


def test_a_president_elsewhere_is_named_inside_the_organisers_unit():
    ports = make_ports()
    same = person()
    appoint(ports, someone=same)
    with pytest.raises(handlers.PresidentElsewhere):
        appoint(ports, booth="IN-HP-D01-A01-M01-S01-B002", someone=same)


def test_a_president_elsewhere_outside_the_unit_gets_a_neutral_refusal_counted_against_the_organiser():  # noqa: E501
    ports = make_ports()
    same = person()
    national = Principal(
        subject="user-hq", kind="organiser", unit="IN", scopes=frozenset({"appointments:write"})
    )
    appoint(ports, booth=ELSEWHERE, who=national, someone=same)
    with pytest.raises(handlers.NotAppointable):
        appoint(ports, someone=same)
    assert ports.limits.refusals == 1


def test_a_replacement_takes_the_seat_and_the_president_post():
    ports = make_ports()
    outgoing_person = person()
    outgoing = appoint(ports, someone=outgoing_person)
    incoming = handlers.handle(ports, commands.Replace(BOOTH, outgoing.id, person()), DISTRICT)
    team = ports.teams.get(BOOTH)
    assert team.get(outgoing.id).status == REPLACED and team.president().id == incoming.id
    assert (
        appoint(ports, booth="IN-HP-D01-A01-M01-S01-B002", someone=outgoing_person).status
        == PENDING
    )


def test_erasing_a_phone_reaches_only_the_organisers_unit():
    ports = make_ports()
    same = person()
    national = Principal(
        subject="user-hq", kind="organiser", unit="IN", scopes=frozenset({"appointments:write"})
    )
    appoint(ports, someone=same, role="member")
    appoint(ports, booth=ELSEWHERE, who=national, someone=same, role="member")
    erasure_id, erased = handlers.handle(ports, commands.ErasePhone(same.phone), DISTRICT)
    assert [booth for booth, _ in erased] == [BOOTH]
    assert ports.erasures.get(erasure_id)["requested_by"] == DISTRICT.subject
    assert ports.teams.with_phone(same.phone, "IN") == [ELSEWHERE]
