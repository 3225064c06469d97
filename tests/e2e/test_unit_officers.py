"""Units' office-bearers through the running platform, as the issue's "done when" meets them: a
district's organiser appoints mandal presidents, each verified by the code the OTP service sent
(read from its local delivery sink), reached as recipients of the district at their own booth and
never named by phone in an event; another district's organiser and the mandal's own are refused;
and a state organiser's video meeting for the district's mandal presidents invites them with join
links, which they open to check in, and attendance counts them under their mandal."""

import json
import os
import random
import secrets
from datetime import datetime, timezone

import httpx
import pytest

from shared import topics
from shared.auth.keys import LOCAL_TOKENS
from shared.events import types
from shared.recipients import HttpRecipients
from shared.sending.policy import SendingPolicy
from testkit.processes import wait_until
from testkit.topic_tail import TopicTail
from tests.e2e.test_meetings_flow import (  # noqa: F401 (normal_lane: a fixture)
    lane_messages,
    meeting_body,
    normal_lane,
    schedule,
)
from tests.e2e.test_meetings_live import (  # noqa: F401 (meeting_tails: a fixture)
    attendance,
    bring_forward,
    invited,
    meeting_tails,
)
from tests.e2e.test_notifier_directive import code_for, simulator  # noqa: F401 (fixture)

pytestmark = pytest.mark.e2e

APPOINTMENTS = os.environ.get("APPOINTMENTS_URL", "http://127.0.0.1:8001")
MEETINGS = os.environ.get("MEETINGS_URL", "http://127.0.0.1:8007")
DISTRICT = "IN-HP-D12"  # no other e2e module appoints here
ROLE = "mandal_president"


def organiser(unit: str) -> dict[str, str]:
    from shared.auth.issuer import organiser_token

    return {"Authorization": f"Bearer {organiser_token(sub=f'user-e2e-{unit}', unit=unit)}"}


def children(unit: str) -> list[str]:
    return [
        c["id"] for c in httpx.get(f"{APPOINTMENTS}/units/{unit}", timeout=10).json()["children"]
    ]


def mandals() -> list[str]:
    return [m for assembly in children(DISTRICT) for m in children(assembly)]


def a_booth_of(unit: str) -> str:
    while unit.count("-") < 6:
        unit = random.choice(children(unit))
    return unit


def office(mandal: str) -> dict:
    return httpx.get(
        f"{APPOINTMENTS}/units/{mandal}/office", headers=organiser(DISTRICT), timeout=10
    ).json()


def appoint_president(mandal: str, headers: dict | None = None) -> httpx.Response:
    """A new president for the mandal (an earlier run's is revoked first)."""
    headers = headers or organiser(DISTRICT)
    for member in office(mandal)["members"]:
        url = f"{APPOINTMENTS}/units/{mandal}/appointments/{member['id']}"
        httpx.delete(url, headers=organiser(DISTRICT), timeout=10)
    body = {
        "role": ROLE,
        "name": "राजेश ठाकुर",
        "phone": f"+919{secrets.randbelow(10**9):09d}",
        "gender": "male",
        "booth_id": a_booth_of(mandal),
    }
    answer = httpx.post(
        f"{APPOINTMENTS}/units/{mandal}/appointments", json=body, headers=headers, timeout=10
    )
    answer.phone = body["phone"]
    return answer


def verified_president(mandal: str) -> tuple[str, str, str, str]:
    """(mandal, own booth, appointment id, phone) of a president verified by their code."""
    made = appoint_president(mandal)
    assert made.status_code == 201, made.text
    appointment = made.json()
    checked = httpx.post(
        f"{APPOINTMENTS}/units/{mandal}/appointments/{appointment['id']}/verification",
        json={"code": code_for(appointment["id"])},
        headers=organiser(DISTRICT),
        timeout=10,
    )
    assert checked.status_code in (200, 202), checked.text
    statuses = lambda: {m["id"]: m["status"] for m in office(mandal)["members"]}  # noqa: E731
    wait_until(lambda: statuses().get(appointment["id"]) == "verified", 60)
    return mandal, appointment["booth_id"], appointment["id"], made.phone


@pytest.fixture(scope="module")
def presidents() -> list[tuple[str, str, str, str]]:
    """Verified presidents of two of the district's mandals (not the first: the demo's)."""
    return [verified_president(mandal) for mandal in mandals()[1:3]]


def recipients(unit: str) -> list:
    source = HttpRecipients(APPOINTMENTS, LOCAL_TOKENS / "meetings.jwt", 30)
    return list(source.stream(unit, [ROLE]))


def test_a_districts_mandal_president_verified_by_otp_is_a_recipient_at_their_own_booth(
    kafka_bootstrap,
):
    tail = TopicTail(kafka_bootstrap, topics.APPOINTMENTS.name)
    try:
        mandal, booth, appointment, phone = verified_president(mandals()[3])
        changes = tail.wait_until(
            lambda e: (
                e.type == types.UNIT_OFFICER_CHANGED and e.data["appointment_id"] == appointment
            ),
            count=2,
            timeout=30,
        )
    finally:
        tail.close()
    assert [e.data["change"] for e in changes] == ["appointed", "verified"]
    assert all(e.data["unit_id"] == mandal and e.data["booth_id"] == booth for e in changes)
    assert not any(phone in json.dumps(e.data) for e in changes)

    def reached() -> list:
        return [r for r in recipients(DISTRICT) if r.appointment_id == appointment]

    wait_until(reached, 30)
    [row] = reached()
    assert (row.role, row.booth_id, row.booth_path["mandal"], row.phone) == (
        ROLE,
        booth,
        mandal,
        phone,
    )
    assert not [r for r in recipients("IN-HP-D11") if r.appointment_id == appointment]


def test_only_the_district_or_above_may_appoint_a_mandals_president():
    mandal = mandals()[0]
    other_district = appoint_president(mandal, organiser("IN-HP-D11"))
    assert other_district.status_code == 403
    assert other_district.headers["content-type"] == "application/problem+json"
    assert other_district.json()["type"].endswith("/outside-jurisdiction")
    own_mandal = appoint_president(mandal, organiser(mandal))
    assert own_mandal.status_code == 403
    assert own_mandal.json()["type"].endswith("/office-not-yours")


def test_mandal_presidents_check_in_to_a_video_meeting_and_count_under_their_mandal(
    presidents,
    simulator,  # noqa: F811
    normal_lane,  # noqa: F811
    meeting_tails,  # noqa: F811
):
    _, attendance_tail = meeting_tails
    body = meeting_body(
        kind="video_conference",
        scope=[DISTRICT],
        audience=[ROLE],
        title={"hi": "मंडल अध्यक्ष बैठक", "en": "Mandal presidents' meeting"},
    )
    answer = schedule(body)
    assert answer.status_code == 202, answer.text
    meeting_id = answer.json()["meetings"][0]["meeting_id"]
    ours = {appointment: (mandal, phone) for mandal, _, appointment, phone in presidents}

    invitations = lane_messages(normal_lane, set(ours))
    assert set(invitations) == set(ours)
    links = {a: task["text"].rsplit("/j/", 1)[1].split()[0] for a, task in invitations.items()}
    now, booth = datetime.now(timezone.utc), presidents[0][1]
    # Outside quiet hours the invitations reach the provider now.
    if SendingPolicy().opens_at(now, campaign=True, booth_id=booth) is None:
        for appointment, (_, phone) in ours.items():
            wait_until(lambda p=phone, a=appointment: link_sent(simulator, p, links[a]), 60)

    wait_until(lambda: invited(meeting_id), 60)
    bring_forward(meeting_id)
    wait_until(lambda: attendance(meeting_id, DISTRICT).json()["state"] == "started", 60)
    for token in links.values():
        room = httpx.get(f"{MEETINGS}/j/{token}", timeout=10)
        assert room.status_code == 303, room.text
        assert httpx.get(room.headers["location"], timeout=10).status_code == 200

    joined = attendance_tail.ids_until(
        lambda e: e.type == types.PARTICIPANT_JOINED and e.data["meeting_id"] == meeting_id,
        set(ours),
        key="participant_id",
        timeout=60,
    )
    assert set(ours) <= joined

    def mandal_row(mandal: str) -> dict:
        rows = attendance(meeting_id, mandal.rsplit("-", 1)[0]).json()["units"]
        return next(u for u in rows if u["unit_id"] == mandal)

    for mandal, _ in ours.values():
        # The join is on Kafka at once; the pod writes its counts every half second.
        wait_until(lambda: mandal_row(mandal)["joined"] >= 1, 10)  # noqa: B023
        assert mandal_row(mandal)["invited"] >= 1
    httpx.post(f"{MEETINGS}/v1/meetings/{meeting_id}/end", headers=organiser("IN-HP"), timeout=10)


def link_sent(simulator_url: str, phone: str, token: str) -> bool:
    """Whether the provider simulator holds a message to this phone with this join link: in an
    SMS's text or a WhatsApp template's parameters."""
    found = httpx.get(f"{simulator_url}/v1/messages", params={"to": phone}, timeout=10)
    return any(f"/j/{token}" in json.dumps(m, ensure_ascii=False) for m in found.json()["messages"])
