"""The reports API on the real FerretDB and the demo org tree: who may do what, and what a caller
sees when MongoDB is away (503 with Retry-After, never a 500 or a hang)."""

import uuid
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from reports.api import create_reports_app
from reports.bootstrap import bootstrap
from reports.settings import ReportsSettings
from testkit.processes import closed_port
from tests.e2e.test_reports_flow import DAILY

pytestmark = pytest.mark.integration

DISTRICT, OTHER_DISTRICT = "IN-HP-D04", "IN-HP-D05"


@pytest.fixture
def api(mongo_db, org_registry):
    if org_registry.get(DISTRICT) is None:
        pytest.skip("the demo org tree (Himachal) is not loaded")
    # No `with`: the app's background jobs (relay, fan-out, scheduler) stay off in these tests.
    return TestClient(create_reports_app(bootstrap(ReportsSettings(), db=mongo_db)))


def dispatched(api, organiser_token) -> str:
    hp = organiser_token("IN-HP", sub="user-hp")
    form_id = api.post("/v1/forms", json=DAILY, headers=hp).json()["form_id"]
    api.post(f"/v1/forms/{form_id}/publish", headers=hp)
    body = {"form_id": form_id, "scope": [DISTRICT], "audience": ["booth_president"]}
    made = api.post("/v1/dispatches", json=body, headers=hp)
    assert made.status_code == 201, made.text
    return made.json()["rounds"][0]["dispatch_id"]


def answer(booth: str) -> dict:
    return {"submission_id": str(uuid.uuid4()), "booth_id": booth, "answers": {"mood": "good"}}


def kind(response) -> tuple[int, str]:
    return response.status_code, response.json()["type"].rsplit("/", 1)[1]


def test_an_organiser_answers_only_for_booths_inside_their_unit(api, organiser_token, org_registry):
    dispatch_id = dispatched(api, organiser_token)
    booth = next(org_registry.booth_ids_under(DISTRICT))
    other = organiser_token(OTHER_DISTRICT, sub="user-d05")
    refused = api.post(
        f"/v1/dispatches/{dispatch_id}/submissions", json=answer(booth), headers=other
    )
    assert kind(refused) == (403, "outside-jurisdiction")
    read = api.get(f"/v1/dispatches/{dispatch_id}/booths/{booth}", headers=other)
    assert kind(read) == (403, "outside-jurisdiction")


def test_a_booth_outside_the_dispatch_or_an_unknown_dispatch_is_not_found(
    api, organiser_token, org_registry
):
    dispatch_id = dispatched(api, organiser_token)
    hp = organiser_token("IN-HP", sub="user-hp")
    outside = next(org_registry.booth_ids_under(OTHER_DISTRICT))
    missing = api.post(
        f"/v1/dispatches/{dispatch_id}/submissions", json=answer(outside), headers=hp
    )
    assert kind(missing) == (404, "not-dispatched")
    unknown = api.post(
        f"/v1/dispatches/{uuid.uuid4()}/submissions", json=answer(outside), headers=hp
    )
    assert kind(unknown) == (404, "unknown-dispatch")


def test_a_booth_does_not_review_its_own_answer(api, organiser_token, org_registry):
    dispatch_id = dispatched(api, organiser_token)
    booth = next(org_registry.booth_ids_under(DISTRICT))
    own = organiser_token(booth, sub="user-booth")
    sent = answer(booth)
    assert (
        api.post(f"/v1/dispatches/{dispatch_id}/submissions", json=sent, headers=own).status_code
        == 201
    )
    review = {"submission_id": sent["submission_id"], "outcome": "accepted"}
    refused = api.post(
        f"/v1/dispatches/{dispatch_id}/booths/{booth}/review", json=review, headers=own
    )
    assert kind(refused) == (403, "own-booth")


def test_a_token_without_the_reports_scope_is_refused(api, organiser_token):
    token = organiser_token("IN", sub="user-hq", scopes=["reports:read"])
    assert api.post("/v1/forms", json=DAILY, headers=token).status_code == 403


def test_mongodb_away_is_a_503_with_retry_after(organiser_token):
    settings = ReportsSettings(
        MONGO_URL=f"mongodb://127.0.0.1:{closed_port()}/", DEPENDENCY_TIMEOUT_S=1
    )
    api = TestClient(create_reports_app(bootstrap(settings)))
    hq = organiser_token("IN", sub="user-hq")
    for response in (
        api.post("/v1/forms", json=DAILY, headers=hq),
        api.get("/v1/forms", headers=hq),
    ):
        assert kind(response) == (503, "dependency-unavailable")
        assert int(response.headers["Retry-After"]) > 0


def test_a_rounds_follow_ups_are_read_with_it_each_step_untaken_until_its_time(
    api, organiser_token
):
    dispatch_id = dispatched(api, organiser_token)
    hp = organiser_token("IN-HP", sub="user-hp")
    read = api.get(f"/v1/dispatches/{dispatch_id}", headers=hp)
    assert read.status_code == 200, read.text
    round_ = read.json()
    steps = [(s["step"], s["done"]) for s in round_["followups"]]
    assert steps == [("remind", False), ("mandal", False), ("district", False)]
    mandal = datetime.fromisoformat(round_["followups"][1]["at"])
    assert mandal >= datetime.fromisoformat(round_["due_at"])


def test_a_states_answer_links_are_sent_district_by_district_from_the_real_tree(
    mongo_db, org_registry
):
    if org_registry.get(DISTRICT) is None:
        pytest.skip("the demo org tree (Himachal) is not loaded")
    sender = bootstrap(ReportsSettings(), db=mongo_db).link_sender
    districts = [unit["id"] for unit in org_registry.children("IN-HP")]
    assert len(districts) > 1 and districts == sorted(districts)
    assert sender.districts("IN-HP") == districts
    assert sender.districts(DISTRICT) == [DISTRICT]
