"""Synthetic report dispatches, submissions, reviews and booth WhatsApp groups, as the reports
service publishes them (docs/reports.md), for the analytics tests and benchmark: schema-valid
events, booth-keyed, option ids and numbers only."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from shared.events import types as t
from shared.events.contracts import Event, new_event
from shared.orgtree.levels import booth_path

REPORTS_SOURCE = "/sangathan/reports"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def answer(
    question_id: str,
    *,
    options: list[str] | None = None,
    number: float | None = None,
    yes: bool | None = None,
    date: str | None = None,
    text: bool = False,
) -> dict:
    return {
        "question_id": question_id,
        "option_ids": options,
        "number": number,
        "yes": yes,
        "date": date,
        "text_given": text,
    }


@dataclass
class Round:
    """One dispatch of a form for a period, and the events of its booths."""

    period_key: str = "2024-11-23"
    form_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    form_version: int = 1
    dispatch_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def _booth(self, booth_id: str) -> dict:
        return {
            "dispatch_id": self.dispatch_id,
            "form_id": self.form_id,
            "booth_id": booth_id,
            "booth_path": booth_path(booth_id),
            "period_key": self.period_key,
        }

    def dispatched(self, booth_id: str) -> Event:
        now = _now()
        data = {
            **self._booth(booth_id),
            "form_version": self.form_version,
            "audience": ["booth_president"],
            "due_at": (now + timedelta(hours=12)).isoformat(),
            "remind_at": (now + timedelta(hours=10)).isoformat(),
            "dispatched_at": now.isoformat(),
        }
        # Derived from (dispatch, booth) as the reports service does: a resumed fan-out repeats it.
        event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.dispatch_id}/{booth_id}"))
        return new_event(t.REPORT_DISPATCHED, data, REPORTS_SOURCE, event_id=event_id)

    def submitted(
        self,
        booth_id: str,
        answers: list[dict],
        *,
        attempt: int = 1,
        late: bool = False,
        submission_id: str | None = None,
    ) -> Event:
        data = {
            **self._booth(booth_id),
            "submission_id": submission_id or str(uuid.uuid4()),
            "form_version": self.form_version,
            "submitted_by": "user-4821",
            "attempt": attempt,
            "late": late,
            "answers": answers,
            "submitted_at": _now().isoformat(),
        }
        return new_event(t.REPORT_SUBMITTED, data, REPORTS_SOURCE)

    def reviewed(self, submitted: Event, outcome: str, reason: str | None = None) -> Event:
        data = {
            **self._booth(submitted.data["booth_id"]),
            "submission_id": submitted.data["submission_id"],
            "outcome": outcome,
            "reason": reason if outcome == "rejected" else None,
            "reviewed_by": "user-9001",
            "reviewed_at": _now().isoformat(),
        }
        return new_event(t.REPORT_REVIEWED, data, REPORTS_SOURCE)


def group_updated(
    booth_id: str,
    members: int,
    *,
    kind: str = "group",
    active: bool = True,
    group_id: str | None = None,
    at: datetime | None = None,
) -> Event:
    data = {
        "group_id": group_id or str(uuid.uuid4()),
        "booth_id": booth_id,
        "booth_path": booth_path(booth_id),
        "kind": kind,
        "members": members,
        "active": active,
        "updated_by": "user-4821",
        "updated_at": (at or _now()).isoformat(),
    }
    return new_event(t.WHATSAPP_GROUP_UPDATED, data, REPORTS_SOURCE)
