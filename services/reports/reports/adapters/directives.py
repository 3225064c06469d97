"""A directive's scheduled time, read from the notifier with the dispatcher's own token:

    GET {NOTIFIER_URL}/v1/directives/{id}   (the organiser's bearer token, directives:issue)
    -> {send_at, issued_at, state, expires_at, recurrence: {rrule, timezone, until} | null, ...};
    403 outside the caller's jurisdiction, 404 unknown

So the notifier itself decides whether the directive is visible to the dispatcher (the rule of
whom a directive is shown to stays in one place), and reports keeps no copy of directives."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import httpx

from reports.directive_cadence import TiedDirective, tied_rounds
from reports.domain import Refused
from reports.handlers import NotFound
from shared.problems import dependency_unavailable
from shared.sending import recurrence


class NotifierDirectives:
    def __init__(self, url: str, timeout_s: float):
        self.url = url.rstrip("/") + "/v1/directives/"
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s, connect=5.0))

    def tied_rounds(
        self,
        cadence: str,
        directive_id: str,
        offset: timedelta,
        bearer: str,
        now: datetime,
        until: date | None = None,
    ) -> tuple[datetime, ...]:
        """The send times of the rounds tied to the directive (one per occurrence of a recurring
        one); the notifier away is a 503 the dispatcher retries."""
        return tied_rounds(cadence, self.scheduled(directive_id, bearer), offset, now, until)

    def scheduled(self, directive_id: str, bearer: str) -> TiedDirective:
        """When the directive goes out, its state and recurrence, as the dispatcher may see it."""
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
        issued_at = datetime.fromisoformat(directive["issued_at"])
        at = datetime.fromisoformat(directive.get("send_at") or directive["issued_at"])
        given = directive.get("recurrence")
        if not given:
            return TiedDirective(at, directive["state"])
        until = datetime.fromisoformat(given["until"]) if given.get("until") else None
        try:
            rule = recurrence.parse(given["rrule"], given["timezone"], until)
        except recurrence.InvalidRecurrence:
            raise dependency_unavailable("notifier") from None  # the notifier accepted it
        # The notifier's rounds run from send_at, or from the issue when send_at was before it.
        return TiedDirective(
            max(at, issued_at),
            directive["state"],
            rule,
            datetime.fromisoformat(directive["expires_at"]),
        )
