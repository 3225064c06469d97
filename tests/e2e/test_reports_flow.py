"""Field reports through the running platform, as a new user meets them: HQ designs and publishes
a daily form, a state dispatches it to one district's booth presidents and every booth of the
district is asked on Kafka; a booth's answer sent twice with the same id is one submission; a bad
answer is refused naming its fields; a reviewer rejects it and the booth answers again; a form of
another state is refused."""

import os
import time
import uuid

import httpx
import pytest

from shared.events import types
from shared.settings import PlatformSettings
from shared.topics import REPORT_SUBMISSIONS
from testkit.topic_tail import TopicTail

pytestmark = pytest.mark.e2e

REPORTS = os.environ.get("REPORTS_URL", "http://127.0.0.1:8008")
STATE, DISTRICT = "IN-HP", "IN-HP-D04"

DAILY = {
    "kind": "feedback",
    "title": {"hi": "दैनिक बूथ रिपोर्ट", "en": "Daily booth report"},
    "questions": [
        {
            "id": "mood",
            "type": "single_choice",
            "required": True,
            "label": {"hi": "मनोबल", "en": "Mood"},
            "options": [
                {"id": "good", "label": {"hi": "अच्छा", "en": "Good"}},
                {"id": "poor", "label": {"hi": "कमज़ोर", "en": "Poor"}},
            ],
        },
        {
            "id": "why",
            "type": "short_text",
            "required": True,
            "label": {"hi": "क्यों?", "en": "Why?"},
            "show_if": {"question": "mood", "equals": "poor"},
        },
        {
            "id": "meetings",
            "type": "number",
            "min": 0,
            "max": 20,
            "label": {"hi": "बैठकें", "en": "Meetings"},
        },
    ],
}


@pytest.fixture(scope="module")
def reports():
    with httpx.Client(base_url=REPORTS, timeout=15) as client:
        if client.get("/readyz").status_code != 200:
            pytest.skip("the reports service is not running (make up)")
        yield client


def published_form(reports, headers) -> str:
    created = reports.post("/v1/forms", json=DAILY, headers=headers)
    assert created.status_code == 201, created.text
    form_id = created.json()["form_id"]
    published = reports.post(f"/v1/forms/{form_id}/publish", headers=headers)
    assert (published.status_code, published.json()["status"]) == (200, "published")
    return form_id


def dispatch(reports, headers, form_id, scope=DISTRICT):
    body = {"form_id": form_id, "scope": [scope], "audience": ["booth_president"]}
    return reports.post("/v1/dispatches", json=body, headers=headers)


def test_hq_publishes_a_state_dispatches_to_a_district_and_a_retried_answer_is_one_submission(
    reports, organiser_token, org_registry, kafka_bootstrap
):
    hq, state = organiser_token("IN", sub="user-hq"), organiser_token(STATE, sub="user-hp")
    district = organiser_token(DISTRICT, sub="user-hp-d04")
    form_id = published_form(reports, hq)
    assert reports.get(f"/v1/forms/{form_id}", headers=state).json()["versions"][0]["number"] == 1

    tail = TopicTail(kafka_bootstrap, REPORT_SUBMISSIONS.name)
    try:
        made = dispatch(reports, state, form_id)
        assert made.status_code == 201, made.text
        [round_] = made.json()["rounds"]
        dispatch_id = round_["dispatch_id"]
        booths = set(org_registry.booth_ids_under(DISTRICT))

        found = {"fanned_out": False}
        deadline = time.monotonic() + 60
        while not found["fanned_out"] and time.monotonic() < deadline:
            time.sleep(0.5)
            found = reports.get(f"/v1/dispatches/{dispatch_id}", headers=district).json()
        assert (found["fanned_out"], found["booths_dispatched"]) == (True, len(booths))
        asked = tail.ids_until(
            lambda e: e.type == types.REPORT_DISPATCHED and e.data["dispatch_id"] == dispatch_id,
            booths,
            key="booth_id",
            timeout=60,
        )
        assert asked == booths

        booth = sorted(booths)[0]
        answer = {
            "submission_id": str(uuid.uuid4()),
            "booth_id": booth,
            "answers": {"mood": "good", "meetings": 2},
        }
        first = reports.post(
            f"/v1/dispatches/{dispatch_id}/submissions", json=answer, headers=district
        )
        again = reports.post(
            f"/v1/dispatches/{dispatch_id}/submissions", json=answer, headers=district
        )
        assert (first.status_code, again.status_code) == (201, 200), (first.text, again.text)
        assert again.json() == first.json() and first.json()["attempt"] == 1
        report = reports.get(
            f"/v1/dispatches/{dispatch_id}/booths/{booth}", headers=district
        ).json()
        assert [s["submission_id"] for s in report["submissions"]] == [answer["submission_id"]]
        submitted = tail.wait_until(
            lambda e: e.type == types.REPORT_SUBMITTED and e.data["dispatch_id"] == dispatch_id,
            2,
            10,
        )
        assert [e.data["submission_id"] for e in submitted] == [answer["submission_id"]]
        assert submitted[0].data["answers"][0]["option_ids"] == ["good"]

        other = {**answer, "submission_id": str(uuid.uuid4())}
        refused = reports.post(
            f"/v1/dispatches/{dispatch_id}/submissions", json=other, headers=district
        )
        assert (refused.status_code, refused.json()["type"].rsplit("/", 1)[1]) == (
            409,
            "already-submitted",
        )

        review = {
            "submission_id": answer["submission_id"],
            "outcome": "rejected",
            "reason": "implausible_numbers",
        }
        reviewed = reports.post(
            f"/v1/dispatches/{dispatch_id}/booths/{booth}/review", json=review, headers=district
        )
        assert reviewed.json()["status"] == "rejected", reviewed.text
        redo = {**other, "answers": {"mood": "poor", "why": "the road to the booth is flooded"}}
        second = reports.post(
            f"/v1/dispatches/{dispatch_id}/submissions", json=redo, headers=district
        )
        assert (second.status_code, second.json()["attempt"]) == (201, 2)
        later = tail.wait_until(
            lambda e: (
                e.type in (types.REPORT_REVIEWED, types.REPORT_SUBMITTED)
                and e.data["dispatch_id"] == dispatch_id
            ),
            2,
            15,
        )
        assert [(e.type, e.data.get("reason"), e.data.get("attempt")) for e in later] == [
            (types.REPORT_REVIEWED, "implausible_numbers", None),
            (types.REPORT_SUBMITTED, None, 2),
        ]
        assert "flooded" not in str(later[1].data)
    finally:
        tail.close()
    assert "flooded" not in (_log("reports"))


def test_a_bad_answer_is_refused_naming_each_field(reports, organiser_token, org_registry):
    hq, state = organiser_token("IN", sub="user-hq"), organiser_token(STATE, sub="user-hp")
    dispatch_id = dispatch(reports, state, published_form(reports, hq)).json()["rounds"][0][
        "dispatch_id"
    ]
    booth = next(org_registry.booth_ids_under(DISTRICT))
    bad = {
        "submission_id": str(uuid.uuid4()),
        "booth_id": booth,
        "answers": {"mood": "poor", "meetings": 99, "phone": "+919876543210"},
    }
    refused = reports.post(f"/v1/dispatches/{dispatch_id}/submissions", json=bad, headers=state)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert {e["field"] for e in refused.json()["errors"]} == {
        "answers.why",
        "answers.meetings",
        "answers.phone",
    }
    assert "9876543210" not in refused.text


def test_a_form_of_another_state_is_refused(reports, organiser_token, org_registry):
    mp, hp = organiser_token("IN-MP", sub="user-mp"), organiser_token(STATE, sub="user-hp")
    form_id = published_form(reports, mp)
    assert reports.get(f"/v1/forms/{form_id}", headers=hp).status_code == 403
    refused = dispatch(reports, hp, form_id)
    assert (refused.status_code, refused.json()["type"].rsplit("/", 1)[1]) == (
        403,
        "outside-jurisdiction",
    )
    # and a state cannot dispatch outside itself, even HQ's form
    hq_form = published_form(reports, organiser_token("IN", sub="user-hq"))
    assert dispatch(reports, hp, hq_form, scope="IN-MP").status_code == 403


def test_a_district_organiser_cannot_design_forms(reports, organiser_token):
    refused = reports.post("/v1/forms", json=DAILY, headers=organiser_token(DISTRICT, sub="user-d"))
    assert (refused.status_code, refused.json()["type"].rsplit("/", 1)[1]) == (
        403,
        "not-a-designer",
    )


def _log(service: str) -> str:
    path = PlatformSettings().state_dir / "logs" / f"{service}.log"
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
