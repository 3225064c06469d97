"""The reports service honours person-erased from the real Kafka topic: the erased appointee's
submissions lose their free text and their author, keep their choices and numbers (so counts and
exports stay right), and another person's submission is untouched."""

import uuid

import pytest
from fastapi.testclient import TestClient

from reports import consumer
from reports.adapters.erasures import SubmitterReports
from reports.adapters.mongo import OutboxPointers
from reports.api import create_reports_app
from reports.bootstrap import bootstrap
from reports.erasure import ERASED
from reports.settings import ReportsSettings
from shared.events import types
from shared.kafka.consumer import EventConsumer
from shared.kafka.producer import EventPublisher
from testkit import random_suffix
from testkit.processes import wait_until
from tests.e2e.test_reports_flow import DAILY

pytestmark = pytest.mark.integration

MANDAL = "IN-HP-D04-A01-M01"
WORDS = "सड़क टूटी है, रमेश जी नाराज़"


@pytest.fixture
def api(mongo_db, org_registry):
    if org_registry.get(MANDAL) is None:
        pytest.skip("the demo org tree (Himachal) is not loaded")
    return TestClient(create_reports_app(bootstrap(ReportsSettings(), db=mongo_db)))


def answer(api, headers, dispatch_id, booth, answers) -> str:
    sent = {"submission_id": str(uuid.uuid4()), "booth_id": booth, "answers": answers}
    made = api.post(f"/v1/dispatches/{dispatch_id}/submissions", json=sent, headers=headers)
    assert made.status_code == 201, made.text
    return sent["submission_id"]


def test_an_erased_appointees_free_text_and_id_leave_their_submissions_and_counts_stay(
    api, organiser_token, org_registry, mongo_db, kafka_bootstrap, scratch
):
    hp = organiser_token("IN-HP", sub="user-hp")
    form_id = api.post("/v1/forms", json=DAILY, headers=hp).json()["form_id"]
    api.post(f"/v1/forms/{form_id}/publish", headers=hp)
    body = {"form_id": form_id, "scope": [MANDAL], "audience": ["booth_president"]}
    dispatch_id = api.post("/v1/dispatches", json=body, headers=hp).json()["rounds"][0][
        "dispatch_id"
    ]
    first, second = list(org_registry.booth_ids_under(MANDAL))[:2]
    # Booth workers answer as their appointment (as the signed link records them).
    erased, stays = str(uuid.uuid4()), str(uuid.uuid4())
    poor = {"mood": "poor", "why": WORDS, "meetings": 4}
    answer(api, organiser_token(first, sub=erased), dispatch_id, first, poor)
    answer(api, organiser_token(second, sub=stays), dispatch_id, second, poor)

    topic = scratch(1)
    publisher = EventPublisher(kafka_bootstrap, "/test", topic_for=lambda _: topic)
    publisher.emit(
        types.PERSON_ERASED,
        {
            "erasure_id": str(uuid.uuid4()),
            "appointment_id": erased,
            "booth_id": first,
            "requested_by": "user-hp",
            "reason": "request",
            "erased_at": "2026-01-01T00:00:00+00:00",
        },
    )
    publisher.flush(10)
    reports = SubmitterReports(mongo_db, OutboxPointers(mongo_db))
    reader = EventConsumer(
        kafka_bootstrap, f"test-{random_suffix()}", [topic], consumer.erasures(reports)
    )
    try:
        wait_until(lambda: reader.run_once(1.0) >= 0 and not reports.answered_by(erased), 30)
    finally:
        reader.close()

    stored = mongo_db.report_booth_reports.find_one({"_id": f"{dispatch_id}/{first}"})
    # (Its outbox may still hold report-submitted, which names the appointment, never the text.)
    assert WORDS not in str(stored) and erased not in str(stored["submissions"])
    seen = api.get(f"/v1/dispatches/{dispatch_id}/booths/{first}", headers=hp).json()
    (submission,) = seen["submissions"]
    assert submission["status"] == "submitted"
    assert {a["question_id"]: a for a in submission["answers"]}.keys() == {"mood", "meetings"}
    assert stored["submissions"][0]["submitted_by"] == ERASED
    other = api.get(f"/v1/dispatches/{dispatch_id}/booths/{second}", headers=hp).json()
    assert WORDS in str(other["submissions"][0]["answers"])
    exported = api.get(
        f"/v1/units/{MANDAL}/submissions.csv", params={"dispatch_id": dispatch_id}, headers=hp
    ).content.decode("utf-8-sig")
    assert exported.count("कमज़ोर") == 2 and exported.count(WORDS) == 1
