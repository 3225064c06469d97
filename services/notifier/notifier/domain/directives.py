"""The rules of a directive, as pure functions: what may be issued, what it says on the wire, and
how its scope divides into chunks the fan-out can finish and resume one at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from notifier.commands import IssueDirective


@dataclass(frozen=True)
class Refusal:
    status: int
    kind: str
    title: str
    detail: str


def refusal(cmd: IssueDirective, now: datetime) -> Refusal | None:
    """Why this directive may not be issued (beyond auth and unknown units), or None."""
    if cmd.expires_at <= now:
        return Refusal(422, "expiry-in-past", "The expiry is in the past",
                       "expires_at must be later than now; a directive that has expired is never sent.")
    if cmd.send_at is not None and cmd.send_at >= cmd.expires_at:
        return Refusal(422, "send-after-expiry", "The directive would expire before it is sent",
                       "send_at must be earlier than expires_at.")
    if cmd.override_reason is not None and cmd.priority != "urgent":
        return Refusal(422, "override-not-allowed", "Only urgent directives may override quiet hours",
                       "quiet_hours_override is for urgent internal directives; raise the priority or drop it.")
    return None


def event_data(cmd: IssueDirective, issued_at: datetime) -> dict:
    """The directive-issued event's data (the schema's every field, no other)."""
    return {
        "directive_id": cmd.directive_id, "issued_by": cmd.issued_by, "issuing_unit": cmd.issuing_unit,
        "title": dict(cmd.title), "body": dict(cmd.body), "scope": list(cmd.scope), "audience": list(cmd.audience),
        "channels": list(cmd.channels), "priority": cmd.priority,
        "send_at": cmd.send_at.isoformat() if cmd.send_at else None, "recurrence": None,
        "expires_at": cmd.expires_at.isoformat(), "issued_at": issued_at.isoformat(),
    }


def independent(scope: tuple[str, ...] | list[str]) -> list[str]:
    """The scope without units that lie under another unit of it (IN-HP covers IN-HP-D03), so
    no booth is fanned out twice. Unit ids extend their parent's, so this needs no lookup."""
    ordered = sorted(set(scope), key=lambda u: (u.count("-"), u))
    kept: list[str] = []
    for unit in ordered:
        if not any(unit == k or unit.startswith(k + "-") for k in kept):
            kept.append(unit)
    return sorted(kept)


def splits(unit_id: str) -> bool:
    """Whether the fan-out divides this unit into its children (one resumable chunk each):
    the nation into states and a state into districts; anything smaller is one chunk."""
    return unit_id.count("-") <= 1
