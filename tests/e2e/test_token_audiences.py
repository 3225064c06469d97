"""Against the running platform: each service takes only tokens whose audience (`aud`) names it,
and nothing the dashboard holds (its session cookie, its exchange key) is a bearer for a write."""

import os

import httpx
import pytest

from shared.auth import exchange, tokens
from shared.auth.keys import private_key_file

pytestmark = pytest.mark.e2e

APPOINTMENTS = os.environ.get("APPOINTMENTS_URL", "http://127.0.0.1:8001")
NOTIFIER = os.environ.get("NOTIFIER_URL", "http://127.0.0.1:8003")
ANALYTICS = os.environ.get("ANALYTICS_URL", "http://127.0.0.1:8004")
DASHBOARD = os.environ.get("DASHBOARD_URL", "http://127.0.0.1:8006")
BOOTH = "IN-HP-D05-A05-M01-S01-B001"
# A read each service answers an organiser of IN-HP-D05 with, once it has taken their token.
READS = {
    "appointments": f"{APPOINTMENTS}/booths/{BOOTH}/team",
    # 404: no such directive
    "notifier": f"{NOTIFIER}/v1/directives/00000000-0000-4000-8000-000000000000/status",
    "analytics": f"{ANALYTICS}/coverage/IN-HP-D05",
    "dashboard": f"{DASHBOARD}/api/coverage/IN-HP-D05",
}
TAKEN = {"appointments": 200, "notifier": 404, "analytics": 200, "dashboard": 200}


def test_a_token_for_the_notifier_is_refused_by_appointments_with_a_401_problem(organiser_token):
    refused = httpx.get(
        READS["appointments"], headers=organiser_token("IN-HP-D05", audiences=["notifier"])
    )
    assert refused.status_code == 401, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert (
        refused.json()["type"].endswith("/unauthenticated")
        and "audience" in refused.json()["detail"]
    )
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    taken = httpx.get(
        READS["appointments"], headers=organiser_token("IN-HP-D05", audiences=["appointments"])
    )
    assert taken.status_code == 200, taken.text


@pytest.mark.parametrize("service", sorted(READS))
def test_each_service_takes_its_own_audience_and_refuses_every_other(service, organiser_token):
    others = [s for s in READS if s != service]
    refused = httpx.get(
        READS[service], headers=organiser_token("IN-HP-D05", audiences=others), timeout=15
    )
    assert refused.status_code == 401, refused.text
    taken = httpx.get(
        READS[service], headers=organiser_token("IN-HP-D05", audiences=[service]), timeout=15
    )
    assert taken.status_code == TAKEN[service], taken.text


def signed_by_the_dashboard(audience: str, scopes: list[str]) -> dict[str, str]:
    """A token signed with the dashboard's exchange key, as someone who stole the key could make."""
    key = private_key_file(exchange.local_signing_key()).get()
    token = tokens.issue(
        key,
        issuer=exchange.ISSUER,
        audience=audience,
        subject="user-thief",
        kind=tokens.ORGANISER,
        unit="IN",
        scopes=scopes,
        actor=exchange.ACTOR,
    )
    return {"Authorization": f"Bearer {token}"}


def test_the_dashboards_exchange_key_reads_coverage_and_signs_no_write():
    assert (
        httpx.get(
            f"{ANALYTICS}/coverage/IN-HP",
            headers=signed_by_the_dashboard("analytics", ["coverage:read"]),
        ).status_code
        == 200
    )
    appoint = httpx.post(
        f"{APPOINTMENTS}/booths/{BOOTH}/appointments",
        json={},
        headers=signed_by_the_dashboard("appointments", ["appointments:write"]),
    )
    assert appoint.status_code == 401, appoint.text
    directive = httpx.post(
        f"{NOTIFIER}/v1/directives",
        json={},
        headers=signed_by_the_dashboard("notifier", ["directives:issue"]),
    )
    assert directive.status_code == 401, directive.text
    wider = httpx.get(
        f"{ANALYTICS}/coverage/IN-HP",
        headers=signed_by_the_dashboard("analytics", ["coverage:read", "appointments:read"]),
    )
    assert wider.status_code == 401, (
        "analytics takes the dashboard's tokens for reading coverage only"
    )
