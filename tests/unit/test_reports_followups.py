"""The follow-up rules of a round, over plain values: when a reminder and each escalation level
are due, what counts as a booth's answer, and what the notifier is handed."""

from datetime import datetime, timedelta, timezone

import pytest

from reports.domain import Round
from reports.followups import (
    REMIND,
    Done,
    Escalation,
    due_steps,
    escalation_text,
    has_answered,
    record,
    reminder_text,
    silent_by_unit,
)

SEND = datetime(2026, 12, 4, 3, 30, tzinfo=timezone.utc)  # 09:00 IST
ROUND = Round(
    "d-1",
    "p-1",
    "f-1",
    1,
    ("IN-HP-D06",),
    ("booth_president",),
    "2026-12-04",
    SEND,
    SEND + timedelta(hours=12),
    SEND + timedelta(hours=10),
)
RULES = Escalation(levels=("mandal", "district"), step=timedelta(hours=4))
TITLE = {"hi": "दैनिक रिपोर्ट", "en": "Daily report"}


def test_the_reminder_then_each_level_come_due_in_turn():
    assert due_steps(ROUND, Done(), RULES, ROUND.remind_at - timedelta(seconds=1)) == []
    assert due_steps(ROUND, Done(), RULES, ROUND.remind_at) == [(REMIND, True)]
    reminded = record(Done(), REMIND, RULES)
    assert due_steps(ROUND, reminded, RULES, ROUND.due_at) == [("mandal", True)]
    told = record(reminded, "mandal", RULES)
    later = ROUND.due_at + timedelta(hours=4)
    assert due_steps(ROUND, told, RULES, later) == [("district", True)]
    assert record(told, "district", RULES).finished


def test_a_reminder_after_the_due_time_and_a_level_past_its_window_are_recorded_unsent():
    late = ROUND.due_at + timedelta(hours=26)
    assert due_steps(ROUND, Done(), RULES, late) == [
        (REMIND, False),
        ("mandal", False),
        ("district", True),
    ]


def test_a_rejected_answer_leaves_the_booth_silent_and_a_pending_one_does_not():
    assert has_answered(["submitted"]) and has_answered(["rejected", "accepted"])
    assert not has_answered(["rejected"]) and not has_answered([])


def test_escalation_levels_go_up_the_hierarchy_each_once():
    for levels in (("district", "mandal"), ("mandal", "mandal"), ("booth",), ()):
        with pytest.raises(ValueError):
            Escalation(levels=levels)


def test_silent_booths_are_grouped_under_their_mandal_and_named_in_the_word():
    booths = [
        "IN-HP-D06-A01-M01-S01-B002",
        "IN-HP-D06-A01-M02-S01-B001",
        "IN-HP-D06-A01-M01-S02-B001",
    ]
    grouped = silent_by_unit("mandal", booths)
    assert grouped == {
        "IN-HP-D06-A01-M01": ["IN-HP-D06-A01-M01-S01-B002", "IN-HP-D06-A01-M01-S02-B001"],
        "IN-HP-D06-A01-M02": ["IN-HP-D06-A01-M02-S01-B001"],
    }
    text = escalation_text(TITLE, ROUND, "IN-HP-D06-A01-M01", grouped["IN-HP-D06-A01-M01"])
    assert text.startswith("2 booth(s) of IN-HP-D06-A01-M01 have not sent the report")
    assert "IN-HP-D06-A01-M01-S02-B001" in text and "21:00 IST" in text


def test_a_reminder_is_in_the_recipients_language_with_the_title_and_due_time():
    assert "दैनिक रिपोर्ट" in reminder_text(TITLE, ROUND.due_at, "hi-IN")
    english = reminder_text(TITLE, ROUND.due_at, "en")
    assert "Daily report" in english and "04-12-2026 21:00 IST" in english
