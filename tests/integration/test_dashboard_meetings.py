"""The dashboard's meetings against the real analytics worker: meeting and attendance events put
on Kafka by the test, counted by a worker of the module's own (scratch topics, its own app id),
read through a dashboard process pointed at that worker: a unit's meetings, a meeting's reach per
unit one level down, the live stream following a running meeting until it ends, and jurisdiction.
"""

import time
import uuid
from contextlib import contextmanager

import httpx
import pytest

from shared import topics
from shared.auth.issuer import organiser_token
from testkit.attendance import Meeting
from testkit.processes import start_service
from testkit.rollout import CoverageClient
from tests.integration import test_analytics_coverage as counted
from tests.integration.test_analytics_meetings import publish as publish_on
from tests.integration.test_dashboard_live import Stream

pytestmark = pytest.mark.integration

WAIT_S = 30


@contextmanager
def analytics_and_dashboard(analytics_scratch, tmp_path_factory, env: dict[str, str]):
    """An analytics worker on the scratch topics, and a dashboard asking it (with `env` too):
    the dashboard's base URL and the worker's API as HQ reads it."""
    started = []
    try:
        worker = start_service(
            "analytics",
            analytics_scratch.worker_env(**counted.FAST),
            tmp_path_factory.mktemp("analytics"),
        )
        started.append(worker[0])
        coverage = CoverageClient(worker[1])
        coverage.wait_for(coverage.ready, 60)
        env = {
            "ANALYTICS_URL": worker[1],
            "DASHBOARD_COVERAGE_TOPIC": analytics_scratch.topic(topics.COVERAGE),
            **env,
        }
        process, base = start_service("dashboard", env, tmp_path_factory.mktemp("dashboard"))
        started.append(process)
        yield base, coverage
    finally:
        for process in started:
            process.stop()


@pytest.fixture(scope="module")
def dashboard(analytics_scratch, tmp_path_factory):
    """An analytics worker on the scratch topics, and a dashboard asking it (reach every 0.5 s)."""
    env = {"DASHBOARD_REACH_INTERVAL_S": "0.5"}
    with analytics_and_dashboard(analytics_scratch, tmp_path_factory, env) as (base, _):
        yield base


@pytest.fixture(scope="module")
def publish(analytics_scratch):
    return lambda *events: publish_on(analytics_scratch, events)


def signed_in(base: str, unit: str) -> httpx.Client:
    token = organiser_token(sub="user-it-meetings", unit=unit)
    client = httpx.Client(base_url=base, timeout=10)
    assert client.post("/api/session", json={"token": token}).status_code == 200
    return client


def wait_for(condition, timeout_s: float = WAIT_S):
    deadline = time.monotonic() + timeout_s
    while not (found := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
    return found


def invitees_in(org_registry, meeting: Meeting, assemblies: list[str], n: int = 2) -> dict:
    booths = {a: sorted(org_registry.booth_ids_under(a))[:n] for a in assemblies}
    return {a: [meeting.invitee(org_registry.get(b)) for b in ids] for a, ids in booths.items()}


def leg() -> str:
    return str(uuid.uuid4())


def first_assemblies(org_registry, district: str) -> list[str]:
    return sorted(child["id"] for child in org_registry.children(district))[:2]


def reach_of(client: httpx.Client, meeting_id: str, unit: str):
    answer = client.get(f"/api/meetings/{meeting_id}/reach", params={"unit": unit})
    return answer.json() if answer.status_code == 200 else None


def next_reach(stream: Stream, timeout_s: float):
    """The stream's next reach, past any coverage change; None if none comes in time."""
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        event = stream.next(left)
        if event is None or event[0] == "reach":
            return event and event[1]
    return None


def rows(reach: dict) -> dict:
    return {row["unit_id"]: row for row in reach["units"]}


def test_a_units_meetings_and_a_meetings_reach_per_assembly_read_through_the_dashboard(
    dashboard, publish, org_registry
):
    district = "IN-HP-D03"
    meeting = Meeting(district, [district], kind="video_conference")
    first, second = first_assemblies(org_registry, district)
    invitees = invitees_in(org_registry, meeting, [first, second])
    everyone = [i for group in invitees.values() for i in group]
    publish(meeting.scheduled(), meeting.started(invited=4))
    publish(*[i.invited() for i in everyone])
    legs = {i.participant_id: leg() for i in invitees[first]}
    publish(
        *[
            e
            for i in invitees[first]
            for e in (i.joined(legs[i.participant_id], "link"), i.confirmed("link"))
        ]
    )

    viewer = signed_in(dashboard, "IN-HP")
    reach = wait_for(
        lambda: (
            (r := reach_of(viewer, meeting.meeting_id, district))
            and r["totals"]["confirmed"] == 2
            and r
        )
    )
    assert (reach["kind"], reach["organiser_unit"], reach["state"]) == (
        "video_conference",
        district,
        "started",
    )
    assert reach["totals"]["invited"] == 4 and reach["totals"]["joined"] == 2
    assert {u: (r["invited"], r["joined"]) for u, r in rows(reach).items() if r["invited"]} == {
        first: (2, 2),
        second: (2, 0),
    }
    listed = viewer.get(f"/api/coverage/{district}/meetings", params={"limit": 5}).json()
    [mine] = [m for m in listed["meetings"] if m["meeting_id"] == meeting.meeting_id]
    assert mine["title"]["hi"] == "बूथ अध्यक्ष बैठक" and (mine["invited"], mine["joined"]) == (4, 2)

    before = viewer.get(f"/api/coverage/{district}").json()["meetings"]
    publish(*[i.left(legs[i.participant_id], 300) for i in invitees[first]], meeting.ended())
    # The leaves are counted on their booths' partitions, the end on the meeting's: wait for all.
    summary = wait_for(
        lambda: (
            (m := viewer.get(f"/api/coverage/{district}").json()["meetings"])["held"]
            == before["held"] + 1
            and m["attended_seconds"] >= before["attended_seconds"] + 600
            and m
        )
    )
    assert summary["workers_reached"] >= 2 and summary["attended_seconds"] >= 600


def test_the_live_stream_follows_a_running_meetings_reach_until_it_ends(
    dashboard, publish, org_registry
):
    district = "IN-HP-D04"
    meeting = Meeting(district, [district])
    first, second = first_assemblies(org_registry, district)
    invitees = invitees_in(org_registry, meeting, [first, second])
    everyone = [i for group in invitees.values() for i in group]
    publish(meeting.scheduled(), meeting.started(invited=4), *[i.invited() for i in everyone])
    viewer = signed_in(dashboard, district)
    wait_for(
        lambda: (
            (r := reach_of(viewer, meeting.meeting_id, district)) and r["totals"]["invited"] == 4
        )
    )

    stream = Stream(f"{dashboard}/api/live/{district}?meeting={meeting.meeting_id}", viewer.cookies)
    try:
        assert stream.next(10) == ("ready", {"unit_id": district})
        reach = next_reach(stream, 10)
        assert reach["totals"]["joined"] == 0 and reach["state"] == "started"

        legs = {i.participant_id: leg() for i in everyone}
        publish(*[e for i in everyone for e in (i.called(), i.joined(legs[i.participant_id]))])
        seen = []
        while (reach := next_reach(stream, WAIT_S)) and reach["totals"]["joined"] < 4:
            seen.append(reach["totals"])
        assert reach is not None, f"the reach never showed every join: {seen}"
        assert {u: r["joined"] for u, r in rows(reach).items() if r["invited"]} == {
            first: 2,
            second: 2,
        }

        publish(*[i.left(legs[i.participant_id], 120) for i in everyone], meeting.ended())
        while (reach := next_reach(stream, WAIT_S)) and reach["state"] != "ended":
            pass
        assert reach is not None and reach["totals"]["attended_seconds"] == 480
        assert next_reach(stream, 3) is None, "an ended meeting is asked no more"
    finally:
        stream.close()


def test_an_organiser_is_refused_meetings_outside_their_unit(dashboard, publish, org_registry):
    meeting = Meeting("IN-HP-D05", ["IN-HP-D05"])
    publish(meeting.scheduled())
    other = signed_in(dashboard, "IN-HP-D06")
    for path, params in (
        (f"/api/meetings/{meeting.meeting_id}/reach", {"unit": "IN-HP-D05"}),
        (f"/api/meetings/{meeting.meeting_id}/reach", {"unit": "IN-HP"}),
        ("/api/coverage/IN-HP-D05/meetings", {}),
        (f"/api/live/IN-HP-D05?meeting={meeting.meeting_id}", {}),
    ):
        answer = other.get(path, params=params)
        assert answer.status_code == 403, (path, answer.text)
        assert answer.json()["type"].endswith("/outside-jurisdiction")
