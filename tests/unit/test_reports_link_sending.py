"""Answer links sent unit by unit (reports/link_sending.py) over fakes: a state or the nation is
sent district by district, and a send cut short goes on from the district it stopped in."""

import uuid
from datetime import datetime, timedelta, timezone

from reports.answer_links import AnswerLinks
from reports.domain import Round
from reports.link_sending import LinkSender, districts_of
from shared.recipients import Recipient

TREE = {
    "IN": ["IN-HP", "IN-UK"],
    "IN-HP": ["IN-HP-D01", "IN-HP-D02"],
    "IN-UK": ["IN-UK-D01"],
}
NOW = datetime(2026, 12, 4, 4, 0, tzinfo=timezone.utc)


def test_a_state_or_the_nation_is_sent_by_its_districts_in_order_and_a_district_as_itself():
    districts = districts_of(lambda unit: TREE.get(unit, []))
    assert districts("IN") == ["IN-HP-D01", "IN-HP-D02", "IN-UK-D01"]
    assert districts("IN-HP") == ["IN-HP-D01", "IN-HP-D02"]
    assert districts("IN-HP-D02-A01") == ["IN-HP-D02-A01"]
    assert districts("IN-XX") == ["IN-XX"]  # a state with no districts known: itself


class Rounds:
    def __init__(self, fail_after: int):
        self.cursors: list[dict] = []
        self.fail_after = fail_after  # advances granted before the lease is "lost"

    def advance(self, dispatch_id, cursor, owner, until) -> bool:
        if len(self.cursors) >= self.fail_after:
            return False
        self.cursors.append(dict(cursor))
        return True


class Recipients:
    def __init__(self):
        self.asked: list[str] = []

    def stream(self, unit, roles):
        self.asked.append(unit)
        booth = f"{unit}-A01-M01-S01-B001" if unit.count("-") == 2 else unit
        yield Recipient(
            booth,
            {},
            str(uuid.uuid5(uuid.NAMESPACE_DNS, unit)),
            "booth_president",
            "+919812345678",
            "hi",
        )


class Messages:
    def __init__(self):
        self.sent: list[dict] = []

    def send(self, messages):
        self.sent += messages
        return len(messages), 0


class Forms:
    def get(self, form_id):
        return None


def sender(rounds, recipients, messages) -> LinkSender:
    return LinkSender(
        rounds,
        Forms(),
        recipients,
        messages,
        AnswerLinks(b"k" * 32, "http://127.0.0.1:8008"),
        grace=timedelta(hours=1),
        clock=lambda: NOW,
        districts=districts_of(lambda unit: TREE.get(unit, [])),
    )


def round_for(scope: tuple[str, ...]) -> Round:
    return Round(
        str(uuid.UUID(int=1)), "p-1", "f-1", 1, scope, ("booth_president",), "2026-12-04",
        NOW, NOW + timedelta(hours=10), NOW + timedelta(hours=8),
    )  # fmt: skip


def test_a_national_round_cut_short_goes_on_from_the_district_it_stopped_in():
    first, recipients, messages = Rounds(fail_after=3), Recipients(), Messages()
    start = {"unit": 0, "sent": 0, "done": False}
    sender(first, recipients, messages).send_round(round_for(("IN",)), start)
    assert recipients.asked == ["IN-HP-D01", "IN-HP-D02"]  # the lease lost inside the second
    assert first.cursors[-1]["unit"] == 1
    again, recipients = Rounds(fail_after=99), Recipients()
    sender(again, recipients, messages).send_round(round_for(("IN",)), first.cursors[-1])
    assert recipients.asked == ["IN-HP-D02", "IN-UK-D01"]
    assert again.cursors[-1]["done"] and again.cursors[-1]["unit"] == 3
