"""The simulated provider's handlers on its in-memory state, without HTTP: what it owes the
callback URL, what an erasure takes back, and how a failed callback is tried again."""

from datetime import datetime, timezone

import pytest

from simulator import commands, domain
from simulator.handlers import Provider, handle
from simulator.settings import SimulatorSettings


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def provider(monkeypatch, tmp_path, clock) -> Provider:
    monkeypatch.setenv("SANGATHAN_STATE", str(tmp_path))
    settings = SimulatorSettings(
        SANGATHAN_ENV="development",
        SIMULATOR_TRANSIENT_FAILURE_SHARE=0,
        SIMULATOR_PERMANENT_FAILURE_SHARE=0,
        SIMULATOR_UNDELIVERABLE_SHARE=0,
        SIMULATOR_DUPLICATE_SHARE=0,
        SIMULATOR_READ_SHARE=0,
        SIMULATOR_CALLBACK_ATTEMPTS=3,
    )
    return Provider(settings, clock=clock)


def invite(to: str, reference: str) -> commands.InviteToBridge:
    starts = datetime(2026, 12, 3, 18, 0, tzinfo=timezone.utc)
    return commands.InviteToBridge("+911140000009", to, "4321", starts, reference)


def test_an_accepted_send_owes_one_delivered_report_once_its_delay_has_passed(provider, clock):
    answer = handle(provider, invite("+919812345678", "appointment-1"))
    assert answer.status == 200
    assert provider.take_due(10) == [], "a receipt arrives late, never at once"
    clock.now += 10
    (report,) = provider.take_due(10)
    assert report["statuses"][0]["message_id"] == answer.body["id"]
    assert report["statuses"][0]["status"] == "delivered"


def test_forgetting_a_person_drops_their_messages_and_the_reports_still_owed(provider, clock):
    kept = handle(provider, invite("+919812345678", "appointment-kept")).body["id"]
    handle(provider, invite("+919812345679", "appointment-erased"))
    erased = commands.ForgetPeople(frozenset({"appointment-erased"}))
    assert handle(provider, erased) == 1
    assert list(provider.messages) == [kept]
    clock.now += 10
    owed = [s["message_id"] for item in provider.take_due(10) for s in item["statuses"]]
    assert owed == [kept]


def test_a_reply_to_an_unknown_message_is_refused_and_a_known_one_is_called_back(provider):
    assert handle(provider, commands.MakeReply("1", message_id="no-such-message")) == {}
    sent = handle(provider, invite("+919812345678", "appointment-1")).body["id"]
    inbound = handle(provider, commands.MakeReply("1", message_id=sent))
    assert inbound["from"] == "+919812345678"
    (due,) = provider.take_due(10)
    assert due["messages"] == [inbound]


def test_a_failed_callback_is_tried_again_later_until_its_attempts_run_out(provider, clock):
    handle(provider, commands.MakeReply("STOP", sender="+919812345678"))
    items = provider.take_due(10)
    for attempt in (1, 2):
        provider.try_again(items)
        assert provider.take_due(10) == [], "backing off, not at once"
        clock.now += 2**attempt * 0.5
        items = provider.take_due(10)
        assert [item["_attempt"] for item in items] == [attempt]
    provider.try_again(items)
    clock.now += 60
    assert provider.take_due(10) == [] and provider.stats["callbacks_abandoned"] == 1


def test_an_unapproved_whatsapp_template_is_refused_for_good(provider):
    command = commands.SendWhatsApp(
        "+911140000001", "+919812345678", "template", {"name": "promo_v9"}, None, None
    )
    answer = handle(provider, command)
    assert answer.status == 400
    assert answer.body["error"]["code"] == domain.TEMPLATE_NOT_APPROVED
    assert answer.body["error"]["retryable"] is False


def test_a_phone_replying_with_text_owes_a_webhook_naming_the_sender_and_a_duplicate_has_its_id(
    provider,
):
    inbound = handle(
        provider, commands.MakeReply("1 3 250", sender="+919812345678", channel="sms", twice=True)
    )
    due = provider.take_due(10)
    assert [item["messages"] for item in due] == [[inbound], [inbound]]
    assert (inbound["from"], inbound["channel"], inbound["text"]) == (
        "+919812345678",
        "sms",
        "1 3 250",
    )
    assert inbound["id"].startswith("in.") and inbound["context"] is None
    assert datetime.fromisoformat(inbound["received_at"]).tzinfo is not None
    handle(provider, commands.MakeReply("1 3 250", sender="+919812345678", channel="sms"))
    assert len(provider.take_due(10)) == 1, "no duplicate unless asked (duplicate share is 0 here)"
