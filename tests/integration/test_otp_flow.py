"""The OTP service's flows against the real Redis and Kafka: requests consumed, codes delivered
to the local sink, verified over HTTP, outcomes published.

Each test has its own Redis key prefix, HMAC secret and scratch topics (the service publishes
its outcomes to a scratch topic instead of the platform's), so it neither sees nor disturbs the
running platform.
"""

import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
import redis
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from otp import handlers
from otp.adapters import events as otp_events
from otp.api import create_otp_app
from otp.bootstrap import Adapters, bootstrap
from otp.commands import SendCode
from otp.consumer import event_handler
from otp.ports import DeliveryUnavailable
from otp.settings import OtpSettings
from shared.auth import tokens
from shared.auth.issuer import ISSUER, service_token
from shared.auth.keys import ensure_local_keys, private_key_file
from shared.events import types
from shared.events.contracts import from_kafka
from shared.kafka.consumer import EventConsumer
from shared.kafka.producer import EventPublisher
from tests.conftest import random_suffix

pytestmark = pytest.mark.integration


def appointments_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {service_token('appointments')}"}


def random_phone() -> str:
    return f"+919{secrets.randbelow(10**9):09d}"


def requested(
    phone=None, *, appointment_id=None, request_id=None, requested_at=None, locale="en"
) -> dict:
    return {
        "request_id": request_id or str(uuid.uuid4()),
        "appointment_id": appointment_id or str(uuid.uuid4()),
        "booth_id": "IN-HP-D01-A01-M01-S01-B001",
        "phone": phone or random_phone(),
        "channel": "sms",
        "purpose": "appointment_verification",
        "locale": locale,
        "requested_by": "user-test",
        "requested_at": (requested_at or datetime.now(timezone.utc)).isoformat(),
    }


def command(data: dict) -> SendCode:
    return SendCode(
        request_id=data["request_id"],
        appointment_id=data["appointment_id"],
        booth_id=data["booth_id"],
        phone=data["phone"],
        channel=data["channel"],
        locale=data["locale"],
        requested_at=datetime.fromisoformat(data["requested_at"]).timestamp(),
    )


@dataclass
class Service:
    adapters: Adapters
    http: TestClient
    results: str  # the scratch topic its events go to

    def send(self, data: dict) -> None:
        handlers.send_code(command(data), self.adapters.ports)

    def code(self, data: dict) -> str:
        [delivery] = self.adapters.sink.deliveries(data["appointment_id"], limit=1)
        assert delivery["request_id"] == data["request_id"]
        return delivery["code"]

    def verify(self, data: dict, code: str, headers=None, appointment_id=None):
        body = {
            "request_id": data["request_id"],
            "appointment_id": appointment_id or data["appointment_id"],
            "code": code,
        }
        return self.http.post(
            "/v1/verifications",
            json=body,
            headers=appointments_headers() if headers is None else headers,
        )


@pytest.fixture
def redis_client(settings):
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
    yield client
    client.close()


@pytest.fixture
def make_service(redis_client, kafka_bootstrap, scratch):
    """make_service(**env) -> Service; all services of a test share one prefix and secret."""
    prefix, secret = f"test-otp-{random_suffix()}:", secrets.token_hex(32)
    made: list[Adapters] = []

    def make(*, bootstrap_servers=None, delivery=None, environment="development", **env) -> Service:
        settings = OtpSettings(
            SANGATHAN_ENV=environment, OTP_HMAC_SECRET=secret, OTP_REDIS_PREFIX=prefix, **env
        )
        results = scratch() if bootstrap_servers is None else "unreachable"
        publisher = otp_events.publisher(
            bootstrap_servers or kafka_bootstrap,
            settings.publish_timeout_s,
            topic_for=lambda _: results,
        )
        adapters = bootstrap(
            settings, client=redis_client, publisher=publisher, delivery=delivery, consume=False
        )
        made.append(adapters)
        return Service(adapters, TestClient(create_otp_app(adapters)), results)

    yield make
    for adapters in made:
        try:
            adapters.ports.events.close()
        except Exception:
            pass  # the unreachable broker's publisher has nothing left to confirm
    keys = list(redis_client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        redis_client.delete(*keys)


def read_events(bootstrap: str, topic: str, count: int, timeout: float = 10.0, linger: float = 1.0):
    """Every event on `topic` once `count` arrived (or the timeout passed), waiting `linger`
    more seconds for any surplus."""
    reader = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{random_suffix()}",
            "enable.auto.commit": False,
        }
    )
    reader.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    found, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(found) < count:
            found += [m for m in reader.consume(10, 0.3) if not m.error()]
        end = time.monotonic() + linger
        while time.monotonic() < end:
            found += [m for m in reader.consume(10, 0.3) if not m.error()]
    finally:
        reader.close()
    return [from_kafka(m.headers(), m.key(), m.value()) for m in found]


def failure_counts(reason: str) -> float:
    return (
        REGISTRY.get_sample_value("sangathan_otp_sends_rejected_total", {"reason": reason}) or 0.0
    )


# --- the whole flow --------------------------------------------------------------------------


def test_a_requested_code_is_consumed_delivered_once_and_verified_once(
    make_service, scratch, kafka_bootstrap
):
    service = make_service()
    requests_topic, dead_letters = scratch(), scratch()
    data = requested(locale="hi")
    publisher = EventPublisher(
        kafka_bootstrap, "/sangathan/appointments", topic_for=lambda _: requests_topic
    )
    event = publisher.emit(types.OTP_REQUESTED, data)
    publisher.publish(event)  # the same event redelivered
    publisher.emit(types.OTP_REQUESTED, data)  # the same request re-sent under a new event id
    publisher.close()

    consumer = EventConsumer(
        kafka_bootstrap,
        f"test-{random_suffix()}",
        [requests_topic],
        event_handler(service.adapters.ports),
        dead_letter_topic=dead_letters,
        poll_timeout_s=0.2,
    )
    try:
        handled, deadline = 0, time.monotonic() + 15
        while handled < 3 and time.monotonic() < deadline:
            handled += consumer.run_once(timeout=0.3)
    finally:
        consumer.close()
    assert handled == 3

    deliveries = service.adapters.sink.deliveries(data["appointment_id"])
    assert len(deliveries) == 1, "one code per request, however often it is delivered"
    delivery = deliveries[0]
    assert delivery["text"].startswith(delivery["code"] + " आपका संगठन सत्यापन कोड है")
    assert delivery["phone"] == "+91********" + data["phone"][-2:]
    assert (delivery["request_id"], delivery["booth_id"], delivery["channel"]) == (
        data["request_id"],
        data["booth_id"],
        "sms",
    )

    response = service.verify(data, delivery["code"])
    assert response.status_code == 200, response.text
    assert response.json() == {
        "verified": True,
        "request_id": data["request_id"],
        "appointment_id": data["appointment_id"],
    }
    again = service.verify(data, delivery["code"])
    assert again.status_code == 422 and again.json()["type"].endswith("/otp-rejected"), "single use"

    [verified] = read_events(kafka_bootstrap, service.results, 1)
    assert verified.type == types.OTP_VERIFIED and verified.source == "/sangathan/otp"
    assert verified.key == data["booth_id"]
    assert {k: verified.data[k] for k in ("request_id", "appointment_id", "booth_id")} == {
        k: data[k] for k in ("request_id", "appointment_id", "booth_id")
    }


def test_a_new_request_for_the_appointment_makes_the_previous_code_useless(make_service):
    service = make_service()
    first = requested()
    second = requested(appointment_id=first["appointment_id"])  # another phone, so no cooldown
    service.send(first)
    first_code = service.code(first)
    service.send(second)
    assert service.verify(first, first_code).status_code == 422
    assert service.verify(second, service.code(second)).status_code == 200


# --- sending limits ----------------------------------------------------------------------------


def test_five_codes_per_phone_per_ten_minutes_then_a_rejected_event(make_service, kafka_bootstrap):
    service = make_service(OTP_RESEND_COOLDOWN_S=0)
    phone, before = random_phone(), failure_counts("rate_limit")
    sent = [requested(phone) for _ in range(6)]
    for data in sent:
        service.send(data)
    service.send(sent[5])  # redelivered: the same refusal, the same event id

    assert all(len(service.adapters.sink.deliveries(d["appointment_id"])) == 1 for d in sent[:5])
    assert service.adapters.sink.deliveries(sent[5]["appointment_id"]) == []
    events = read_events(kafka_bootstrap, service.results, 2)
    assert [(e.type, e.data["reason"], e.data["request_id"]) for e in events] == [
        (types.OTP_FAILED, "rejected", sent[5]["request_id"])
    ] * 2
    assert events[0].id == events[1].id, "a repeated refusal is the same event"
    assert failure_counts("rate_limit") == before + 1


def test_a_second_code_to_a_phone_within_the_cooldown_is_refused(make_service, kafka_bootstrap):
    service = make_service()  # the default 30 s cooldown
    phone = random_phone()
    first, second = requested(phone), requested(phone)
    service.send(first)
    service.send(second)
    assert service.code(first)
    assert service.adapters.sink.deliveries(second["appointment_id"]) == []
    [failed] = read_events(kafka_bootstrap, service.results, 1)
    assert (failed.data["request_id"], failed.data["reason"]) == (second["request_id"], "rejected")


def test_foreign_numbers_and_stale_requests_get_no_code(make_service, kafka_bootstrap):
    service = make_service()
    foreign = requested("+447700900123")
    stale = requested(requested_at=datetime.now(timezone.utc) - timedelta(minutes=11))
    before = failure_counts("prefix"), failure_counts("stale")
    service.send(foreign)
    service.send(stale)
    assert service.adapters.sink.deliveries(foreign["appointment_id"]) == []
    assert service.adapters.sink.deliveries(stale["appointment_id"]) == []
    events = read_events(kafka_bootstrap, service.results, 2)
    assert {(e.data["request_id"], e.data["reason"]) for e in events} == {
        (foreign["request_id"], "rejected"),
        (stale["request_id"], "rejected"),
    }
    assert (failure_counts("prefix"), failure_counts("stale")) == (before[0] + 1, before[1] + 1)


def test_a_channel_that_refuses_the_message_withdraws_the_code_and_reports_undeliverable(
    make_service, kafka_bootstrap
):
    class Refusing:
        def deliver(self, **message):
            raise ConnectionError("gateway down")

    service = make_service(delivery=Refusing())
    data = requested()
    service.send(data)
    assert service.adapters.ports.store.load(data["request_id"]) is None
    [failed] = read_events(kafka_bootstrap, service.results, 1)
    assert failed.data["reason"] == "undeliverable"


def test_a_channel_that_cannot_take_the_message_yet_is_tried_again_and_the_code_goes_out(
    make_service,
):
    class BackSoon:
        tries = 0

        def deliver(self, **message):
            self.tries += 1
            if self.tries < 3:
                raise DeliveryUnavailable("notifier answered 503")
            self.message = message

    channel = BackSoon()
    service = make_service(delivery=channel)
    data = requested()
    service.send(data)
    assert channel.tries == 3
    assert service.adapters.ports.store.load(data["request_id"]).state.value == "live"
    assert channel.message["text"].startswith(tuple("0123456789"))


def test_a_channel_unavailable_until_the_code_would_be_nearly_dead_gives_it_up_as_undeliverable(
    make_service, kafka_bootstrap
):
    class Away:
        def deliver(self, **message):
            raise DeliveryUnavailable("ConnectTimeout")

    service = make_service(delivery=Away(), OTP_CODE_TTL_S="30")  # tries for 30 s less a tenth
    data = requested()
    started = time.monotonic()
    service.send(data)
    assert 15 < time.monotonic() - started < 30
    assert service.adapters.ports.store.load(data["request_id"]) is None
    [failed] = read_events(kafka_bootstrap, service.results, 1)
    assert failed.data["reason"] == "undeliverable"


# --- verifying --------------------------------------------------------------------------------


def test_every_refusal_is_the_same_answer(make_service):
    service = make_service()
    cases = {}
    for name in ("wrong", "appointment", "used", "locked", "expired"):
        data = requested()
        service.send(data)
        cases[name] = (data, service.code(data))
    answers = {"unknown": service.verify(requested(), "123456")}
    data, code = cases["wrong"]
    answers["wrong code"] = service.verify(data, f"{(int(code) + 1) % 10**6:06d}")
    data, code = cases["appointment"]
    answers["wrong appointment"] = service.verify(data, code, appointment_id=str(uuid.uuid4()))
    data, code = cases["used"]
    assert service.verify(data, code).status_code == 200
    answers["used"] = service.verify(data, code)
    data, code = cases["locked"]
    for _ in range(5):
        service.verify(data, f"{(int(code) + 1) % 10**6:06d}")
    answers["locked"] = service.verify(data, code)
    data, code = cases["expired"]
    real_clock = service.adapters.ports.clock
    service.adapters.ports.clock = lambda: real_clock() + 601
    answers["expired"] = service.verify(data, code)
    service.adapters.ports.clock = real_clock

    assert {name: r.status_code for name, r in answers.items()} == {name: 422 for name in answers}
    bodies = {name: r.json() for name, r in answers.items()}
    assert all(body == bodies["unknown"] for body in bodies.values()), bodies
    assert bodies["unknown"]["type"] == "https://sangathan.example/problems/otp-rejected"
    assert "attempts_left" not in bodies["unknown"]


def test_the_fifth_wrong_try_locks_the_code_once_and_the_right_one_is_then_refused(
    make_service, kafka_bootstrap
):
    service = make_service()
    data = requested()
    service.send(data)
    code = service.code(data)
    locks = REGISTRY.get_sample_value("sangathan_otp_locks_total") or 0.0
    wrong = [f"{(int(code) + i) % 10**6:06d}" for i in range(1, 7)]
    assert [service.verify(data, w).status_code for w in wrong] == [422] * 6
    assert service.verify(data, code).status_code == 422

    events = read_events(kafka_bootstrap, service.results, 1)
    assert [(e.type, e.data["reason"]) for e in events] == [(types.OTP_FAILED, "locked")]
    assert REGISTRY.get_sample_value("sangathan_otp_locks_total") == locks + 1


def test_an_expired_code_is_refused_and_reported_expired_once(make_service, kafka_bootstrap):
    service = make_service()
    data = requested()
    service.send(data)
    code = service.code(data)
    real_clock = service.adapters.ports.clock
    service.adapters.ports.clock = lambda: real_clock() + 600
    assert [service.verify(data, code).status_code for _ in range(3)] == [422] * 3
    events = read_events(kafka_bootstrap, service.results, 1)
    assert [(e.type, e.data["reason"]) for e in events] == [(types.OTP_FAILED, "expired")]


def test_when_kafka_is_down_a_right_code_gets_503_and_stays_usable(make_service, kafka_bootstrap):
    service = make_service()
    cut_off = make_service(bootstrap_servers="127.0.0.1:1", OTP_PUBLISH_TIMEOUT_S=1)
    data = requested()
    service.send(data)
    code = service.code(data)

    started = time.monotonic()
    response = cut_off.verify(data, code)
    assert response.status_code == 503, response.text
    assert (
        response.json()["type"].endswith("/events-unavailable") and response.headers["Retry-After"]
    )
    assert time.monotonic() - started < 5
    stored = service.adapters.ports.store.load(data["request_id"])
    assert (stored.state.value, stored.attempts_left) == ("live", 5), "the try was put back"

    assert service.verify(data, code).status_code == 200
    assert [e.type for e in read_events(kafka_bootstrap, service.results, 1)] == [
        types.OTP_VERIFIED
    ]


def test_a_caller_over_its_per_minute_cap_gets_429_with_retry_after(make_service):
    service = make_service(OTP_VERIFY_LIMIT_PER_MINUTE=3)
    minute = (
        time.time() // 60 + 0.5
    ) * 60  # mid-minute, so the window cannot roll over in the test
    service.adapters.ports.clock = lambda: minute
    data = requested()
    answers = [service.verify(data, "000000").status_code for _ in range(4)]
    assert answers == [422, 422, 422, 429]
    throttled = service.verify(data, "000000")
    assert throttled.json()["type"].endswith("/too-many-verifications")
    assert 1 <= int(throttled.headers["Retry-After"]) <= 30

    private, _ = ensure_local_keys()
    other = tokens.issue(
        private_key_file(private).get(),
        issuer=ISSUER,
        audience="otp",
        subject="svc:other",
        kind=tokens.SERVICE,
        scopes=["otp:verify"],
    )
    assert (
        service.verify(data, "000000", headers={"Authorization": f"Bearer {other}"}).status_code
        == 422
    ), "the cap is per caller"


def test_only_services_holding_otp_verify_may_verify(make_service, organiser_token):
    service = make_service()
    data = requested()
    assert service.verify(data, "123456", headers={}).status_code == 401
    # Tokens for other services are refused whatever they hold: an organiser's, the notifier's.
    assert service.verify(data, "123456", headers=organiser_token("IN-HP")).status_code == 401
    notifier = {"Authorization": f"Bearer {service_token('notifier')}"}
    assert service.verify(data, "123456", headers=notifier).status_code == 401
    private, _ = ensure_local_keys()
    for kind, unit, scopes in [
        (tokens.ORGANISER, "IN", ["otp:verify"]),
        (tokens.SERVICE, None, ["messages:send"]),
    ]:
        for_otp = tokens.issue(
            private_key_file(private).get(),
            issuer=ISSUER,
            audience="otp",
            subject="x-1",
            kind=kind,
            unit=unit,
            scopes=scopes,
        )
        refused = service.verify(data, "123456", headers={"Authorization": f"Bearer {for_otp}"})
        assert refused.status_code == 403, (kind, refused.text)


# --- the development sink ---------------------------------------------------------------------


def test_deliveries_are_readable_over_http_in_test_and_absent_in_production(make_service):
    service = make_service()
    data = requested()
    service.send(data)
    response = service.http.get(
        "/v1/dev/deliveries", params={"appointment_id": data["appointment_id"]}
    )
    assert response.status_code == 200
    [delivery] = response.json()["deliveries"]
    assert delivery["code"] == service.code(data) and data["phone"] not in response.text

    class Channel:
        def deliver(self, **message):
            pass

    production = make_service(environment="production", delivery=Channel())
    assert (
        production.http.get(
            "/v1/dev/deliveries", params={"appointment_id": data["appointment_id"]}
        ).status_code
        == 404
    )


@pytest.mark.parametrize("environment", ["test", "production"])
def test_only_development_may_keep_codes_readable_in_the_sink(redis_client, environment):
    settings = OtpSettings(SANGATHAN_ENV=environment, OTP_HMAC_SECRET=secrets.token_hex(32))
    with pytest.raises(RuntimeError, match="production needs a real channel"):
        bootstrap(settings, client=redis_client, consume=False)
