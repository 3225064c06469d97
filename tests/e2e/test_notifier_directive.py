"""Directives through the running platform, as a new user meets them: booth presidents appointed
and OTP-verified in the appointments service, a state organiser's directive to Himachal Pradesh's
booth presidents, counts climbing to delivered and acknowledged as the provider simulator calls
back, a state organiser refused another state, a task delivered twice sent once, and an OTP
handed to the notifier sent on the urgent lane.

The provider simulator is the platform's (port 8005) when `make up` runs it; otherwise this
module starts it on that port, calling back the platform's notifier, and stops it afterwards.
"""

import os
import random
import re
import secrets
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import httpx
import pytest

from notifier.adapters.lanes import TaskProducer
from shared.auth.keys import LOCAL_TOKENS
from shared.sending.policy import SendingPolicy
from testkit.phones import indian_mobile
from testkit.processes import Process, port_open, wait_until
from tests.fakes.notifier import otp_task

pytestmark = pytest.mark.e2e

NOTIFIER = os.environ.get("NOTIFIER_URL", "http://127.0.0.1:8003")
APPOINTMENTS = os.environ.get("APPOINTMENTS_URL", "http://127.0.0.1:8001")
OTP_URL = os.environ.get("OTP_URL", "http://127.0.0.1:8002")
SIMULATOR_PORT = 8005
SIMULATOR = f"http://127.0.0.1:{SIMULATOR_PORT}"
DISTRICT = "IN-HP-D09"
PRESIDENTS = 3


@pytest.fixture(scope="module")
def simulator(tmp_path_factory):
    if port_open(SIMULATOR_PORT):
        yield SIMULATOR
        return
    process = Process(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "simulator.api:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(SIMULATOR_PORT),
            "--no-access-log",
        ],
        {"SIMULATOR_CALLBACK_URL": f"{NOTIFIER}/v1/webhooks/provider"},
        tmp_path_factory.mktemp("simulator") / "simulator.log",
    )
    try:
        wait_until(lambda: port_open(SIMULATOR_PORT), 30, process)
        yield SIMULATOR
    finally:
        process.stop()


def random_booth(district: str) -> str:
    unit = district
    while unit.count("-") < 6:
        unit = random.choice(
            httpx.get(f"{APPOINTMENTS}/units/{unit}", timeout=10).json()["children"]
        )["id"]
    return unit


def code_for(appointment_id: str) -> str:
    for _ in range(100):
        found = httpx.get(
            f"{OTP_URL}/v1/dev/deliveries", params={"appointment_id": appointment_id}
        ).json()["deliveries"]
        if found:
            return found[0]["code"]
        threading.Event().wait(0.1)
    raise AssertionError("no OTP reached the delivery sink")


@pytest.fixture(scope="module")
def presidents():
    """Verified booth presidents in a few booths of the district: [(booth id, appointment id,
    phone)]."""
    from shared.auth.issuer import organiser_token

    headers = {"Authorization": f"Bearer {organiser_token(sub='user-e2e-d09', unit=DISTRICT)}"}
    made = []
    for booth in {random_booth(DISTRICT) for _ in range(PRESIDENTS)}:
        team = httpx.get(f"{APPOINTMENTS}/booths/{booth}/team", headers=headers, timeout=10).json()
        for member in team["members"]:
            httpx.delete(
                f"{APPOINTMENTS}/booths/{booth}/appointments/{member['id']}",
                headers=headers,
                timeout=10,
            )
        phone = f"+919{secrets.randbelow(10**9):09d}"
        created = httpx.post(
            f"{APPOINTMENTS}/booths/{booth}/appointments",
            headers=headers,
            timeout=10,
            json={
                "role": "booth_president",
                "name": "सुनीता देवी",
                "phone": phone,
                "gender": "female",
            },
        )
        assert created.status_code == 201, created.text
        appointment = created.json()["id"]
        verified = httpx.post(
            f"{APPOINTMENTS}/booths/{booth}/appointments/{appointment}/verification",
            json={"code": code_for(appointment)},
            headers=headers,
            timeout=10,
        )
        assert verified.status_code in (200, 202), verified.text
        made.append((booth, appointment, phone))

    def all_verified() -> bool:
        statuses = {
            m["id"]: m["status"]
            for b, _, _ in made
            for m in httpx.get(
                f"{APPOINTMENTS}/booths/{b}/team", headers=headers, timeout=10
            ).json()["members"]
        }
        return all(statuses.get(a) == "verified" for _, a, _ in made)

    wait_until(all_verified, 60)
    return made


def organiser(unit: str, sub: str) -> dict[str, str]:
    from notifier.domain.directives import OVERRIDE_SCOPE
    from shared.auth.issuer import ORGANISER_SCOPES, organiser_token

    # A state's organiser may lift quiet hours (when the tests run at night); a district's may not.
    token = organiser_token(sub=sub, unit=unit, scopes=ORGANISER_SCOPES + [OVERRIDE_SCOPE])
    return {"Authorization": f"Bearer {token}"}


def directive_body(scope: list[str]) -> dict:
    body = {
        "title": {"en": "Booth meeting on Sunday", "hi": "रविवार को बूथ बैठक"},
        "body": {"en": "Hold the booth meeting at 11 am.", "hi": "सुबह 11 बजे बूथ बैठक करें।"},
        "scope": scope,
        "audience": ["booth_president"],
        "channels": ["whatsapp", "sms"],
        "priority": "normal",
        "expires_at": (datetime.now(timezone.utc) + timedelta(hours=6)).isoformat(),
    }
    if SendingPolicy().opens_at(datetime.now(timezone.utc), campaign=True, booth_id=""):
        # Run during the night: only an urgent directive with an (audited) override goes now.
        body.update(
            priority="urgent",
            quiet_hours_override={"reason": "end-to-end test run during quiet hours"},
        )
    return body


def status(directive_id: str, headers: dict) -> dict:
    return httpx.get(
        f"{NOTIFIER}/v1/directives/{directive_id}/status", headers=headers, timeout=10
    ).json()


def ack_link(message: dict) -> str | None:
    text = (
        message["template"]["parameters"][-1]
        if message.get("template")
        else message.get("text") or ""
    )
    found = re.search(r"https?://\S+/a/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+", text)
    return found.group(0) if found else None


def test_a_directive_to_himachals_booth_presidents_is_delivered_and_acknowledged(
    simulator, presidents
):
    state = organiser("IN-HP", "user-e2e-hp")
    created = httpx.post(
        f"{NOTIFIER}/v1/directives", json=directive_body(["IN-HP"]), headers=state, timeout=30
    )
    assert created.status_code == 201, created.text
    directive_id = created.json()["directive_id"]

    seen: dict = {}

    def delivered() -> bool:
        seen.update(status(directive_id, state))
        total, district = seen["total"], seen["districts"].get(DISTRICT, {})
        # Fanned out to the whole state (its last district may come after this one's deliveries)
        # and every message has an outcome.
        return (
            seen["state"] == "sent"
            and total["targeted"] >= PRESIDENTS
            and total["delivered"] + total["failed"] == total["targeted"]
            and district.get("targeted", 0) >= PRESIDENTS
        )

    wait_until(delivered, 120)
    assert seen["states"]["IN-HP"]["targeted"] == seen["total"]["targeted"]

    mine = []
    for _, _, phone in presidents:
        messages = httpx.get(f"{simulator}/v1/messages", params={"to": phone}, timeout=10).json()[
            "messages"
        ]
        mine += [m for m in messages if ack_link(m)]  # fresh phones: their only directive messages
    assert len({m["to"] for m in mine}) == len(presidents)
    for message in mine:
        assert httpx.post(ack_link(message), timeout=10).status_code == 200

    def acknowledged() -> bool:
        seen.update(status(directive_id, state))
        return seen["districts"][DISTRICT]["acknowledged"] >= len(presidents)

    wait_until(acknowledged, 60)
    silent = httpx.get(
        f"{NOTIFIER}/v1/directives/{directive_id}/booths",
        params={"missing": "acknowledged"},
        headers=state,
        timeout=10,
    ).json()["booths"]
    assert not {b for b, _, _ in presidents} & set(silent)


def test_a_state_organiser_is_refused_another_state():
    refused = httpx.post(
        f"{NOTIFIER}/v1/directives",
        json=directive_body(["IN-HP"]),
        headers=organiser("IN-MP", "user-e2e-mp"),
        timeout=10,
    )
    assert refused.status_code == 403 and refused.json()["type"].endswith("/outside-jurisdiction")


def test_a_task_delivered_twice_is_sent_once(simulator, kafka_bootstrap):
    phone = indian_mobile(spaced=False)  # one the simulator delivers to
    task = otp_task(phone, "IN-HP-D09-A01-M01-S01-B001", now=time.time())
    producer = TaskProducer(kafka_bootstrap, lambda name: name)
    producer.produce(task)
    producer.produce(task)
    producer.flush()
    wait_until(
        lambda: httpx.get(f"{simulator}/v1/messages", params={"to": phone}).json()["messages"], 30
    )
    time.sleep(2)
    producer.produce(task)
    producer.flush()
    producer.close()
    time.sleep(2)
    assert len(httpx.get(f"{simulator}/v1/messages", params={"to": phone}).json()["messages"]) == 1


def test_the_otp_service_token_hands_a_code_to_the_urgent_lane(simulator):
    phone = indian_mobile(spaced=False)  # one the simulator delivers to
    token = (LOCAL_TOKENS / "otp.jwt").read_text().strip()
    response = httpx.post(
        f"{NOTIFIER}/v1/otp-deliveries",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
        json={
            "request_id": str(uuid.uuid4()),
            "appointment_id": str(uuid.uuid4()),
            "booth_id": "IN-HP-D09-A01-M01-S01-B001",
            "phone": phone,
            "channel": "sms",
            "locale": "hi",
            "text": "654321 आपका संगठन सत्यापन कोड है।",
        },
    )
    assert response.status_code == 202, response.text
    wait_until(
        lambda: httpx.get(f"{simulator}/v1/messages", params={"to": phone}).json()["messages"], 15
    )
    [message] = httpx.get(f"{simulator}/v1/messages", params={"to": phone}).json()["messages"]
    assert message["sender"] == "SNGOTP" and message["text"].startswith("654321")


def directive_in(message: dict) -> str | None:
    """The directive a message's acknowledgement link names (the token's ids are readable; only
    its MAC needs the key)."""
    import base64

    link = ack_link(message)
    if link is None:
        return None
    payload = link.rsplit("/", 1)[1].split(".")[0]
    return str(uuid.UUID(bytes=base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))[:16]))


def war_room_slots(now: datetime) -> tuple[str, list[datetime]]:
    """Three slots in one minute of India time, 8 and 20 seconds apart, starting a few seconds on:
    an RRULE (FREQ=DAILY;BYHOUR;BYMINUTE;BYSECOND) and the slots it gives today."""
    first = (now + timedelta(seconds=6)).astimezone(ZoneInfo("Asia/Kolkata")).replace(microsecond=0)
    if first.second > 31:
        first = (first + timedelta(minutes=1)).replace(second=0)
    slots = [first, first + timedelta(seconds=8), first + timedelta(seconds=28)]
    seconds = ",".join(str(s.second) for s in slots)
    return f"FREQ=DAILY;BYHOUR={first.hour};BYMINUTE={first.minute};BYSECOND={seconds}", slots


def test_a_recurring_directive_sends_a_round_per_slot_until_it_is_cancelled(simulator, presidents):
    state = organiser("IN-HP", "user-e2e-hp")
    rrule, slots = war_room_slots(datetime.now(timezone.utc))
    # Urgent, so its rounds are not queued behind other tests' sends on the normal lane.
    body = {
        **directive_body([b for b, _, _ in presidents]),
        "priority": "urgent",
        "recurrence": {"rrule": rrule, "timezone": "Asia/Kolkata", "until": None},
    }
    created = httpx.post(f"{NOTIFIER}/v1/directives", json=body, headers=state, timeout=30)
    assert created.status_code == 201, created.text
    directive_id = created.json()["directive_id"]
    assert created.json()["recurrence"]["rrule"] == rrule
    phones = {p for _, _, p in presidents}

    def received() -> list[str]:
        found = []
        for phone in phones:
            messages = httpx.get(
                f"{simulator}/v1/messages", params={"to": phone}, timeout=10
            ).json()["messages"]
            found += [m["to"] for m in messages if directive_in(m) == directive_id]
        return found

    try:
        seen: dict = {}

        def two_rounds_delivered() -> bool:
            seen.update(status(directive_id, state))
            done = sum(r["state"] == "done" for r in seen["rounds"]["ran"])
            return done >= 2 and len(received()) >= 2 * len(phones)

        wait_until(two_rounds_delivered, 120)
        assert seen["rounds"]["next_due"] is not None
    finally:
        cancelled = httpx.post(
            f"{NOTIFIER}/v1/directives/{directive_id}/cancel", headers=state, timeout=10
        )
    assert cancelled.status_code == 200, cancelled.text
    ran = status(directive_id, state)["rounds"]["ran"]
    assert len(ran) == 2, f"the third slot went before the cancel (lanes slow?): {ran}"

    # Past the third slot (plus time for a fan-out), nothing more came and no round ran.
    third = slots[2].timestamp() + 5
    while time.time() < third:
        time.sleep(0.5)
    after = status(directive_id, state)
    assert after["state"] == "cancelled" and after["rounds"]["next_due"] is None
    assert [r["state"] for r in after["rounds"]["ran"]] == ["done", "done"]
    assert sorted(received()) == sorted(list(phones) * 2), (
        "one message per president per round, no third"
    )
