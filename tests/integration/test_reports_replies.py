"""The reports service's internal route for answers by reply, on the real FerretDB and the demo
org tree: only a service holding reports:reply may call it; a reply handed over twice is one
submission; a text that does not read is answered with the form's format and submits nothing;
the rounds asking a booth are found through the registry's ancestors of the booth."""

import uuid

import pytest
from fastapi.testclient import TestClient

from reports.api import create_reports_app
from reports.bootstrap import bootstrap
from reports.settings import ReportsSettings
from shared.auth.issuer import service_token
from tests.unit.test_reports_replies import SHORT

pytestmark = pytest.mark.integration

DISTRICT = "IN-HP-D04"


@pytest.fixture
def api(mongo_db, org_registry):
    if org_registry.get(DISTRICT) is None:
        pytest.skip("the demo org tree (Himachal) is not loaded")
    return TestClient(create_reports_app(bootstrap(ReportsSettings(), db=mongo_db)))


@pytest.fixture
def notifier() -> dict:
    return {"Authorization": f"Bearer {service_token('notifier')}"}


def dispatched(api, organiser_token) -> str:
    hq = organiser_token("IN", sub="user-hq")
    form_id = api.post("/v1/forms", json={"kind": "feedback", **SHORT}, headers=hq).json()[
        "form_id"
    ]
    published = api.post(f"/v1/forms/{form_id}/publish", headers=hq).json()
    assert published["replyable"] is True
    body = {"form_id": form_id, "scope": [DISTRICT], "audience": ["booth_president"]}
    made = api.post("/v1/dispatches", json=body, headers=organiser_token("IN-HP", sub="u"))
    assert made.status_code == 201, made.text
    return made.json()["rounds"][0]["dispatch_id"]


def handed_over(booth: str, text: str, reply_id: str | None = None) -> dict:
    return {
        "reply_id": reply_id or f"in.{uuid.uuid4().hex}",
        "channel": "sms",
        "text": text,
        "appointees": [
            {"appointment_id": str(uuid.uuid4()), "booth_id": booth, "role": "booth_president"}
        ],
    }


def test_a_reply_handed_over_twice_is_one_submission_of_the_booth(
    api, notifier, organiser_token, org_registry
):
    dispatch_id = dispatched(api, organiser_token)
    booth = next(org_registry.booth_ids_under(DISTRICT))
    body = handed_over(booth, "1, haan, 250")
    first = api.post("/internal/replies", json=body, headers=notifier)
    again = api.post("/internal/replies", json=body, headers=notifier)
    assert first.status_code == 200, first.text
    assert (first.json()["outcome"], again.json()["outcome"]) == ("submitted", "repeated")
    assert first.json()["dispatch_id"] == dispatch_id and again.json()["message"] is None
    report = api.get(
        f"/v1/dispatches/{dispatch_id}/booths/{booth}", headers=organiser_token(DISTRICT)
    ).json()
    [submission] = report["submissions"]
    assert submission["submission_id"] == first.json()["submission_id"]
    assert [a["question_id"] for a in submission["answers"]] == ["mood", "met", "served"]


def test_a_reply_that_does_not_read_gets_the_format_back_and_submits_nothing(
    api, notifier, organiser_token, org_registry
):
    dispatch_id = dispatched(api, organiser_token)
    booth = list(org_registry.booth_ids_under(DISTRICT))[1]
    answer = api.post("/internal/replies", json=handed_over(booth, "all good"), headers=notifier)
    assert answer.json()["outcome"] == "not-understood"
    assert "Like: 1 1 10" in answer.json()["message"]["en"]
    assert answer.json()["reason"] == "expected 3 answers, got 2"
    missing = api.get(
        f"/v1/dispatches/{dispatch_id}/booths/{booth}", headers=organiser_token(DISTRICT)
    )
    assert missing.status_code == 404


def test_only_a_service_holding_reports_reply_hands_over_replies(api, organiser_token):
    body = handed_over("IN-HP-D04-A01-M01-S01-B001", "1 1 1")
    assert api.post("/internal/replies", json=body).status_code == 401
    organiser = api.post("/internal/replies", json=body, headers=organiser_token("IN"))
    assert organiser.status_code in (401, 403)
    otp = {"Authorization": f"Bearer {service_token('otp')}"}
    refused = api.post("/internal/replies", json=body, headers=otp)
    assert refused.status_code in (401, 403)
    assert refused.headers["content-type"].startswith("application/problem+json")
