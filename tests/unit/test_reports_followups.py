"""The follow-up rules of a round, over plain values: when a reminder and each escalation level
are due, what counts as a booth's answer, and what the notifier is handed."""

from dataclasses import replace
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
    schedule,
    silent_by_unit,
)
from shared.sending.policy import SendingPolicy

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


NIGHT = Escalation(
    levels=("mandal", "district"), step=timedelta(hours=4), quiet=SendingPolicy()
)  # 22:00-06:00 India time


def night_round(remind_ist: str, due_ist: str) -> Round:
    at = {
        k: datetime.fromisoformat(f"2026-12-04T{v}+05:30")
        for k, v in {"remind": remind_ist, "due": due_ist}.items()
    }
    return replace(ROUND, remind_at=at["remind"], due_at=at["due"])


def test_a_reminder_held_by_the_quiet_hours_moves_the_escalations_by_as_long():
    late = night_round("22:30", "23:30")  # reminded at 06:00: the mandal hears at 07:00
    six = datetime.fromisoformat("2026-12-05T06:00+05:30")
    assert NIGHT.reminder_goes_at(late) == six
    assert NIGHT.at(late, "mandal") == six + timedelta(hours=1)
    assert NIGHT.at(late, "district") == six + timedelta(hours=5)
    assert due_steps(late, record(Done(), REMIND, NIGHT), NIGHT, late.due_at) == []
    evening = night_round("20:00", "23:30")  # reminded at once: the mandal hears at the due time
    assert NIGHT.at(evening, "mandal") == evening.due_at


def test_a_rounds_schedule_lists_each_step_its_time_and_whether_it_was_taken():
    late = night_round("22:30", "23:30")
    steps = schedule(late, record(Done(), REMIND, NIGHT), NIGHT)
    assert [(step, taken) for step, _, taken in steps] == [
        (REMIND, True),
        ("mandal", False),
        ("district", False),
    ]
    assert steps[1][1] == NIGHT.at(late, "mandal")
