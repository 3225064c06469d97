"""Field reports and booth WhatsApp groups through the real analytics worker and broker: events in
as the reports service publishes them, numbers out of /reports/{unit}, its trend and
/coverage/{unit}; duplicates and a restart change nothing; dead letters; access.

Each test has scratch topics and a worker of its own module (its own Faust app id), so the
platform's worker is untouched; each takes a mandal of Himachal of its own.
"""

import os
import signal
import time
import uuid
from datetime import datetime

import httpx
import pytest
from confluent_kafka import Producer

from shared import topics
from shared.events.contracts import to_kafka
from shared.sending.policy import IST
from shared.settings import PlatformSettings
from testkit.reports import REPORTS_SOURCE, Round, answer, group_updated
from testkit.rollout import ScratchStream, first_booths, mandals_under

from .test_analytics_coverage import read_all
from .test_analytics_meetings import start_worker
from .test_analytics_recovery import supervised_until

pytestmark = pytest.mark.integration

SETTINGS = PlatformSettings()
STALL = {"ANALYTICS_SESSION_TIMEOUT_S": "6", "ANALYTICS_PARTITION_STALL_S": "10"}


@pytest.fixture(scope="module")
def mandals(org_registry):
    """Himachal's mandals in order, one per test (the module's worker and topics are its own)."""
    return mandals_under(org_registry, "IN-HP")


@pytest.fixture(scope="module")
def api(analytics_scratch, tmp_path_factory):
    process, client = start_worker(analytics_scratch, tmp_path_factory.mktemp("analytics"))
    try:
        yield client
    finally:
        process.stop()


def publish(stream, events) -> None:
    publisher = stream.publisher(REPORTS_SOURCE)
    for event in events:
        publisher.publish(event)
    publisher.close()


def report(api, unit: str, day: Round, **headers) -> httpx.Response:
    params = {"form_id": day.form_id, "period_key": day.period_key}
    return api.http.get(f"/reports/{unit}", params=params, **headers)


def rollup(api, unit: str, day: Round) -> dict:
    response = report(api, unit, day)
    response.raise_for_status()
    return response.json()


def today() -> str:
    return datetime.now(IST).date().isoformat()


def a_mandal(org_registry, mandals, n: int) -> tuple[str, list[str]]:
    mandal = next(mandals)
    return mandal, [b["id"] for b in first_booths(org_registry, mandal, n)]


def test_a_districts_expected_submitted_options_and_silent_booths_show_within_seconds(
    api, analytics_scratch, org_registry, mandals
):
    mandal, booths = a_mandal(org_registry, mandals, 5)
    district = mandal.rsplit("-", 2)[0]
    day = Round(period_key=today())
    twice = day.submitted(booths[0], [answer("mood", options=["good"])])
    events = [day.dispatched(b) for b in booths]
    events += [
        twice,
        twice,  # the same submission again: one submission
        day.submitted(booths[1], [answer("mood", options=["poor"])], late=True),
        day.submitted(booths[2], [answer("mood", options=["good"]), answer("issues", text=True)]),
        *(day.dispatched(b) for b in booths),  # a resumed fan-out repeats its dispatches
    ]
    publish(analytics_scratch, events)
    started = time.monotonic()

    api.wait_for(lambda: rollup(api, district, day)["submitted"] == 3)
    assert time.monotonic() - started < 5
    time.sleep(1)  # the repeats came after: had they counted, they would show by now
    body = rollup(api, district, day)
    assert body["expected"] == 5 and body["late"] == 1
    assert (body["accepted"], body["rejected"], body["form_version"]) == (0, 0, 1)
    assert body["options"] == {"mood": {"good": 2, "poor": 1}}
    assert body["silent_booths"] is None  # a district's list is too long to read through
    rows = {row["unit_id"]: row for row in body["units"]}
    assert set(rows) == {u["id"] for u in org_registry.children(district)}
    assert rows[org_registry.get(mandal)["parent"]]["expected"] == 5

    in_mandal = rollup(api, mandal, day)
    assert in_mandal["silent_booths"] == sorted(booths[3:])
    assert sum(r["submitted"] for r in in_mandal["units"]) == 3
    trend = api.http.get(f"/reports/{mandal}/trend", params={"form_id": day.form_id}).json()
    assert trend["days"] == [
        {"period_key": day.period_key, "expected": 5, "submitted": 3, "sums": {}}
    ]
    coverage = api.get(mandal)["reports"]
    assert coverage == {"expected_today": 5, "submitted_today": 3, "late_today": 1}


def test_an_answer_after_a_rejection_replaces_the_earlier_one_in_the_counts(
    api, analytics_scratch, org_registry, mandals
):
    mandal, (booth,) = a_mandal(org_registry, mandals, 1)
    day = Round(period_key="2024-11-23")
    first = day.submitted(booth, [answer("mood", options=["good"]), answer("meetings", number=4)])
    publish(
        analytics_scratch, [day.dispatched(booth), first, day.reviewed(first, "rejected", "other")]
    )
    api.wait_for(lambda: rollup(api, mandal, day)["rejected"] == 1)

    second = day.submitted(
        booth, [answer("mood", options=["mixed"]), answer("meetings", number=1)], attempt=2
    )
    publish(analytics_scratch, [second, first, day.reviewed(second, "accepted")])
    body = api.wait_for(lambda: (r := rollup(api, mandal, day))["accepted"] == 1 and r)
    assert (body["expected"], body["submitted"], body["rejected"]) == (1, 1, 0)
    assert body["options"] == {"mood": {"mixed": 1}}
    assert body["sums"] == {"meetings": 1}
    assert body["silent_booths"] == []


def test_seva_tallies_sum_per_day_for_a_mandal_its_district_and_its_state(
    api, analytics_scratch, org_registry, mandals
):
    mandal, booths = a_mandal(org_registry, mandals, 3)
    district = mandal.rsplit("-", 2)[0]
    monday = Round(period_key="2024-11-25")
    tuesday = Round(period_key="2024-11-26", form_id=monday.form_id)
    events = [
        monday.submitted(booths[0], [answer("food_packets", number=120)]),
        monday.submitted(
            booths[1], [answer("food_packets", number=80), answer("rupees", number=501)]
        ),
        tuesday.submitted(booths[2], [answer("food_packets", number=10)]),
    ]
    publish(analytics_scratch, events)
    for unit in (mandal, district, "IN-HP"):
        body = api.wait_for(lambda u=unit: (r := rollup(api, u, monday))["submitted"] == 2 and r)
        assert body["sums"] == {"food_packets": 200, "rupees": 501}, unit
        # Each row below carries its unit's own sums: the dashboard's drill-down is one call.
        rows = [row["sums"] for row in body["units"]]
        totals = {q: sum(r.get(q, 0) for r in rows) for q in ("food_packets", "rupees")}
        assert totals == {"food_packets": 200, "rupees": 501}, unit
    # Tuesday's booth is on a partition of its own: counted on its own time.
    trend = api.wait_for(
        lambda: (
            (
                t := api.http.get(
                    f"/reports/{district}/trend", params={"form_id": monday.form_id, "days": "14"}
                ).json()
            )
            and len(t["days"]) == 2
            and t
        )
    )
    assert [(d["period_key"], d["sums"]) for d in trend["days"]] == [
        ("2024-11-25", {"food_packets": 200, "rupees": 501}),
        ("2024-11-26", {"food_packets": 10}),
    ]


def test_a_booths_whatsapp_group_counts_on_coverage(api, analytics_scratch, org_registry, mandals):
    mandal, booths = a_mandal(org_registry, mandals, 2)
    group = str(uuid.uuid4())
    before = api.get("IN-HP")["whatsapp"]
    publish(
        analytics_scratch,
        [
            group_updated(booths[0], 120, group_id=group),
            group_updated(booths[0], 148, group_id=group),
            group_updated(booths[0], 256, kind="broadcast_list"),
            group_updated(booths[1], 60, active=False),
        ],
    )
    body = api.wait_for(lambda: (w := api.get(mandal)["whatsapp"])["broadcast_lists"] and w)
    assert body == {
        "booths_with_group": 1,
        "members_reached": 148,
        "broadcast_lists": 1,
        "broadcast_recipients": 256,
    }
    state = api.wait_for(
        lambda: (
            (w := api.get("IN-HP")["whatsapp"])["members_reached"] > before["members_reached"] and w
        )
    )
    assert state["booths_with_group"] - before["booths_with_group"] == 1


def test_a_reader_of_another_state_is_refused(
    api, analytics_scratch, org_registry, mandals, organiser_token
):
    mandal, (booth,) = a_mandal(org_registry, mandals, 1)
    day = Round()
    publish(analytics_scratch, [day.dispatched(booth)])
    api.wait_for(lambda: rollup(api, mandal, day)["expected"] == 1)
    params = {"form_id": day.form_id, "period_key": day.period_key}

    elsewhere = organiser_token("IN-UP")
    for path in (f"/reports/{mandal}", f"/reports/{mandal}/trend", "/reports/IN"):
        refused = httpx.get(api.base + path, params=params, headers=elsewhere)
        assert refused.status_code == 403, path
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert httpx.get(api.base + f"/reports/{mandal}", params=params).status_code == 401
    own = httpx.get(
        api.base + f"/reports/{mandal}", params=params, headers=organiser_token("IN-HP")
    )
    assert own.status_code == 200 and own.json()["expected"] == 1

    bad = api.http.get(f"/reports/{mandal}", params={**params, "period_key": "yesterday"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "period_key"
    assert api.http.get(f"/reports/{booth}", params=params).status_code == 422
    assert api.http.get("/reports/IN-HP-D99", params=params).status_code == 404


def test_bad_report_records_are_dead_lettered_with_the_reason_and_counting_goes_on(
    api, analytics_scratch, org_registry, mandals
):
    mandal, (booth,) = a_mandal(org_registry, mandals, 1)
    day = Round()
    misplaced = day.dispatched(booth)
    misplaced.data["booth_path"]["district"] = "IN-HP-D99"
    producer = Producer({"bootstrap.servers": SETTINGS.kafka_bootstrap})
    submissions = analytics_scratch.topic(topics.REPORT_SUBMISSIONS)
    key = f"garbage-{uuid.uuid4().hex[:8]}".encode()
    producer.produce(submissions, b"not a cloudevent", key)
    _, bad_key, value, headers = to_kafka(misplaced)
    producer.produce(submissions, value, bad_key, headers=headers)
    producer.flush(10)
    publish(analytics_scratch, [day.dispatched(booth)])

    api.wait_for(lambda: rollup(api, mandal, day)["expected"] == 1)
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
    assert all(dict(m.headers())["dlt_original_topic"].decode() == submissions for m in letters)
    assert "does not match" in " ".join(dict(m.headers())["dlt_error"].decode() for m in letters)
    assert rollup(api, "IN-HP", day)["expected"] == 1


def test_report_gauges_are_per_state(api):
    api.wait_for(lambda: api.metric("sangathan_whatsapp_members_reached", '{state="IN-HP"}'), 15)
    lines = [
        line
        for line in api.http.get("/metrics").text.splitlines()
        if line.startswith(("sangathan_reports_", "sangathan_whatsapp_"))
    ]
    assert lines and all('state="IN-' in line and line.count("-") <= 2 for line in lines)


def test_a_restarted_worker_comes_back_with_the_same_reports(org_registry, tmp_path):
    stream = ScratchStream(SETTINGS.kafka_bootstrap)
    stream.create()
    try:
        mandal = min(mandals_under(org_registry, "IN-HP-D04"))
        booths = [b["id"] for b in first_booths(org_registry, mandal, 6)]
        day = Round(period_key=today())
        first = day.submitted(booths[0], [answer("mood", options=["good"])])
        events = [day.dispatched(b) for b in booths]
        events += [first, day.reviewed(first, "rejected", "incomplete")]
        events += [day.submitted(booths[0], [answer("mood", options=["poor"])], attempt=2)]
        events += [
            day.submitted(b, [answer("mood", options=["good"]), answer("masks", number=i)])
            for i, b in enumerate(booths[1:4], start=1)
        ]
        events += [group_updated(booths[5], 150)]
        publish(stream, events)

        def snapshot(api) -> tuple:
            return (
                rollup(api, mandal, day),
                rollup(api, "IN", day),
                api.get(mandal)["reports"],
                api.get(mandal)["whatsapp"],
            )

        process, api = start_worker(stream, tmp_path / "first")
        try:
            api.wait_for(lambda: rollup(api, mandal, day)["submitted"] == 4, 30)
            before = api.wait_for(lambda: (s := snapshot(api))[3]["members_reached"] and s)
        finally:
            process.stop()
        assert before[0]["options"] == {"mood": {"good": 3, "poor": 1}}
        assert before[0]["sums"] == {"masks": 6}
        assert before[0]["silent_booths"] == booths[4:]

        process, api = start_worker(stream, tmp_path / "second")
        try:
            api.wait_for(lambda: api.metric("sangathan_analytics_partitions_owned") == 12, 30)
            time.sleep(0.5)
            assert snapshot(api) == before
            publish(stream, events)  # the tables came back: the same events are all duplicates
            duplicates = '{outcome="duplicate",type="org.sangathan.report-dispatched.v1"}'
            api.wait_for(
                lambda: api.metric("sangathan_analytics_events_total", duplicates) == 6, 30
            )
            assert snapshot(api) == before
        finally:
            process.stop()
    finally:
        stream.delete()


def counted_events(api) -> float:
    """Report records this worker has handled, whatever it did with them."""
    text = api.http.get("/metrics").text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("sangathan_analytics_events_total{") and ".report-" in line
    )


def test_a_burst_with_duplicates_and_a_worker_killed_mid_burst_ends_at_exact_totals(
    org_registry, tmp_path
):
    """Batches of 20 (so a burst is many of them), the worker SIGKILLed while a backlog waits,
    the rest and replays of what it had counted published while it is down: the next worker
    recovers the table and ends at exactly the totals of each booth's answer once (the repeats,
    the replays and whatever the killed worker had counted but not committed: duplicates)."""
    stream = ScratchStream(SETTINGS.kafka_bootstrap)
    stream.create()
    small_batches = {"ANALYTICS_REPORTS_BATCH_MAX": "20"}
    try:
        district = "IN-HP-D07"
        booths = sorted(org_registry.booth_ids_under(district))[:300]
        day = Round(period_key="2024-11-27")
        answered, moods, attendees = [], {}, 0
        for i, booth in enumerate(booths):
            mood_ = ("good", "poor", "fair")[i % 3]
            events = [
                day.submitted(booth, [answer("mood", options=[mood_]), answer("n", number=i)])
            ]
            if i % 10 == 0:
                events.append(events[0])  # a relay's repeat
            if i % 25 == 0:  # rejected, answered again, accepted
                events.append(day.reviewed(events[0], "rejected", "incomplete"))
                events.append(day.submitted(booth, [answer("mood", options=["mixed"])], attempt=2))
                events.append(day.reviewed(events[-1], "accepted"))
                mood_ = "mixed"
            else:
                attendees += i
            moods[mood_] = moods.get(mood_, 0) + 1
            answered.append(events)
        first = [day.dispatched(b) for b in booths] + [e for es in answered[:200] for e in es]
        second = [e for es in answered[200:] for e in es]

        publish(stream, first)
        process, api = start_worker(stream, tmp_path / "first", **small_batches, **STALL)
        try:
            seen = api.wait_for(lambda: (n := counted_events(api)) >= 100 and n, 60, 0.02)
        finally:
            os.killpg(process.proc.pid, signal.SIGKILL)
            process.proc.wait(10)
            process.stop()
        assert seen < len(first), "the worker had counted the whole burst before it was killed"

        publish(stream, second + first[len(booths) :: 7])  # the rest, and replays
        expected = {
            "expected": 300,
            "submitted": 300,
            "late": 0,
            "accepted": 12,
            "rejected": 0,
            "options": {"mood": moods},
            "sums": {"n": attendees},
        }

        def totals(api) -> dict:
            body = rollup(api, district, day)
            return {name: body[name] for name in expected}

        # A worker started after a SIGKILL can hold a partition and never fetch it (Faust; see
        # analytics/coverage/watchdog.py): restarted on its failing /healthz, as its supervisor
        # would.
        process, api = start_worker(stream, tmp_path / "second", **small_batches, **STALL)
        try:
            process, api = supervised_until(
                stream, tmp_path, process, api, lambda a: totals(a) == expected, 180
            )
            assert rollup(api, "IN", day)["submitted"] == 300
            time.sleep(2)  # nothing counted twice shows up later
            assert totals(api) == expected
        finally:
            process.stop()
    finally:
        stream.delete()
