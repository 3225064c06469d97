"""The running platform (`make up`): every service is alive, ready, and measured."""

import os

import httpx
import pytest

pytestmark = pytest.mark.e2e

SERVICES = {
    "appointments": os.environ.get("APPOINTMENTS_URL", "http://127.0.0.1:8001"),
    "otp": os.environ.get("OTP_URL", "http://127.0.0.1:8002"),
    "notifier": os.environ.get("NOTIFIER_URL", "http://127.0.0.1:8003"),
    "analytics": os.environ.get("ANALYTICS_URL", "http://127.0.0.1:8004"),
}


@pytest.mark.parametrize("service", list(SERVICES))
def test_every_service_is_alive_ready_and_exposes_metrics(service):
    base = SERVICES[service]
    assert httpx.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}
    ready = httpx.get(f"{base}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert all(v == "ok" for v in ready.json()["checks"].values())
    metrics = httpx.get(f"{base}/metrics", timeout=5)
    assert metrics.status_code == 200
    assert "sangathan_dependency_up{dependency=" in metrics.text


def test_demo_org_tree_of_himachal_is_served_by_the_registry_api():
    response = httpx.get(f"{SERVICES['appointments']}/units/IN-HP", timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["booths"] == 7773 and body["level"] == "state"
    assert [a["id"] for a in body["ancestors"]] == ["IN"]
    assert len(body["children"]) == 17
    assert sum(child["booths"] for child in body["children"]) == 7773


def test_unknown_unit_is_a_problem_document():
    response = httpx.get(f"{SERVICES['appointments']}/units/IN-XX-D99", timeout=10)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/unknown-unit")
