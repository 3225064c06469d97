"""A meeting's invitations through the running platform: another service posts personal texts to
the notifier (POST /v1/messages, with its own service token) and they reach the provider simulator
as written, once, however often the request is retried. They are campaign messages: run during
the quiet hours (22:00-06:00 India time), the test sees the invitation wait for the morning in
the notifier's ledger instead."""

import os
import uuid

import httpx
import pytest

from shared.auth.keys import LOCAL_TOKENS
from testkit.notifier_ledger import opens_at, waiting_until
from testkit.phones import indian_mobile
from testkit.processes import wait_until
from tests.e2e.test_notifier_directive import simulator  # noqa: F401 (fixture)

pytestmark = pytest.mark.e2e

NOTIFIER = os.environ.get("NOTIFIER_URL", "http://127.0.0.1:8003")
BOOTH = "IN-HP-D09-A01-M01-S01-B001"


def messages_to(base: str, phone: str) -> list[dict]:
    found = httpx.get(f"{base}/v1/messages", params={"to": phone}, timeout=10)
    return found.json()["messages"]


def test_an_invitation_posted_with_a_service_token_reaches_the_provider_once(
    simulator,  # noqa: F811
):
    # The meetings service will hold its own token; until then the OTP service's carries the scope.
    token = (LOCAL_TOKENS / "otp.jwt").read_text().strip()
    phone = indian_mobile(spaced=False)
    text = "ऑडियो बैठक आज 18:00 बजे: +911140001234 डायल करें, पिन 482913"
    body = {
        "messages": [
            {
                "message_id": f"e2e-invite:{uuid.uuid4()}",
                "appointment_id": str(uuid.uuid4()),
                "booth_id": BOOTH,
                "phone": phone,
                "channel": "sms",
                "locale": "hi",
                "text": text,
                "lane": "normal",
            }
        ]
    }
    headers = {"Authorization": f"Bearer {token}"}
    first = httpx.post(f"{NOTIFIER}/v1/messages", json=body, headers=headers, timeout=30)
    again = httpx.post(f"{NOTIFIER}/v1/messages", json=body, headers=headers, timeout=30)
    assert first.status_code == 202 and first.json() == {"queued": 1, "duplicates": 0}
    assert again.status_code == 202 and again.json() == {"queued": 0, "duplicates": 1}
    opens = opens_at(BOOTH)
    if opens is not None:  # quiet hours: it waits in the ledger until they end, and goes nowhere
        held = waiting_until(body["messages"][0]["message_id"])
        assert held == pytest.approx(opens.timestamp(), abs=1)
        assert messages_to(simulator, phone) == []
        return
    wait_until(lambda: messages_to(simulator, phone), 30)
    [message] = messages_to(simulator, phone)
    assert message["channel"] == "sms" and message["text"] == text
    assert message["sender"] == "SNGTHN" and message["dlt_template_id"] == "1107170000000000005"
