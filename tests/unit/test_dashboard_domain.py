"""The dashboard's rules and its HTTP edges that need no server: who sees what, what a live change
carries, how the session cookie is set, and problems for the rest."""

import asyncio
import json

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from dashboard import domain
from dashboard.settings import DashboardSettings
from shared.auth import tokens
from shared.auth.issuer import ISSUER, organiser_token
from shared.auth.keys import ensure_local_keys, private_key_file
from shared.kafka.live import Listener
from shared.problems import ProblemError

MEETING = "7c1e4b2a-5d3f-4e6a-9b8c-1a2b3c4d5e6f"


def test_an_organiser_views_their_subtree_and_hq_the_nation():
    assert domain.may_view("IN", "IN-UP-D44")
    assert domain.may_view("IN-HP", "IN-HP") and domain.may_view("IN-HP", "IN-HP-D05-A05")
    assert not domain.may_view("IN-HP", "IN") and not domain.may_view("IN-HP", "IN-UP")
    assert not domain.may_view("IN-HP-D05", "IN-HP-D050")


def listener(unit: str, depth=None) -> Listener:
    return Listener(unit, asyncio.Queue(1), asyncio.new_event_loop(), depth)


def test_a_page_is_sent_changes_to_its_unit_and_its_children_only():
    page = listener("IN-HP", depth=domain.LIVE_DEPTH)
    assert page.wants("IN-HP") and page.wants("IN-HP-D05")
    assert not page.wants("IN-HP-D05-A05") and not page.wants("IN-UP") and not page.wants("IN")
    assert not page.wants("IN-HPX")
    everything = listener("IN-HP")
    assert everything.wants("IN-HP-D05-A05-M01-S01-B001") and not everything.wants("IN-UP-D01")


def test_a_full_listener_queue_drops_its_oldest_change():
    page = listener("IN")
    page.offer({"n": 1})
    page.offer({"n": 2})
    assert page.queue.get_nowait() == {"n": 2}


def test_a_live_change_carries_the_coverage_numbers_and_nothing_else():
    item = {
        "id": "e1",
        "type": "x",
        "time": "t",
        "data": {
            "unit_id": "IN-HP",
            "level": "state",
            "booths_total": 7773,
            "booths_with_verified_president": 12,
            "booths_complete": 3,
            "booths_with_whatsapp_pramukh": 4,
            "verified_appointees": 40,
            "as_of": "2024-11-20T10:00:00+00:00",
            "unexpected": "+91 98160 12345",
        },
    }
    change = domain.coverage_change(item)
    assert change["booths_with_verified_president"] == 12 and change["unit_id"] == "IN-HP"
    assert "unexpected" not in change


def test_a_server_sent_event_is_named_with_one_json_data_line():
    frame = domain.sse_frame("coverage", {"unit_id": "IN-HP", "name": "हिमाचल\nप्रदेश"}, "e1")
    lines = frame.split("\n")
    assert lines[:2] == ["id: e1", "event: coverage"] and frame.endswith("\n\n")
    assert json.loads(lines[2].removeprefix("data: "))["name"] == "हिमाचल\nप्रदेश"
    assert len([line for line in lines if line]) == 3


def test_over_https_the_session_cookie_is_host_prefixed():
    assert domain.session_cookie(https=True) == "__Host-sangathan_session"
    assert domain.session_cookie(https=False) == "sangathan_session"


def test_production_is_always_https_and_development_only_when_it_says_so():
    key = {"DASHBOARD_EXCHANGE_KEY_FILE": "/run/secrets/dashboard-exchange.pem"}
    assert DashboardSettings(SANGATHAN_ENV="production", **key).secure_cookie
    assert DashboardSettings(SANGATHAN_ENV="test").secure_cookie
    assert not DashboardSettings(
        SANGATHAN_ENV="development"
    ).secure_cookie  # the local platform's plain HTTP
    assert DashboardSettings(SANGATHAN_ENV="development", DASHBOARD_HTTPS="true").secure_cookie
    with pytest.raises(ValidationError, match="DASHBOARD_HTTPS=false is refused in production"):
        DashboardSettings(SANGATHAN_ENV="production", DASHBOARD_HTTPS="false", **key)
    with pytest.raises(ValidationError, match="DASHBOARD_EXCHANGE_KEY_FILE"):
        DashboardSettings(SANGATHAN_ENV="production")


def test_a_session_ends_with_the_organisers_token_or_after_the_longest_session():
    assert domain.session_ends(token_expires=1_000, now=900, longest_s=3600) == 1_000
    assert domain.session_ends(token_expires=100_000, now=900, longest_s=3600) == 4_500


# ---------------------------------------------------------------- HTTP, without servers


@pytest.fixture(scope="module")
def client():
    from dashboard.api import app

    return TestClient(app)  # not entered: no lifespan, so no Kafka consumer starts


def test_a_bad_token_does_not_sign_in_and_is_a_problem(client):
    response = client.post("/api/session", json={"token": "x" * 40})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "set-cookie" not in response.headers


def test_a_token_for_other_services_only_does_not_sign_in(client):
    elsewhere = organiser_token(sub="user-1", unit="IN", audiences=["appointments", "analytics"])
    answer = client.post("/api/session", json={"token": elsewhere})
    assert answer.status_code == 401 and "audience" in answer.json()["detail"]
    assert "set-cookie" not in answer.headers


def test_a_service_or_a_token_without_coverage_read_cannot_sign_in(client):
    svc = tokens.issue(
        private_key_file(ensure_local_keys()[0]).get(),
        issuer=ISSUER,
        audience="dashboard",
        subject="svc:other",
        kind=tokens.SERVICE,
        scopes=["coverage:read"],
    )
    answer = client.post("/api/session", json={"token": svc})
    assert answer.status_code == 403 and answer.json()["type"].endswith("/not-an-organiser")
    narrow = organiser_token(sub="user-1", unit="IN", scopes=["appointments:read"])
    answer = client.post("/api/session", json={"token": narrow})
    assert answer.status_code == 403 and answer.json()["type"].endswith("/missing-scope")


def test_without_a_session_the_api_answers_401(client):
    fresh = TestClient(client.app)
    response = fresh.get("/api/coverage/IN")
    assert response.status_code == 401 and response.json()["type"].endswith("/unauthenticated")


@pytest.mark.parametrize(
    "path",
    [
        "/api/coverage/IN",
        "/api/coverage/IN-UP-D01/directives",
        "/api/coverage/IN-UP-D01-A01-M01/booths-without-president",
        "/api/coverage/IN-UP-D01/meetings",
        f"/api/meetings/{MEETING}/reach?unit=IN-UP",
        f"/api/meetings/{MEETING}/reach?unit=IN",
        "/api/live/IN-UP",
        f"/api/live/IN-UP?meeting={MEETING}",
    ],
)
def test_an_organiser_is_refused_what_lies_outside_their_unit(client, path):
    own = {
        "Authorization": (
            f"Bearer {organiser_token(sub='user-1', unit='IN-HP', audiences=['dashboard'])}"
        )
    }
    response = client.get(path, headers=own)
    assert response.status_code == 403
    assert response.json()["type"].endswith("/outside-jurisdiction")


def test_the_page_and_its_files_are_served_with_a_strict_content_policy(client):
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    script = client.get("/static/app.js")
    assert script.status_code == 200 and "EventSource" in script.text
    labels = client.get("/static/i18n.js").text
    assert "सत्यापित अध्यक्ष" in labels and "Verified president" in labels


@pytest.mark.parametrize(
    "path",
    [
        "/api/meetings/not-a-meeting/reach",
        f"/api/meetings/{MEETING}/reach?unit=IN HP",
        "/api/live/IN-HP?meeting=42",
    ],
)
def test_a_malformed_meeting_or_unit_is_a_422_problem_not_passed_on(client, path):
    own = bearer("IN")
    response = client.get(path, headers=own)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


def test_with_analytics_away_the_meetings_api_answers_503_problems_with_retry_after():
    from dashboard.api import create_dashboard_app
    from dashboard.bootstrap import bootstrap
    from testkit.processes import closed_port

    settings = DashboardSettings(
        SANGATHAN_ENV="development", ANALYTICS_URL=f"http://127.0.0.1:{closed_port()}"
    )
    away = TestClient(create_dashboard_app(bootstrap(settings)))  # not entered: no Kafka consumer
    own = bearer("IN-HP")
    for path in (
        "/api/coverage/IN-HP",
        "/api/coverage/IN-HP/meetings",
        f"/api/meetings/{MEETING}/reach?unit=IN-HP-D05",
        f"/api/live/IN-HP?meeting={MEETING}",
    ):
        response = away.get(path, headers=own)
        assert response.status_code == 503, (path, response.text)
        assert response.json()["type"].endswith("/dependency-unavailable")
        assert response.headers["Retry-After"] == "2"


def bearer(unit: str) -> dict:
    token = organiser_token(sub="user-1", unit=unit, audiences=["dashboard"])
    return {"Authorization": f"Bearer {token}"}


# ---------------------------------------------------------------- a running meeting, watched


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def reach(state: str, joined: int) -> dict:
    totals = {"invited": 10, "rang": 9, "answered": 8, "joined": joined, "confirmed": 1}
    return {
        "meeting_id": MEETING,
        "kind": "audio_bridge",
        "organiser_unit": "IN-HP",
        "state": state,
        "totals": {**totals, "attended_seconds": 60},
        "units": [{"unit_id": "IN-HP-D05", **totals, "attended_seconds": 60}],
        "unexpected": "+91 98160 12345",
    }


def watched(answers: list, interval_s: float = 2.0):
    from dashboard.meeting_watch import MeetingWatch

    clock, asked = Clock(), []

    async def fetch():
        asked.append(clock.now)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return MeetingWatch(fetch, interval_s, clock), clock, asked


def test_a_watched_meeting_is_sent_only_when_its_reach_changed_and_asked_once_an_interval():
    watch, clock, asked = watched([reach("started", 3), reach("started", 3), reach("started", 5)])
    first = asyncio.run(watch.change())
    assert first["totals"]["joined"] == 3 and "unexpected" not in first
    assert asyncio.run(watch.change()) is None and asked == [100.0], "not due yet"
    assert watch.wait_s() == 2.0
    clock.now += 2
    assert asyncio.run(watch.change()) is None, "the same numbers are not sent again"
    clock.now += 2
    assert asyncio.run(watch.change())["totals"]["joined"] == 5
    assert asked == [100.0, 102.0, 104.0] and not watch.done


def test_a_watch_rides_out_analytics_being_away_and_stops_once_the_meeting_ended():
    away = ProblemError(503, "dependency-unavailable", "A dependency is unavailable", "down")
    watch, clock, asked = watched([away, reach("ended", 7)])
    assert asyncio.run(watch.change()) is None and not watch.done
    clock.now += 2
    assert asyncio.run(watch.change())["state"] == "ended"
    assert watch.done and watch.wait_s() == float("inf")
    clock.now += 60
    assert asyncio.run(watch.change()) is None and len(asked) == 2
