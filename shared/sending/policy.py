"""Sending windows: when a message may go out, as policy.

The defaults are the Election Commission's rules for campaign messages: none between 10 pm and
6 am (India time), and none in the 48 hours that end with the close of poll in a constituency,
whatever the channel (SMS, WhatsApp, voice, push) or priority. A message outside its window waits
for it. OTP codes are not campaign messages. An urgent directive from HQ or a state may lift the
quiet hours (granted and audited where it is issued, `notifier.domain.directives`); nothing
lifts the blackout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.orgtree.levels import is_within

IST = ZoneInfo("Asia/Kolkata")


@dataclass(frozen=True)
class SendingPolicy:
    quiet_start: time | None = time(22, 0)  # None: no quiet hours
    quiet_end: time = time(6, 0)
    timezone: ZoneInfo = IST
    blackout: timedelta = timedelta(hours=48)
    # Close of poll per unit (usually an assembly constituency); a booth under the unit follows it.
    polls: dict[str, datetime] = field(default_factory=dict)
    # How often a send is tried on one channel (transient failures back off, with jitter, from
    # base to cap), and how many unique people a WhatsApp number may reach in a rolling day.
    max_attempts: int = 6
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 60.0
    whatsapp_daily_cap: int = 100_000

    def opens_at(
        self, now: datetime, *, campaign: bool, booth_id: str, quiet_hours: bool = True
    ) -> datetime | None:
        """None if the message may go now; else the earliest moment it may. `quiet_hours=False`:
        an authorised override lifts them for this message; the blackout still holds."""
        if not campaign:
            return None
        at = now
        for _ in range(4):  # leaving one window can land in the other; they do not chain further
            moved = self._after_quiet_hours(at) if quiet_hours else at
            moved = self._after_blackout(moved, booth_id)
            if moved == at:
                break
            at = moved
        return None if at == now else at

    def _after_quiet_hours(self, at: datetime) -> datetime:
        if self.quiet_start is None:
            return at
        local = at.astimezone(self.timezone)
        start, end = self.quiet_start, self.quiet_end
        clock = local.timetz().replace(tzinfo=None)
        overnight = start > end  # 22:00-06:00 spans midnight
        inside = (clock >= start or clock < end) if overnight else (start <= clock < end)
        if not inside:
            return at
        day = local.date() + timedelta(days=1) if overnight and clock >= start else local.date()
        return datetime.combine(day, end, self.timezone).astimezone(at.tzinfo)

    def _after_blackout(self, at: datetime, booth_id: str) -> datetime:
        for unit, close in self.polls.items():
            if is_within(booth_id, unit) and close - self.blackout <= at < close:
                at = close
        return at


def parse_polls(text: str) -> dict[str, datetime]:
    """`IN-HP-D01-A01=2024-11-20T18:00:00+05:30,IN-HP-D02=...` -> {unit: close of poll}."""
    polls = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        unit, _, when = item.partition("=")
        close = datetime.fromisoformat(when.strip())
        if close.tzinfo is None:
            raise ValueError(f"the close of poll for {unit} needs a time zone offset")
        polls[unit.strip()] = close
    return polls


def parse_quiet_hours(text: str) -> tuple[time | None, time]:
    """`22:00-06:00` -> (22:00, 06:00); empty or `off` -> no quiet hours."""
    if text.strip().lower() in ("", "off", "none"):
        return None, time(0, 0)
    start, _, end = text.partition("-")
    return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
