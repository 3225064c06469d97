"""Inbound replies in the notifier, on in-memory ports: a text that is neither STOP nor an
acknowledgement goes to the reports service as the sender's appointments (never the phone), and
what reports says back is queued to the sender once, however often the webhook comes; a phone no
appointment holds hands nothing over and gets nothing."""

from notifier.adapters.inbound import ReplyRead, Sender
from notifier.domain.tasks import NORMAL
from notifier.handlers.receipts import record_receipts
from tests.unit.test_notifier_handlers import BOOTH, PHONE, ports  # noqa: F401 (fixture)

SENDER = Sender("appt-7", BOOTH, "booth_president", "hi", "sms")
HELP = {"en": "Reply like: 1 1 10", "hi": "जैसे: 1 1 10"}


class Inbound:
    """The appointments and reports calls, answered from memory and recorded."""

    def __init__(self, senders: dict[str, list[Sender]], read: ReplyRead):
        self.known, self.read = senders, read
        self.handed: list[tuple] = []

    def senders(self, phone: str) -> list[Sender]:
        return self.known.get(phone, [])

    def hand_over(self, reply_id, channel, text, senders) -> ReplyRead:
        self.handed.append((reply_id, channel, text, tuple(senders)))
        return self.read


def webhook(phone: str, text: str, reply_id: str = "in.1") -> dict:
    return {
        "messages": [
            {
                "id": reply_id,
                "from": phone.removeprefix("+"),
                "channel": "sms",
                "text": text,
                "received_at": "2030-01-01T05:30:00+00:00",
            }
        ]
    }


def test_a_reply_goes_to_reports_as_the_senders_appointment_and_the_answer_back_is_queued_once(
    ports,  # noqa: F811
):
    ports.inbound = Inbound({PHONE: [SENDER]}, ReplyRead("not-understood", HELP, "appt-7", BOOTH))
    for _ in range(2):  # the provider delivers the webhook twice
        assert record_receipts(webhook(PHONE, "good day"), ports)["replies"] == 1
    assert ports.inbound.handed[0] == ("in.1", "sms", "good day", (SENDER,))
    [answer] = ports.producer.tasks(NORMAL)
    assert (answer.recipient_id, answer.booth_id, answer.phone) == ("appt-7", BOOTH, PHONE)
    assert answer.channels == ("sms",) and (answer.locale, answer.text) == ("hi", HELP["hi"])


def test_a_reply_from_a_phone_no_appointment_holds_hands_nothing_over_and_sends_nothing(
    ports,  # noqa: F811
):
    ports.inbound = Inbound({}, ReplyRead("submitted", HELP, "appt-7", BOOTH))
    assert record_receipts(webhook("+919812300000", "1 1 5"), ports)["replies"] == 1
    assert ports.inbound.handed == [] and ports.producer.tasks() == []


def test_a_stop_is_an_opt_out_and_never_a_reports_answer(ports):  # noqa: F811
    ports.inbound = Inbound({PHONE: [SENDER]}, ReplyRead("submitted", None, "appt-7", BOOTH))
    outcome = record_receipts(webhook(PHONE, "STOP"), ports)
    assert (outcome["opt_outs"], outcome["replies"], ports.inbound.handed) == (1, 0, [])
