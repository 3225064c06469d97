"""The rules of field reports, as pure functions and values. No I/O and no clock of its own:
callers pass the time, so every rule is testable.

A form is data: questions of six types, required flags, a simple show-if, labels in Hindi and
English. Its versions are immutable once published (a change is a new version); answers are
judged against the version they answer. A dispatch plan asks booths for answers once or on a
cadence; each round has a period key, a due time and a reminder time. A booth answers a round once
(a retried submit with the same client-made id is that same submission); a rejected answer may be
answered again, a late one is kept and marked.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from shared.orgtree.levels import is_within, level_of
from shared.sending.policy import IST

QUESTION_TYPES = ("single_choice", "multiple_choice", "number", "short_text", "yes_no", "date")
CHOICES = ("single_choice", "multiple_choice")
KINDS = ("feedback", "seva")
# A round tied to a directive is one round at the directive's time less or plus an offset: its
# pre- or post-plan feedback (reports/directive_cadence.py reads the directive's time). A recurring
# directive gets one per occurrence, at most one a day: the plan keeps their times (occurrences).
TIED = ("before_directive", "after_directive")
CADENCES = ("once", "daily", "twice_weekly", *TIED)
SINGLE = ("once", *TIED)  # cadences of one round
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
REJECTION_REASONS = ("incomplete", "implausible_numbers", "wrong_booth", "duplicate", "other")
DESIGNING_LEVELS = ("national", "state")
MAX_QUESTIONS = 50
MAX_OPTIONS = 50
# A round is due at most this long after it is sent (its answer links last this plus their grace).
MAX_DUE_AFTER = timedelta(days=7)
DEFAULT_TEXT_LENGTH = 200
SLUG = re.compile(r"[a-z][a-z0-9_]{0,39}")
# Dispatch ids of a plan's rounds are derived from the plan and the period, so a scheduler that
# runs twice (a restart, a second replica) names a round the same way and creates it once.
ROUNDS = uuid.UUID("6f1d3c2e-8a4b-4c5d-9e6f-7a8b9c0d1e2f")
# And report-submitted's ids from the submission (see submitted_event_id).
SUBMISSIONS = uuid.UUID("3b8e4f1a-7c2d-4e9b-a5f6-0d1c2b3a4e5f")


class Invalid(Exception):
    """Input that breaks the rules; `errors` lists (field, reason), never the value itself."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{f}: {r}" for f, r in errors))


class Refused(Exception):
    """A request the current state does not allow; `kind` names it for the caller."""

    def __init__(self, kind: str, detail: str):
        self.kind, self.detail = kind, detail
        super().__init__(detail)


# --- forms -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    id: str
    label: dict[str, str]  # {"hi": ..., "en": ...}


@dataclass(frozen=True)
class ShowIf:
    """Ask the question only when an earlier single-choice or yes/no question has this answer."""

    question: str
    equals: str | bool


@dataclass(frozen=True)
class Question:
    id: str
    type: str
    label: dict[str, str]
    required: bool = False
    options: tuple[Option, ...] = ()
    show_if: ShowIf | None = None
    min: float | None = None
    max: float | None = None
    max_length: int = DEFAULT_TEXT_LENGTH
    summed: bool = False  # a seva tally: its numbers are summed per unit and day

    def option_ids(self) -> list[str]:
        return [o.id for o in self.options]


@dataclass(frozen=True)
class Version:
    number: int
    title: dict[str, str]
    questions: tuple[Question, ...]
    published_at: datetime | None = None
    published_by: str | None = None

    @property
    def published(self) -> bool:
        return self.published_at is not None

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)


@dataclass
class Form:
    """A form and its versions; at most one draft, always the last version."""

    form_id: str
    owner_unit: str
    kind: str
    versions: list[Version]
    rev: int = 0
    outbox: list[dict] = field(default_factory=list)

    @classmethod
    def design(cls, *, form_id: str, owner_unit: str, kind: str, draft: Version) -> Form:
        if level_of(owner_unit) not in DESIGNING_LEVELS:
            raise Refused("not-a-designer", "only HQ or a state designs forms")
        if kind not in KINDS:
            raise Invalid([("kind", "must be one of " + ", ".join(KINDS))])
        return cls(form_id, owner_unit, kind, [replace(draft, number=1, published_at=None)])

    @property
    def draft(self) -> Version | None:
        last = self.versions[-1]
        return None if last.published else last

    @property
    def latest(self) -> Version | None:
        """The latest published version, which dispatches use by default."""
        return next((v for v in reversed(self.versions) if v.published), None)

    def version(self, number: int) -> Version | None:
        return next((v for v in self.versions if v.number == number), None)

    def revise(self, title: dict[str, str], questions: tuple[Question, ...]) -> Version:
        """Replace the draft, or start one after the latest published version (never touched)."""
        number = self.versions[-1].number + (0 if self.draft else 1)
        draft = Version(number, title, questions)
        if self.draft:
            self.versions[-1] = draft
        else:
            self.versions.append(draft)
        return draft

    def publish(self, *, by: str, at: datetime) -> Version:
        if self.draft is None:
            raise Refused("nothing-to-publish", "the form has no draft: every version is published")
        published = replace(self.draft, published_at=at, published_by=by)
        self.versions[-1] = published
        self.outbox.append(_event("form-published", form_published(self, published), at, 2))
        return published

    def duplicate(self, *, form_id: str, owner_unit: str) -> Form:
        source = self.draft or self.latest
        return Form.design(form_id=form_id, owner_unit=owner_unit, kind=self.kind, draft=source)


def may_read(form: Form, unit: str) -> bool:
    """A form is for its owner's subtree: those above it (HQ over a state) and inside it."""
    return is_within(unit, form.owner_unit) or is_within(form.owner_unit, unit)


def may_edit(form: Form, unit: str) -> bool:
    return is_within(form.owner_unit, unit)


def parse_version(raw: Mapping[str, Any]) -> Version:
    """A draft version from its data (an API body or a built-in YAML), or Invalid naming each
    field."""
    errors: list[tuple[str, str]] = []
    title = _labels(raw.get("title"), "title", errors)
    raw_questions = raw.get("questions")
    if not isinstance(raw_questions, list) or not 1 <= len(raw_questions) <= MAX_QUESTIONS:
        errors.append(("questions", f"must list 1 to {MAX_QUESTIONS} questions"))
        raw_questions = []
    questions: list[Question] = []
    seen: set[str] = set()  # ids of every earlier question, valid or not
    for i, item in enumerate(raw_questions):
        question = _question(item, f"questions[{i}]", questions, errors, seen)
        if question is not None:
            questions.append(question)
    if errors:
        raise Invalid(errors)
    return Version(0, title, tuple(questions))


def _labels(raw: Any, where: str, errors: list) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        errors.append((where, "must have hi and en"))
        return {}
    for language in ("hi", "en"):
        text = raw.get(language)
        if not isinstance(text, str) or not 1 <= len(text.strip()) <= 200:
            errors.append((f"{where}.{language}", "must be 1 to 200 characters"))
    return {k: v for k, v in raw.items() if k in ("hi", "en")}


def _question(
    raw: Any, where: str, earlier: list[Question], errors: list, seen: set[str]
) -> Question | None:
    if not isinstance(raw, Mapping):
        errors.append((where, "must be a question"))
        return None
    before = len(errors)
    qid, qtype = raw.get("id"), raw.get("type")
    if not isinstance(qid, str) or not SLUG.fullmatch(qid):
        errors.append((f"{where}.id", "must be a short id such as food_packets"))
    elif qid in seen:
        errors.append((f"{where}.id", "is used by an earlier question"))
    else:
        seen.add(qid)
    if qtype not in QUESTION_TYPES:
        errors.append((f"{where}.type", "must be one of " + ", ".join(QUESTION_TYPES)))
    label = _labels(raw.get("label"), f"{where}.label", errors)
    options = _options(raw.get("options"), qtype, where, errors)
    show_if = _show_if(raw.get("show_if"), where, earlier, errors)
    low, high = raw.get("min"), raw.get("max")
    for name, bound in (("min", low), ("max", high)):
        if bound is not None and (qtype != "number" or not _is_number(bound)):
            errors.append((f"{where}.{name}", "is a number question's bound"))
    if _is_number(low) and _is_number(high) and low > high:
        errors.append((f"{where}.min", "must not be above max"))
    summed = bool(raw.get("summed", False))
    if summed and qtype != "number":
        errors.append((f"{where}.summed", "only a number question is summed"))
    max_length = raw.get("max_length", DEFAULT_TEXT_LENGTH)
    if not isinstance(max_length, int) or not 1 <= max_length <= 1000:
        errors.append((f"{where}.max_length", "must be 1 to 1000"))
    if len(errors) > before:
        return None
    return Question(
        qid,
        qtype,
        label,
        bool(raw.get("required", False)),
        options,
        show_if,
        low,
        high,
        max_length,
        summed,
    )


def _options(raw: Any, qtype: Any, where: str, errors: list) -> tuple[Option, ...]:
    if qtype not in CHOICES:
        if raw:
            errors.append((f"{where}.options", "only choice questions have options"))
        return ()
    if not isinstance(raw, list) or not 2 <= len(raw) <= MAX_OPTIONS:
        errors.append((f"{where}.options", f"must list 2 to {MAX_OPTIONS} options"))
        return ()
    options: list[Option] = []
    for i, item in enumerate(raw):
        oid = item.get("id") if isinstance(item, Mapping) else None
        if not isinstance(oid, str) or not SLUG.fullmatch(oid):
            errors.append((f"{where}.options[{i}].id", "must be a short id such as good"))
            continue
        if any(o.id == oid for o in options):
            errors.append((f"{where}.options[{i}].id", "repeats an option"))
        options.append(
            Option(oid, _labels(item.get("label"), f"{where}.options[{i}].label", errors))
        )
    return tuple(options)


def _show_if(raw: Any, where: str, earlier: list[Question], errors: list) -> ShowIf | None:
    if raw is None:
        return None
    target = earlier_question = None
    if isinstance(raw, Mapping):
        target = raw.get("question")
        earlier_question = next((q for q in earlier if q.id == target), None)
    if earlier_question is None or earlier_question.type not in ("single_choice", "yes_no"):
        errors.append(
            (f"{where}.show_if.question", "must name an earlier single-choice or yes/no question")
        )
        return None
    equals = raw.get("equals")
    if earlier_question.type == "yes_no" and not isinstance(equals, bool):
        errors.append((f"{where}.show_if.equals", "must be true or false"))
    if earlier_question.type == "single_choice" and equals not in earlier_question.option_ids():
        errors.append((f"{where}.show_if.equals", f"must be an option of {target}"))
    return ShowIf(target, equals)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --- answers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One question's answer; `text` is free text, stored but never logged nor published."""

    question_id: str
    option_ids: tuple[str, ...] | None = None
    number: float | None = None
    yes: bool | None = None
    date: str | None = None
    text: str | None = None


def shown(question: Question, answers: Mapping[str, Any]) -> bool:
    return (
        question.show_if is None
        or answers.get(question.show_if.question) == question.show_if.equals
    )


def judge_answers(version: Version, raw: Mapping[str, Any]) -> tuple[Answer, ...]:
    """The answers of one submission, checked against the form version: each value of its
    question's type, every shown required question answered, no hidden or unknown question."""
    errors: list[tuple[str, str]] = []
    for qid in raw:
        if version.question(qid) is None:
            errors.append((f"answers.{qid}", "is not a question of this form version"))
    answers: list[Answer] = []
    for question in version.questions:
        where, value = f"answers.{question.id}", raw.get(question.id)
        if not shown(question, raw):
            if value is not None:
                errors.append(
                    (
                        where,
                        f"is not asked unless {question.show_if.question} is "
                        f"{question.show_if.equals}",
                    )
                )
            continue
        if value is None or value == "" or value == []:
            if question.required:
                errors.append((where, "is required"))
            continue
        answer, reason = _answer(question, value)
        if reason:
            errors.append((where, reason))
        else:
            answers.append(answer)
    if errors:
        raise Invalid(errors)
    return tuple(answers)


def _answer(q: Question, value: Any) -> tuple[Answer | None, str | None]:
    if q.type == "single_choice":
        if value not in q.option_ids():
            return None, "must be one of " + ", ".join(q.option_ids())
        return Answer(q.id, option_ids=(value,)), None
    if q.type == "multiple_choice":
        if (
            not isinstance(value, list)
            or len(set(value)) != len(value)
            or not set(value) <= set(q.option_ids())
        ):
            return None, "must list distinct options of " + ", ".join(q.option_ids())
        return Answer(q.id, option_ids=tuple(value)), None
    if q.type == "number":
        if not _is_number(value):
            return None, "must be a number"
        if (q.min is not None and value < q.min) or (q.max is not None and value > q.max):
            return None, f"must be between {_plain(q.min)} and {_plain(q.max)}"
        return Answer(q.id, number=value), None
    if q.type == "yes_no":
        return (
            (Answer(q.id, yes=value), None)
            if isinstance(value, bool)
            else (None, "must be true or false")
        )
    if q.type == "date":
        try:
            return Answer(q.id, date=date.fromisoformat(value).isoformat()), None
        except (TypeError, ValueError):
            return None, "must be a date, YYYY-MM-DD"
    if not isinstance(value, str) or len(value) > q.max_length:
        return None, f"must be text of at most {q.max_length} characters"
    return Answer(q.id, text=value), None


def _plain(bound: float | None) -> str:
    return "any" if bound is None else f"{bound:g}"


# --- dispatch: cadence, periods, rounds -------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What an organiser dispatched: a form version to the booths of a scope, on a cadence."""

    plan_id: str
    form_id: str
    form_version: int
    owner_unit: str  # the form's, so rounds need not look the form up
    scope: tuple[str, ...]
    audience: tuple[str, ...]
    cadence: str
    weekdays: tuple[str, ...]  # twice_weekly: the two days
    starts_on: date
    send_time: time
    due_after: timedelta
    remind_before: timedelta
    dispatched_by: str
    dispatched_at: datetime
    until: date | None = None
    directive_id: str | None = None  # a tied cadence's directive
    # A recurring directive's rounds: their send times, one a day at most (directive_cadence.py).
    occurrences: tuple[datetime, ...] = ()


def check_plan(plan: Plan, min_due_after: timedelta = timedelta(hours=1)) -> None:
    """`min_due_after`: an hour, unless a test's settings make it seconds."""
    errors: list[tuple[str, str]] = []
    if plan.cadence not in CADENCES:
        errors.append(("cadence", "must be one of " + ", ".join(CADENCES)))
    if plan.cadence == "twice_weekly" and (
        len(set(plan.weekdays)) != 2 or not set(plan.weekdays) <= set(WEEKDAYS)
    ):
        errors.append(("weekdays", "twice a week names two different days, e.g. mon and thu"))
    if plan.cadence != "twice_weekly" and plan.weekdays:
        errors.append(("weekdays", "only a twice-weekly dispatch names weekdays"))
    if (plan.cadence in TIED) != (plan.directive_id is not None):
        errors.append(("directive_id", "names the directive of a before/after-directive dispatch"))
    if not min_due_after <= plan.due_after <= MAX_DUE_AFTER:
        errors.append(
            ("due_after_h", f"must be {min_due_after / timedelta(hours=1):g} to 168 hours")
        )
    if not timedelta(0) <= plan.remind_before < plan.due_after:
        errors.append(("remind_before_h", "must be less than due_after_h"))
    if plan.until is not None and plan.until < plan.starts_on:
        errors.append(("until", "must not be before starts_on"))
    outside = [u for u in plan.scope if not is_within(u, plan.owner_unit)]
    if outside:
        errors.append(
            ("scope", f"{', '.join(outside)} is outside the form's owner {plan.owner_unit}")
        )
    if errors:
        raise Invalid(errors)


def period_key(plan: Plan, day: date) -> str:
    """The period a round answers for: its date, or for twice a week the ISO week and which of the
    week's two rounds (2024-W47-1, 2024-W47-2)."""
    if plan.cadence != "twice_weekly":
        return day.isoformat()
    year, week, weekday = day.isocalendar()
    days = sorted(WEEKDAYS.index(d) for d in plan.weekdays)
    return f"{year}-W{week:02d}-{days.index(weekday - 1) + 1}"


def round_days(plan: Plan, after: date | None, until: date) -> list[date]:
    """The plan's round days after `after` (None: from the start) up to `until`, inclusive."""
    first = plan.starts_on if after is None else max(plan.starts_on, after + timedelta(days=1))
    last = min(until, plan.until) if plan.until else until
    if plan.occurrences:
        return [day for day in _occurrence_days(plan) if first <= day <= last]
    if plan.cadence in SINGLE:
        return [plan.starts_on] if after is None and plan.starts_on <= last else []
    wanted = {WEEKDAYS.index(d) for d in plan.weekdays} if plan.cadence == "twice_weekly" else None
    days, day = [], first
    while day <= last:
        if wanted is None or day.weekday() in wanted:
            days.append(day)
        day += timedelta(days=1)
    return days


@dataclass(frozen=True)
class Round:
    """One dispatch: a plan's round for one period, asked of every booth of the scope."""

    dispatch_id: str
    plan_id: str
    form_id: str
    form_version: int
    scope: tuple[str, ...]
    audience: tuple[str, ...]
    period_key: str
    send_at: datetime
    due_at: datetime
    remind_at: datetime


def finished(plan: Plan, day: date) -> bool:
    """Whether the plan has no round after the one of `day`."""
    if plan.occurrences:
        return day >= _occurrence_days(plan)[-1]
    return plan.cadence in SINGLE


def _occurrence_days(plan: Plan) -> list[date]:
    return [at.astimezone(IST).date() for at in plan.occurrences]


def round_of(plan: Plan, day: date) -> Round:
    key = period_key(plan, day)
    send_at = datetime.combine(day, plan.send_time, IST)
    for at in plan.occurrences:
        if at.astimezone(IST).date() == day:
            send_at = at.astimezone(IST).replace(microsecond=0)
    due_at = send_at + plan.due_after
    return Round(
        str(uuid.uuid5(ROUNDS, f"{plan.plan_id}/{key}")),
        plan.plan_id,
        plan.form_id,
        plan.form_version,
        plan.scope,
        plan.audience,
        key,
        send_at,
        due_at,
        due_at - plan.remind_before,
    )


def rounds_due(plan: Plan, last_day: date | None, now: datetime) -> list[Round]:
    """The rounds whose send time has come and that were not made yet (made up to `last_day`)."""
    today = now.astimezone(IST).date()
    rounds = [round_of(plan, day) for day in round_days(plan, last_day, today)]
    return [r for r in rounds if r.send_at <= now]


def dispatched_event_id(dispatch_id: str, booth_id: str) -> str:
    """report-dispatched's id for one booth: derived, so a resumed fan-out repeats it exactly."""
    return str(uuid.uuid5(uuid.UUID(dispatch_id), booth_id))


def submitted_event_id(dispatch_id: str, booth_id: str, submission_id: str) -> str:
    """report-submitted's id for one submission: derived, so every attempt at storing the same
    submission (a client's retry, a write cut off and made again) names its event the same, and a
    consumer counts it once."""
    return str(uuid.uuid5(SUBMISSIONS, f"{dispatch_id}/{booth_id}/{submission_id}"))


# --- a booth's answers to one round ----------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    submission_id: str
    attempt: int
    answers: tuple[Answer, ...]
    submitted_by: str
    submitted_at: datetime
    late: bool
    status: str = "submitted"  # submitted | accepted | rejected
    reason: str | None = None
    note: str | None = None  # the reviewer's words: stored, never logged nor published
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None


@dataclass
class BoothReport:
    """A booth's submissions to one round, newest last; the document the outbox rides in."""

    dispatch_id: str
    booth_id: str
    booth_path: dict[str, str]
    period_key: str
    form_id: str
    form_version: int
    submissions: list[Submission] = field(default_factory=list)
    rev: int = 0
    outbox: list[dict] = field(default_factory=list)

    def find(self, submission_id: str) -> Submission | None:
        return next((s for s in self.submissions if s.submission_id == submission_id), None)

    def submit(
        self,
        *,
        submission_id: str,
        answers: tuple[Answer, ...],
        by: str,
        at: datetime,
        due_at: datetime,
    ) -> tuple[Submission, bool]:
        """(the submission, whether it is new). The same id again is that submission, unchanged."""
        known = self.find(submission_id)
        if known is not None:
            return known, False
        current = self.submissions[-1] if self.submissions else None
        if current is not None and current.status != "rejected":
            raise Refused(
                "already-submitted",
                "this booth has answered this report; "
                "a reviewer may reject the answer to allow another",
            )
        submission = Submission(
            submission_id, len(self.submissions) + 1, answers, by, at, late=at > due_at
        )
        self.submissions.append(submission)
        event_id = submitted_event_id(self.dispatch_id, self.booth_id, submission_id)
        data = report_submitted(self, submission)
        self.outbox.append(_event("report-submitted", data, at, event_id=event_id))
        return submission, True

    def review(
        self,
        *,
        submission_id: str,
        outcome: str,
        reason: str | None,
        note: str | None,
        by: str,
        at: datetime,
    ) -> Submission:
        current = self.submissions[-1] if self.submissions else None
        if current is None or current.submission_id != submission_id:
            raise Refused("not-current", "only the booth's latest submission can be reviewed")
        if current.status != "submitted":
            raise Refused("already-reviewed", f"the submission was {current.status} already")
        if outcome == "rejected" and reason not in REJECTION_REASONS:
            raise Invalid([("reason", "a rejection needs one of " + ", ".join(REJECTION_REASONS))])
        if outcome == "accepted":
            reason = None
        reviewed = replace(
            current, status=outcome, reason=reason, note=note, reviewed_by=by, reviewed_at=at
        )
        self.submissions[-1] = reviewed
        self.outbox.append(_event("report-reviewed", report_reviewed(self, reviewed), at))
        return reviewed


# --- events' data ----------------------------------------------------------------------------


def _event(
    name: str, data: dict, at: datetime, version: int = 1, *, event_id: str | None = None
) -> dict:
    return {
        "id": event_id or str(uuid.uuid4()),
        "type": f"org.sangathan.{name}.v{version}",
        "data": data,
        "time": at.isoformat(),
    }


def form_published(form: Form, version: Version) -> dict:
    """form-published.v2: v1's fields, and each question's and option's label (the form's text)."""
    return {
        "form_id": form.form_id,
        "version": version.number,
        "owner_unit": form.owner_unit,
        "kind": form.kind,
        "title": {"hi": version.title["hi"], "en": version.title["en"]},
        "questions": [
            {
                "question_id": q.id,
                "label": {"hi": q.label["hi"], "en": q.label["en"]},
                "type": q.type,
                "required": q.required,
                "option_ids": q.option_ids(),
                "options": [
                    {"option_id": o.id, "label": {"hi": o.label["hi"], "en": o.label["en"]}}
                    for o in q.options
                ],
                "summed": q.summed,
            }
            for q in version.questions
        ],
        "published_by": version.published_by,
        "published_at": version.published_at.isoformat(),
    }


def report_dispatched(
    round_: Round, booth_id: str, booth_path: dict[str, str], at: datetime
) -> dict:
    return {
        "dispatch_id": round_.dispatch_id,
        "form_id": round_.form_id,
        "form_version": round_.form_version,
        "booth_id": booth_id,
        "booth_path": booth_path,
        "audience": list(round_.audience),
        "period_key": round_.period_key,
        "due_at": round_.due_at.isoformat(),
        "remind_at": round_.remind_at.isoformat(),
        "dispatched_at": at.isoformat(),
    }


def report_submitted(report: BoothReport, submission: Submission) -> dict:
    return {
        **_booth_fields(report),
        "submission_id": submission.submission_id,
        "form_version": report.form_version,
        "submitted_by": submission.submitted_by,
        "attempt": submission.attempt,
        "late": submission.late,
        "answers": [
            {
                "question_id": a.question_id,
                "option_ids": list(a.option_ids) if a.option_ids is not None else None,
                "number": a.number,
                "yes": a.yes,
                "date": a.date,
                "text_given": a.text is not None,
            }
            for a in submission.answers
        ],
        "submitted_at": submission.submitted_at.isoformat(),
    }


def report_reviewed(report: BoothReport, submission: Submission) -> dict:
    return {
        **_booth_fields(report),
        "submission_id": submission.submission_id,
        "outcome": submission.status,
        "reason": submission.reason,
        "reviewed_by": submission.reviewed_by,
        "reviewed_at": submission.reviewed_at.isoformat(),
    }


def _booth_fields(report: BoothReport) -> dict:
    return {
        "dispatch_id": report.dispatch_id,
        "form_id": report.form_id,
        "booth_id": report.booth_id,
        "booth_path": report.booth_path,
        "period_key": report.period_key,
    }
