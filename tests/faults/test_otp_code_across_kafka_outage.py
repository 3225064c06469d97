"""A code asked for while Kafka is away still reaches the appointee: the notifier cannot queue it
(its urgent lane is a Kafka topic) and answers 503 or times out, so the OTP service tries again
with backoff while the code lives, and the code goes out once Kafka is back.

The OTP handler runs in the test (the platform's own OTP service would not even receive the
request while Kafka is down); the notifier, the simulator, Redis and Kafka are the platform's."""

import secrets
import threading
import time
import uuid
from datetime import datetime, timezone

import httpx
import pytest
import redis
from prometheus_client import REGISTRY

from otp import handlers
from otp.bootstrap import bootstrap
from otp.commands import SendCode
from otp.settings import OtpSettings
from testkit.phones import indian_mobile
from testkit.processes import wait_until
from tests.conftest import random_suffix
from tests.faults.conftest import NOTIFIER, figure, killed, wait_ready

pytestmark = pytest.mark.faults

SIMULATOR = "http://127.0.0.1:8005"
OUTAGE_S = 15  # long enough for the notifier to refuse or time out more than once


@pytest.fixture
def otp(settings):
    prefix = f"test-otp-{random_suffix()}:"
    # Development: the sink, which the test reads the code from, exists there only.
    otp_settings = OtpSettings(
        SANGATHAN_ENV="development",
        OTP_HMAC_SECRET=secrets.token_hex(32),
        OTP_REDIS_PREFIX=prefix,
        OTP_DELIVERY="notifier",
        NOTIFIER_URL=NOTIFIER,
        OTP_PUBLISH_TIMEOUT_S="2",
    )
    client = redis.Redis.from_url(settings.redis_url)
    adapters = bootstrap(otp_settings, client=client, consume=False)
    yield adapters
    adapters.stop()
    for key in client.scan_iter(match=prefix + "*", count=1000):
        client.delete(key)


def retries() -> float:
    return REGISTRY.get_sample_value("sangathan_otp_delivery_retries_total") or 0.0


# A crashed broker takes one to three minutes to recover its logs on a busy two-core machine.
@pytest.mark.timeout(900)
def test_a_code_asked_for_while_kafka_is_down_is_delivered_once_it_is_back(otp):
    phone = indian_mobile(spaced=False)  # one the simulator delivers to
    command = SendCode(
        request_id=str(uuid.uuid4()),
        appointment_id=str(uuid.uuid4()),
        booth_id="IN-HP-D08-A01-M01-S01-B001",
        phone=phone,
        channel="sms",
        locale="en",
        requested_at=datetime.now(timezone.utc).timestamp(),
    )
    retried_before = retries()
    with killed("kafka"):
        asked = time.monotonic()
        sending = threading.Thread(target=handlers.send_code, args=(command, otp.ports))
        sending.start()
        time.sleep(OUTAGE_S)
        assert sending.is_alive(), "the OTP service gave the code up while Kafka was away"
    sending.join(120)
    assert not sending.is_alive()
    record = otp.ports.store.load(command.request_id)
    assert record is not None and record.state.value == "live", "the code was not withdrawn"
    [kept] = otp.sink.deliveries(command.appointment_id)  # kept only once the notifier queued it
    wait_until(
        lambda: httpx.get(f"{SIMULATOR}/v1/messages", params={"to": phone}, timeout=10).json()[
            "messages"
        ],
        60,
    )
    figure("code asked for during the Kafka outage delivered after", time.monotonic() - asked)
    print(
        f"[fault figure] delivery tries of that code: {1 + retries() - retried_before:.0f}",
        flush=True,
    )
    assert retries() - retried_before >= 1
    [message] = httpx.get(f"{SIMULATOR}/v1/messages", params={"to": phone}, timeout=10).json()[
        "messages"
    ]
    assert message["text"].startswith(kept["code"])
    wait_ready(NOTIFIER)
