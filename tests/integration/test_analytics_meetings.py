"""Meeting attendance through the real analytics worker and broker: events in as the meetings
service publishes them, numbers out of /coverage/{unit}, /meetings/{id}/reach and
/coverage/{unit}/meetings; duplicates, replays and a restart change nothing; dead letters; access.

Each test has scratch topics and a worker of its own module (its own Faust app id), so the
platform's worker is untouched; each takes a mandal of Himachal of its own.
"""

import time
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from confluent_kafka import Producer

from shared import topics
from shared.events.contracts import to_kafka
from shared.settings import PlatformSettings
from testkit.attendance import Meeting
from testkit.processes import start_service
from testkit.rollout import CoverageClient, ScratchStream, first_booths, mandals_under

from .test_analytics_coverage import read_all

pytestmark = pytest.mark.integration

SETTINGS = PlatformSettings()
FAST = {"ANALYTICS_PUBLISH_INTERVAL_S": "0.2", "ANALYTICS_COVERAGE_INTERVAL_S": "0.5"}
NUMBERS = ("invited", "rang", "answered", "joined", "confirmed", "attended_seconds")


@pytest.fixture(scope="module")
def mandals(org_registry):
    """Himachal's mandals from its last district down, so as not to share coverage's."""
    return iter(sorted(mandals_under(org_registry, "IN-HP"), reverse=True))


def start_worker(stream, tmp_path, **env: str) -> tuple:
    tmp_path.mkdir(exist_ok=True)
    process, base = start_service("analytics", stream.worker_env(**FAST, **env), tmp_path)
    client = CoverageClient(base)
    client.wait_for(client.ready, 60)
    return process, client


@pytest.fixture(scope="module")
def api(analytics_scratch, tmp_path_factory):
    process, client = start_worker(analytics_scratch, tmp_path_factory.mktemp("analytics"))
    try:
        yield client
    finally:
        process.stop()


def publish(stream, events) -> None:
    publisher = stream.publisher("/sangathan/meetings")
    for event in events:
        publisher.publish(event)
    publisher.close()


def reach(api, meeting_id: str, unit: str | None = None) -> dict | None:
    response = api.http.get(f"/meetings/{meeting_id}/reach", params={"unit": unit} if unit else {})
    return response.json() if response.status_code == 200 else None


def numbers(counts: dict) -> tuple:
    return tuple(counts[n] for n in NUMBERS)


def a_mandal_meeting(org_registry, mandals, n: int = 3):
    mandal = next(mandals)
    booths = first_booths(org_registry, mandal, n)
    return mandal, booths, Meeting(mandal, [mandal])


def test_attendance_shows_per_unit_and_per_meeting_while_the_meeting_runs(
    api, analytics_scratch, org_registry, mandals
):
    mandal, booths, meeting = a_mandal_meeting(org_registry, mandals)
    district = booths[0]["ancestors"][2]
    before = api.get(district)["meetings"]
    present, absent, unreached = (meeting.invitee(b) for b in booths)
    events = [meeting.scheduled(), meeting.started(invited=3)]
    events += present.attended(600)
    events += [absent.invited(), absent.called("no_answer"), absent.called("busy", attempt=2)]
    events += [unreached.invited()]
    publish(analytics_scratch, events)

    # Three booths' partials come from up to three partitions, each on its own tick.
    expected = dict(zip(NUMBERS, (3, 2, 1, 1, 1, 600)))
    body = api.wait_for(
        lambda: (r := reach(api, meeting.meeting_id)) and r["totals"] == expected and r
    )
    assert body["meeting_id"] == meeting.meeting_id and body["organiser_unit"] == mandal
    assert (body["kind"], body["state"]) == ("audio_bridge", "started")
    sectors = {row["unit_id"]: numbers(row) for row in body["units"]}
    assert set(sectors) == {c["id"] for c in org_registry.children(mandal)}
    assert sectors[booths[0]["parent"]][3] == 1 and sum(s[0] for s in sectors.values()) == 3

    in_sector = reach(api, meeting.meeting_id, booths[0]["parent"])
    assert {r["unit_id"] for r in in_sector["units"]} >= {booths[0]["id"]}
    booth_row = next(r for r in in_sector["units"] if r["unit_id"] == booths[0]["id"])
    assert numbers(booth_row) == (1, 1, 1, 1, 1, 600)

    def grown(key: str) -> int:
        return api.get(district)["meetings"][key] - before[key]

    wanted = {
        "invited": 3,
        "joined": 1,
        "confirmed": 1,
        "attended_seconds": 600,
        "workers_reached": 1,
    }
    api.wait_for(lambda: {key: grown(key) for key in wanted} == wanted)
    listed = api.http.get(f"/coverage/{district}/meetings").json()
    mine = next(m for m in listed["meetings"] if m["meeting_id"] == meeting.meeting_id)
    assert mine == {
        "meeting_id": meeting.meeting_id,
        "kind": "audio_bridge",
        "title": {"hi": "बूथ अध्यक्ष बैठक", "en": "Booth presidents' meeting"},
        "organiser_unit": mandal,
        "state": "started",
        "starts_at": meeting.starts_at.isoformat(),
        "invited": 3,
        "joined": 1,
        "confirmed": 1,
    }


def test_duplicates_replays_and_a_left_before_its_joined_count_once(
    api, analytics_scratch, org_registry, mandals
):
    mandal, booths, meeting = a_mandal_meeting(org_registry, mandals, 2)
    first, second = (meeting.invitee(b) for b in booths)
    leg_a, leg_b = str(uuid.uuid4()), str(uuid.uuid4())
    events = [meeting.scheduled(), first.invited(), second.invited()]
    # Out of order: the leg's left overtakes its joined; then the call drops and they rejoin.
    events += [
        first.left(leg_a, 120),
        first.joined(leg_a),
        first.joined(leg_b),
        first.left(leg_b, 30),
    ]
    events += [first.confirmed(), first.confirmed(via="dtmf"), second.called("failed")]
    publish(analytics_scratch, events)
    api.wait_for(lambda: (r := reach(api, meeting.meeting_id)) and r["totals"]["rang"] == 1)
    publish(analytics_scratch, events)  # the same events again (same ids): a replay
    retried = [first.left(leg_b, 999), first.joined(leg_a)]  # a provider's retries: new ids
    publish(analytics_scratch, [*retried, second.confirmed(via="link")])  # and one new fact
    expected = dict(zip(NUMBERS, (2, 1, 0, 1, 2, 150)))
    # Waited for in full: the two booths' partitions are published on their own ticks. Anything
    # counted twice would keep the totals from ever matching.
    api.wait_for(lambda: (r := reach(api, meeting.meeting_id)) and r["totals"] == expected)
    time.sleep(1)
    assert reach(api, meeting.meeting_id)["totals"] == expected


def test_meetings_held_count_for_the_organiser_and_above_against_himachals_target(
    api, analytics_scratch, org_registry, mandals
):
    mandal = next(mandals)
    district, state = org_registry.get(mandal)["ancestors"][2], "IN-HP"
    before = {u: api.get(u)["meetings"] for u in (mandal, district, state)}
    video = Meeting(mandal, [mandal], kind="video_conference")
    audio = Meeting(district, [district])
    publish(analytics_scratch, [video.scheduled(), video.started(1), video.ended(), audio.ended()])
    publish(analytics_scratch, [video.ended()])  # the same meeting said ended twice is held once

    def held(unit):
        return api.get(unit)["meetings"]["held"] - before[unit]["held"]

    api.wait_for(lambda: held(state) == 2)
    assert (held(mandal), held(district)) == (1, 2)
    meetings = api.get(state)["meetings"]
    assert meetings["held_target"] == 5000
    deadline = meetings["deadline"]
    assert deadline["kind"] == "video_conference" and deadline["target_held"] == 5000
    assert deadline["achieved"] == before[state]["deadline"]["achieved"] + 1
    assert deadline["rate_per_hour"] > 0 and deadline["projected_completion"] is not None
    assert api.get(mandal)["meetings"]["held_target"] is None
    states = {
        m["meeting_id"]: m["state"]
        for m in api.http.get(f"/coverage/{district}/meetings").json()["meetings"]
    }
    assert states[video.meeting_id] == states[audio.meeting_id] == "ended"


def test_a_reader_of_another_state_is_refused_and_a_district_sees_its_part(
    api, analytics_scratch, org_registry, mandals, organiser_token
):
    mandal, booths, meeting = a_mandal_meeting(org_registry, mandals, 1)
    state_meeting = Meeting("IN-HP", ["IN-HP"])
    publish(
        analytics_scratch,
        [meeting.scheduled(), state_meeting.scheduled(), *meeting.invitee(booths[0]).attended(5)],
    )
    api.wait_for(lambda: reach(api, meeting.meeting_id) and reach(api, state_meeting.meeting_id))

    elsewhere = organiser_token("IN-UP")
    for path in (
        f"/meetings/{meeting.meeting_id}/reach",
        f"/meetings/{meeting.meeting_id}/reach?unit=IN-UP",
        f"/coverage/{mandal}/meetings",
    ):
        refused = httpx.get(api.base + path, headers=elsewhere)
        assert refused.status_code == 403, path
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert httpx.get(api.base + f"/meetings/{meeting.meeting_id}/reach").status_code == 401

    district = booths[0]["ancestors"][2]
    own = organiser_token(district)
    path = f"/meetings/{state_meeting.meeting_id}/reach"
    assert httpx.get(api.base + path, headers=own).status_code == 403  # the state's totals
    mine = httpx.get(api.base + path, params={"unit": district}, headers=own)
    assert mine.status_code == 200 and mine.json()["organiser_unit"] == "IN-HP"
    missing = httpx.get(api.base + f"/meetings/{uuid.uuid4()}/reach", headers=own)
    assert missing.status_code == 404


def test_bad_attendance_records_are_dead_lettered_with_the_reason_and_counting_goes_on(
    api, analytics_scratch, org_registry, mandals
):
    mandal, booths, meeting = a_mandal_meeting(org_registry, mandals, 1)
    booth = booths[0]
    misplaced = {
        **booth,
        "ancestors": [*booth["ancestors"][:2], "IN-HP-D99", *booth["ancestors"][3:]],
    }
    producer = Producer({"bootstrap.servers": SETTINGS.kafka_bootstrap})
    attendance = analytics_scratch.topic(topics.MEETING_ATTENDANCE)
    key = f"garbage-{uuid.uuid4().hex[:8]}".encode()
    producer.produce(attendance, b"not a cloudevent", key)
    _, bad_key, value, headers = to_kafka(meeting.invitee(misplaced).invited())
    producer.produce(attendance, value, bad_key, headers=headers)
    producer.flush(10)
    publish(analytics_scratch, [meeting.scheduled(), meeting.invitee(booth).invited()])

    api.wait_for(lambda: (r := reach(api, meeting.meeting_id)) and r["totals"]["invited"] == 1)
    letters = api.wait_for(
        lambda: (
            [
                m
                for m in read_all(analytics_scratch.topic(topics.DEAD_LETTER), 2)
                if m.key() in (key, bad_key)
            ]
            if len(read_all(analytics_scratch.topic(topics.DEAD_LETTER), 2)) >= 2
            else None
        ),
        20,
    )
    reasons = sorted(dict(m.headers())["dlt_reason"].decode() for m in letters)
    assert reasons == ["rejected", "unparseable"]
    assert all(dict(m.headers())["dlt_original_topic"].decode() == attendance for m in letters)
    errors = " ".join(dict(m.headers())["dlt_error"].decode() for m in letters)
    assert "does not match" in errors
    time.sleep(0.5)
    assert reach(api, meeting.meeting_id)["totals"]["invited"] == 1


def test_meeting_gauges_are_per_state(api):
    api.wait_for(lambda: api.metric("sangathan_meetings_invited", '{state="IN-HP"}'), 15)
    lines = [
        line
        for line in api.http.get("/metrics").text.splitlines()
        if line.startswith("sangathan_meetings_")
    ]
    assert lines and all('state="IN-' in line and line.count("-") <= 2 for line in lines)
    assert api.metric("sangathan_meetings_target_remaining", '{state="IN-HP"}') <= 5000


def test_a_restarted_worker_comes_back_with_the_same_attendance(org_registry, tmp_path):
    stream = ScratchStream(SETTINGS.kafka_bootstrap)
    stream.create()
    try:
        mandal = min(mandals_under(org_registry, "IN-HP-D02"))
        booths = first_booths(org_registry, mandal, 6)
        meeting = Meeting(mandal, [mandal], kind="video_conference")
        events = [meeting.scheduled(), meeting.started(6)]
        for i, booth in enumerate(booths):
            events += meeting.invitee(booth).attended(60 * (i + 1), confirmed=i % 2 == 0)
        events.append(meeting.ended())
        publish(stream, events)

        expected = dict(zip(NUMBERS, (6, 6, 6, 6, 3, 60 * 21)))

        def snapshot(api) -> tuple:
            return (
                reach(api, meeting.meeting_id),
                api.get(mandal)["meetings"],
                api.get("IN-HP")["meetings"]["workers_reached"],
            )

        process, api = start_worker(stream, tmp_path / "first")
        try:
            api.wait_for(
                lambda: (r := reach(api, meeting.meeting_id)) and r["totals"] == expected, 30
            )
            before = api.wait_for(lambda: (s := snapshot(api))[1]["held"] == 1 and s[2] == 6 and s)
        finally:
            process.stop()
        assert before[2] == 6

        process, api = start_worker(stream, tmp_path / "second")
        try:
            api.wait_for(lambda: api.metric("sangathan_analytics_partitions_owned") == 12, 30)
            time.sleep(0.5)
            assert snapshot(api) == before
            publish(stream, events)  # the tables came back: the same events are all duplicates
            duplicates = '{outcome="duplicate",type="org.sangathan.participant-joined.v1"}'
            api.wait_for(
                lambda: api.metric("sangathan_analytics_events_total", duplicates) == 6, 30
            )
            assert snapshot(api) == before
        finally:
            process.stop()
    finally:
        stream.delete()


def test_an_ended_meeting_past_its_grace_is_dropped_its_unit_totals_kept_across_a_restart(
    org_registry, tmp_path
):
    stream = ScratchStream(SETTINGS.kafka_bootstrap)
    stream.create()
    # Kept an hour after its end; this meeting ended two hours ago, once its attendance counted.
    keep = {"ANALYTICS_MEETING_KEEP_HOURS": "1", "ANALYTICS_MEETING_DROP_INTERVAL_S": "0.5"}
    try:
        mandal = min(mandals_under(org_registry, "IN-HP-D03"))
        booths = first_booths(org_registry, mandal, 4)
        meeting = Meeting(mandal, [mandal])
        attendance = []
        for i, booth in enumerate(booths):
            attendance += meeting.invitee(booth).attended(60 * (i + 1))
        publish(stream, [meeting.scheduled(), meeting.started(4), *attendance])
        final = {"invited": 4, "joined": 4, "confirmed": 4, "attended_seconds": 600}

        def section(api) -> tuple:
            counts = api.get(mandal)["meetings"]
            return tuple(counts[k] for k in (*final, "held", "workers_reached"))

        def gone(api) -> dict | None:
            answer = api.http.get(f"/meetings/{meeting.meeting_id}/reach")
            return answer.json() if answer.status_code == 410 else None

        process, api = start_worker(stream, tmp_path / "first", **keep)
        try:
            counted = dict(zip(NUMBERS, (4, 4, 4, 4, 4, 600)))
            api.wait_for(lambda: (r := reach(api, meeting.meeting_id)) and r["totals"] == counted)
            ended_at = datetime.now(timezone.utc) - timedelta(hours=2)
            publish(stream, [meeting.ended(at=ended_at, **final)])
            problem = api.wait_for(lambda: gone(api), 30)
            assert problem["type"].endswith("meeting-attendance-dropped")
            assert problem["totals"] == final
            api.wait_for(lambda: section(api) == (4, 4, 4, 600, 1, 4), 30)
            listed = api.http.get(f"/coverage/{mandal}/meetings").json()["meetings"]
            [mine] = [m for m in listed if m["meeting_id"] == meeting.meeting_id]
            assert (mine["state"], mine["invited"], mine["joined"]) == ("ended", 4, 4)
        finally:
            process.stop()

        process, api = start_worker(stream, tmp_path / "second", **keep)
        try:
            api.wait_for(lambda: api.metric("sangathan_analytics_partitions_owned") == 12, 30)
            api.wait_for(lambda: section(api) == (4, 4, 4, 600, 1, 4), 30)
            assert gone(api)["totals"] == final
            # Its rows are gone from the recovered tables: a replay is too late, not counted again.
            publish(stream, attendance)
            late = '{outcome="too_late",type="org.sangathan.participant-joined.v1"}'
            api.wait_for(lambda: api.metric("sangathan_analytics_events_total", late) == 4, 30)
            time.sleep(1)  # a tick of partials
            assert section(api) == (4, 4, 4, 600, 1, 4)
        finally:
            process.stop()
    finally:
        stream.delete()
