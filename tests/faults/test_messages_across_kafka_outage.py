"""A meeting's invitations posted while Kafka is away: the notifier cannot put them on their lane
and answers at once with a 503 problem and Retry-After, marks none of them queued, and the same
request sent again once Kafka is back queues every one (and a third time, none)."""

import time
import uuid

import httpx
import pytest

from shared.auth.keys import LOCAL_TOKENS
from testkit.phones import indian_mobile
from testkit.processes import wait_until
from tests.faults.conftest import NO_HANG_S, NOTIFIER, figure, killed, timed, wait_ready

pytestmark = pytest.mark.faults


def invitations(n: int) -> dict:
    return {
        "messages": [
            {
                "message_id": f"faults-invite:{uuid.uuid4()}",
                "appointment_id": str(uuid.uuid4()),
                "booth_id": "IN-HP-D08-A01-M01-S01-B001",
                "phone": indian_mobile(spaced=False),
                "channel": "sms",
                "locale": "en",
                "text": "Audio meeting at 18:00: dial +911140001234, PIN 482913",
                "lane": "bulk",
            }
            for _ in range(n)
        ]
    }


def post(body: dict) -> httpx.Response:
    token = (LOCAL_TOKENS / "otp.jwt").read_text().strip()
    return httpx.post(
        f"{NOTIFIER}/v1/messages",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )


# A crashed broker takes one to three minutes to recover its logs on a busy two-core machine.
@pytest.mark.timeout(900)
def test_invitations_posted_while_kafka_is_down_get_a_503_and_are_queued_once_when_sent_again():
    body = invitations(3)
    with killed("kafka"):
        time.sleep(2)  # the notifier's producer has noticed the broker is gone
        response, seconds = timed(lambda: post(body))
        figure("POST /v1/messages answered during the Kafka outage after", seconds)
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"].endswith("/lanes-unavailable")
        assert int(response.headers["retry-after"]) > 0 and seconds < NO_HANG_S
    wait_ready(NOTIFIER, timeout_s=300)
    answers: list[dict] = []

    def queued_again() -> bool:
        answer = post(body)
        if answer.status_code == 202:
            answers.append(answer.json())
        return bool(answers)

    wait_until(queued_again, 300)
    assert answers[0] == {"queued": 3, "duplicates": 0}, "the refused request marked nothing"
    assert post(body).json() == {"queued": 0, "duplicates": 3}
