"""Appointments through the running platform, as an organiser and a portal page meet them:
appoint, read the OTP from the local delivery sink, verify, see it verified and on Kafka."""

import hashlib
import json
import os
import random
import threading

import httpx
import pytest
from pymongo import MongoClient

from shared import topics
from shared.auth.keys import LOCAL_TOKENS
from shared.events import types
from testkit.phones import indian_mobile
from testkit.topic_tail import TopicTail

pytestmark = pytest.mark.e2e

APPOINTMENTS = os.environ.get("APPOINTMENTS_URL", "http://127.0.0.1:8001")
OTP = os.environ.get("OTP_URL", "http://127.0.0.1:8002")
DISTRICT = "IN-HP-D05"


def random_booth(district: str = DISTRICT) -> str:
    """A booth of the demo tree: walk down from the district, picking children at random."""
    unit = district
    while unit.count("-") < 6:
        children = httpx.get(f"{APPOINTMENTS}/units/{unit}").json()["children"]
        unit = random.choice(children)["id"]
    return unit


def phone() -> str:
    """A random number the provider simulator delivers to (testkit/phones.py says why)."""
    return indian_mobile()


@pytest.fixture
def organiser(organiser_token):
    return organiser_token(DISTRICT, sub="user-e2e-d05")


@pytest.fixture
def booth(organiser):
    """A booth with no active appointments (earlier runs' ones are revoked first)."""
    booth_id = random_booth()
    team = httpx.get(f"{APPOINTMENTS}/booths/{booth_id}/team", headers=organiser).json()
    for member in team["members"]:
        httpx.delete(
            f"{APPOINTMENTS}/booths/{booth_id}/appointments/{member['id']}", headers=organiser
        )
    return booth_id


@pytest.fixture
def appointment_events(kafka_bootstrap):
    tail = TopicTail(kafka_bootstrap, topics.APPOINTMENTS.name)
    yield tail
    tail.close()


def appoint(booth_id: str, headers: dict, role: str = "booth_president", **extra) -> httpx.Response:
    body = {"role": role, "name": "सुनीता देवी", "phone": phone(), "gender": "female", **extra}
    return httpx.post(f"{APPOINTMENTS}/booths/{booth_id}/appointments", json=body, headers=headers)


def code_for(appointment_id: str) -> str:
    deliveries = []
    for _ in range(100):
        deliveries = httpx.get(
            f"{OTP}/v1/dev/deliveries", params={"appointment_id": appointment_id}
        ).json()["deliveries"]
        if deliveries:
            return deliveries[0]["code"]
        threading.Event().wait(0.1)
    raise AssertionError(f"no OTP reached the delivery sink for {appointment_id}")


def verify(booth_id: str, appointment_id: str, code: str, headers: dict) -> httpx.Response:
    return httpx.post(
        f"{APPOINTMENTS}/booths/{booth_id}/appointments/{appointment_id}/verification",
        json={"code": code},
        headers=headers,
        timeout=10,
    )


def test_a_president_appointed_over_http_is_verified_by_otp_and_shows_on_portal_and_kafka(
    booth, organiser, appointment_events
):
    created = appoint(booth, organiser)
    assert created.status_code == 201, created.text
    appointment = created.json()
    assert appointment["status"] == "pending_verification"
    assert appointment["phone"].startswith("+91") and "*" in appointment["phone"], (
        "phones are masked"
    )

    verified = verify(booth, appointment["id"], code_for(appointment["id"]), organiser)
    # 200 once verified; 202 if the confirmation is still on its way through Kafka.
    assert verified.status_code in (200, 202), verified.text

    assert wait_for_status(booth, appointment["id"], "verified", organiser)
    events = appointment_events.wait_for(appointment["id"], count=2)
    assert [e.type for e in events] == [types.BOOTH_PRESIDENT_APPOINTED, types.APPOINTMENT_VERIFIED]
    assert all("phone" not in e.data for e in events)


def wait_for_status(
    booth: str, appointment_id: str, status: str, headers: dict, timeout_s: float = 15
) -> bool:
    for _ in range(int(timeout_s * 10)):
        members = httpx.get(f"{APPOINTMENTS}/booths/{booth}/team", headers=headers).json()[
            "members"
        ]
        if [(m["id"], m["status"]) for m in members] == [(appointment_id, status)]:
            return True
        threading.Event().wait(0.1)
    return False


def test_five_wrong_codes_lock_the_code_and_the_portal_says_so(booth, organiser):
    appointment = appoint(booth, organiser).json()
    right = code_for(appointment["id"])
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for _ in range(5):
        refused = verify(booth, appointment["id"], wrong, organiser)
        assert refused.status_code == 422 and refused.json()["type"].endswith("/otp-rejected")
    # The code is dead: the OTP service refuses it, or appointments already knows it is locked.
    assert verify(booth, appointment["id"], right, organiser).status_code in (422, 409), (
        "the code is dead"
    )
    for _ in range(50):
        member = httpx.get(f"{APPOINTMENTS}/booths/{booth}/team", headers=organiser).json()[
            "members"
        ][0]
        if member["otp_failure"]:
            break
        threading.Event().wait(0.1)
    assert member["status"] == "pending_verification" and member["otp_failure"] == "locked"
    # The organiser may ask for a new code
    # (the OTP service's resend cooldown decides when one goes).
    resent = httpx.post(
        f"{APPOINTMENTS}/booths/{booth}/appointments/{appointment['id']}/otp", headers=organiser
    )
    assert resent.status_code == 202 and resent.json()["otp_failure"] is None


def test_an_organiser_of_another_district_is_refused(booth, organiser_token):
    outsider = organiser_token("IN-HP-D06", sub="user-e2e-d06")
    refused = appoint(booth, outsider)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/outside-jurisdiction")
    assert httpx.get(f"{APPOINTMENTS}/booths/{booth}/team", headers=outsider).status_code == 403


def test_without_a_token_nothing_is_written(booth):
    assert appoint(booth, {}).status_code == 401


def test_a_bad_phone_is_a_problem_naming_the_field_and_leaves_no_record(booth, organiser):
    refused = appoint(booth, organiser, phone="12345 67890")
    assert refused.status_code == 422
    assert refused.json()["type"].endswith("/invalid-phone")
    assert refused.json()["errors"][0]["field"] == "phone"
    assert "67890" not in refused.text, "the submitted value is not echoed"
    assert (
        httpx.get(f"{APPOINTMENTS}/booths/{booth}/team", headers=organiser).json()["members"] == []
    )


def test_an_unknown_booth_is_a_404_problem(organiser):
    refused = appoint(f"{DISTRICT}-A01-M01-S01-B999", organiser)
    assert refused.status_code == 404 and refused.json()["type"].endswith("/unknown-booth")


def test_a_malformed_booth_id_is_a_422_problem_naming_the_path_not_a_403(organiser_token):
    national = organiser_token("IN", sub="user-national")
    refused = httpx.get(f"{APPOINTMENTS}/booths/not%20a%20booth/team", headers=national)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "path.booth_id", (
        refused.text
    )


def test_a_filled_seat_is_a_409_problem(booth, organiser):
    assert appoint(booth, organiser).status_code == 201
    refused = appoint(booth, organiser)
    assert refused.status_code == 409 and refused.json()["type"].endswith("/role-already-filled")


def test_a_retried_request_with_the_same_idempotency_key_creates_one_appointment(booth, organiser):
    body = {"role": "whatsapp_pramukh", "name": "Ravi", "phone": phone(), "gender": "male"}
    headers = {**organiser, "Idempotency-Key": f"retry-{random.random()}"}
    first = httpx.post(f"{APPOINTMENTS}/booths/{booth}/appointments", json=body, headers=headers)
    again = httpx.post(f"{APPOINTMENTS}/booths/{booth}/appointments", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    members = httpx.get(f"{APPOINTMENTS}/booths/{booth}/team", headers=organiser).json()["members"]
    assert len(members) == 1


def test_an_idempotent_appointment_keeps_no_guessable_hash_of_the_name_and_phone(
    booth, organiser, settings
):
    body = {"role": "whatsapp_pramukh", "name": "Ravi Kumar", "phone": phone(), "gender": "male"}
    headers = {**organiser, "Idempotency-Key": f"hash-{random.random()}"}
    first = httpx.post(f"{APPOINTMENTS}/booths/{booth}/appointments", json=body, headers=headers)
    assert first.status_code == 201, first.text

    stored = MongoClient(settings.mongo_url)[settings.mongo_db].booth_teams.find_one(
        {"_id": booth}
    )["idempotency"]
    e164 = body["phone"].replace(" ", "")
    old_fingerprint = "|".join([body["role"], body["name"], e164, body["gender"], "sms", ""])
    assert hashlib.sha256(old_fingerprint.encode()).hexdigest() not in repr(stored)
    # The booth may keep other requests' entries (a random booth another test appointed on
    # with a key of its own): each entry is an appointment id alone, this request's among them.
    assert {"appointment_id": first.json()["id"]} in stored.values()
    assert all(set(entry) == {"appointment_id"} for entry in stored.values())

    again = httpx.post(f"{APPOINTMENTS}/booths/{booth}/appointments", json=body, headers=headers)
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    for changed in (
        {"name": "Ravi Kumar Singh"},
        {"phone": phone()},
        {"gender": "other"},
        {"channel": "whatsapp"},
    ):
        other = httpx.post(
            f"{APPOINTMENTS}/booths/{booth}/appointments", json={**body, **changed}, headers=headers
        )
        assert other.status_code == 422 and other.json()["type"].endswith(
            "/idempotency-key-reused"
        ), changed


def test_a_bulk_csv_appoints_the_good_rows_and_reports_the_bad_ones(organiser, booth):
    other = random_booth()
    while other == booth:
        other = random_booth()
    rows = [
        "booth_id,role,name,phone,gender",
        f"{booth},booth_president,Asha,{phone()},female",
        f"{booth},whatsapp_pramukh,Meena,not-a-phone,female",  # bad phone
        f"{booth},treasurer,Raju,{phone()},male",  # unknown role
        f"{booth},labharthi_pramukh,Kamla,{phone()},female",
        f"IN-HP-D06-A01-M01-S01-B001,member,Sita,{phone()},female",  # outside the unit
        f"{other},member,Gopal,{phone()},male",
    ]
    response = httpx.post(
        f"{APPOINTMENTS}/units/{DISTRICT}/appointments/import",
        content="\n".join(rows) + "\n",
        headers={**organiser, "Content-Type": "text/csv"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    lines = [json.loads(line) for line in response.text.splitlines()]
    refused = {line["row"]: line["problem"]["field"] for line in lines if "problem" in line}
    assert refused == {3: "phone", 4: "role", 6: "booth_id"}
    assert lines[-1] == {"summary": {"rows": 6, "appointed": 3, "unchanged": 0, "refused": 3}}
    roles = {
        m["role"]
        for m in httpx.get(f"{APPOINTMENTS}/booths/{booth}/team", headers=organiser).json()[
            "members"
        ]
    }
    assert roles == {"booth_president", "labharthi_pramukh"}


def test_a_csv_without_the_required_columns_is_a_problem(organiser):
    response = httpx.post(
        f"{APPOINTMENTS}/units/{DISTRICT}/appointments/import",
        content="booth,name\nx,y\n",
        headers={**organiser, "Content-Type": "text/csv"},
    )
    assert response.status_code == 422 and response.json()["type"].endswith("/bad-csv")


def test_a_portal_page_sees_appointment_changes_live(booth, organiser):
    mandal = booth.rsplit("-", 2)[0]
    received: list[dict] = []
    connected, done = threading.Event(), threading.Event()

    def listen():
        with httpx.stream(
            "GET",
            f"{APPOINTMENTS}/units/{mandal}/appointments/live",
            headers=organiser,
            timeout=httpx.Timeout(20),
        ) as stream:
            for line in stream.iter_lines():
                if line.startswith(": connected"):
                    connected.set()
                if line.startswith("data: "):
                    received.append(json.loads(line[6:]))  # other tests may change the mandal too
                if done.is_set():
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert connected.wait(10)
    appointment = appoint(booth, organiser).json()
    for _ in range(150):
        mine = [e for e in received if e["data"]["appointment_id"] == appointment["id"]]
        if mine:
            break
        threading.Event().wait(0.1)
    done.set()
    assert [e["type"] for e in mine] == [types.BOOTH_PRESIDENT_APPOINTED]
    assert all(e["data"]["booth_path"]["mandal"] == mandal for e in received)


def test_the_notifier_reads_verified_recipients_with_its_service_token_only(booth, organiser):
    appointment = appoint(booth, organiser).json()
    verify(booth, appointment["id"], code_for(appointment["id"]), organiser)
    assert wait_for_status(booth, appointment["id"], "verified", organiser)
    mandal = booth.rsplit("-", 2)[0]
    service = {"Authorization": f"Bearer {(LOCAL_TOKENS / 'notifier.jwt').read_text().strip()}"}

    def listed() -> list[dict]:
        response = httpx.get(
            f"{APPOINTMENTS}/internal/recipients",
            params={"unit": mandal, "roles": "booth_president"},
            headers=service,
        )
        assert response.status_code == 200
        recipients = [json.loads(line) for line in response.text.splitlines()]
        return [r for r in recipients if r["appointment_id"] == appointment["id"]]

    # The directory follows the booth's team through the outbox relay: soon, not at once.
    for _ in range(100):
        if listed():
            break
        threading.Event().wait(0.1)
    mine = listed()
    assert len(mine) == 1 and mine[0]["phone"].startswith("+91") and mine[0]["booth_id"] == booth
    assert (
        httpx.get(
            f"{APPOINTMENTS}/internal/recipients", params={"unit": mandal}, headers=organiser
        ).status_code
        == 403
    )
