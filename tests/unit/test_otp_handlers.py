"""The OTP handlers on in-memory ports (tests/fakes/otp.py): each flow in milliseconds. The same
flows run against Redis, Kafka and the notifier in tests/integration/test_otp_flow.py."""

import uuid

import pytest

from otp import handlers
from otp.commands import SendCode, VerifyCode
from otp.domain import Policy
from tests.fakes.otp import InMemoryCodeStore, RecordingChannel, RecordingEvents

NOW = 1_900_000_000.0
PHONE = "+919812345678"


class Clock:
    def __init__(self):
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def make_ports(channel: RecordingChannel | None = None, stopping: bool = False) -> handlers.Ports:
    return handlers.Ports(
        policy=Policy(),
        key=b"unit-test-key-0123456789abcdef",
        store=InMemoryCodeStore(),
        delivery=channel or RecordingChannel(),
        events=RecordingEvents(),
        clock=Clock(),
        randbelow=lambda n: 123456,
        wait=lambda seconds: stopping,
    )


def send(ports: handlers.Ports, appointment_id: str | None = None, phone: str = PHONE) -> SendCode:
    command = SendCode(
        request_id=str(uuid.uuid4()),
        appointment_id=appointment_id or str(uuid.uuid4()),
        booth_id="IN-HP-D01-A01-M01-S01-B001",
        phone=phone,
        channel="sms",
        locale="en",
        requested_at=ports.clock(),
    )
    handlers.send_code(command, ports)
    return command


def verify(ports: handlers.Ports, sent: SendCode, code: str = "123456") -> None:
    handlers.verify_code(
        VerifyCode(
            request_id=sent.request_id,
            appointment_id=sent.appointment_id,
            code=code,
            caller="svc:appointments",
            on_behalf_of="user-1",
        ),
        ports,
    )


def test_a_code_goes_out_once_even_if_its_event_comes_twice():
    ports = make_ports()
    sent = send(ports)
    handlers.send_code(sent, ports)
    assert [m["text"].split()[0] for m in ports.delivery.messages] == ["123456"]
    assert ports.delivery.messages[0]["phone"] == PHONE


def test_the_right_code_verifies_once_and_is_announced():
    ports = make_ports()
    sent = send(ports)
    verify(ports, sent)
    assert [kind for kind, _ in ports.events.published] == ["verified"]
    with pytest.raises(handlers.CodeRejected):
        verify(ports, sent)


def test_the_last_wrong_try_locks_the_code_and_says_so_once():
    ports = make_ports()
    sent = send(ports)
    for _ in range(Policy().max_attempts):
        with pytest.raises(handlers.CodeRejected):
            verify(ports, sent, code="000000")
    with pytest.raises(handlers.CodeRejected):
        verify(ports, sent)
    assert [(kind, data["reason"]) for kind, data in ports.events.published] == [
        ("failed", "locked")
    ]


def test_an_outcome_kafka_did_not_take_is_put_back_and_the_code_stays_usable():
    ports = make_ports()
    sent = send(ports)
    ports.events.down = True
    with pytest.raises(handlers.Unavailable):
        verify(ports, sent)
    ports.events.down = False
    verify(ports, sent)
    assert [kind for kind, _ in ports.events.published] == ["verified"]


def test_a_channel_that_cannot_take_the_message_yet_is_tried_again():
    ports = make_ports(RecordingChannel(unavailable=2))
    send(ports)
    assert len(ports.delivery.messages) == 1 and ports.events.published == []


def test_a_channel_that_refuses_withdraws_the_code_and_reports_it_undeliverable():
    ports = make_ports(RecordingChannel(refuse=True))
    sent = send(ports)
    assert [(kind, data["reason"]) for kind, data in ports.events.published] == [
        ("failed", "undeliverable")
    ]
    with pytest.raises(handlers.CodeRejected):
        verify(ports, sent)


def test_a_second_code_to_a_phone_within_the_cooldown_is_rejected():
    ports = make_ports()
    send(ports)
    send(ports)
    assert len(ports.delivery.messages) == 1
    assert [(kind, data["reason"]) for kind, data in ports.events.published] == [
        ("failed", "rejected")
    ]


def test_a_person_over_their_per_minute_budget_is_throttled():
    ports = make_ports()
    for _ in range(Policy().verify_limit_per_user_per_minute):
        with pytest.raises(handlers.CodeRejected):
            _wrong_request(ports)
    with pytest.raises(handlers.Throttled) as caught:
        _wrong_request(ports)
    assert 1 <= caught.value.retry_after_s <= 60


def _wrong_request(ports: handlers.Ports) -> None:
    """A try on an unknown request: counted against the caller's budget, spending no code's
    tries."""
    handlers.verify_code(
        VerifyCode(
            request_id=str(uuid.uuid4()),
            appointment_id=str(uuid.uuid4()),
            code="000000",
            caller="svc:appointments",
            on_behalf_of="user-1",
        ),
        ports,
    )
