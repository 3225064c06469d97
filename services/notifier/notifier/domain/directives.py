"""The rules of a directive, as pure functions: what may be issued, what it says on the wire, and
how its scope divides into chunks the fan-out can finish and resume one at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from notifier.commands import IssueDirective
from notifier.domain import recurrence as rec
from notifier.domain.policy import SendingPolicy
from shared.orgtree.levels import level_of

OVERRIDE_SCOPE = "directives:override-quiet-hours"
OVERRIDE_LEVELS = ("national", "state")
OVERRIDE_FORBIDDEN = "override-forbidden"


@dataclass(frozen=True)
class Refusal:
    status: int
    kind: str
    title: str
    detail: str


def refusal(cmd: IssueDirective, now: datetime, policy: SendingPolicy | None = None) -> Refusal | None:
    """Why this directive may not be issued (beyond auth, unknown units and other directives'
    rounds), or None."""
    if cmd.expires_at <= now:
        return Refusal(422, "expiry-in-past", "The expiry is in the past",
                       "expires_at must be later than now; a directive that has expired is never sent.")
    if cmd.send_at is not None and cmd.send_at >= cmd.expires_at:
        return Refusal(422, "send-after-expiry", "The directive would expire before it is sent",
                       "send_at must be earlier than expires_at.")
    if cmd.override_reason is not None and cmd.priority != "urgent":
        return Refusal(422, "override-not-allowed", "Only urgent directives may override quiet hours",
                       "quiet_hours_override is for urgent internal directives; raise the priority or drop it.")
    if cmd.override_reason is not None and not may_override(cmd.issuing_unit, cmd.issuer_scopes):
        return Refusal(403, OVERRIDE_FORBIDDEN, "Only HQ or a state may override quiet hours",
                       f"quiet_hours_override needs the {OVERRIDE_SCOPE!r} scope, held by an organiser of the "
                       "nation or of a state.")
    if cmd.recurrence is not None:
        return recurrence_refusal(cmd, now, policy or SendingPolicy())
    return None


def may_override(unit: str, scopes: frozenset[str]) -> bool:
    """Lifting the quiet hours is HQ's or a state's call, and needs its own scope."""
    try:
        return OVERRIDE_SCOPE in scopes and level_of(unit) in OVERRIDE_LEVELS
    except ValueError:  # not a unit at all
        return False


QUIET_CHECK_SLOTS = 200  # enough to meet every time of day and weekday of any rule allowed


def recurrence(cmd: IssueDirective) -> rec.Recurrence | None:
    """The parsed rule (the command's was validated at issue)."""
    if cmd.recurrence is None:
        return None
    return rec.parse(cmd.recurrence["rrule"], cmd.recurrence["timezone"], cmd.recurrence.get("until"))


def recurrence_refusal(cmd: IssueDirective, now: datetime, policy: SendingPolicy) -> Refusal | None:
    try:
        rule = recurrence(cmd)
    except rec.InvalidRecurrence as exc:
        return Refusal(422, "invalid-recurrence", "The recurrence cannot be scheduled", f"{exc}.")
    start = max(cmd.send_at or now, now)
    slots = []
    for slot in rule.slots(start, cmd.expires_at):
        slots.append(slot)
        if len(slots) >= QUIET_CHECK_SLOTS:
            break
    if not slots:
        return Refusal(422, "no-rounds", "The recurrence has no slot before it ends",
                       "No slot of the rule falls between the start (send_at or now) and the earlier of "
                       "recurrence.until and expires_at.")
    if cmd.override_reason is None:
        quiet = [s for s in slots if policy.opens_at(s, campaign=True, booth_id="")]
        if quiet:
            local = quiet[0].astimezone(policy.timezone).strftime("%H:%M:%S")
            return Refusal(422, "round-in-quiet-hours", "A round falls in quiet hours",
                           f"The slot at {local} ({policy.timezone.key}) is inside the sending window's quiet hours, "
                           "when campaign messages may not go; move it, or (urgent only) give quiet_hours_override.")
    return None


def scopes_overlap(a: list[str] | tuple[str, ...], b: list[str] | tuple[str, ...]) -> bool:
    """Whether some booth is in both scopes: one unit is the other or lies under it (unit ids
    extend their parent's, so this needs no lookup)."""
    return any(x == y or x.startswith(y + "-") or y.startswith(x + "-") for x in a for y in b)


def rounds_per_day_refusal(cmd: IssueDirective, others: list[dict]) -> Refusal | None:
    """At most six rounds a day reach any unit, counting the recurring directives already running
    whose scope overlaps this one's (as if their slots fell on the same day: the safe reading)."""
    rule = recurrence(cmd)
    if rule is None:
        return None
    taken = [(d["_id"], rec.parse(d["recurrence"]["rrule"], d["recurrence"]["timezone"], None).per_day)
             for d in others if d.get("recurrence") and scopes_overlap(cmd.scope, d["scope"])]
    total = rule.per_day + sum(n for _, n in taken)
    if total <= rec.MAX_ROUNDS_PER_DAY:
        return None
    running = ", ".join(f"{i} ({n} a day)" for i, n in taken)
    return Refusal(422, "too-many-rounds", "Too many rounds a day for this scope",
                   f"This adds {rule.per_day} rounds a day to a scope that recurring directives {running} already "
                   f"reach; at most {rec.MAX_ROUNDS_PER_DAY} a day may reach a unit. Cancel one or use fewer slots.")


def event_data(cmd: IssueDirective, issued_at: datetime) -> dict:
    """The directive-issued event's data (the schema's every field, no other)."""
    return {
        "directive_id": cmd.directive_id, "issued_by": cmd.issued_by, "issuing_unit": cmd.issuing_unit,
        "title": dict(cmd.title), "body": dict(cmd.body), "scope": list(cmd.scope), "audience": list(cmd.audience),
        "channels": list(cmd.channels), "priority": cmd.priority,
        "send_at": cmd.send_at.isoformat() if cmd.send_at else None, "recurrence": _recurrence_data(cmd.recurrence),
        "expires_at": cmd.expires_at.isoformat(), "issued_at": issued_at.isoformat(),
    }


def _recurrence_data(given: dict | None) -> dict | None:
    if given is None:
        return None
    until = given.get("until")
    return {"rrule": rec.canonical(given["rrule"]), "timezone": given["timezone"],
            "until": until.isoformat() if until else None}


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
