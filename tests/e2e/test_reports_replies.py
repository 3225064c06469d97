"""A booth president answers a short report form by SMS or WhatsApp reply, through the running
platform: HQ publishes a short form (it says it is replyable and how to reply), a state dispatches
it to a district's booth presidents, the provider simulator makes one president's phone reply
"1 2 250" (delivered twice), and the booth's submission appears once, with report-submitted on
Kafka carrying no phone. A reply that does not read gets the format back and submits nothing; a
second different reply is refused and told; a phone no appointment holds submits nothing; a
forged webhook is refused with a 401 problem."""

import json
import os
import time
import uuid
from datetime import datetime, timezone

import httpx
import pytest

from reports import replying
from shared.events import types
from shared.secrets import PROVIDER_WEBHOOK_DEVELOPMENT_FILE
from shared.sending.policy import SendingPolicy
from shared.sending.signatures import sign
from shared.settings import PlatformSettings
from shared.topics import REPORT_SUBMISSIONS
from testkit.phones import indian_mobile
from testkit.processes import wait_until
from testkit.topic_tail import TopicTail
from tests.e2e.test_appointments_flow import APPOINTMENTS, code_for, verify
from tests.e2e.test_notifier_directive import simulator  # noqa: F401 (fixture)
from tests.e2e.test_reports_flow import reports  # noqa: F401 (fixture)
from tests.unit.test_reports_replies import SHORT

pytestmark = pytest.mark.e2e

NOTIFIER = os.environ.get("NOTIFIER_URL", "http://127.0.0.1:8003")
STATE, DISTRICT = "IN-HP", "IN-HP-D03"


def president(booth: str, headers: dict) -> tuple[str, str]:
    """A verified booth president with a new phone: (appointment id, phone)."""
    team = httpx.get(f"{APPOINTMENTS}/booths/{booth}/team", headers=headers, timeout=10).json()
    for member in team["members"]:
        httpx.delete(
            f"{APPOINTMENTS}/booths/{booth}/appointments/{member['id']}",
            headers=headers,
            timeout=10,
        )
    phone = indian_mobile(spaced=False)
    body = {"role": "booth_president", "name": "सुनीता देवी", "phone": phone, "gender": "female"}
    made = httpx.post(
        f"{APPOINTMENTS}/booths/{booth}/appointments", json=body, headers=headers, timeout=10
    )
    assert made.status_code == 201, made.text
    appointment_id = made.json()["id"]
    assert verify(booth, appointment_id, code_for(appointment_id), headers).status_code in (
        200,
        202,
    )

    def verified() -> bool:
        team = httpx.get(f"{APPOINTMENTS}/booths/{booth}/team", headers=headers, timeout=10)
        return any(
            m["id"] == appointment_id and m["status"] == "verified" for m in team.json()["members"]
        )

    wait_until(verified, 30)
    return appointment_id, phone


def reply(provider: str, phone: str, text: str, channel: str = "sms", twice=False) -> str:
    body = {"from": phone, "channel": channel, "text": text, "twice": twice}
    made = httpx.post(f"{provider}/v1/replies", json=body, timeout=10)
    assert made.status_code == 200, made.text
    return made.json()["id"]


def messages_to(provider: str, phone: str) -> list[str]:
    found = httpx.get(f"{provider}/v1/messages", params={"to": phone}, timeout=10).json()
    return [m.get("text") or "" for m in found["messages"]]


def told(provider: str, phone: str, texts: dict[str, str]) -> bool:
    """Whether the phone got this answer back, in either language (the appointee's locale)."""
    return any(t.startswith(tuple(texts.values())) for t in messages_to(provider, phone))


def answers_go_out_now(booth: str) -> bool:
    """Answers back are personal messages: inside the quiet hours they wait for the morning."""
    return (
        SendingPolicy().opens_at(datetime.now(timezone.utc), campaign=True, booth_id=booth) is None
    )


def test_a_president_answers_a_dispatched_short_form_by_sms_reply_once_with_no_phone_on_kafka(
    reports,  # noqa: F811
    simulator,  # noqa: F811
    organiser_token,
    org_registry,
    kafka_bootstrap,
):
    hq, state = organiser_token("IN", sub="user-hq"), organiser_token(STATE, sub="user-hp")
    district = organiser_token(DISTRICT, sub="user-hp-d03")
    booth = sorted(org_registry.booth_ids_under(DISTRICT))[7]
    appointment_id, phone = president(booth, district)

    created = reports.post("/v1/forms", json={"kind": "feedback", **SHORT}, headers=hq)
    form_id = created.json()["form_id"]
    published = reports.post(f"/v1/forms/{form_id}/publish", headers=hq).json()
    assert published["replyable"] is True and "Like: 1 1 10" in published["reply_format"]["en"]

    tail = TopicTail(kafka_bootstrap, REPORT_SUBMISSIONS.name)
    try:
        body = {"form_id": form_id, "scope": [DISTRICT], "audience": ["booth_president"]}
        made = reports.post("/v1/dispatches", json=body, headers=state)
        assert made.status_code == 201, made.text
        dispatch_id = made.json()["rounds"][0]["dispatch_id"]
        booth_report = f"/v1/dispatches/{dispatch_id}/booths/{booth}"

        reply(simulator, phone, "mood is good")
        if answers_go_out_now(booth):
            wait_until(lambda: told(simulator, phone, replying.NOT_UNDERSTOOD_PREFIX), 30)
        assert reports.get(booth_report, headers=district).status_code == 404

        reply(simulator, phone, "3 2 250", channel="whatsapp", twice=True)
        wait_until(lambda: reports.get(booth_report, headers=district).status_code == 200, 30)
        time.sleep(2)  # the duplicate webhook has come by now
        [submission] = reports.get(booth_report, headers=district).json()["submissions"]
        assert submission["late"] is False and submission["attempt"] == 1
        assert [
            (a["question_id"], a["option_ids"], a["yes"], a["number"])
            for a in submission["answers"]
        ] == [
            ("mood", ["poor"], None, None),
            ("met", None, False, None),
            ("served", None, None, 250),
        ]

        submitted = tail.wait_until(
            lambda e: e.type == types.REPORT_SUBMITTED and e.data["dispatch_id"] == dispatch_id,
            2,
            10,
        )
        assert [e.data["submission_id"] for e in submitted] == [submission["submission_id"]]
        assert submitted[0].data["submitted_by"] == appointment_id
        raw = json.dumps(submitted[0].data)
        assert phone not in raw and phone[3:] not in raw, "no phone on Kafka"

        reply(simulator, phone, "1 1 5")
        if answers_go_out_now(booth):
            wait_until(lambda: told(simulator, phone, replying.ANSWERED_BEFORE), 30)
        else:
            time.sleep(3)
        assert len(reports.get(booth_report, headers=district).json()["submissions"]) == 1
    finally:
        tail.close()


def signed_webhook(payload: dict) -> httpx.Response:
    key = PlatformSettings().key(
        None, None, development_file=PROVIDER_WEBHOOK_DEVELOPMENT_FILE, what="the webhook key"
    )
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Provider-Signature": sign(key, body, int(time.time())),
    }
    return httpx.post(f"{NOTIFIER}/v1/webhooks/provider", content=body, headers=headers, timeout=15)


def inbound(phone: str, text: str) -> dict:
    received = datetime.now(timezone.utc).isoformat()
    return {
        "messages": [
            {
                "id": f"in.{uuid.uuid4().hex}",
                "from": phone,
                "channel": "sms",
                "text": text,
                "received_at": received,
            }
        ]
    }


def test_a_reply_from_a_phone_no_appointment_holds_submits_nothing_and_is_answered_200(
    simulator,  # noqa: F811
):
    stranger = indian_mobile(spaced=False)
    answered = signed_webhook(inbound(stranger, "1 1 5"))
    assert answered.status_code == 200, answered.text
    assert answered.json()["replies"] == 1
    time.sleep(2)
    assert messages_to(simulator, stranger) == [], "no one to answer for: nothing is sent"


def test_a_forged_inbound_reply_is_refused_with_a_401_problem():
    body = json.dumps(inbound(indian_mobile(spaced=False), "1 1 5")).encode()
    forged = sign(b"not the provider's key", body, int(time.time()))
    refused = httpx.post(
        f"{NOTIFIER}/v1/webhooks/provider",
        content=body,
        headers={"Content-Type": "application/json", "X-Provider-Signature": forged},
        timeout=10,
    )
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"].endswith("/bad-signature")
