"""Recurring war-room slots: a directive sent again at set times of day, one round per slot.

A recurrence is an RFC 5545 RRULE, a time zone and an optional end, as directive-issued/v1
carries it: `{"rrule": "FREQ=DAILY;BYHOUR=8,10,12,14,16,18", "timezone": "Asia/Kolkata",
"until": null}`. Rounds start at the directive's send_at (or when it was issued) and end at
`until`, the rule's COUNT, or the directive's expiry, whichever comes first.

The subset understood (anything else is refused, naming the part):

    FREQ=DAILY | WEEKLY     a war-room slot is a time of day, on every day or on some weekdays
    INTERVAL=n              every n-th day (DAILY) or week (WEEKLY, weeks start on Monday); 1..366
    BYHOUR=h,...            required: the hours of the slots (0..23)
    BYMINUTE=m,...          default 0 (RFC 5545 would take DTSTART's minute; an API caller sets
                            no DTSTART)
    BYSECOND=s,...          default 0
    BYDAY=MO,TU,...         weekdays without ordinals; WEEKLY without it means the start's weekday
    COUNT=n                 at most n rounds in all; 1..10000

Slots of a day are every BYHOUR x BYMINUTE x BYSECOND combination, and a directive has at most
six a day: the district war room's rhythm, and the most the organisation asks of a booth.

Each slot has a round id, its instant in UTC (`20241101T023000Z`): the same rule always gives the
same ids, so a restarted or duplicated scheduler names a round the same way and claims it once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from itertools import product
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_ROUNDS_PER_DAY = 6
MAX_COUNT = 10_000
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
SUPPORTED = ("FREQ", "INTERVAL", "BYHOUR", "BYMINUTE", "BYSECOND", "BYDAY", "COUNT")
_ROUND_FORMAT = "%Y%m%dT%H%M%SZ"


class InvalidRecurrence(ValueError):
    """The recurrence cannot be scheduled; the message says why (safe to show the caller)."""


@dataclass(frozen=True)
class Recurrence:
    freq: str  # DAILY | WEEKLY
    interval: int
    times: tuple[time, ...]  # the slots of a day, sorted
    weekdays: frozenset[int] | None  # 0 = Monday; None: every day (DAILY) or the start's (WEEKLY)
    count: int | None
    tz: ZoneInfo
    until: datetime | None

    @property
    def per_day(self) -> int:
        return len(self.times)

    def slots(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Every slot from `start` to `end` (both included), in order, as UTC instants."""
        if self.until is not None:
            end = min(end, self.until)
        first = start.astimezone(self.tz).date()
        last = end.astimezone(self.tz).date()
        weekdays = (
            self.weekdays
            if self.weekdays is not None or self.freq == "DAILY"
            else frozenset({first.weekday()})
        )
        made = 0
        day = first
        while day <= last:
            if self._in_period(first, day) and (weekdays is None or day.weekday() in weekdays):
                for clock in self.times:
                    slot = datetime.combine(day, clock, self.tz).astimezone(timezone.utc)
                    if slot < start:
                        continue
                    if slot > end or (self.count is not None and made >= self.count):
                        return
                    made += 1
                    yield slot
            day += timedelta(days=1)

    def next_slot(
        self, start: datetime, end: datetime, after: datetime | None = None
    ) -> datetime | None:
        """The first slot after `after` (or the first of all), or None when the rounds are over."""
        for slot in self.slots(start, end):
            if after is None or slot > after:
                return slot
        return None

    def _in_period(self, first: date, day: date) -> bool:
        if self.interval == 1:
            return True
        if self.freq == "DAILY":
            return (day - first).days % self.interval == 0
        week = lambda day: (day - timedelta(days=day.weekday())).toordinal() // 7  # noqa: E731 (Monday-based)
        return (week(day) - week(first)) % self.interval == 0


def parse(rrule: str, tz_name: str, until: datetime | None) -> Recurrence:
    parts = _parts(rrule)
    unknown = sorted(set(parts) - set(SUPPORTED))
    if "UNTIL" in unknown:
        raise InvalidRecurrence("put the end in recurrence.until, not in the RRULE")
    if unknown:
        raise InvalidRecurrence(
            f"{', '.join(unknown)} is not supported; an RRULE here may use {', '.join(SUPPORTED)}"
        )
    freq = parts.get("FREQ")
    if freq not in ("DAILY", "WEEKLY"):
        raise InvalidRecurrence("FREQ must be DAILY or WEEKLY: a war-room slot is a time of day")
    if "BYHOUR" not in parts:
        raise InvalidRecurrence(
            "BYHOUR is required: it names the hours of the day the rounds go out"
        )
    hours = _numbers(parts, "BYHOUR", 0, 23)
    minutes = _numbers(parts, "BYMINUTE", 0, 59) if "BYMINUTE" in parts else (0,)
    seconds = _numbers(parts, "BYSECOND", 0, 59) if "BYSECOND" in parts else (0,)
    times = tuple(
        sorted(
            time(hour, minute, second) for hour, minute, second in product(hours, minutes, seconds)
        )
    )
    if len(times) > MAX_ROUNDS_PER_DAY:
        raise InvalidRecurrence(
            f"{len(times)} rounds a day (BYHOUR x BYMINUTE x BYSECOND); "
            f"at most {MAX_ROUNDS_PER_DAY} are allowed"
        )
    interval = _numbers(parts, "INTERVAL", 1, 366, single=True)[0] if "INTERVAL" in parts else 1
    count = _numbers(parts, "COUNT", 1, MAX_COUNT, single=True)[0] if "COUNT" in parts else None
    weekdays = None
    if "BYDAY" in parts:
        days = parts["BYDAY"].split(",")
        wrong = [day for day in days if day not in WEEKDAYS]
        if wrong:
            raise InvalidRecurrence(
                f"BYDAY takes weekdays {','.join(WEEKDAYS)} without ordinals, not {','.join(wrong)}"
            )
        weekdays = frozenset(WEEKDAYS.index(day) for day in days)
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidRecurrence(f"{tz_name!r} is not an IANA time zone") from None
    if until is not None and until.tzinfo is None:
        raise InvalidRecurrence("until needs a time zone offset")
    return Recurrence(freq, interval, times, weekdays, count, tz, until)


def canonical(rrule: str) -> str:
    """The rule as events carry it: upper case, FREQ first, the other parts in a fixed order."""
    parts = _parts(rrule)
    return ";".join(f"{name}={parts[name]}" for name in SUPPORTED if name in parts)


def round_id(slot: datetime) -> str:
    return slot.astimezone(timezone.utc).strftime(_ROUND_FORMAT)


def slot_of(round_id_: str) -> datetime:
    return datetime.strptime(round_id_, _ROUND_FORMAT).replace(tzinfo=timezone.utc)


def missed(rule: Recurrence, slot: datetime, start: datetime, end: datetime, now: datetime) -> bool:
    """A round whose next slot has already come is not sent late: the next one goes instead, so an
    outage (or a long quiet-hours wait) never sends a burst of stale rounds."""
    following = rule.next_slot(start, end, after=slot)
    return following is not None and following <= now


def catch_up(
    rule: Recurrence, start: datetime, end: datetime, after: datetime, now: datetime
) -> datetime | None:
    """The round to go after a missed one: the latest slot already due, else the next to come."""
    latest = None
    for slot in rule.slots(start, end):
        if slot <= after:
            continue
        if slot > now:
            return latest or slot
        latest = slot
    return latest


def _parts(rrule: str) -> dict[str, str]:
    text = rrule.strip().removeprefix("RRULE:")
    parts: dict[str, str] = {}
    for item in filter(None, text.split(";")):
        name, sep, value = item.partition("=")
        if not sep or not value or not name.isalpha():
            raise InvalidRecurrence(f"{item!r} is not NAME=VALUE")
        name = name.upper()
        if name in parts:
            raise InvalidRecurrence(f"{name} is given twice")
        parts[name] = value.upper()
    return parts


def _numbers(
    parts: dict[str, str], name: str, low: int, high: int, single: bool = False
) -> tuple[int, ...]:
    items = parts[name].split(",")
    if single and len(items) != 1:
        raise InvalidRecurrence(f"{name} takes one number")
    try:
        values = tuple(int(item) for item in items)
    except ValueError:
        raise InvalidRecurrence(f"{name} takes numbers from {low} to {high}") from None
    if any(not low <= value <= high for value in values):
        raise InvalidRecurrence(f"{name} takes numbers from {low} to {high}")
    if len(set(values)) != len(values):
        raise InvalidRecurrence(f"{name} repeats a value")
    return values
