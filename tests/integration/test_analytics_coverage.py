"""The analytics worker against the real broker and registry: coverage through the API, replays,
revocations, coverage-updated events, dead letters, directive reach, access and metrics.

One worker serves the module, on scratch topics of its own (its own Faust app id), so the
platform's worker and coverage are untouched. Each test takes booths of its own mandal of
Himachal and checks its own units, or the state's change by its own amount.
"""

import time
import uuid
from datetime import datetime, timezone

import httpx
import pytest
from confluent_kafka import Consumer, Producer

from shared import topics
from shared.events import types as t
from shared.events.contracts import from_kafka, to_kafka
from shared.kafka.deadletters import DLT_SEALED, FIELDS, dead_letter_seal
from shared.settings import PlatformSettings
from testkit.processes import start_service
from testkit.rollout import (
    CoverageClient,
    Seat,
    first_booths,
    mandals_under,
    rollout_events,
    team,
)

pytestmark = pytest.mark.integration

SETTINGS = PlatformSettings()
FAST = {"ANALYTICS_PUBLISH_INTERVAL_S": "0.2", "ANALYTICS_COVERAGE_INTERVAL_S": "0.5"}


@pytest.fixture(scope="module")
def mandals(org_registry):
    """Himachal's mandals, each test taking its own."""
    return iter(sorted(mandals_under(org_registry, "IN-HP")))


@pytest.fixture(scope="module")
def api(analytics_scratch, tmp_path_factory):
    process, base = start_service(
        "analytics", analytics_scratch.worker_env(**FAST), tmp_path_factory.mktemp("analytics")
    )
    client = CoverageClient(base)
    try:
        client.wait_for(client.ready, 60)
        yield client
    finally:
        process.stop()


@pytest.fixture(scope="module")
def publisher(analytics_scratch):
    publisher = analytics_scratch.publisher()
    yield publisher
    publisher.close()


def publish(publisher, events) -> None:
    for event in events:
        publisher.publish(event)
    publisher.flush()


def numbers(body: dict) -> tuple:
    return (
        body["booths_with_verified_president"],
        body["booths_complete"],
        body["booths_with_whatsapp_pramukh"],
        body["verified_appointees"],
    )


def test_verified_teams_show_in_the_state_district_and_mandal(
    api, publisher, org_registry, mandals
):
    """How fast is the benchmark's business (bench/analytics_bench.py: visibility lag p50/p99);
    here every count must arrive, whatever the machine's load."""
    mandal = next(mandals)
    booths = first_booths(org_registry, mandal, 3)
    district, state = booths[0]["ancestors"][2], "IN-HP"
    before = {u: api.get(u) for u in (state, district, mandal)}
    assert before[mandal]["booths_complete"] == 0

    publish(publisher, rollout_events(booths))
    for unit_id in (mandal, district, state):
        expected = tuple(n + d for n, d in zip(numbers(before[unit_id]), (3, 3, 3, 36)))
        body = api.wait_for(
            lambda u=unit_id, e=expected: (b := api.get(u)) and numbers(b) == e and b
        )
        assert numbers(body) == expected

    mandal_body = api.get(mandal)
    assert (
        mandal_body["level"] == "mandal"
        and mandal_body["booths_total"] == org_registry.get(mandal)["booths"]
    )
    assert sum(child["booths_complete"] for child in mandal_body["children"]) == 3
    district_child = next(c for c in api.get(state)["children"] if c["unit_id"] == district)
    assert district_child["booths_complete"] == before[district]["booths_complete"] + 3
    booth = api.get(booths[0]["id"])
    assert booth["team"] == {"president_verified": True, "complete": True, "missing": {}}
    assert booth["verified_women"] == 3 and booth["verified_by_role"]["panna_pramukh"] == 5


def test_pending_appointments_do_not_count(api, publisher, org_registry, mandals):
    booth = first_booths(org_registry, next(mandals), 1)[0]
    seats = team(booth)
    now = datetime.now(timezone.utc)
    # The whole team appointed, only the president verified: the verification comes last, so once
    # it shows, the eleven pending appointments before it have been handled.
    publish(publisher, [s.appointed(now) for s in seats] + [seats[0].verified(now)])
    body = api.wait_for(
        lambda: (b := api.get(booth["id"]))["booths_with_verified_president"] == 1 and b
    )
    assert body["verified_appointees"] == 1 and not body["team"]["complete"]


def test_replayed_events_are_counted_once(api, publisher, org_registry, mandals):
    mandal = next(mandals)
    booths = first_booths(org_registry, mandal, 2)
    events = list(rollout_events(booths))
    publish(publisher, events)
    api.wait_for(lambda: api.get(mandal)["booths_complete"] == 2)

    publish(publisher, events)  # the outbox publishing everything again, same event ids
    # One new member per booth after the replay: once both show, each booth's replay is behind us.
    publish(
        publisher,
        [Seat(b, "member", "female").verified(datetime.now(timezone.utc)) for b in booths],
    )
    body = api.wait_for(lambda: (b := api.get(mandal))["verified_appointees"] == 2 * 13 and b)
    assert numbers(body) == (2, 2, 2, 26)
    assert body["verified_women"] == 2 * 4


def test_a_revocation_after_verification_takes_the_booth_back_out(
    api, publisher, org_registry, mandals
):
    mandal = next(mandals)
    booth = first_booths(org_registry, mandal, 1)[0]
    seats = team(booth)
    now = datetime.now(timezone.utc)
    publish(publisher, [s.verified(now) for s in seats])
    api.wait_for(lambda: api.get(mandal)["booths_complete"] == 1)

    publish(publisher, [seats[0].revoked(datetime.now(timezone.utc), reason="replaced")])
    body = api.wait_for(lambda: (b := api.get(mandal))["booths_with_verified_president"] == 0 and b)
    assert numbers(body) == (0, 0, 1, 11)
    assert api.get(booth["id"])["team"]["missing"] == {
        "booth_president": 1,
        "women": 1,
    }  # she was one of three


def read_all(topic: str, timeout_s: float = 5.0) -> list:
    consumer = Consumer(
        {
            "bootstrap.servers": SETTINGS.kafka_bootstrap,
            "group.id": f"test-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    records, deadline = [], time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            batch = consumer.consume(500, 0.5)
            records += [m for m in batch if not m.error()]
            if not batch and records:
                break
    finally:
        consumer.close()
    return records


def test_coverage_updated_events_are_few_per_unit_and_end_at_the_apis_numbers(
    api, publisher, org_registry, mandals, analytics_scratch
):
    mandal = next(mandals)
    booths = first_booths(org_registry, mandal, 4)
    events = list(rollout_events(booths))
    started = time.monotonic()
    publish(publisher, events)
    api.wait_for(lambda: api.get(mandal)["booths_complete"] == 4)
    time.sleep(1.5)  # a coverage interval or two for the last update to go out
    elapsed = time.monotonic() - started

    updates = [
        from_kafka(m.headers(), m.key(), m.value())
        for m in read_all(analytics_scratch.topic(topics.COVERAGE))
    ]
    assert all(u.type == t.COVERAGE_UPDATED for u in updates)
    mine = [u.data for u in updates if u.subject == mandal]
    assert 1 <= len(mine) <= elapsed / 0.5 + 2, "at most one per unit per interval"
    assert len(mine) < len(events) / 10
    assert (mine[-1]["level"], mine[-1]["booths_total"]) == (
        "mandal",
        org_registry.get(mandal)["booths"],
    )
    assert numbers(mine[-1]) == numbers(api.get(mandal))


def raw_record(event):
    _, key, value, headers = to_kafka(event)
    return key, value, headers


def test_bad_records_are_dead_lettered_with_the_reason_and_the_stream_goes_on(
    api, publisher, org_registry, mandals, analytics_scratch
):
    booth = first_booths(org_registry, next(mandals), 1)[0]
    now = datetime.now(timezone.utc)
    producer = Producer({"bootstrap.servers": SETTINGS.kafka_bootstrap})
    appointments = analytics_scratch.topic(topics.APPOINTMENTS)

    producer.produce(appointments, b"not a cloudevent", b"garbage-key")
    key, value, headers = raw_record(Seat(booth, "booth_president", "female").verified(now))
    producer.produce(appointments, value.replace(b'"female"', b'"unknown"'), key, headers=headers)
    ghost = {**booth, "id": booth["parent"] + "-B999"}
    key, value, headers = raw_record(Seat(ghost, "booth_president", "female").verified(now))
    producer.produce(appointments, value, key, headers=headers)
    misplaced = {
        **booth,
        "ancestors": [*booth["ancestors"][:2], "IN-HP-D99", *booth["ancestors"][3:]],
    }
    key, value, headers = raw_record(Seat(misplaced, "booth_president", "female").verified(now))
    producer.produce(appointments, value, key, headers=headers)
    producer.flush(10)
    publish(publisher, [Seat(booth, "booth_president", "female").verified(now)])

    api.wait_for(lambda: api.get(booth["id"])["booths_with_verified_president"] == 1)
    letters = api.wait_for(
        lambda: len(r := read_all(analytics_scratch.topic(topics.DEAD_LETTER), 2)) >= 4 and r, 20
    )
    reasons = sorted(dict(m.headers())["dlt_reason"].decode() for m in letters)
    assert reasons == ["invalid", "rejected", "rejected", "unparseable"]
    assert all(dict(m.headers())["dlt_original_topic"].decode() == appointments for m in letters)
    errors = " ".join(dict(m.headers())["dlt_error"].decode() for m in letters)
    assert (
        "not in the org registry" in errors
        and "does not match the registry" in errors
        and "gender" in errors
    )
    assert (
        api.metric(
            "sangathan_analytics_unknown_units_total", f'{{type="{t.APPOINTMENT_VERIFIED}"}}'
        )
        >= 1
    )


def test_a_bad_record_carrying_a_phone_is_dead_lettered_sealed_and_opens_for_a_replay(
    api, analytics_scratch
):
    appointments = analytics_scratch.topic(topics.APPOINTMENTS)
    key = f"phone-record-{uuid.uuid4().hex[:8]}".encode()
    record = b'{"data": {"phone": "+919876543210", "booth_id": "IN-HP-D01"}}'
    producer = Producer({"bootstrap.servers": SETTINGS.kafka_bootstrap})
    producer.produce(appointments, record, key)
    producer.flush(10)

    def mine() -> list:
        return [
            m for m in read_all(analytics_scratch.topic(topics.DEAD_LETTER), 2) if m.key() == key
        ]

    (letter,) = api.wait_for(lambda: mine(), 20)
    assert b"+919876543210" not in letter.value() and b"IN-HP-D01" in letter.value()
    how = dict(letter.headers())[DLT_SEALED].decode()
    assert how == FIELDS, "sealed with the keyring, not masked"
    opened = dead_letter_seal(PlatformSettings()).opened(letter.value(), how)
    assert b"+919876543210" in opened


def test_a_directives_reach_counts_each_booth_once(api, org_registry, mandals, analytics_scratch):
    mandal = next(mandals)
    booths = first_booths(org_registry, mandal, 2)
    directive_id = str(uuid.uuid4())
    notifier = analytics_scratch.publisher("/sangathan/notifier")
    notifier.emit(
        t.DIRECTIVE_ISSUED,
        {
            "directive_id": directive_id,
            "issued_by": "user-7",
            "issuing_unit": "IN-HP",
            "title": {"en": "T", "hi": "T"},
            "body": {"en": "B", "hi": "B"},
            "scope": [mandal],
            "audience": ["booth_president"],
            "channels": ["whatsapp"],
            "priority": "normal",
            "send_at": None,
            "recurrence": None,
            "expires_at": "2030-01-01T00:00:00Z",
            "issued_at": datetime.now(timezone.utc).isoformat(),
        },
    )

    def path(b):
        return dict(zip(["state", "district", "assembly", "mandal", "sector"], b["ancestors"][1:]))

    for booth, statuses in (
        (booths[0], ["read", "delivered", "delivered"]),
        (booths[1], ["sent", "delivered"]),
    ):
        delivery_id = str(uuid.uuid4())
        for status in statuses:  # twice and out of order, as providers report
            notifier.emit(
                t.DELIVERY_STATUS,
                {
                    "delivery_id": delivery_id,
                    "directive_id": directive_id,
                    "otp_request_id": None,
                    "booth_id": booth["id"],
                    "booth_path": path(booth),
                    "recipient_id": str(uuid.uuid4()),
                    "channel": "whatsapp",
                    "status": status,
                    "provider_message_id": "wamid.x",
                    "occurred_at": datetime.now(timezone.utc).isoformat(),
                    "error": None,
                },
            )
    notifier.emit(
        t.DIRECTIVE_ACKNOWLEDGED,
        {
            "directive_id": directive_id,
            "booth_id": booths[0]["id"],
            "booth_path": path(booths[0]),
            "recipient_id": str(uuid.uuid4()),
            "via": "reply",
            "acknowledged_at": datetime.now(timezone.utc).isoformat(),
        },
    )
    notifier.flush()
    notifier.close()
    # Up to a minute: two topics' events and a directive's partial, each published on its own
    # timer, on a busy machine (how soon is the benchmark's to measure, not this test's).
    reach = api.wait_for(
        lambda: (
            (r := api.reach(directive_id))
            and r["booths_delivered"] == 2
            and r["booths_acknowledged"] == 1
            and r
        ),
        60,
    )
    assert reach["booths_targeted"] == org_registry.get(mandal)["booths"]
    time.sleep(0.5)
    assert api.reach(directive_id)["booths_delivered"] == 2


def test_the_coverage_api_needs_a_token_and_keeps_organisers_to_their_units(
    api, org_registry, organiser_token
):
    district = "IN-HP-D03"
    assert httpx.get(f"{api.base}/coverage/{district}").status_code == 401
    own = httpx.get(f"{api.base}/coverage/{district}", headers=organiser_token(district))
    assert own.status_code == 200 and own.json()["unit_id"] == district
    other = httpx.get(f"{api.base}/coverage/IN-HP-D04", headers=organiser_token(district))
    assert other.status_code == 403
    assert other.headers["content-type"].startswith("application/problem+json")
    assert (
        httpx.get(f"{api.base}/coverage/IN-HP", headers=organiser_token(district)).status_code
        == 403
    )
    missing = httpx.get(f"{api.base}/coverage/IN-HP-D99", headers=organiser_token("IN"))
    assert missing.status_code == 404


def test_fausts_own_views_of_tables_and_routing_are_not_served(
    api, publisher, org_registry, mandals
):
    """Faust's built-in pages would hand anyone a booth's raw row; only our own pages answer."""
    booth = first_booths(org_registry, next(mandals), 1)[0]["id"]
    publish(publisher, rollout_events([org_registry.get(booth)]))
    api.wait_for(lambda: api.get(booth)["booths_complete"] == 1, 60)
    for path in (
        f"/table/booths/{booth}/",
        "/table/booths/",
        "/table/",
        "/router/",
        f"/router/booths/{booth}/",
        "/graph/",
        "/assignment/",
    ):
        for headers in ({}, api.http.headers):
            assert httpx.get(f"{api.base}{path}", headers=headers).status_code == 404, path
    assert api.http.get(f"/coverage/{booth}").status_code == 200


def test_metrics_have_per_state_gauges_and_no_booth_labels(api):
    api.wait_for(lambda: api.metric("sangathan_coverage_booths_complete", '{state="IN-HP"}'), 10)
    text = api.http.get("/metrics").text
    coverage_lines = [line for line in text.splitlines() if line.startswith("sangathan_coverage_")]
    assert coverage_lines and all(
        'state="IN-' in line and line.count("-") <= 2 for line in coverage_lines
    )
    assert api.metric("sangathan_coverage_booths_total", '{state="IN-HP"}') == 7773
    assert api.metric("sangathan_coverage_deadline_target_timestamp_seconds", '{state="IN-HP"}') > 0
