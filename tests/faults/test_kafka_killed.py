"""Kafka SIGKILLed in the middle of a burst of appointments, then started again: every appointment
is accepted while the broker is away (the outbox keeps its events), every accepted appointment's
event is on Kafka exactly once after de-duplication by event id, every appointee's code is
delivered and verifies, and the analytics worker lives through it with the right counts.

(This replaces the integration test that stopped a private broker politely: the platform's own
broker, killed, with every consumer of it running.)"""

import threading
import time
from collections import defaultdict

import httpx
import pytest

from shared import topics
from shared.events import types
from testkit.processes import wait_until
from testkit.topic_tail import TopicTail
from tests.faults.appointing import appoint, booths_under, random_mandal, vacate
from tests.faults.conftest import ANALYTICS, APPOINTMENTS, OTP, component, figure, killed, stack

pytestmark = pytest.mark.faults

DISTRICT = "IN-HP-D10"
BOOTHS = 12
# librdkafka bug #4605, reached through the lag probe's list_consumer_group_offsets
LIBRDKAFKA_ABORT = b"rd_kafka_enq_once_del_source_return: Assertion"


def code_for(appointment_id: str) -> str | None:
    found = httpx.get(
        f"{OTP}/v1/dev/deliveries", params={"appointment_id": appointment_id}, timeout=10
    )
    deliveries = found.json()["deliveries"] if found.status_code == 200 else []
    return deliveries[0]["code"] if deliveries else None


def verified_presidents(booths: list[str], headers: dict) -> int:
    teams = [
        httpx.get(f"{APPOINTMENTS}/booths/{b}/team", headers=headers, timeout=10).json()
        for b in booths
    ]
    return sum(
        any(m["role"] == "booth_president" and m["status"] == "verified" for m in t["members"])
        for t in teams
    )


def coverage(unit: str, headers: dict) -> dict | None:
    response = httpx.get(f"{ANALYTICS}/coverage/{unit}", headers=headers, timeout=10)
    return response.json() if response.status_code == 200 else None


# A crashed broker takes one to three minutes to recover its logs on a busy two-core machine.
@pytest.mark.timeout(900)
def test_kafka_killed_during_an_appointment_burst_loses_no_event_duplicates_none_and_codes_still_arrive(  # noqa: E501
    organiser_token, kafka_bootstrap
):
    headers = organiser_token(DISTRICT, sub="user-faults-d10")
    mandal = random_mandal(DISTRICT)
    every_booth = booths_under(mandal)
    booths = every_booth[:BOOTHS]
    for booth in booths:
        vacate(booth, headers)
    analytics = component("analytics").pid()
    analytics_log = stack.LOGS / "analytics.log"
    logged_before = analytics_log.stat().st_size
    tail = TopicTail(kafka_bootstrap, topics.APPOINTMENTS.name)
    start = tail.offsets(topics.APPOINTMENTS.name)
    tail.close()
    answers: list[httpx.Response] = []

    def burst() -> None:
        for booth in booths:
            answers.append(appoint(booth, headers))
            time.sleep(0.5)

    writer = threading.Thread(target=burst)
    writer.start()
    wait_until(lambda: len(answers) >= 3, 30)
    with killed("kafka"):
        writer.join(120)
        during = len(answers)
    back = time.monotonic()
    assert [a.status_code for a in answers] == [201] * len(booths), [
        a.text for a in answers if a.status_code != 201
    ]
    made = {a.json()["id"] for a in answers}

    tail = TopicTail(kafka_bootstrap, topics.APPOINTMENTS.name, offsets=start)
    try:
        appointed = defaultdict(set)  # appointment id -> distinct event ids
        deadline = time.monotonic() + 180
        while not made <= appointed.keys() and time.monotonic() < deadline:
            for event in tail.wait_until(
                lambda e: e.type == types.BOOTH_PRESIDENT_APPOINTED, count=100, timeout=2
            ):
                appointed[event.data["appointment_id"]].add(event.id)
    finally:
        tail.close()
    figure(
        f"all {len(made)} appointed events ({during} made before and during the outage) "
        "on Kafka after its restart",
        time.monotonic() - back,
    )
    assert made <= appointed.keys(), f"events missing for {made - appointed.keys()}"
    assert all(len(appointed[a]) == 1 for a in made), (
        "one event per appointment after de-duplication by id"
    )

    codes: dict[str, str] = {}
    deadline = time.monotonic() + 180
    while len(codes) < len(made) and time.monotonic() < deadline:
        codes |= {a: c for a in made - codes.keys() if (c := code_for(a))}
        time.sleep(1)
    figure(
        f"{len(codes)} of {len(made)} codes delivered after Kafka's restart",
        time.monotonic() - back,
    )
    assert codes.keys() == made, "every appointee got a code"
    for appointment in (a.json() for a in answers):
        path = (
            f"{APPOINTMENTS}/booths/{appointment['booth_id']}"
            f"/appointments/{appointment['id']}/verification"
        )
        verified = httpx.post(
            path, json={"code": codes[appointment["id"]]}, headers=headers, timeout=30
        )
        assert verified.status_code in (200, 202), verified.text
    wait_until(lambda: verified_presidents(booths, headers) == len(booths), 120)

    worker = next(c for c in stack.all_components() if c.name == "analytics")
    if worker.crashed() and not stack.supervisor_pid():
        worker.start_again()  # as `make up`'s supervisor would, so its counts can still be checked
    expected = verified_presidents(every_booth, headers)  # the mandal's other booths: earlier runs'
    counted = None
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        counted = coverage(mandal, headers)
        if counted and counted["booths_with_verified_president"] == expected:
            break
        time.sleep(2)
    figure(
        f"analytics counts the {expected} verified presidents of {mandal}", time.monotonic() - back
    )
    assert counted and counted["booths_with_verified_president"] == expected, counted
    if worker.pid() != analytics and LIBRDKAFKA_ABORT in analytics_log.read_bytes()[logged_before:]:
        pytest.xfail(
            "the analytics worker aborted when Kafka came back "
            "(librdkafka assertion in the lag probe, "
            "shared/kafka/lag.py; fixed separately); everything else held"
        )
    assert worker.pid() == analytics, "the analytics worker crashed"
