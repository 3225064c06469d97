"""OTP codes through the notifier (OTP_DELIVERY=notifier): the OTP service's own handler issues a
code, the notifier's urgent lane sends it through the simulator ahead of a bulk directive on the
same WhatsApp numbers, and in tests the code is still readable from the development sink."""

import secrets
import time
import uuid
from datetime import datetime, timezone

import pytest
import redis
from confluent_kafka.admin import AdminClient, NewTopic

from otp import handlers
from otp.adapters import events as otp_events
from otp.bootstrap import bootstrap
from otp.commands import SendCode
from otp.settings import OtpSettings
from testkit.phones import indian_mobile
from testkit.processes import wait_until
from tests.conftest import random_suffix
from tests.integration.test_notifier_flow import start_stack, stop_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    running = start_stack(
        tmp_path_factory.mktemp("notifier-otp"),
        simulator_env={
            "SIMULATOR_TRANSIENT_FAILURE_SHARE": "0",
            "SIMULATOR_PERMANENT_FAILURE_SHARE": "0",
            "SIMULATOR_RATE_PER_SENDER": "40",
        },
        notifier_env={
            "NOTIFIER_WHATSAPP_NUMBERS": "+911140000201,+911140000202",
            "NOTIFIER_WHATSAPP_RATE": "40",
        },
    )
    yield running
    stop_stack(running)


@pytest.fixture
def otp(stack, settings, kafka_bootstrap):
    """The OTP service's ports wired with the notifier channel (no consumer: tests call the
    handler)."""
    prefix = f"test-otp-{random_suffix()}:"
    otp_settings = OtpSettings(
        SANGATHAN_ENV="development",
        OTP_HMAC_SECRET=secrets.token_hex(32),
        OTP_REDIS_PREFIX=prefix,
        OTP_DELIVERY="notifier",
        NOTIFIER_URL=stack.notifier,
    )
    client = redis.Redis.from_url(settings.redis_url)
    scratch = f"test-otp-results-{random_suffix()}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    admin.create_topics([NewTopic(scratch, 1, 1)])[scratch].result()
    publisher = otp_events.publisher(kafka_bootstrap, 5.0, topic_for=lambda _: scratch)
    adapters = bootstrap(otp_settings, client=client, publisher=publisher, consume=False)
    yield adapters
    adapters.ports.events.close()
    for key in client.scan_iter(match=prefix + "*", count=1000):
        client.delete(key)
    admin.delete_topics([scratch])[scratch].result()


def send_code(adapters, phone: str, channel: str = "whatsapp") -> SendCode:
    command = SendCode(
        request_id=str(uuid.uuid4()),
        appointment_id=str(uuid.uuid4()),
        booth_id="IN-HP-D08-A01-M01-S01-B001",
        phone=phone,
        channel=channel,
        locale="en",
        requested_at=datetime.now(timezone.utc).timestamp(),
    )
    handlers.send_code(command, adapters.ports)
    return command


def test_a_code_goes_out_through_the_notifier_and_is_still_in_the_development_sink(stack, otp):
    phone = indian_mobile(spaced=False)
    command = send_code(otp, phone, channel="sms")
    wait_until(lambda: stack.messages(to=phone), 15)
    [message] = stack.messages(to=phone)
    [kept] = otp.sink.deliveries(command.appointment_id)
    assert message["channel"] == "sms" and message["sender"] == "SNGOTP"
    assert message["dlt_template_id"] == "1107170000000000004"
    assert message["text"].startswith(kept["code"]) and len(kept["code"]) == 6


def test_an_otp_requested_during_a_bulk_send_arrives_first(stack, otp):
    bulk = stack.issue(scope=["IN-HP-D08"], priority="bulk", channels=["whatsapp"]).json()[
        "directive_id"
    ]
    wait_until(lambda: len(stack.accepted_for(bulk)) >= 30, 60)  # the bulk send is under way
    phone = indian_mobile(spaced=False)
    asked = time.time()
    send_code(otp, phone)
    wait_until(lambda: stack.messages(to=phone), 10)
    [code] = stack.messages(to=phone)
    done = stack.wait_for(bulk, lambda s: s["total"]["sent"] == 317, timeout_s=60)
    after = [
        m
        for m in stack.messages(channel="whatsapp")
        if m["template"]["name"] == "directive_v1" and m["accepted_at"] > code["accepted_at"]
    ]
    # 317 presidents over two numbers at 40/s take about 4 s: the code went out within a
    # second, while most of the bulk send was still to come.
    assert code["accepted_at"] - asked < 1.0
    assert len(after) > 100
    assert code["template"]["name"] == "otp_v1" and code["sender"] in (
        "+911140000201",
        "+911140000202",
    )
    assert done["total"]["failed"] == 0


def test_the_notifier_refusing_a_code_withdraws_it(stack, otp, settings):
    from otp.adapters.notifier_delivery import NotifierDelivery

    otp.ports.delivery.channel = NotifierDelivery(
        stack.notifier, otp.settings.notifier_token_file, 5
    )
    otp.ports.delivery.channel._token.get = lambda: "not-a-token"
    command = send_code(otp, indian_mobile(spaced=False))
    assert otp.ports.store.load(command.request_id) is None, "an undeliverable code is withdrawn"
    assert otp.sink.deliveries(command.appointment_id) == []
