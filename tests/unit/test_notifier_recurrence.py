"""Recurring war-room slots as pure rules: the slots a rule gives across days (India has no DST),
its bounds (until, COUNT, expiry), the six-a-day cap, quiet hours, missed rounds, round ids, and
rules refused with a reason."""

import uuid
from dataclasses import replace
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from notifier.commands import IssueDirective
from notifier.domain import directives as rules
from notifier.domain.tasks import DIRECTIVE, Task, delivery_id, subject_of
from shared.events import types
from shared.events.contracts import validate
from shared.sending import recurrence as rec
from shared.sending.policy import SendingPolicy

IST = ZoneInfo("Asia/Kolkata")
WAR_ROOM = "FREQ=DAILY;BYHOUR=8,10,12,14,16,18;BYMINUTE=0"


def ist(*args) -> datetime:
    return datetime(*args, tzinfo=IST)


def slots(
    rrule: str, start: datetime, end: datetime, until=None, tz="Asia/Kolkata"
) -> list[datetime]:
    return list(rec.parse(rrule, tz, until).slots(start, end))


def local(found: list[datetime]) -> list[str]:
    return [s.astimezone(IST).strftime("%a %d %H:%M:%S") for s in found]


def test_the_war_room_rule_gives_six_slots_a_day_in_india_time_across_days():
    found = slots(WAR_ROOM, ist(2024, 11, 1, 9, 0), ist(2024, 11, 2, 12, 0))
    assert local(found) == [
        "Fri 01 10:00:00",
        "Fri 01 12:00:00",
        "Fri 01 14:00:00",
        "Fri 01 16:00:00",
        "Fri 01 18:00:00",
        "Sat 02 08:00:00",
        "Sat 02 10:00:00",
        "Sat 02 12:00:00",
    ]
    assert all(s.tzinfo == timezone.utc for s in found)
    assert found[0] == datetime(2024, 11, 1, 4, 30, tzinfo=timezone.utc)  # IST is UTC+05:30


def test_india_time_has_no_daylight_saving_so_a_slot_is_the_same_utc_time_all_year():
    winter = slots("FREQ=DAILY;BYHOUR=9", ist(2024, 1, 15), ist(2024, 1, 16))[0]
    summer = slots("FREQ=DAILY;BYHOUR=9", ist(2024, 7, 15), ist(2024, 7, 16))[0]
    assert (winter.hour, winter.minute) == (summer.hour, summer.minute) == (3, 30)


def test_a_zone_with_daylight_saving_keeps_the_local_time_of_day():
    london = ZoneInfo("Europe/London")
    found = slots(
        "FREQ=DAILY;BYHOUR=9",
        datetime(2024, 3, 30, tzinfo=london),
        datetime(2024, 4, 1, 12, tzinfo=london),
        tz="Europe/London",
    )
    assert [s.astimezone(london).hour for s in found] == [9, 9, 9]
    assert [s.hour for s in found] == [9, 8, 8]  # GMT, then BST


def test_seconds_minutes_and_hours_combine_into_the_slots_of_a_day():
    found = slots(
        "FREQ=DAILY;BYHOUR=10;BYMINUTE=0,30;BYSECOND=0,15", ist(2024, 11, 1), ist(2024, 11, 1, 23)
    )
    assert local(found) == [
        "Fri 01 10:00:00",
        "Fri 01 10:00:15",
        "Fri 01 10:30:00",
        "Fri 01 10:30:15",
    ]


def test_until_count_and_the_expiry_each_end_the_rounds():
    start, expiry = ist(2024, 11, 1), ist(2024, 11, 30)
    assert (
        len(slots("FREQ=DAILY;BYHOUR=8,20", start, expiry, until=ist(2024, 11, 3, 8, 0))) == 5
    )  # until is inclusive
    assert local(slots("FREQ=DAILY;BYHOUR=8,20;COUNT=3", start, expiry)) == [
        "Fri 01 08:00:00",
        "Fri 01 20:00:00",
        "Sat 02 08:00:00",
    ]
    assert len(slots("FREQ=DAILY;BYHOUR=8", start, ist(2024, 11, 4, 7, 59))) == 3


def test_count_counts_from_the_start_not_from_a_later_look():
    rule = rec.parse("FREQ=DAILY;BYHOUR=8;COUNT=2", "Asia/Kolkata", None)
    start, end = ist(2024, 11, 1), ist(2024, 12, 1)
    first = rule.next_slot(start, end)
    second = rule.next_slot(start, end, after=first)
    assert rule.next_slot(start, end, after=second) is None


def test_weekdays_intervals_and_weekly_rules():
    start = ist(2024, 11, 4)  # a Monday
    weekly = slots("FREQ=WEEKLY;BYDAY=MO,TH;BYHOUR=19", start, ist(2024, 11, 17))
    assert local(weekly) == [
        "Mon 04 19:00:00",
        "Thu 07 19:00:00",
        "Mon 11 19:00:00",
        "Thu 14 19:00:00",
    ]
    fortnightly = slots(
        "FREQ=WEEKLY;INTERVAL=2;BYHOUR=19", ist(2024, 11, 6), ist(2024, 12, 1)
    )  # from a Wednesday
    assert local(fortnightly) == ["Wed 06 19:00:00", "Wed 20 19:00:00"]
    every_other_day = slots("FREQ=DAILY;INTERVAL=2;BYHOUR=7", start, ist(2024, 11, 9))
    assert local(every_other_day) == ["Mon 04 07:00:00", "Wed 06 07:00:00", "Fri 08 07:00:00"]
    weekdays = slots("FREQ=DAILY;BYDAY=SA,SU;BYHOUR=7", start, ist(2024, 11, 11))
    assert local(weekdays) == ["Sat 09 07:00:00", "Sun 10 07:00:00"]


@pytest.mark.parametrize(
    ("rrule", "tz", "words"),
    [
        ("FREQ=HOURLY;BYHOUR=8", "Asia/Kolkata", "DAILY or WEEKLY"),
        ("FREQ=DAILY", "Asia/Kolkata", "BYHOUR is required"),
        ("FREQ=DAILY;BYHOUR=7,8,9,10,11,12,13", "Asia/Kolkata", "at most 6"),
        ("FREQ=DAILY;BYHOUR=8,9;BYMINUTE=0,20;BYSECOND=0,30", "Asia/Kolkata", "8 rounds a day"),
        ("FREQ=DAILY;BYHOUR=24", "Asia/Kolkata", "0 to 23"),
        ("FREQ=DAILY;BYHOUR=8,8", "Asia/Kolkata", "repeats"),
        ("FREQ=DAILY;BYHOUR=x", "Asia/Kolkata", "takes numbers"),
        ("FREQ=DAILY;BYHOUR=8;UNTIL=20241231T000000Z", "Asia/Kolkata", "recurrence.until"),
        ("FREQ=DAILY;BYHOUR=8;BYMONTHDAY=1", "Asia/Kolkata", "BYMONTHDAY is not supported"),
        ("FREQ=WEEKLY;BYDAY=1MO;BYHOUR=8", "Asia/Kolkata", "without ordinals"),
        ("FREQ=DAILY;BYHOUR=8;COUNT=0", "Asia/Kolkata", "COUNT takes numbers from 1"),
        ("FREQ=DAILY;BYHOUR=8;FREQ=DAILY", "Asia/Kolkata", "given twice"),
        ("FREQ=DAILY;BYHOUR", "Asia/Kolkata", "NAME=VALUE"),
        ("FREQ=DAILY;BYHOUR=8", "Asia/Nowhere", "not an IANA time zone"),
    ],
)
def test_a_rule_outside_the_subset_is_refused_saying_why(rrule, tz, words):
    with pytest.raises(rec.InvalidRecurrence, match=words):
        rec.parse(rrule, tz, None)


def test_round_ids_name_the_slot_in_utc_and_read_back():
    slot = ist(2024, 11, 1, 8, 0)
    assert rec.round_id(slot) == "20241101T023000Z"
    assert rec.slot_of("20241101T023000Z") == slot


def test_a_round_whose_next_slot_has_come_is_missed_not_sent_late():
    rule = rec.parse(WAR_ROOM, "Asia/Kolkata", None)
    start, end = ist(2024, 11, 1), ist(2024, 11, 3)
    eight = ist(2024, 11, 1, 8, 0)
    assert not rec.missed(rule, eight, start, end, now=ist(2024, 11, 1, 9, 59))
    assert rec.missed(rule, eight, start, end, now=ist(2024, 11, 1, 10, 0))
    last = ist(2024, 11, 2, 18, 0)  # no slot follows before the end: it may still go late
    assert not rec.missed(rule, last, start, end, now=ist(2024, 11, 2, 23, 0))


def test_each_round_has_delivery_ids_of_its_own_and_its_fallback_keeps_the_round():
    directive_id, recipient = str(uuid.uuid4()), str(uuid.uuid4())
    ids = {
        delivery_id(subject_of(directive_id, r), recipient, "whatsapp")
        for r in (None, "20241101T023000Z", "20241101T043000Z")
    }
    assert len(ids) == 3
    task = Task(
        delivery_id=delivery_id(
            subject_of(directive_id, "20241101T023000Z"), recipient, "whatsapp"
        ),
        send=DIRECTIVE,
        lane="bulk",
        booth_id="IN-HP-D01-A01-M01-S01-B001",
        booth_path=None,
        recipient_id=recipient,
        phone="+919800000000",
        locale="hi",
        channels=("whatsapp", "sms"),
        directive_id=directive_id,
        round="20241101T023000Z",
    )
    fallback = task.fallback()
    assert fallback.round == task.round
    assert fallback.delivery_id == delivery_id(
        subject_of(directive_id, task.round), recipient, "sms"
    )
    assert Task.from_json(task.to_json()) == task


# --- issuing a recurring directive ---------------------------------------------------------------

NOW = datetime(2024, 11, 1, 1, 0, tzinfo=timezone.utc)  # 06:30 IST


def command(
    rrule: str = WAR_ROOM,
    *,
    until=None,
    priority="bulk",
    override=None,
    scope=("IN-UP-D44",),
    expires=NOW + timedelta(days=30),
    send_at=None,
) -> IssueDirective:
    return IssueDirective(
        directive_id=str(uuid.uuid4()),
        issued_by="user-1310",
        issuing_unit="IN-UP-D44",
        title={"en": "War room content", "hi": "वॉर रूम सामग्री"},
        body={"en": "In the app.", "hi": "ऐप में है।"},
        scope=tuple(scope),
        audience=("whatsapp_pramukh",),
        channels=("app_push", "whatsapp"),
        priority=priority,
        send_at=send_at,
        expires_at=expires,
        override_reason=override,
        recurrence={"rrule": rrule, "timezone": "Asia/Kolkata", "until": until},
    )


def test_a_war_room_directive_is_accepted_and_its_event_is_valid():
    cmd = command("freq=daily;byminute=0;byhour=8,10,12,14,16,18")
    assert rules.refusal(cmd, NOW, SendingPolicy()) is None
    data = rules.event_data(cmd, NOW)
    assert data["recurrence"] == {"rrule": WAR_ROOM, "timezone": "Asia/Kolkata", "until": None}
    validate(types.DIRECTIVE_ISSUED, data)
    until = command(until=NOW + timedelta(days=2))
    validate(types.DIRECTIVE_ISSUED, rules.event_data(until, NOW))


@pytest.mark.parametrize(
    ("cmd", "kind"),
    [
        (command("FREQ=DAILY;BYHOUR=7,8,9,10,11,12,13"), "invalid-recurrence"),
        (command("FREQ=MONTHLY;BYHOUR=8"), "invalid-recurrence"),
        (command(until=NOW - timedelta(days=1)), "no-rounds"),
        (
            command("FREQ=DAILY;BYHOUR=8", expires=NOW + timedelta(hours=1)),
            "no-rounds",
        ),  # 08:00 IST is after 07:30
        (command("FREQ=DAILY;BYHOUR=8,23"), "round-in-quiet-hours"),
        (command("FREQ=WEEKLY;BYDAY=SU;BYHOUR=5"), "round-in-quiet-hours"),
    ],
)
def test_a_recurrence_that_cannot_be_scheduled_is_refused(cmd, kind):
    refused = rules.refusal(cmd, NOW, SendingPolicy())
    assert refused is not None and (refused.status, refused.kind) == (422, kind), refused


def test_quiet_hours_are_policy_and_an_urgent_override_may_send_at_night():
    assert (
        rules.refusal(command("FREQ=DAILY;BYHOUR=23"), NOW, SendingPolicy(quiet_start=None)) is None
    )
    night = replace(
        command(
            "FREQ=DAILY;BYHOUR=23", priority="urgent", override="flood relief coordination tonight"
        ),
        issuing_unit="IN-UP",
        issuer_scopes=frozenset({rules.OVERRIDE_SCOPE}),
    )
    assert rules.refusal(night, NOW, SendingPolicy()) is None
    assert (
        rules.refusal(
            command("FREQ=DAILY;BYHOUR=21"), NOW, SendingPolicy(quiet_start=time(21, 0))
        ).kind
        == "round-in-quiet-hours"
    )


def test_at_most_six_rounds_a_day_reach_a_unit_across_its_recurring_directives():
    running = [
        rules.Directive.issue(
            replace(command("FREQ=DAILY;BYHOUR=8,12,16"), directive_id="d-district"),
            NOW,
            event_id="e1",
        ),
        rules.Directive.issue(
            replace(command(WAR_ROOM, scope=("IN-UP-D45",)), directive_id="d-other"),
            NOW,
            event_id="e2",
        ),
    ]
    assert rules.rounds_per_day_refusal(command("FREQ=DAILY;BYHOUR=9,13,17"), running) is None
    too_many = rules.rounds_per_day_refusal(command("FREQ=DAILY;BYHOUR=9,13,17,19"), running)
    assert too_many.kind == "too-many-rounds" and "d-district (3 a day)" in too_many.detail
    # A mandal under the district and the whole state both overlap the district's directive.
    assert (
        rules.rounds_per_day_refusal(
            command("FREQ=DAILY;BYHOUR=9,13,17,19", scope=("IN-UP-D44-A01-M02",)), running
        ).kind
        == "too-many-rounds"
    )
    assert (
        rules.rounds_per_day_refusal(command("FREQ=DAILY;BYHOUR=9", scope=("IN-UP",)), running).kind
        == "too-many-rounds"
    )
    assert (
        rules.rounds_per_day_refusal(
            command("FREQ=DAILY;BYHOUR=9,13,17,19", scope=("IN-UP-D46",)), running
        )
        is None
    )


def test_after_a_missed_round_the_latest_due_slot_goes_not_every_one_missed():
    rule = rec.parse(WAR_ROOM, "Asia/Kolkata", None)
    start, end = ist(2024, 11, 1), ist(2024, 11, 3)
    eight = ist(2024, 11, 1, 8, 0)
    assert rec.catch_up(rule, start, end, eight, now=ist(2024, 11, 1, 14, 30)) == ist(
        2024, 11, 1, 14, 0
    )
    assert rec.catch_up(
        rule, start, end, ist(2024, 11, 1, 18, 0), now=ist(2024, 11, 1, 19, 0)
    ) == ist(2024, 11, 2, 8, 0)
    assert (
        rec.catch_up(rule, start, end, ist(2024, 11, 2, 18, 0), now=ist(2024, 11, 2, 19, 0)) is None
    )
