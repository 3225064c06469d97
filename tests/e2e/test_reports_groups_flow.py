"""A booth's WhatsApp group through the running platform: the booth's WhatsApp pramukh registers
it with the reports service, and analytics' coverage of the booth's unit counts it within
seconds; closed, it counts no more. The invite link never leaves the reports service."""

import os
import random
import time

import httpx
import pytest

from tests.e2e.test_reports_flow import reports  # noqa: F401 (the fixture)

pytestmark = pytest.mark.e2e

ANALYTICS = os.environ.get("ANALYTICS_URL", "http://127.0.0.1:8004")
DISTRICT = "IN-HP-D06"


def whatsapp(unit: str, headers) -> dict:
    for _ in range(60):  # 503 while the worker reads its tables back after a (re)start
        got = httpx.get(f"{ANALYTICS}/coverage/{unit}", headers=headers, timeout=10)
        if got.status_code != 503:
            break
        time.sleep(0.5)
    assert got.status_code == 200, got.text
    return got.json()["whatsapp"]


def wait_for(condition, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while (found := condition()) is False and time.monotonic() < deadline:
        time.sleep(0.5)
    return found


def test_a_whatsapp_pramukh_registers_a_group_and_coverage_counts_it(
    reports,  # noqa: F811 (the fixture imported above)
    organiser_token,
    org_registry,
):
    if org_registry.get(DISTRICT) is None:
        pytest.skip("the demo org tree (Himachal) is not loaded")
    booth = random.choice(list(org_registry.booth_ids_under(DISTRICT)))
    mandal = booth.rsplit("-", 2)[0]
    pramukh = organiser_token(booth, sub="user-e2e-pramukh", role="whatsapp_pramukh")
    reader = organiser_token(DISTRICT, sub="user-e2e-district")
    before = whatsapp(mandal, reader)

    body = {
        "kind": "group",
        "name": "बूथ परिवार",
        "members": 151,
        "invite_link": "https://chat.whatsapp.com/E2eInviteCode42",
    }
    made = reports.post(f"/v1/booths/{booth}/whatsapp-groups", json=body, headers=pramukh)
    assert made.status_code == 201, made.text
    group_id = made.json()["group_id"]

    counted = wait_for(
        lambda: (
            (w := whatsapp(mandal, reader))["members_reached"] == before["members_reached"] + 151
            and w
        )
    )
    assert counted, f"coverage of {mandal} never counted the group"
    assert counted["booths_with_group"] - before["booths_with_group"] in (0, 1)
    assert "chat.whatsapp.com" not in str(counted)

    closed = reports.post(
        f"/v1/booths/{booth}/whatsapp-groups/{group_id}/deactivate", headers=pramukh
    )
    assert closed.status_code == 200 and closed.json()["active"] is False
    back = wait_for(
        lambda: (
            (w := whatsapp(mandal, reader))["members_reached"] == before["members_reached"] and w
        )
    )
    assert back, "a closed group still counted on coverage"
