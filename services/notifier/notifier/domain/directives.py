"""A directive and its rules: what may be issued, the states it goes through, its rounds when it
recurs, what it says on the wire, and how its scope divides into chunks the fan-out can finish and
resume one at a time. Pure: the store keeps a directive and makes each of its moves atomic.

    accepted -> scheduled -> sending -> sent      a recurring directive goes back to scheduled
    (any of the first three) -> cancelled        between rounds, and to sent after its last
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from notifier.commands import IssueDirective
from shared.orgtree.levels import level_of, overlap
from shared.sending import recurrence
from shared.sending.policy import SendingPolicy

OVERRIDE_SCOPE = "directives:override-quiet-hours"
OVERRIDE_LEVELS = ("national", "state")
OVERRIDE_FORBIDDEN = "override-forbidden"


class DuplicateDirective(Exception):
    """A directive with this id exists (an Idempotency-Key used again)."""


@dataclass(frozen=True)
class Refusal:
    status: int
    kind: str
    title: str
    detail: str


def refusal(
    cmd: IssueDirective, now: datetime, policy: SendingPolicy | None = None
) -> Refusal | None:
    """Why this directive may not be issued (beyond auth, unknown units and other directives'
    rounds), or None."""
    if cmd.expires_at <= now:
        return Refusal(
            422,
            "expiry-in-past",
            "The expiry is in the past",
            "expires_at must be later than now; a directive that has expired is never sent.",
        )
    if cmd.send_at is not None and cmd.send_at >= cmd.expires_at:
        return Refusal(
            422,
            "send-after-expiry",
            "The directive would expire before it is sent",
            "send_at must be earlier than expires_at.",
        )
    if cmd.override_reason is not None and cmd.priority != "urgent":
        return Refusal(
            422,
            "override-not-allowed",
            "Only urgent directives may override quiet hours",
            "quiet_hours_override is for urgent internal directives; "
            "raise the priority or drop it.",
        )
    if cmd.override_reason is not None and not may_override(cmd.issuing_unit, cmd.issuer_scopes):
        return Refusal(
            403,
            OVERRIDE_FORBIDDEN,
            "Only HQ or a state may override quiet hours",
            f"quiet_hours_override needs the {OVERRIDE_SCOPE!r} scope, held by an organiser of the "
            "nation or of a state.",
        )
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


def rule_of(cmd: IssueDirective) -> recurrence.Recurrence | None:
    """The parsed rule (the command's was validated at issue)."""
    if cmd.recurrence is None:
        return None
    return recurrence.parse(
        cmd.recurrence["rrule"], cmd.recurrence["timezone"], cmd.recurrence.get("until")
    )


def recurrence_refusal(cmd: IssueDirective, now: datetime, policy: SendingPolicy) -> Refusal | None:
    try:
        rule = rule_of(cmd)
    except recurrence.InvalidRecurrence as exc:
        return Refusal(422, "invalid-recurrence", "The recurrence cannot be scheduled", f"{exc}.")
    start = max(cmd.send_at or now, now)
    slots = []
    for slot in rule.slots(start, cmd.expires_at):
        slots.append(slot)
        if len(slots) >= QUIET_CHECK_SLOTS:
            break
    if not slots:
        return Refusal(
            422,
            "no-rounds",
            "The recurrence has no slot before it ends",
            "No slot of the rule falls between the start (send_at or now) and the earlier of "
            "recurrence.until and expires_at.",
        )
    if cmd.override_reason is None:
        quiet = [slot for slot in slots if policy.opens_at(slot, campaign=True, booth_id="")]
        if quiet:
            local = quiet[0].astimezone(policy.timezone).strftime("%H:%M:%S")
            return Refusal(
                422,
                "round-in-quiet-hours",
                "A round falls in quiet hours",
                f"The slot at {local} ({policy.timezone.key}) is inside the sending window's "
                "quiet hours, when campaign messages may not go; move it, or (urgent only) give "
                "quiet_hours_override.",
            )
    return None


def rounds_per_day_refusal(cmd: IssueDirective, running: Sequence[Directive]) -> Refusal | None:
    """At most six rounds a day reach any unit, counting the recurring directives already running
    whose scope overlaps this one's (as if their slots fell on the same day: the safe reading)."""
    rule = rule_of(cmd)
    if rule is None:
        return None
    taken = [
        (other.directive_id, other.rule().per_day)
        for other in running
        if other.recurring and overlap(cmd.scope, other.scope)
    ]
    total = rule.per_day + sum(n for _, n in taken)
    if total <= recurrence.MAX_ROUNDS_PER_DAY:
        return None
    named = ", ".join(f"{directive_id} ({per_day} a day)" for directive_id, per_day in taken)
    return Refusal(
        422,
        "too-many-rounds",
        "Too many rounds a day for this scope",
        f"This adds {rule.per_day} rounds a day to a scope that recurring directives {named} "
        f"already reach; at most {recurrence.MAX_ROUNDS_PER_DAY} a day may reach a unit. "
        "Cancel one or use fewer slots.",
    )


def event_data(cmd: IssueDirective, issued_at: datetime) -> dict:
    """The directive-issued event's data for a command issued at `issued_at`."""
    return Directive.issue(cmd, issued_at, event_id="").event_data()


def _recurrence_data(given: dict | None) -> dict | None:
    if given is None:
        return None
    until = given.get("until")
    return {
        "rrule": recurrence.canonical(given["rrule"]),
        "timezone": given["timezone"],
        "until": until.isoformat() if until else None,
    }


def splits(unit_id: str) -> bool:
    """Whether the fan-out divides this unit into its children (one resumable chunk each):
    the nation into states and a state into districts; anything smaller is one chunk."""
    return unit_id.count("-") <= 1


# --- the directive, its states and its rounds --------------------------------------------------

ACCEPTED, SCHEDULED, SENDING, SENT, CANCELLED = (
    "accepted",
    "scheduled",
    "sending",
    "sent",
    "cancelled",
)
CANCELLABLE = (ACCEPTED, SCHEDULED, SENDING)
CLOSED = (CANCELLED, SENT)  # nothing more goes out


@dataclass(frozen=True)
class Move:
    """A change of state, made only from one of `before`: the store checks and writes it in one
    atomic step, so of two workers moving one directive, one wins."""

    before: tuple[str, ...]
    after: str


SCHEDULE = Move((ACCEPTED,), SCHEDULED)  # waits for its send_at or its sending window
START = Move((ACCEPTED, SCHEDULED, SENDING), SENDING)  # fans out (again, when a fan-out resumes)
FINISH = Move((SENDING,), SENT)  # every chunk is on a lane
CANCEL = Move(CANCELLABLE, CANCELLED)
AWAIT_ROUND = Move((ACCEPTED, SCHEDULED), SCHEDULED)  # between rounds; a cancelled one stays so
CLAIM_ROUND = Move(CANCELLABLE, SENDING)  # a round begins

# A round's own states: sending -> done, or missed (its next slot came before it could go).
ROUND_SENDING, ROUND_DONE, ROUND_MISSED = "sending", "done", "missed"


@dataclass(frozen=True)
class Round:
    round_id: str  # its slot in UTC (shared.sending.recurrence.round_id)
    state: str
    slot: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    targeted: int | None = None


@dataclass(frozen=True)
class Override:
    """Quiet hours lifted for an urgent directive: why, by whom, when (audited where issued)."""

    reason: str
    by: str
    at: datetime


@dataclass(frozen=True)
class FollowUpsDone:
    reminded_at: datetime | None = None
    reminders: int | None = None  # recipients reminded
    escalated_at: datetime | None = None
    escalations: dict[str, int] | None = None  # sector -> booths still silent


@dataclass(frozen=True)
class Directive:
    directive_id: str
    issued_by: str
    issuing_unit: str
    title: dict[str, str]
    body: dict[str, str]
    scope: tuple[str, ...]
    audience: tuple[str, ...]
    channels: tuple[str, ...]  # in order of preference
    priority: str
    send_at: datetime | None
    expires_at: datetime
    issued_at: datetime
    recurrence: (
        dict | None
    )  # as directive-issued carries it: {"rrule", "timezone", "until": ISO | None}
    state: str = ACCEPTED
    rounds_start: datetime | None = (
        None  # rounds run (and COUNT counts) from here: send_at, or issue time
    )
    override: Override | None = None
    outbox_event_id: str = ""  # the directive-issued event written with it
    published: bool = False  # Kafka acknowledged that event
    rounds: Mapping[str, Round] = field(default_factory=dict)
    next_round_at: datetime | None = None
    fanned_out_at: datetime | None = None
    follow_ups: FollowUpsDone = field(default_factory=FollowUpsDone)

    @classmethod
    def issue(cls, cmd: IssueDirective, now: datetime, event_id: str) -> Directive:
        """A directive as accepted; `event_id` names the directive-issued event sent with it."""
        return cls(
            directive_id=cmd.directive_id,
            issued_by=cmd.issued_by,
            issuing_unit=cmd.issuing_unit,
            title=dict(cmd.title),
            body=dict(cmd.body),
            scope=tuple(cmd.scope),
            audience=tuple(cmd.audience),
            channels=tuple(cmd.channels),
            priority=cmd.priority,
            send_at=cmd.send_at,
            expires_at=cmd.expires_at,
            issued_at=now,
            recurrence=_recurrence_data(cmd.recurrence),
            rounds_start=max(cmd.send_at or now, now) if cmd.recurrence else None,
            override=Override(cmd.override_reason, cmd.issued_by, now)
            if cmd.override_reason
            else None,
            outbox_event_id=event_id,
        )

    # --- where it stands --------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.state in CLOSED

    def expired(self, now: float) -> bool:
        return self.expires_at.timestamp() <= now

    def sendable(self, now: float) -> bool:
        """Whether a fan-out (or a round) may still send it."""
        return not self.closed and not self.expired(now)

    def acknowledgeable(self, now: float) -> bool:
        return self.state != CANCELLED and not self.expired(now)

    def due(self, now: float) -> float:
        """When its (single) fan-out is due: its send_at, or now."""
        return max(now, self.send_at.timestamp() if self.send_at else now)

    @property
    def quiet_hours_lifted(self) -> bool:
        return self.override is not None

    @property
    def next_due(self) -> datetime | None:
        """The next round's slot, while the directive still waits for one."""
        return None if self.closed else self.next_round_at

    def event_data(self) -> dict:
        """The directive-issued event's data (the schema's every field, no other)."""
        return {
            "directive_id": self.directive_id,
            "issued_by": self.issued_by,
            "issuing_unit": self.issuing_unit,
            "title": dict(self.title),
            "body": dict(self.body),
            "scope": list(self.scope),
            "audience": list(self.audience),
            "channels": list(self.channels),
            "priority": self.priority,
            "send_at": self.send_at.isoformat() if self.send_at else None,
            "recurrence": self.recurrence,
            "expires_at": self.expires_at.isoformat(),
            "issued_at": self.issued_at.isoformat(),
        }

    # --- rounds -------------------------------------------------------------------------------

    @property
    def recurring(self) -> bool:
        return bool(self.recurrence)

    def rule(self) -> recurrence.Recurrence:
        given = self.recurrence or {}
        until = datetime.fromisoformat(given["until"]) if given.get("until") else None
        return recurrence.parse(given["rrule"], given["timezone"], until)

    def next_round(self, after: datetime | None) -> datetime | None:
        """The slot of its first round after `after` (its first round if None)."""
        return self.rule().next_slot(self.rounds_start, self.expires_at, after)

    def round_after_the_last(self) -> datetime | None:
        """The round after the last one recorded (its first, if none ran)."""
        ran = [recurrence.slot_of(round_id) for round_id in self.rounds]
        return self.next_round(after=max(ran, default=None))

    def catch_up_round(self, missed: datetime, now: datetime) -> datetime | None:
        return recurrence.catch_up(self.rule(), self.rounds_start, self.expires_at, missed, now)

    def round_state(self, round_id: str) -> str | None:
        found = self.rounds.get(round_id)
        return found.state if found else None


def fanout_job(directive_id: str, round_id: str | None = None) -> str:
    """A fan-out job's name: the directive id, and for a round `<directive id>@<round id>`."""
    return f"{directive_id}@{round_id}" if round_id else directive_id


def utc(at: datetime) -> datetime:
    """MongoDB hands datetimes back naive (in UTC)."""
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)
