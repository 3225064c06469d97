"""A running meeting's reach, followed for one live page.

Attendance is counted in analytics' tables; nothing publishes a change stream of those counts, so
a page watching a meeting has its reach asked of analytics every `interval_s` and is sent it only
when it changed. The watch stops once the meeting has ended (its numbers are then final), and a
failed ask is simply tried again at the next interval: the page keeps what it last showed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from dashboard import domain
from shared.problems import ProblemError

Fetch = Callable[[], Awaitable[dict[str, Any]]]


class MeetingWatch:
    def __init__(
        self, fetch: Fetch, interval_s: float, clock: Callable[[], float] = time.monotonic
    ):
        self._fetch = fetch
        self._interval_s = interval_s
        self._clock = clock
        self._due = clock()
        self._last: dict[str, Any] | None = None
        self.done = False

    def wait_s(self) -> float:
        """Seconds until the next ask (infinite once the meeting has ended)."""
        return float("inf") if self.done else max(0.0, self._due - self._clock())

    async def change(self) -> dict[str, Any] | None:
        """The reach if it is due and differs from what the page was last sent, else None."""
        if self.done or self._clock() < self._due:
            return None
        self._due = self._clock() + self._interval_s
        try:
            reach = domain.meeting_reach(await self._fetch())
        except ProblemError:  # analytics away or busy now: ask again next time
            return None
        self.done = domain.reach_is_final(reach)
        if reach == self._last:
            return None
        self._last = reach
        return reach
