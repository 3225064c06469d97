"""OTP through the running platform: an otp-requested event on the real topic becomes a code in
the local delivery sink, which the appointments service's token verifies, and the outcome
appears on the real otp-results topic."""

import os
import secrets
import uuid
from datetime import datetime, timezone

import httpx
import pytest

from shared import topics
from shared.auth.keys import LOCAL_TOKENS
from shared.events import types
from shared.kafka.producer import EventPublisher
from testkit.processes import wait_until
from testkit.topic_tail import TopicTail
from tests.conftest import random_suffix

pytestmark = pytest.mark.e2e

OTP = os.environ.get("OTP_URL", "http://127.0.0.1:8002")


def appointments_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {(LOCAL_TOKENS / 'appointments.jwt').read_text().strip()}"}


@pytest.fixture
def results(kafka_bootstrap):
    reader = TopicTail(kafka_bootstrap, topics.OTP_RESULTS.name)
    yield reader
    reader.close()


@pytest.fixture
def request_code(kafka_bootstrap):
    """Publish an otp-requested event for a new appointment and a random Indian mobile, and
    return (its data, the code the sink received)."""
    publisher = EventPublisher(kafka_bootstrap, "/sangathan/appointments")

    def request() -> tuple[dict, str]:
        data = {
            "request_id": str(uuid.uuid4()),
            "appointment_id": str(uuid.uuid4()),
            "booth_id": f"E2E-OTP-{random_suffix()}",
            "phone": f"+919{secrets.randbelow(10**9):09d}",
            "channel": "sms",
            "purpose": "appointment_verification",
            "locale": "en",
            "requested_by": "user-e2e",
            "requested_at": datetime.now(timezone.utc).isoformat(),
        }
        publisher.emit(types.OTP_REQUESTED, data)
        publisher.flush()
        found: list[dict] = []

        def delivered() -> bool:
            response = httpx.get(
                f"{OTP}/v1/dev/deliveries",
                params={"appointment_id": data["appointment_id"]},
                timeout=5,
            )
            found[:] = response.json()["deliveries"]
            return bool(found)

        wait_until(delivered, 20)
        assert found[0]["request_id"] == data["request_id"] and data["phone"] not in str(found)
        return data, found[0]["code"]

    yield request
    publisher.close()


def verify(data: dict, code: str, headers: dict | None = None) -> httpx.Response:
    body = {
        "request_id": data["request_id"],
        "appointment_id": data["appointment_id"],
        "code": code,
    }
    return httpx.post(
        f"{OTP}/v1/verifications",
        json=body,
        headers=appointments_headers() if headers is None else headers,
        timeout=10,
    )


def other_than(code: str, step: int) -> str:
    return f"{(int(code) + step) % 10 ** len(code):0{len(code)}d}"


def test_a_requested_code_reaches_the_sink_and_verifies_once_with_an_otp_verified_event(
    request_code, results
):
    data, code = request_code()
    response = verify(data, code)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "verified": True,
        "request_id": data["request_id"],
        "appointment_id": data["appointment_id"],
    }
    assert verify(data, code).status_code == 422, "a code is used once"

    [event] = results.wait_for(data["appointment_id"])
    assert event.type == types.OTP_VERIFIED and event.source == "/sangathan/otp"
    assert (event.data["request_id"], event.data["booth_id"], event.key) == (
        data["request_id"],
        data["booth_id"],
        data["booth_id"],
    )


def test_five_wrong_codes_lock_the_code_with_an_otp_failed_event_and_the_right_code_is_then_refused(
    request_code, results
):
    data, code = request_code()
    assert [verify(data, other_than(code, i)).status_code for i in range(1, 6)] == [422] * 5
    refused = verify(data, code)
    assert refused.status_code == 422 and refused.json()["type"].endswith("/otp-rejected")

    [event] = results.wait_for(data["appointment_id"])
    assert (event.type, event.data["reason"], event.data["request_id"]) == (
        types.OTP_FAILED,
        "locked",
        data["request_id"],
    )


def test_verifying_needs_a_service_token_with_the_otp_verify_scope(organiser_token):
    data = {"request_id": str(uuid.uuid4()), "appointment_id": str(uuid.uuid4())}
    missing = verify(data, "123456", headers={})
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    organiser = verify(
        data, "123456", headers=organiser_token("IN-HP")
    )  # a token not for the OTP service
    assert organiser.status_code == 401 and organiser.json()["type"].endswith("/unauthenticated")
    for_otp = organiser_token("IN-HP", audiences=["otp"])
    organiser = verify(data, "123456", headers=for_otp)
    assert organiser.status_code == 403 and organiser.json()["type"].endswith("/not-a-service")
