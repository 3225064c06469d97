"""The platform's analytics worker (make up, port 8004) answers coverage for the demo state."""

import re
import time

import httpx
import pytest

pytestmark = pytest.mark.e2e

BASE = "http://127.0.0.1:8004"


def wait_ready(headers) -> httpx.Response:
    """The worker answers 503 while it reads its state back after a (re)start."""
    for _ in range(60):
        response = httpx.get(f"{BASE}/coverage/IN-HP", headers=headers, timeout=10)
        if response.status_code != 503:
            return response
        time.sleep(0.5)
    return response


def test_hq_reads_himachals_coverage_with_its_districts_and_deadline(organiser_token):
    response = wait_ready(organiser_token("IN"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["unit_id"], body["level"], body["booths_total"]) == ("IN-HP", "state", 7773)
    assert len(body["children"]) == 17 and all(c["level"] == "district" for c in body["children"])
    assert sum(c["booths_total"] for c in body["children"]) == 7773
    assert 0 <= body["booths_complete"] <= body["booths_with_verified_president"] <= 7773
    assert body["deadline"]["target_booths"] == 7773


def test_coverage_needs_a_bearer_token_and_stays_inside_jurisdiction(organiser_token):
    assert httpx.get(f"{BASE}/coverage/IN-HP").status_code == 401
    other_state = httpx.get(f"{BASE}/coverage/IN-HP", headers=organiser_token("IN-UP"))
    assert other_state.status_code == 403
    assert other_state.json()["type"].endswith("/outside-jurisdiction")


def test_metrics_carry_state_gauges_only(organiser_token):
    wait_ready(organiser_token("IN"))
    for _ in range(30):
        text = httpx.get(f"{BASE}/metrics", timeout=10).text
        if 'sangathan_coverage_booths_total{state="IN-HP"}' in text:
            break
        time.sleep(0.5)
    assert re.search(r'^sangathan_coverage_booths_total\{state="IN-HP"\} 7773\.0$', text, re.M)
    labels = re.findall(r"^sangathan_coverage_\w+\{([^}]*)\}", text, re.M)
    assert labels and all(re.fullmatch(r'state="IN-[A-Z]{2}"', label) for label in labels)
