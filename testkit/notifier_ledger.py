"""The running platform's notifier as end-to-end tests see it from outside: the sending windows it
applies (its own settings, read from the same environment it was started with), and its ledger in
Redis (notifier.adapters.ledger): when it lets a service's message go (the deferred set) and
which message ids it queued at all (its queued marks).

A campaign message posted in the quiet hours (22:00-06:00 India time by default) or a polling
blackout is accepted, then waits in the deferred set until its window opens and reaches nobody
before; a test asserts that at night and delivery by day, never skipping itself by the clock."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import redis

from notifier.domain.tasks import PERSONAL, Task
from notifier.settings import NotifierSettings
from shared.sending.policy import SendingPolicy, parse_polls, parse_quiet_hours


def notifier_policy() -> SendingPolicy:
    """The windows the platform's notifier holds campaign messages by (NOTIFIER_QUIET_HOURS,
    NOTIFIER_POLLS; the Election Commission's 22:00-06:00 unless set), as its bootstrap builds
    them."""
    settings = NotifierSettings()
    quiet_start, quiet_end = parse_quiet_hours(settings.quiet_hours)
    return SendingPolicy(
        quiet_start=quiet_start, quiet_end=quiet_end, polls=parse_polls(settings.polls)
    )


def opens_at(booth_id: str, at: datetime | None = None) -> datetime | None:
    """When the notifier lets a campaign message for the booth go: None if now (or `at`)."""
    at = at or datetime.now(timezone.utc)
    return notifier_policy().opens_at(at, campaign=True, booth_id=booth_id)


def steady_window(booth_ids: list[str], span_s: float) -> None:
    """Wait, if need be, until whether the windows hold the booths' messages stays the same for
    the next `span_s`: a test started a minute before 22:00 (or 06:00) would see its messages
    cross the boundary. At most `span_s` of waiting, twice a day."""

    def held(at: datetime) -> list[bool]:
        return [opens_at(booth, at) is not None for booth in booth_ids]

    deadline = time.monotonic() + span_s + 5
    while time.monotonic() < deadline:
        now = datetime.now(timezone.utc)
        if held(now) == held(now + timedelta(seconds=span_s)):
            return
        time.sleep(5)


def _ledger() -> tuple[redis.Redis, str]:
    settings = NotifierSettings()
    return redis.Redis.from_url(settings.redis_url), settings.redis_prefix


def waiting_until(message_id: str, kind: str = PERSONAL, timeout_s: float = 30) -> float:
    """The epoch second the notifier's ledger lets the service's message go (its deferred set),
    waiting for the message to get there."""
    client, prefix = _ledger()
    marker = f'"send":"{kind}"'.encode()
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            for raw, at in client.zrange(f"{prefix}deferred", 0, -1, withscores=True):
                if marker in raw and Task.from_json(raw).message_id == message_id:
                    return at
            if time.monotonic() >= deadline:
                raise AssertionError(f"{message_id} never reached the ledger's waiting tasks")
            time.sleep(0.5)
    finally:
        client.close()


def waiting(message_ids: list[str], kind: str = PERSONAL) -> dict[str, float]:
    """Those of the messages waiting in the deferred set now, with when they may go."""
    client, prefix = _ledger()
    marker, wanted = f'"send":"{kind}"'.encode(), set(message_ids)
    try:
        raws = client.zrange(f"{prefix}deferred", 0, -1, withscores=True)
    finally:
        client.close()
    found = {}
    for raw, at in raws:
        if marker in raw and (task := Task.from_json(raw)).message_id in wanted:
            found[task.message_id] = at
    return found


def queued(message_ids: list[str], kind: str = PERSONAL) -> list[bool]:
    """Whether the notifier accepted each message id at all, today or yesterday (UTC): the marks
    it writes once Kafka has the message (`Ledger.mark_queued`)."""
    client, prefix = _ledger()
    today = int(time.time() // 86400)
    try:
        days = [
            client.smismember(f"{prefix}queued:{kind}:{day}", message_ids)
            for day in (today, today - 1)
        ]
    finally:
        client.close()
    return [bool(a or b) for a, b in zip(*days)]
