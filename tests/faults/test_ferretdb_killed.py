"""FerretDB (the platform's MongoDB) SIGKILLed during a stream of appointments: every answer is a
201 or a 503 problem within 10 s (no hang, no 500), and every appointment answered 201 is there
after FerretDB is back."""

import threading
import time

import httpx
import pytest

from testkit.processes import wait_until
from tests.faults.appointing import appoint, booths_under, random_mandal, team_ids, vacate
from tests.faults.conftest import (
    APPOINTMENTS,
    NO_HANG_S,
    assert_outage_problem,
    figure,
    killed,
    timed,
)

pytestmark = pytest.mark.faults

DISTRICT = "IN-HP-D09"
BOOTHS = 16  # enough to be writing before, during and after the outage


def test_with_ferretdb_killed_appointments_answer_503_problems_in_time_and_lose_nothing(
    organiser_token,
):
    headers = organiser_token(DISTRICT, sub="user-faults-d09")
    booths = booths_under(random_mandal(DISTRICT))[:BOOTHS]
    for booth in booths:
        vacate(booth, headers)
    answers: list[tuple[str, httpx.Response, float]] = []
    stop = threading.Event()

    def burst() -> None:  # one appointment after another, across the kill and the restart
        for booth in booths:
            if stop.is_set():
                return
            response, seconds = timed(lambda: appoint(booth, headers))
            answers.append((booth, response, seconds))
            time.sleep(0.3)

    writer = threading.Thread(target=burst)
    writer.start()
    wait_until(lambda: len(answers) >= 2, 30)
    with killed("ferretdb"):
        read, seconds = timed(
            lambda: httpx.get(f"{APPOINTMENTS}/units/IN-HP", timeout=NO_HANG_S + 5)
        )
        assert_outage_problem(read, seconds, "mongodb")
        figure("appointments GET /units/IN-HP 503 with FerretDB down", seconds)
        refused_before = sum(r.status_code == 503 for _, r, _ in answers)
        wait_until(lambda: sum(r.status_code == 503 for _, r, _ in answers) > refused_before, 30)
    writer.join(120)
    stop.set()

    statuses = [r.status_code for _, r, _ in answers]
    assert set(statuses) <= {201, 503}, f"no 500, no other answer: {statuses}"
    for _, response, seconds in answers:
        if response.status_code == 503:
            assert_outage_problem(response, seconds, "mongodb")
    accepted = {booth: r.json()["id"] for booth, r, _ in answers if r.status_code == 201}
    figure(
        f"slowest of {len(answers)} appointment answers ({statuses.count(503)} were 503)",
        max(s for _, _, s in answers),
    )
    wait_until(lambda: httpx.get(f"{APPOINTMENTS}/units/IN-HP", timeout=10).status_code == 200, 30)
    lost = {b: a for b, a in accepted.items() if a not in team_ids(b, headers)}
    assert not lost, f"accepted but not kept: {lost}"
    assert statuses.count(201) >= 2 and statuses.count(503) >= 1
