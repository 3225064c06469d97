"""The answer lane (reports/answer_lane.py) on the real FerretDB and the demo org tree: an ordinary
answer goes through it, and every answer, ordinary or not, is answered as the route alone answers
it (the same app with the lane taken out): status, media type, body and request metrics."""

import uuid

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from pymongo.errors import AutoReconnect

from reports.answer_lane import AnswerLane
from reports.api import SUBMISSIONS, create_reports_app
from reports.bootstrap import bootstrap
from reports.settings import ReportsSettings
from testkit.processes import closed_port
from tests.integration.test_reports_api import DISTRICT, OTHER_DISTRICT, answer, dispatched, kind

pytestmark = pytest.mark.integration


def lane_of(app) -> AnswerLane:
    return next(r for r in app.router.routes if isinstance(r, AnswerLane))


def without_lane(app):
    app.router.routes.remove(lane_of(app))
    return app


class Counted:
    """The answers that went through the lane (`calls`), and those of them its route function
    answered in a thread (`threads`) rather than the event loop."""

    def __init__(self, lane: AnswerLane):
        self.calls, self.threads = 0, 0
        self.on_loop, self.answer = lane.on_loop, lane.answer
        lane.on_loop, lane.answer = self.passed, self.in_thread

    async def passed(self, *args):
        self.calls += 1
        return await self.on_loop(*args)

    def in_thread(self, *args):
        self.threads += 1
        return self.answer(*args)


@pytest.fixture
def apps(mongo_db, org_registry):
    """(the app, the same app without the lane), on one store; background jobs off (no `with`)."""
    if org_registry.get(DISTRICT) is None:
        pytest.skip("the demo org tree (Himachal) is not loaded")
    adapters = bootstrap(ReportsSettings(), db=mongo_db)
    lane = TestClient(create_reports_app(adapters))
    return lane, TestClient(without_lane(create_reports_app(adapters)))


def answered(metric_route: str, status: str) -> float:
    labels = {"service": "reports", "method": "POST", "route": metric_route, "status": status}
    return REGISTRY.get_sample_value("sangathan_http_requests_total", labels) or 0.0


def test_an_ordinary_answer_goes_through_the_lane_and_reads_as_the_routes(
    apps, organiser_token, org_registry
):
    lane, route = apps
    counted = Counted(lane_of(lane.app))
    dispatch_id = dispatched(lane, organiser_token)
    hp = organiser_token("IN-HP", sub="user-hp")
    first, second = list(org_registry.booth_ids_under(DISTRICT))[:2]
    url = f"/v1/dispatches/{dispatch_id}/submissions"
    before = answered(SUBMISSIONS, "201"), answered(SUBMISSIONS, "200")

    sent = answer(first)
    new, again = lane.post(url, json=sent, headers=hp), lane.post(url, json=sent, headers=hp)
    # The first read the round in a thread; the retry found a report there, read in a thread.
    assert (counted.calls, counted.threads) == (2, 2)
    assert (new.status_code, again.status_code) == (201, 200)
    assert again.json() == new.json()  # the retry is the same submission
    other = answer(second)
    by_route = route.post(url, json=other, headers=hp)
    assert by_route.status_code == 201 and counted.calls == 2
    assert new.headers["content-type"] == by_route.headers["content-type"] == "application/json"
    assert set(new.json()) == set(by_route.json())  # every field, the empty ones as null
    assert new.json()["submission_id"] == sent["submission_id"]
    assert (new.json()["answers"], new.json()["status"]) == (None, "submitted")
    # Counted under the route's template, as the route's own answers are.
    assert answered(SUBMISSIONS, "201") - before[0] == 2
    assert answered(SUBMISSIONS, "200") - before[1] == 1
    stored = lane.get(f"/v1/dispatches/{dispatch_id}/booths/{first}", headers=hp).json()
    assert [s["submission_id"] for s in stored["submissions"]] == [sent["submission_id"]]


def test_a_booths_first_answer_is_taken_on_the_event_loop_once_the_round_is_known(
    apps, organiser_token, org_registry
):
    """The morning's ordinary answer: stored through the group commit without a thread, and
    read back as any other; its retry is the same submission (read in a thread)."""
    lane, _ = apps
    counted = Counted(lane_of(lane.app))
    dispatch_id = dispatched(lane, organiser_token)
    hp = organiser_token("IN-HP", sub="user-hp")
    first, second = list(org_registry.booth_ids_under(DISTRICT))[2:4]
    url = f"/v1/dispatches/{dispatch_id}/submissions"
    assert lane.post(url, json=answer(first), headers=hp).status_code == 201
    assert counted.threads == 1  # the round and the form read once, in a thread

    sent = answer(second)
    new = lane.post(url, json=sent, headers=hp)
    assert (new.status_code, counted.calls, counted.threads) == (201, 2, 1)
    again = lane.post(url, json=sent, headers=hp)
    assert (again.status_code, again.json(), counted.threads) == (200, new.json(), 2)
    stored = lane.get(f"/v1/dispatches/{dispatch_id}/booths/{second}", headers=hp).json()
    assert [s["submission_id"] for s in stored["submissions"]] == [sent["submission_id"]]


def test_what_is_not_ordinary_is_answered_as_the_route_answers_it(
    apps, organiser_token, org_registry
):
    lane, route = apps
    counted = Counted(lane_of(lane.app))
    dispatch_id = dispatched(lane, organiser_token)
    hp = organiser_token("IN-HP", sub="user-hp")
    booth = next(org_registry.booth_ids_under(DISTRICT))
    outside = next(org_registry.booth_ids_under(OTHER_DISTRICT))
    url = f"/v1/dispatches/{dispatch_id}/submissions"
    reader = organiser_token("IN-HP", sub="user-hp", scopes=["reports:read"])
    as_text = {**hp, "content-type": "text/plain"}
    cases = {
        "no token": dict(json=answer(booth)),
        "not a bearer token": dict(json=answer(booth), headers={"Authorization": "Basic eA=="}),
        "without the answer scope": dict(json=answer(booth), headers=reader),
        "another district's organiser": dict(
            json=answer(booth), headers=organiser_token(OTHER_DISTRICT, sub="user-d05")
        ),
        "not JSON": dict(content=b"{not json", headers={**hp, "content-type": "application/json"}),
        "JSON sent as text": dict(content=b'{"a": 1}', headers=as_text),
        "a field too many": dict(json={**answer(booth), "extra": 1}, headers=hp),
        "no submission id": dict(json={"booth_id": booth, "answers": {}}, headers=hp),
        "a booth the round did not ask": dict(json=answer(outside), headers=hp),
        "an answer the form refuses": dict(
            json={**answer(booth), "answers": {"mood": "sideways"}}, headers=hp
        ),
    }
    for case, request in cases.items():
        by_lane, by_route = lane.post(url, **request), route.post(url, **request)
        assert by_lane.status_code >= 400, (case, by_lane.text)
        assert by_lane.status_code == by_route.status_code, case
        assert by_lane.headers["content-type"] == by_route.headers["content-type"], case
        assert by_lane.json() == by_route.json(), case
    unknown = lane.post(
        f"/v1/dispatches/{uuid.uuid4()}/submissions", json=answer(booth), headers=hp
    )
    assert kind(unknown) == (404, "unknown-dispatch")
    # Those whose caller and body are ordinary (refused by the route's function: the district
    # outside, the booth not asked, the answer the form refuses) and the unknown dispatch went
    # through the lane; the others were handed to the route.
    assert counted.calls == 3 + 1


def test_a_dispatch_id_in_another_spelling_is_the_routes_to_read(
    apps, organiser_token, org_registry
):
    lane, _ = apps
    counted = Counted(lane_of(lane.app))
    dispatch_id = dispatched(lane, organiser_token)
    hp = organiser_token("IN-HP", sub="user-hp")
    booth = next(org_registry.booth_ids_under(DISTRICT))
    url = f"/v1/dispatches/{dispatch_id.upper()}/submissions"
    assert lane.post(url, json=answer(booth), headers=hp).status_code == 201
    assert counted.calls == 0


def test_mongodb_away_is_a_503_through_the_lane(organiser_token):
    settings = ReportsSettings(
        MONGO_URL=f"mongodb://127.0.0.1:{closed_port()}/", DEPENDENCY_TIMEOUT_S=1
    )
    api = TestClient(create_reports_app(bootstrap(settings)))
    counted = Counted(lane_of(api.app))
    hp = organiser_token("IN-HP", sub="user-hp")
    url = f"/v1/dispatches/{uuid.uuid4()}/submissions"
    response = api.post(url, json=answer(f"{DISTRICT}-A01-M01-S01-B001"), headers=hp)
    assert kind(response) == (503, "dependency-unavailable")
    assert int(response.headers["Retry-After"]) > 0
    assert counted.calls == 1


def test_a_store_failure_under_an_answer_on_the_event_loop_is_a_503_and_the_retry_is_taken(
    mongo_db, org_registry, organiser_token
):
    """The group commit failing as a whole (the store away) reaches the awaiting answer as it
    reaches one in a thread: a 503 problem with Retry-After, nothing stored; the client's retry
    with the same submission id is taken once the store is back."""
    if org_registry.get(DISTRICT) is None:
        pytest.skip("the demo org tree (Himachal) is not loaded")
    adapters = bootstrap(ReportsSettings(), db=mongo_db)
    api = TestClient(create_reports_app(adapters))
    counted = Counted(lane_of(api.app))
    dispatch_id = dispatched(api, organiser_token)
    hp = organiser_token("IN-HP", sub="user-hp")
    first, second = list(org_registry.booth_ids_under(DISTRICT))[4:6]
    url = f"/v1/dispatches/{dispatch_id}/submissions"
    assert api.post(url, json=answer(first), headers=hp).status_code == 201  # the round known

    inserts = adapters.ports.reports.first_inserts
    working = inserts.run

    def store_away(items):
        raise AutoReconnect("connection refused")

    inserts.run = store_away
    sent = answer(second)
    refused = api.post(url, json=sent, headers=hp)
    assert kind(refused) == (503, "dependency-unavailable")
    assert int(refused.headers["Retry-After"]) > 0
    assert (counted.calls, counted.threads) == (2, 1)  # the 503 came from the event loop

    inserts.run = working
    taken = api.post(url, json=sent, headers=hp)
    assert (taken.status_code, taken.json()["submission_id"]) == (201, sent["submission_id"])
    stored = api.get(f"/v1/dispatches/{dispatch_id}/booths/{second}", headers=hp).json()
    assert [s["submission_id"] for s in stored["submissions"]] == [sent["submission_id"]]
