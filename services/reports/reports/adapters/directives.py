"""A directive's scheduled time, read from the notifier with the dispatcher's own token:

    GET {NOTIFIER_URL}/v1/directives/{id}   (the organiser's bearer token, directives:issue)
    -> {send_at, issued_at, state, ...}; 403 outside the caller's jurisdiction, 404 unknown

So the notifier itself decides whether the directive is visible to the dispatcher (the rule of
whom a directive is shown to stays in one place), and reports keeps no copy of directives."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import httpx

from reports.directive_cadence import tied_start
from reports.domain import Refused
from reports.handlers import NotFound
from shared.problems import dependency_unavailable


class NotifierDirectives:
    def __init__(self, url: str, timeout_s: float):
        self.url = url.rstrip("/") + "/v1/directives/"
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s, connect=5.0))

    def tied_start(
        self, cadence: str, directive_id: str, offset: timedelta, bearer: str, now: datetime
    ) -> tuple[date, time]:
        """The day and send time (IST) of a round tied to the directive; the notifier away is a
        503 the dispatcher retries."""
        at, state = self.scheduled(directive_id, bearer)
        return tied_start(cadence, at, offset, state, now)

    def scheduled(self, directive_id: str, bearer: str) -> tuple[datetime, str]:
        """(when the directive goes out, its state), as the dispatcher may see it."""
        try:
            answer = self._client.get(
                self.url + directive_id, headers={"Authorization": f"Bearer {bearer}"}
            )
        except (httpx.TransportError, OSError):
            raise dependency_unavailable("notifier") from None
        if answer.status_code == 404:
            raise NotFound("unknown-directive", f"no directive {directive_id}")
        if answer.status_code in (401, 403):
            raise Refused(
                "outside-jurisdiction", f"directive {directive_id} is not visible to the caller"
            )
        if answer.status_code != 200:
            raise dependency_unavailable("notifier")
        directive = answer.json()
        at = directive.get("send_at") or directive["issued_at"]
        return datetime.fromisoformat(at), directive["state"]
