"""Field reports and booth WhatsApp groups as pure rules: what one event does to a booth's row,
and what that row adds to each unit above it. No I/O.

Counting, as docs/reports.md asks of a consumer:
- a booth is expected once per (dispatch, booth), however often report-dispatched repeats;
- a submission counts once per submission_id; a later attempt (an answer after a rejection)
  replaces the booth's earlier answer, so its options and numbers leave the counts as the new
  ones come in; an older attempt arriving late changes nothing;
- a review counts for the booth's current submission only, its latest outcome;
- a WhatsApp group or list is its latest state (by updated_at); a closed one counts no more.
Each rule compares with what the row holds, so a duplicate or replay finds itself applied.

Events come in batches (fold_reports): each event is judged against its booth's row as the
events before it in the batch left it, exactly as one at a time; each row changed is then
written once per batch, however many of its events the batch held (a booth's dispatch, answer
and review; a relay's repeat), and what the changed rows add to the rollups is summed per unit,
form and period before it changes them (rollup_deltas): a unit is changed once per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from analytics.coverage.domain import units_above
from analytics.coverage.partials import Tally
from shared.events import types

REPORT_TYPES = frozenset({types.REPORT_DISPATCHED, types.REPORT_SUBMITTED, types.REPORT_REVIEWED})
ACCEPTED, REJECTED = "accepted", "rejected"
# Levels whose rollups list their booths, for the silent ones: a mandal's is a list a person
# reads through, a state's is not. Index into units_above(): national 0 ... mandal 4, sector 5.
LISTING_LEVELS = frozenset({4, 5})
EXPECTED, SUBMITTED, LATE = 1, 2, 4  # a booth's flags in a listing rollup
YES, NO = "yes", "no"
GROUP, BROADCAST_LIST = "group", "broadcast_list"


def report_key(dispatch_id: str, booth_id: str) -> str:
    return f"{dispatch_id}|{booth_id}"


def rollup_ident(form_id: str, period_key: str, unit_id: str) -> str:
    return f"{form_id}|{period_key}|{unit_id}"


def split_rollup_ident(ident: str) -> tuple[str, str, str]:
    form_id, period_key, unit_id = ident.split("|")
    return form_id, period_key, unit_id


# --- what a booth's answer says ------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """A booth's current submission for a dispatch, as counted: picks, numbers, review."""

    submission_id: str
    attempt: int
    late: bool
    picks: tuple[tuple[str, str], ...] = ()  # (question, option); yes/no as options yes and no
    numbers: tuple[tuple[str, float], ...] = ()
    outcome: str | None = None
    reviewed_at: float | None = None

    @classmethod
    def from_event(cls, data: Mapping) -> Answer:
        picks: list[tuple[str, str]] = []
        numbers: list[tuple[str, float]] = []
        # Only answers present count: a question hidden by its show-if is absent from the event.
        for answer in data["answers"]:
            question = answer["question_id"]
            picks.extend((question, option) for option in answer["option_ids"] or ())
            if answer["yes"] is not None:
                picks.append((question, YES if answer["yes"] else NO))
            if answer["number"] is not None:
                numbers.append((question, answer["number"]))
        return cls(
            data["submission_id"], data["attempt"], data["late"], tuple(picks), tuple(numbers)
        )


@dataclass(frozen=True)
class BoothReport:
    """One booth's part in one dispatch: asked or not, its current answer, submissions seen."""

    dispatch_id: str
    booth_id: str
    form_id: str
    form_version: int
    period_key: str
    units: tuple[str, ...]  # national, state, district, assembly, mandal, sector
    dispatched: bool = False
    answer: Answer | None = None
    seen: tuple[str, ...] = ()  # submission ids counted: a replay of one is a duplicate

    @classmethod
    def of(cls, data: Mapping) -> BoothReport:
        """A booth's row before its first event (report-dispatched or report-submitted)."""
        return cls(
            data["dispatch_id"],
            data["booth_id"],
            data["form_id"],
            data.get("form_version", 1),
            data["period_key"],
            units_above(data["booth_path"]),
        )

    def apply(self, event_type: str, data: Mapping, at: float) -> BoothReport:
        """The row after the event; the very same row when it changes nothing."""
        if event_type == types.REPORT_DISPATCHED:
            return self if self.dispatched else replace(self, dispatched=True)
        if event_type == types.REPORT_SUBMITTED:
            return self.submit(Answer.from_event(data))
        return self.review(data["submission_id"], data["outcome"], at)

    def submit(self, answer: Answer) -> BoothReport:
        if answer.submission_id in self.seen:
            return self
        seen = (*self.seen, answer.submission_id)
        if self.answer is not None and answer.attempt <= self.answer.attempt:
            return replace(self, seen=seen)  # an older attempt late: remembered, not counted
        return replace(self, answer=answer, seen=seen)

    def review(self, submission_id: str, outcome: str, at: float) -> BoothReport:
        current = self.answer
        if current is None or current.submission_id != submission_id:
            return self  # a review of an answer since replaced, or not seen yet
        if current.outcome == outcome or (current.reviewed_at or 0) > at:
            return self
        return replace(self, answer=replace(current, outcome=outcome, reviewed_at=at))

    def flags(self) -> int:
        flags = EXPECTED if self.dispatched else 0
        if self.answer is not None:
            flags |= SUBMITTED | (LATE if self.answer.late else 0)
        return flags

    def counts(self) -> ReportCounts:
        """What the booth adds to a unit's rollup."""
        answer = self.answer
        counts = ReportCounts(expected=int(self.dispatched), versions={self.form_version: 1})
        if answer is None:
            return counts
        counts.submitted, counts.late = 1, int(answer.late)
        counts.accepted, counts.rejected = (
            int(answer.outcome == ACCEPTED),
            int(answer.outcome == REJECTED),
        )
        for question, option in answer.picks:
            counts.options.setdefault(question, {})[option] = 1
        for question, number in answer.numbers:
            counts.sums[question] = counts.sums.get(question, 0) + number
        return counts


def report_contributions(report: BoothReport) -> list[tuple[str, ReportCounts]]:
    """What a booth adds to each unit above it for its form and period, nation to sector (a
    mandal and a sector also list the booth). Contributions are only read, never changed, so
    the levels share one."""
    plain = report.counts()
    listed = replace(plain, booths={report.booth_id: report.flags()})
    return [
        (
            rollup_ident(report.form_id, report.period_key, unit),
            listed if level in LISTING_LEVELS else plain,
        )
        for level, unit in enumerate(report.units)
    ]


@dataclass
class ReportCounts(Tally):
    """A unit's rollup for one form and period, or a part of it. Additive: a booth's old
    contribution subtracted and its new one added is the booth's answer replaced."""

    expected: int = 0
    submitted: int = 0
    late: int = 0
    accepted: int = 0
    rejected: int = 0
    options: dict[str, dict[str, int]] = field(default_factory=dict)
    sums: dict[str, float] = field(default_factory=dict)
    versions: dict[int, int] = field(default_factory=dict)  # form version -> booths asked it
    booths: dict[str, int] = field(default_factory=dict)  # mandal and below: booth -> flags

    NUMBERS = ("expected", "submitted", "late", "accepted", "rejected")

    def add(self, other: ReportCounts, sign: int = 1) -> None:
        # Spelled out, not Tally's loop over NUMBERS: a morning's answer adds ~9 of these.
        self.expected += sign * other.expected
        self.submitted += sign * other.submitted
        self.late += sign * other.late
        self.accepted += sign * other.accepted
        self.rejected += sign * other.rejected
        if other.options:
            options = self.options
            for question, picked in other.options.items():
                mine = options.get(question)
                if mine is None:
                    mine = options[question] = {}
                _add_counts(mine, picked, sign)
                if not mine:
                    del options[question]
        if other.sums:
            _add_counts(self.sums, other.sums, sign)
        if other.versions:
            _add_counts(self.versions, other.versions, sign)
        # A booth is in one partial once: its old flags leave (sign -1) as its new ones come.
        for booth, flags in other.booths.items():
            if sign > 0:
                self.booths[booth] = flags
            elif self.booths.get(booth) == flags:
                del self.booths[booth]

    @property
    def form_version(self) -> int | None:
        return max(self.versions) if self.versions else None

    def silent_booths(self) -> list[str]:
        return sorted(b for b, flags in self.booths.items() if flags == EXPECTED)

    def copy(self) -> ReportCounts:
        return replace(
            self,
            options={q: dict(o) for q, o in self.options.items()},
            sums=dict(self.sums),
            versions=dict(self.versions),
            booths=dict(self.booths),
        )

    def to_json(self) -> dict:
        return {
            **self.numbers(),
            "options": self.options,
            "sums": self.sums,
            "versions": {str(v): n for v, n in self.versions.items()},
            "booths": self.booths,
        }

    @classmethod
    def from_json(cls, data: Mapping) -> ReportCounts:
        return cls(
            **{name: data.get(name, 0) for name in cls.NUMBERS},
            options={q: dict(o) for q, o in data.get("options", {}).items()},
            sums=dict(data.get("sums", {})),
            versions={int(v): n for v, n in data.get("versions", {}).items()},
            booths=dict(data.get("booths", {})),
        )


def _add_counts(mine: dict, other: Mapping, sign: int) -> None:
    for key, n in other.items():
        value = mine.get(key, 0) + sign * n
        if value:
            mine[key] = value
        else:
            mine.pop(key, None)


def tidy_number(value: float) -> int | float:
    """A sum as people write it: 250, not 250.0."""
    return int(value) if float(value).is_integer() else round(value, 6)


# --- a batch of report events -------------------------------------------------------------------

COUNTED, DUPLICATE, UNMATCHED = "counted", "duplicate", "unmatched"


@dataclass(frozen=True)
class ReportEvent:
    """A report event that passed its contract and names its own booth's place in the tree."""

    type: str
    data: Mapping
    at: float  # the event's time, seconds since the epoch


@dataclass(frozen=True)
class Refused:
    """An event that cannot be counted where it says: dead-lettered with why."""

    problem: str


@dataclass
class Folded:
    """What a batch did: each event's outcome, in order (counted, duplicate, unmatched or
    Refused), and each row it changed, as it was before the batch and after it."""

    outcomes: list[str | Refused]
    changed: dict[str, tuple[BoothReport | None, BoothReport]]


def fold_reports(
    events: Iterable[ReportEvent], current: Callable[[str], BoothReport | None]
) -> Folded:
    """A batch of report events over the booths' rows (`current`: a row as stored before the
    batch, or None): the same outcomes and rows as the events one at a time, so duplicates
    within the batch and across batches count once."""
    outcomes: list[str | Refused] = []
    before: dict[str, BoothReport | None] = {}
    rows: dict[str, BoothReport | None] = {}
    for event in events:
        data = event.data
        key = report_key(data["dispatch_id"], data["booth_id"])
        if key not in rows:
            before[key] = rows[key] = current(key)
        row = rows[key]
        problem = another_round(row, data)
        if problem:
            outcomes.append(Refused(problem))
            continue
        if row is None and event.type == types.REPORT_REVIEWED:
            outcomes.append(UNMATCHED)  # a review of an answer never counted
            continue
        start = row if row is not None else BoothReport.of(data)
        after = start.apply(event.type, data, event.at)
        if after is start and row is not None:
            outcomes.append(DUPLICATE)
            continue
        rows[key] = after
        outcomes.append(COUNTED)
    changed = {
        key: (before[key], row)
        for key, row in rows.items()
        if row is not None and row is not before[key]
    }
    return Folded(outcomes, changed)


def rollup_deltas(
    changes: Iterable[tuple[int, BoothReport | None, BoothReport]],
) -> dict[int, dict[str, ReportCounts]]:
    """What a batch's changed rows ((partition, row before or None, row after)) add to each unit's
    rollup, per partition: their new contributions less their old, summed per unit, form and
    period (a mandal and a sector also list each booth's new flags). Summed bottom-up, sector to
    nation, so a unit many of the batch's booths share is added to once, not once per booth."""
    level: dict[tuple[int, str, str, tuple[str, ...]], ReportCounts] = {}
    for partition, before, after in changes:
        delta = after.counts()
        if before is not None:
            delta.add(before.counts(), -1)
        delta.booths = {after.booth_id: after.flags()}
        _add_into(level, (partition, after.form_id, after.period_key, after.units), delta)
    deltas: dict[int, dict[str, ReportCounts]] = {}
    while level:
        above: dict[tuple[int, str, str, tuple[str, ...]], ReportCounts] = {}
        for (partition, form_id, period_key, units), delta in level.items():
            if len(units) - 1 not in LISTING_LEVELS:
                delta.booths = {}
            deltas.setdefault(partition, {})[rollup_ident(form_id, period_key, units[-1])] = delta
            if len(units) > 1:
                _add_into(above, (partition, form_id, period_key, units[:-1]), delta)
        level = above
    return deltas


def _add_into(sums: dict, key: tuple, delta: ReportCounts) -> None:
    total = sums.get(key)
    if total is None:
        total = sums[key] = ReportCounts()
    total.add(delta)


def another_round(row: BoothReport | None, data: Mapping) -> str | None:
    """A booth's events of one dispatch name one form and period; anything else is not ours."""
    if row is None or (row.form_id, row.period_key) == (data["form_id"], data["period_key"]):
        return None
    return (
        f"dispatch {data['dispatch_id']} is form {row.form_id} for {row.period_key}, "
        f"not {data['form_id']} for {data['period_key']}"
    )


# --- booth WhatsApp groups -----------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    kind: str
    members: int
    active: bool
    updated_at: float


@dataclass(frozen=True)
class BoothGroups:
    """A booth's WhatsApp groups and broadcast lists, each its latest state."""

    booth_id: str
    units: tuple[str, ...]
    groups: Mapping[str, Group] = field(default_factory=dict)

    def apply(self, group_id: str, data: Mapping) -> BoothGroups:
        """The booth after the update; the same booth for a duplicate or an older state."""
        at = datetime.fromisoformat(data["updated_at"]).timestamp()
        known = self.groups.get(group_id)
        if known is not None and known.updated_at >= at:
            return self
        group = Group(data["kind"], data["members"], data["active"], at)
        return replace(self, groups={**self.groups, group_id: group})

    def counts(self) -> WhatsAppCounts:
        live = [g for g in self.groups.values() if g.active]
        groups = [g for g in live if g.kind == GROUP]
        lists = [g for g in live if g.kind == BROADCAST_LIST]
        return WhatsAppCounts(
            booths_with_group=int(bool(groups)),
            members_reached=sum(g.members for g in groups),
            broadcast_lists=len(lists),
            broadcast_recipients=sum(g.members for g in lists),
        )


def group_contributions(booth: BoothGroups) -> list[tuple[str, WhatsAppCounts]]:
    """What a booth's groups add to itself and each unit above it."""
    counts = booth.counts()
    return [(unit, counts) for unit in (*booth.units, booth.booth_id)]


@dataclass
class WhatsAppCounts(Tally):
    booths_with_group: int = 0
    members_reached: int = 0
    broadcast_lists: int = 0
    broadcast_recipients: int = 0

    NUMBERS = ("booths_with_group", "members_reached", "broadcast_lists", "broadcast_recipients")

    def copy(self) -> WhatsAppCounts:
        return replace(self)

    def to_json(self) -> dict:
        return self.numbers()

    @classmethod
    def from_json(cls, data: Mapping) -> WhatsAppCounts:
        return cls(**{name: data.get(name, 0) for name in cls.NUMBERS})
