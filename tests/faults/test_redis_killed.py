"""Redis SIGKILLed: the OTP service's verifications, the notifier's provider webhook and
appointments (whose call budgets live in Redis) answer the same 503 problem with Retry-After (a
provider retries a 503), not 500s; once Redis is back all of them work again."""

import json
import time
import uuid

import httpx
import pytest

from notifier.adapters.keys import webhook_key
from notifier.settings import NotifierSettings
from shared.auth.keys import LOCAL_TOKENS
from shared.sending import signatures
from testkit.processes import wait_until
from tests.faults.appointing import appoint, booths_under, random_mandal, vacate
from tests.faults.conftest import (
    NO_HANG_S,
    NOTIFIER,
    OTP,
    assert_outage_problem,
    figure,
    killed,
    timed,
)

pytestmark = pytest.mark.faults

DISTRICT = "IN-HP-D08"


def verify_unknown_code() -> httpx.Response:
    token = (LOCAL_TOKENS / "appointments.jwt").read_text().strip()
    body = {"request_id": str(uuid.uuid4()), "appointment_id": str(uuid.uuid4()), "code": "123456"}
    return httpx.post(
        f"{OTP}/v1/verifications",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=NO_HANG_S + 5,
    )


def provider_reports_a_delivery() -> httpx.Response:
    body = json.dumps(
        {
            "statuses": [
                {
                    "message_id": f"wamid.{uuid.uuid4().hex}",
                    "status": "delivered",
                    "timestamp": "2026-01-01T00:00:00+00:00",
                }
            ]
        }
    ).encode()
    signature = signatures.sign(webhook_key(NotifierSettings()), body, int(time.time()))
    return httpx.post(
        f"{NOTIFIER}/v1/webhooks/provider",
        content=body,
        timeout=NO_HANG_S + 5,
        headers={"X-Provider-Signature": signature, "Content-Type": "application/json"},
    )


def test_with_redis_killed_otp_the_provider_webhook_and_appointments_answer_503_problems_then_recover(  # noqa: E501
    organiser_token,
):
    headers = organiser_token(DISTRICT, sub="user-faults-redis")
    booth = booths_under(random_mandal(DISTRICT))[0]
    vacate(booth, headers)
    assert verify_unknown_code().status_code == 422, "Redis up: an unknown code is simply rejected"
    with killed("redis"):
        answered, seconds = timed(lambda: appoint(booth, headers))
        assert_outage_problem(answered, seconds, "redis")  # its budgets cannot be counted
        figure("appointments POST appointment 503 with Redis down", seconds)
        answered, seconds = timed(verify_unknown_code)
        assert_outage_problem(answered, seconds, "redis")
        figure("otp /v1/verifications 503 with Redis down", seconds)
        answered, seconds = timed(provider_reports_a_delivery)
        assert_outage_problem(answered, seconds, "redis")
        figure("notifier provider webhook 503 with Redis down", seconds)
    back = time.monotonic()
    # While Redis reloads its data it answers LOADING (BusyLoadingError): a 503 too, never a 500.
    wait_until(lambda: verify_unknown_code().status_code == 422, 30)
    figure("otp verifying again after Redis restarted", time.monotonic() - back)
    wait_until(lambda: provider_reports_a_delivery().status_code == 200, 30)
    figure("notifier webhook accepted again after Redis restarted", time.monotonic() - back)
    wait_until(lambda: appoint(booth, headers).status_code == 201, 30)
