"""Abuse and limits, through the running services as an organiser (or an attacker) meets them:
budgets per organiser and per appointment, body caps with the token checked first, unknown fields
refused, one import at a time, unreadable CSVs, and "president elsewhere" told only in one's
unit."""

import os
import random
import socket
import time
import uuid

import httpx
import pytest

from shared.auth.keys import LOCAL_TOKENS
from tests.e2e.test_appointments_flow import APPOINTMENTS, OTP, appoint, code_for, phone, verify

pytestmark = pytest.mark.e2e

HOST, PORT = "127.0.0.1", int(os.environ.get("APPOINTMENTS_PORT", "8001"))


def someone() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


def empty_booth(district: str, headers: dict) -> str:
    """A booth of the district with no active appointment (earlier runs' ones are revoked)."""
    unit = district
    while unit.count("-") < 6:
        unit = random.choice(httpx.get(f"{APPOINTMENTS}/units/{unit}").json()["children"])["id"]
    for member in httpx.get(f"{APPOINTMENTS}/booths/{unit}/team", headers=headers).json()[
        "members"
    ]:
        httpx.delete(f"{APPOINTMENTS}/booths/{unit}/appointments/{member['id']}", headers=headers)
    return unit


def locked(booth: str, appointment_id: str, headers: dict) -> None:
    """Spend the code's five tries, and wait until the OTP service's word reaches the portal."""
    right = code_for(appointment_id)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for _ in range(5):
        verify(booth, appointment_id, wrong, headers)
    for _ in range(100):
        members = httpx.get(f"{APPOINTMENTS}/booths/{booth}/team", headers=headers).json()[
            "members"
        ]
        if any(m["id"] == appointment_id and m["otp_failure"] == "locked" for m in members):
            return
        time.sleep(0.1)
    raise AssertionError("the lock never reached the portal")


def test_an_organiser_hammering_a_locked_code_is_throttled_while_another_organiser_verifies(
    organiser_token,
):
    hammerer, other = (
        organiser_token("IN-HP-D05", sub=someone()),
        organiser_token("IN-HP-D07", sub=someone()),
    )
    booth = empty_booth("IN-HP-D05", hammerer)
    appointment = appoint(booth, hammerer).json()
    locked(booth, appointment["id"], hammerer)

    answers = [verify(booth, appointment["id"], "123456", hammerer) for _ in range(40)]

    # Not sent to the OTP service once it said "locked":
    # appointments answers itself, then throttles.
    assert answers[0].status_code == 409 and answers[0].json()["type"].endswith("/code-not-usable")
    throttled = [a for a in answers if a.status_code == 429]
    assert throttled, [a.status_code for a in answers]
    assert throttled[0].headers["content-type"] == "application/problem+json"
    assert int(throttled[0].headers["Retry-After"]) >= 1
    theirs_booth = empty_booth("IN-HP-D07", other)
    theirs = appoint(theirs_booth, other).json()
    assert verify(theirs_booth, theirs["id"], code_for(theirs["id"]), other).status_code in (
        200,
        202,
    )


def test_the_otp_service_budgets_each_organiser_a_service_acts_for():
    service = {"Authorization": f"Bearer {(LOCAL_TOKENS / 'appointments.jwt').read_text().strip()}"}

    def verification(organiser: str) -> httpx.Response:
        body = {
            "request_id": str(uuid.uuid4()),
            "appointment_id": str(uuid.uuid4()),
            "code": "123456",
            "on_behalf_of": organiser,
        }
        return httpx.post(f"{OTP}/v1/verifications", json=body, headers=service)

    hammerer = someone()
    # 60 a minute per organiser; a minute's boundary may fall inside the loop, hence up to 130.
    answers = []
    for _ in range(130):
        answers.append(verification(hammerer))
        if answers[-1].status_code == 429:
            break
    assert answers[-1].status_code == 429, [a.status_code for a in answers][-5:]
    assert answers[-1].headers["Retry-After"].isdigit()
    assert verification(someone()).status_code == 422, "another organiser still gets an answer"


def test_an_unknown_field_is_refused_naming_it(organiser_token):
    organiser = organiser_token("IN-HP-D05", sub=someone())
    booth = empty_booth("IN-HP-D05", organiser)
    refused = appoint(booth, organiser, nickname="x")
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["nickname"]
    assert (
        httpx.get(f"{APPOINTMENTS}/booths/{booth}/team", headers=organiser).json()["members"] == []
    )


def test_a_padded_body_is_refused_with_413_as_it_streams(organiser_token):
    organiser = organiser_token("IN-HP-D05", sub=someone())
    booth = empty_booth("IN-HP-D05", organiser)
    body = (
        f'{{"role": "booth_president", "name": "A", "phone": "{phone()}", '
        '"gender": "female", "pad": "' + "x" * (5 * 1024 * 1024) + '"}'
    ).encode()
    declared = httpx.post(
        f"{APPOINTMENTS}/booths/{booth}/appointments",
        content=body,
        headers={**organiser, "Content-Type": "application/json"},
    )
    chunked = httpx.post(
        f"{APPOINTMENTS}/booths/{booth}/appointments",
        content=(body[i : i + 65536] for i in range(0, len(body), 65536)),
        headers={**organiser, "Content-Type": "application/json"},
    )
    for refused in (declared, chunked):
        assert refused.status_code == 413, refused.text
        assert refused.json()["type"].endswith("/body-too-large")


def test_a_large_body_without_a_token_is_refused_before_it_is_read():
    """20 MB announced, 1 KB sent: the 401 comes without waiting for the rest."""
    with socket.create_connection((HOST, PORT), timeout=5) as conn:
        conn.sendall(
            b"POST /booths/IN-HP-D05-A01-M01-S01-B001/appointments HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 20971520\r\n\r\n"
            + b"{"
            + b" " * 1023
        )
        answer = _read_until_closed(conn)
    assert answer.startswith("HTTP/1.1 401"), answer[:200]
    assert "/unauthenticated" in answer


def _read_until_closed(conn: socket.socket) -> str:
    """The whole answer: the server closes after it, and its head and body may come apart."""
    answer = b""
    while chunk := conn.recv(65536):
        answer += chunk
    return answer.decode(errors="replace")


def csv_upload(unit: str, headers: dict, content) -> httpx.Response:
    return httpx.post(
        f"{APPOINTMENTS}/units/{unit}/appointments/import",
        content=content,
        headers={**headers, "Content-Type": "text/csv"},
        timeout=30,
    )


def test_a_csv_field_over_128_kib_answers_bad_csv(organiser_token):
    organiser = organiser_token("IN-HP-D05", sub=someone())
    booth = empty_booth("IN-HP-D05", organiser)
    rows = (
        f"booth_id,role,name,phone,gender\n{booth},booth_president,"
        f'"{"a" * 200_000}",+919812345678,female\n'
    )
    refused = csv_upload("IN-HP-D05", organiser, rows.encode())
    assert refused.status_code == 422, refused.text
    assert refused.json()["type"].endswith("/bad-csv")
    assert "a" * 100 not in refused.text, "the field is not echoed"


def test_an_organiser_runs_one_import_at_a_time(organiser_token):
    organiser = organiser_token("IN-HP-D05", sub=someone())
    booth = empty_booth("IN-HP-D05", organiser)
    head = (
        f"POST /units/IN-HP-D05/appointments/import HTTP/1.1\r\nHost: x\r\n{_header(organiser)}\r\n"
        f"Content-Type: text/csv\r\nContent-Length: 1000000\r\n\r\n"
    ).encode()
    with socket.create_connection((HOST, PORT), timeout=5) as first:
        first.sendall(head + b"booth_id,role,name,phone,gender\n")  # still uploading
        time.sleep(0.5)
        second = csv_upload("IN-HP-D05", organiser, b"booth_id,role,name,phone,gender\n")
        assert second.status_code == 409, second.text
        assert second.json()["type"].endswith("/import-in-progress")
    rows = f"booth_id,role,name,phone,gender\n{booth},booth_president,Asha,{phone()},female\n"
    after = None
    for _ in range(50):  # the abandoned upload's lease ends as the server notices it went away
        after = csv_upload("IN-HP-D05", organiser, rows.encode())
        if after.status_code != 409:
            break
        time.sleep(0.1)
    assert after.status_code == 200 and '"appointed": 1' in after.text, after.text


def _header(headers: dict) -> str:
    return "\r\n".join(f"{k}: {v}" for k, v in headers.items())


def test_a_csv_row_with_a_bad_locale_is_refused_like_the_single_route(organiser_token):
    organiser = organiser_token("IN-HP-D05", sub=someone())
    booth = empty_booth("IN-HP-D05", organiser)
    rows = (
        f"booth_id,role,name,phone,gender,locale\n{booth},booth_president,Asha,{phone()},female,hindi\n"
        f"{booth},member,Ravi,{phone()},male,en-IN\n"
    )
    report = csv_upload("IN-HP-D05", organiser, rows.encode())
    lines = [line for line in report.text.splitlines() if '"problem"' in line]
    assert len(lines) == 1 and '"field": "locale"' in lines[0], report.text
    members = httpx.get(f"{APPOINTMENTS}/booths/{booth}/team", headers=organiser).json()["members"]
    assert [m["role"] for m in members] == ["member"]
    assert code_for(members[0]["id"]), "the booth's code still goes out"


def test_an_identity_providers_subject_of_any_shape_still_gets_the_code_sent(organiser_token):
    organiser = organiser_token("IN-HP-D05", sub="auth0|5f7c8ec7c33c6c004bbafe82@example.org")
    booth = empty_booth("IN-HP-D05", organiser)
    created = appoint(booth, organiser)
    assert created.status_code == 201, created.text
    assert code_for(created.json()["id"])


def test_president_elsewhere_is_told_only_inside_ones_unit_and_refusals_are_limited(
    organiser_token,
):
    home, state = (
        organiser_token("IN-HP-D05", sub=someone()),
        organiser_token("IN-HP", sub=someone()),
    )
    prober = organiser_token("IN-HP-D06", sub=someone())
    president = phone()
    assert appoint(empty_booth("IN-HP-D05", home), home, phone=president).status_code == 201
    elsewhere = empty_booth("IN-HP-D06", prober)

    neutral = appoint(elsewhere, prober, phone=president)
    assert neutral.status_code == 409 and neutral.json()["type"].endswith("/appointment-refused")
    assert "president" not in neutral.text
    precise = appoint(empty_booth("IN-HP-D07", state), state, phone=president)
    assert precise.status_code == 409 and precise.json()["type"].endswith(
        "/already-president-elsewhere"
    )

    answers = [appoint(elsewhere, prober, phone=president).status_code for _ in range(25)]
    assert 429 in answers, answers
    # Once spent, any president appointment waits, one that would succeed too: nothing to learn.
    assert appoint(elsewhere, prober).status_code == 429


def test_a_day_of_wrong_codes_bars_the_appointment_until_a_higher_organiser_unlocks_it(
    organiser_token, settings
):
    from datetime import datetime, timedelta, timezone

    from pymongo import MongoClient

    appointer, state = (
        organiser_token("IN-HP-D05", sub=someone()),
        organiser_token("IN-HP", sub=someone()),
    )
    booth = empty_booth("IN-HP-D05", appointer)
    appointment = appoint(booth, appointer).json()
    right = code_for(appointment["id"])
    # 19 wrong codes earlier today (spread over four codes, as a patient guesser would).
    earlier = [datetime.now(timezone.utc) - timedelta(minutes=m) for m in range(19, 0, -1)]
    teams = MongoClient(settings.mongo_url)[settings.mongo_db].booth_teams
    doc = teams.find_one({"_id": booth})
    for a in doc["appointments"]:
        if a["id"] == appointment["id"]:
            a["wrong_codes"] = earlier
    assert (
        teams.update_one(
            {"_id": booth, "version": doc["version"]},
            {"$set": {"appointments": doc["appointments"]}},
        ).matched_count
        == 1
    )
    base = f"{APPOINTMENTS}/booths/{booth}/appointments/{appointment['id']}"

    assert (
        verify(
            booth, appointment["id"], f"{(int(right) + 1) % 1_000_000:06d}", appointer
        ).status_code
        == 422
    )
    barred = verify(booth, appointment["id"], right, appointer)
    assert barred.status_code == 409 and barred.json()["type"].endswith("/appointment-barred")
    assert (
        httpx.post(f"{base}/otp", headers=appointer).json()["type"].endswith("/appointment-barred")
    )
    own = httpx.post(f"{base}/unlock", headers=appointer)
    assert own.status_code == 403 and own.json()["type"].endswith("/unlock-not-allowed")
    unlocked = httpx.post(f"{base}/unlock", headers=state)
    assert unlocked.status_code == 200 and unlocked.json()["otp_failure"] is None
    assert httpx.post(f"{base}/otp", headers=appointer).status_code == 202


def test_an_organiser_has_codes_sent_to_a_days_allowance_of_new_numbers(organiser_token, settings):
    import redis

    sub = someone()
    organiser = organiser_token("IN-HP-D05", sub=sub)
    booth = empty_booth("IN-HP-D05", organiser)
    # The day's allowance (25,000 distinct numbers) already spent, as a pumping account would.
    client = redis.Redis.from_url(settings.redis_url)
    key = f"appointments:new-numbers-per-organiser:{sub}:{int(time.time() // 86400)}"
    for start in range(0, 26_000, 2_000):
        client.pfadd(key, *[f"n{i}" for i in range(start, start + 2_000)])
    client.expire(key, 86400)

    refused = appoint(booth, organiser)
    assert refused.status_code == 429 and refused.headers["Retry-After"].isdigit()
    rows = f"booth_id,role,name,phone,gender\n{booth},booth_president,Asha,{phone()},female\n"
    assert csv_upload("IN-HP-D05", organiser, rows.encode()).status_code == 429
    assert (
        httpx.get(f"{APPOINTMENTS}/booths/{booth}/team", headers=organiser).json()["members"] == []
    )
    assert appoint(booth, organiser_token("IN-HP-D05", sub=someone())).status_code == 201, (
        "others go on"
    )


def test_the_notifier_refuses_unknown_fields_and_caps_its_webhook_before_reading_it():
    notifier = os.environ.get("NOTIFIER_URL", "http://127.0.0.1:8003")
    otp = {"Authorization": f"Bearer {(LOCAL_TOKENS / 'otp.jwt').read_text().strip()}"}
    body = {
        "request_id": str(uuid.uuid4()),
        "appointment_id": str(uuid.uuid4()),
        "booth_id": "IN-HP-D05-A01-M01-S01-B001",
        "phone": "+919812345678",
        "channel": "sms",
        "locale": "en",
        "text": "123456 is your code",
        "priority": "bulk",
    }
    refused = httpx.post(f"{notifier}/v1/otp-deliveries", json=body, headers=otp)
    assert refused.status_code == 422 and [e["field"] for e in refused.json()["errors"]] == [
        "priority"
    ]
    # The provider's webhook carries no bearer token (its signature is checked):
    # only the cap applies.
    webhook = httpx.post(
        f"{notifier}/v1/webhooks/provider",
        content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert webhook.status_code == 413 and webhook.json()["type"].endswith("/body-too-large")
    unsigned = httpx.post(f"{notifier}/v1/webhooks/provider", json={"statuses": []})
    assert unsigned.status_code == 401 and unsigned.json()["type"].endswith("/bad-signature")


def test_a_csv_row_for_a_president_elsewhere_is_told_neutrally_outside_ones_unit(organiser_token):
    home, prober = (
        organiser_token("IN-HP-D05", sub=someone()),
        organiser_token("IN-HP-D06", sub=someone()),
    )
    president = phone()
    assert appoint(empty_booth("IN-HP-D05", home), home, phone=president).status_code == 201
    booth = empty_booth("IN-HP-D06", prober)
    report = csv_upload(
        "IN-HP-D06",
        prober,
        f"booth_id,role,name,phone,gender\n"
        f"{booth},booth_president,Asha,{president},female\n".encode(),
    )
    [line] = [line for line in report.text.splitlines() if '"problem"' in line]
    assert '"type": "appointment-refused"' in line and "president" not in line
