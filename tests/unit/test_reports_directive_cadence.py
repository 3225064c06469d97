"""The rule of rounds tied to a directive: one round at its time less or plus the offset, and for
a recurring directive one per occurrence (at most one a day, at most MAX_TIED_ROUNDS), skipping
occurrences whose before-window has passed."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from reports import domain
from reports.directive_cadence import (
    MAX_TIED_ROUNDS,
    TiedDirective,
    start_of,
    tied_rounds,
)
from reports.domain import Refused
from shared.sending import recurrence
from shared.sending.policy import IST
from tests.unit.test_reports_domain import plan

MONDAY = datetime(2026, 12, 7, 9, 0, tzinfo=IST)  # the first occurrence
WEEKLY = recurrence.parse("FREQ=WEEKLY;BYDAY=MO;BYHOUR=9", "Asia/Kolkata", None)


def weekly(weeks=4, state="scheduled", rule=WEEKLY) -> TiedDirective:
    return TiedDirective(MONDAY, state, rule, MONDAY + timedelta(weeks=weeks, hours=-1))


def test_a_single_directive_gives_one_round_at_its_time_less_the_offset():
    now = MONDAY - timedelta(days=1)
    single = TiedDirective(MONDAY, "scheduled")
    [send_at] = tied_rounds("before_directive", single, timedelta(hours=2), now)
    assert start_of(send_at) == (date(2026, 12, 7), time(7, 0))
    with pytest.raises(Refused, match="passed"):
        tied_rounds("before_directive", single, timedelta(hours=2), MONDAY)


def test_a_weekly_directive_gives_a_round_per_occurrence_at_its_ist_time_less_the_offset():
    sends = tied_rounds("before_directive", weekly(), timedelta(hours=2), MONDAY - timedelta(1))
    assert [s.astimezone(IST) for s in sends] == [
        datetime(2026, 12, day, 7, 0, tzinfo=IST) for day in (7, 14, 21, 28)
    ]
    after = tied_rounds("after_directive", weekly(), timedelta(hours=3), MONDAY - timedelta(1))
    assert [s.astimezone(IST).time() for s in after] == [time(12, 0)] * 4


def test_occurrences_whose_before_window_has_passed_are_skipped():
    now = datetime(2026, 12, 14, 8, 0, tzinfo=IST)  # after the 14th's 07:00 window
    sends = tied_rounds("before_directive", weekly(), timedelta(hours=2), now)
    assert [s.astimezone(IST).date() for s in sends] == [date(2026, 12, 21), date(2026, 12, 28)]
    too_late = datetime(2026, 12, 28, 8, 0, tzinfo=IST)
    with pytest.raises(Refused, match="passed") as refused:
        tied_rounds("before_directive", weekly(), timedelta(hours=2), too_late)
    assert refused.value.kind == "too-late"


def test_after_rounds_already_past_keep_only_the_latest():
    now = datetime(2026, 12, 15, 8, 0, tzinfo=IST)
    sends = tied_rounds("after_directive", weekly(), timedelta(hours=1), now)
    assert [s.astimezone(IST).date() for s in sends] == [
        date(2026, 12, 14),
        date(2026, 12, 21),
        date(2026, 12, 28),
    ]


def test_a_cancelled_recurring_directive_is_refused():
    with pytest.raises(Refused) as refused:
        tied_rounds("after_directive", weekly(state="cancelled"), timedelta(0), MONDAY)
    assert refused.value.kind == "directive-cancelled"


def test_rounds_are_bounded_as_a_daily_dispatch_is():
    war_room = recurrence.parse("FREQ=DAILY;BYHOUR=8,12,16", "Asia/Kolkata", None)
    two_years = TiedDirective(MONDAY, "scheduled", war_room, MONDAY + timedelta(days=730))
    sends = tied_rounds("after_directive", two_years, timedelta(0), MONDAY - timedelta(1))
    days = [s.astimezone(IST).date() for s in sends]
    assert len(sends) == MAX_TIED_ROUNDS and len(set(days)) == len(days)  # one a day
    assert sends[1].astimezone(IST) == datetime(2026, 12, 8, 8, 0, tzinfo=IST)  # its first slot
    until = tied_rounds(
        "after_directive", two_years, timedelta(0), MONDAY - timedelta(1), date(2026, 12, 9)
    )
    assert [s.astimezone(IST) for s in until] == [
        datetime(2026, 12, 7, 12, 0, tzinfo=IST),  # the first slot from the directive's start
        datetime(2026, 12, 8, 8, 0, tzinfo=IST),
        datetime(2026, 12, 9, 8, 0, tzinfo=IST),
    ]


def test_the_plan_of_a_recurring_directive_makes_its_rounds_when_due_keyed_by_day():
    sends = tied_rounds("before_directive", weekly(), timedelta(hours=2), MONDAY - timedelta(1))
    starts_on, send_time = start_of(sends[0])
    tied = plan(
        "before_directive",
        directive_id="d-1",
        starts_on=starts_on,
        send_time=send_time,
        occurrences=sends,
    )
    domain.check_plan(tied)
    assert domain.rounds_due(tied, None, datetime(2026, 12, 7, 6, 59, tzinfo=IST)) == []
    first = domain.rounds_due(tied, None, datetime(2026, 12, 14, 7, 0, tzinfo=IST))
    assert [(r.period_key, r.send_at, r.due_at - r.send_at) for r in first] == [
        ("2026-12-07", datetime(2026, 12, 7, 7, 0, tzinfo=IST), timedelta(hours=12)),
        ("2026-12-14", datetime(2026, 12, 14, 7, 0, tzinfo=IST), timedelta(hours=12)),
    ]
    assert not domain.finished(tied, date(2026, 12, 14))
    rest = domain.rounds_due(tied, date(2026, 12, 14), datetime(2027, 1, 30, tzinfo=IST))
    assert [r.period_key for r in rest] == ["2026-12-21", "2026-12-28"]
    assert domain.finished(tied, date(2026, 12, 28))
    assert domain.finished(plan("after_directive", directive_id="d-1"), date(2026, 11, 30))
