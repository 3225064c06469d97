"""The platform's dashboard (make up, port 8006): alive, ready, measured, and its API answers HQ
with the nation's coverage and an organiser with problems outside their unit."""

import os

import httpx
import pytest

pytestmark = pytest.mark.e2e

DASHBOARD = os.environ.get("DASHBOARD_URL", "http://127.0.0.1:8006")
APPOINTMENTS = os.environ.get("APPOINTMENTS_URL", "http://127.0.0.1:8001")
NOTIFIER = os.environ.get("NOTIFIER_URL", "http://127.0.0.1:8003")
BOOTH = "IN-HP-D05-A05-M01-S01-B001"


def test_the_dashboard_is_alive_ready_and_exposes_metrics():
    assert httpx.get(f"{DASHBOARD}/healthz", timeout=5).json() == {"status": "ok"}
    ready = httpx.get(f"{DASHBOARD}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert set(ready.json()["checks"]) == {"kafka", "redis", "analytics"}
    assert "sangathan_http_requests_total" in httpx.get(f"{DASHBOARD}/metrics", timeout=5).text


def test_hq_reads_the_nation_with_himachal_among_its_states(organiser_token):
    response = httpx.get(f"{DASHBOARD}/api/coverage/IN", headers=organiser_token("IN"), timeout=15)
    assert response.status_code == 200, response.text
    states = {child["unit_id"]: child for child in response.json()["children"]}
    assert states["IN-HP"]["booths_total"] == 7773 and "deadline" in states["IN-HP"]


def test_a_state_organiser_is_refused_the_nation_as_a_problem(organiser_token):
    response = httpx.get(
        f"{DASHBOARD}/api/coverage/IN", headers=organiser_token("IN-HP"), timeout=15
    )
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/outside-jurisdiction")


def test_a_mandal_lists_its_booths_without_a_verified_president(organiser_token):
    mandal = "IN-HP-D05-A05-M01"
    response = httpx.get(
        f"{DASHBOARD}/api/coverage/{mandal}/booths-without-president",
        headers=organiser_token("IN-HP-D05"),
        timeout=15,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert 0 <= body["count"] <= body["booths_total"] == 98
    assert all(booth.startswith(mandal + "-") for booth in body["booths"])


def test_a_signed_in_organiser_reads_coverage_with_a_cookie_no_other_service_takes(organiser_token):
    from shared.auth.issuer import organiser_token as mint

    token = mint(
        sub="user-e2e-session", unit="IN-HP"
    )  # the organiser's token works at appointments too
    signed = httpx.post(f"{DASHBOARD}/api/session", json={"token": token}, timeout=15)
    assert signed.status_code == 200, signed.text
    [cookie] = signed.cookies.values()
    assert cookie != token and cookie not in token
    coverage = httpx.get(f"{DASHBOARD}/api/coverage/IN-HP", cookies=signed.cookies, timeout=15)
    assert coverage.status_code == 200, coverage.text
    assert {child["unit_id"] for child in coverage.json()["children"]} >= {"IN-HP-D05"}
    as_bearer = {"Authorization": f"Bearer {cookie}"}
    for method, url in [
        ("GET", f"{APPOINTMENTS}/booths/{BOOTH}/team"),
        ("POST", f"{APPOINTMENTS}/booths/{BOOTH}/appointments"),
        ("POST", f"{NOTIFIER}/v1/directives"),
        ("GET", f"{DASHBOARD}/api/coverage/IN-HP"),
    ]:
        refused = httpx.request(method, url, headers=as_bearer, json={}, timeout=15)
        assert refused.status_code == 401, (url, refused.text)
        assert refused.json()["type"].endswith("/unauthenticated")
    assert (
        httpx.get(
            f"{APPOINTMENTS}/booths/{BOOTH}/team",
            headers={"Authorization": f"Bearer {token}"},
            timeout=15,
        ).status_code
        == 200
    ), "while the organiser's own token does"
    out = httpx.delete(f"{DASHBOARD}/api/session", cookies=signed.cookies, timeout=15)
    assert out.status_code == 204
    assert (
        httpx.get(f"{DASHBOARD}/api/coverage/IN-HP", cookies=signed.cookies, timeout=15).status_code
        == 401
    )
