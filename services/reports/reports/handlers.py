"""One short function per command, and `handle`, the table that routes them. Handlers load, ask
the domain, and save through the ports; refusals are the domain's `Invalid` and `Refused`, or
`NotFound` here. Each save is a compare-and-set: on a concurrent write the change is made again on
what the other writer saved."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from typing import Any, TypeVar

from reports import commands, domain
from reports.domain import BoothReport, Form, Invalid, Plan, Refused, Round, Submission, Version
from reports.memo import Remembered
from reports.ports import ConcurrentUpdate, FormStore, PlanStore, ReportStore, RoundStore, Units
from shared.orgtree.levels import NATIONAL_ID, booth_path, is_within, outermost
from shared.sending.policy import IST

ATTEMPTS = 5
DEFAULT_SEND_TIME = time(9, 0)
T = TypeVar("T")


class NotFound(Exception):
    def __init__(self, kind: str, detail: str):
        self.kind, self.detail = kind, detail
        super().__init__(detail)


@dataclass
class Ports:
    forms: FormStore
    plans: PlanStore
    rounds: RoundStore
    reports: ReportStore
    units: Units
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    new_id: Callable[[], str] = lambda: str(uuid.uuid4())
    min_due_after: timedelta = timedelta(hours=1)  # the shortest due time a plan may set
    remembered: Remembered = field(default_factory=Remembered)


# --- forms -----------------------------------------------------------------------------------


def design_form(command: commands.DesignForm, ports: Ports) -> Form:
    form = Form.design(
        form_id=command.form_id or ports.new_id(),
        owner_unit=command.unit,
        kind=command.kind,
        draft=domain.parse_version(command.draft),
    )
    ports.forms.add(form)
    return form


def revise_draft(command: commands.ReviseDraft, ports: Ports) -> Version:
    draft = domain.parse_version(command.draft)
    return _change_form(
        ports, command.form_id, command.unit, lambda f: f.revise(draft.title, draft.questions)
    )


def publish_form(command: commands.PublishForm, ports: Ports) -> Version:
    at = ports.clock()
    return _change_form(
        ports, command.form_id, command.unit, lambda f: f.publish(by=command.by, at=at)
    )


def duplicate_form(command: commands.DuplicateForm, ports: Ports) -> Form:
    source = readable_form(ports, command.form_id, command.unit)
    copy = source.duplicate(form_id=ports.new_id(), owner_unit=command.unit)
    ports.forms.add(copy)
    return copy


def readable_form(ports: Ports, form_id: str, unit: str) -> Form:
    form = ports.forms.get(form_id)
    if form is None:
        raise NotFound("unknown-form", f"no form {form_id}")
    if not domain.may_read(form, unit):
        raise Refused("outside-jurisdiction", f"form {form_id} belongs to {form.owner_unit}")
    return form


def _change_form(ports: Ports, form_id: str, unit: str, change: Callable[[Form], T]) -> T:
    def load() -> Form:
        form = readable_form(ports, form_id, unit)
        if not domain.may_edit(form, unit):
            raise Refused("not-the-owner", f"only {form.owner_unit} changes form {form_id}")
        return form

    return _compare_and_set(load, change, ports.forms.save)


def load_builtin(ports: Ports, form: dict[str, Any], *, by: str = "sangathan") -> Version:
    """A built-in form from its YAML, owned by HQ: published as version 1 the first time, and as a
    new version whenever the file's questions or title changed."""
    form_id, kind = form["form_id"], form["kind"]
    wanted = domain.parse_version(form)
    if ports.forms.get(form_id) is None:
        design_form(commands.DesignForm(NATIONAL_ID, kind, form, form_id=form_id), ports)
    stored = ports.forms.get(form_id)
    latest = stored.latest
    if latest is not None and (latest.title, latest.questions) == (wanted.title, wanted.questions):
        return latest
    revise_draft(commands.ReviseDraft(NATIONAL_ID, form_id, form), ports)
    return publish_form(commands.PublishForm(NATIONAL_ID, form_id, by), ports)


# --- dispatch --------------------------------------------------------------------------------


def plan_dispatch(command: commands.PlanDispatch, ports: Ports) -> tuple[Plan, list[Round]]:
    """Record the plan and make the rounds already due (a dispatch for now goes out at once)."""
    form = readable_form(ports, command.form_id, command.unit)
    version = form.latest if command.version is None else form.version(command.version)
    if version is None or not version.published:
        raise Refused("unpublished-form", "only a published version of a form is dispatched")
    now = ports.clock()
    today = now.astimezone(IST).date()
    once_now = command.cadence == "once" and command.send_time is None
    send_time = now.astimezone(IST).time() if once_now else command.send_time
    plan = Plan(
        plan_id=ports.new_id(),
        form_id=form.form_id,
        form_version=version.number,
        owner_unit=form.owner_unit,
        scope=tuple(outermost(command.scope)),
        audience=tuple(dict.fromkeys(command.audience)),
        cadence=command.cadence,
        weekdays=tuple(command.weekdays),
        starts_on=command.starts_on or today,
        send_time=send_time or DEFAULT_SEND_TIME,
        due_after=timedelta(hours=command.due_after_h),
        remind_before=timedelta(hours=command.remind_before_h),
        dispatched_by=command.by,
        dispatched_at=now,
        until=command.until,
        directive_id=command.directive_id,
        occurrences=tuple(command.occurrences),
    )
    domain.check_plan(plan, ports.min_due_after)
    ports.plans.add(plan)
    return plan, _open_rounds(ports, plan, None, now)


def open_due_rounds(ports: Ports) -> int:
    """The scheduler's step: make every active plan's rounds whose time has come."""
    now = ports.clock()
    return sum(len(_open_rounds(ports, plan, last, now)) for plan, last in ports.plans.active())


def _open_rounds(ports: Ports, plan: Plan, last_day, now: datetime) -> list[Round]:
    rounds = domain.rounds_due(plan, last_day, now)
    if rounds:
        ports.rounds.add(rounds)
        day = rounds[-1].send_at.astimezone(IST).date()
        ports.plans.made_rounds_until(plan.plan_id, day, finished=domain.finished(plan, day))
    return rounds


def dispatch_round(ports: Ports, dispatch_id: str) -> Round:
    found = ports.remembered.rounds.get(dispatch_id, lambda: ports.rounds.get(dispatch_id))
    if found is None:
        raise NotFound("unknown-dispatch", f"no dispatch {dispatch_id}")
    return found


# --- answers and reviews ---------------------------------------------------------------------


def submit_report(command: commands.SubmitReport, ports: Ports) -> tuple[Submission, bool]:
    """(the submission, whether it is new): a retried submission id gives the first one back."""
    round_ = dispatch_round(ports, command.dispatch_id)
    path = _dispatched_booth(ports, round_, command.booth_id, asked=command.asked)
    version = version_of(ports, round_)
    answers = domain.judge_answers(version, command.answers)
    at = ports.clock()
    tries = iter(range(ATTEMPTS))

    def load() -> BoothReport:
        # Most booths answer once: the first try inserts without reading; a booth with a report
        # already (that insert is refused as a concurrent update) is read on the next try.
        stored = ports.reports.get(round_.dispatch_id, command.booth_id) if next(tries) else None
        return stored or _first_report(round_, command.booth_id, path)

    def submit(report: BoothReport) -> tuple[Submission, bool]:
        return _submitted(report, command, answers, at, round_)

    return _compare_and_set(load, submit, ports.reports.save, unchanged=lambda out: not out[1])


async def submit_first_report(
    command: commands.SubmitReport, ports: Ports
) -> tuple[Submission, bool] | None:
    """`submit_report` for the morning's ordinary answer, awaited on the event loop instead of
    run in a thread: the round and form version known to this process (remembered), the booth
    known or asked through the group commit, and the booth's first report inserted through it.
    None where anything else is needed (a read, or the booth has a report already): then
    `submit_report` (in a thread) does it all. Refusals are the same as submit_report's."""
    round_ = ports.remembered.rounds.known(command.dispatch_id, None)
    if round_ is None:
        return None
    version = ports.remembered.versions.known((round_.form_id, round_.form_version), None)
    if version is None:
        return None
    path = _in_scope(round_, command.booth_id)
    if not (command.asked or ports.remembered.booths.known(command.booth_id, None)):
        if not await ports.units.booth_exists_async(command.booth_id):
            raise _not_asked(round_, command.booth_id)
        ports.remembered.booths.remember(command.booth_id, True)
    answers = domain.judge_answers(version, command.answers)
    report = _first_report(round_, command.booth_id, path)
    submitted = _submitted(report, command, answers, ports.clock(), round_)
    try:
        await ports.reports.add_first(report)
    except ConcurrentUpdate:
        return None
    return submitted


def _first_report(round_: Round, booth_id: str, path: dict[str, str]) -> BoothReport:
    return BoothReport(
        round_.dispatch_id,
        booth_id,
        path,
        round_.period_key,
        round_.form_id,
        round_.form_version,
    )


def _submitted(
    report: BoothReport,
    command: commands.SubmitReport,
    answers: list,
    at: datetime,
    round_: Round,
) -> tuple[Submission, bool]:
    return report.submit(
        submission_id=command.submission_id,
        answers=answers,
        by=command.by,
        at=at,
        due_at=round_.due_at,
    )


def review_report(command: commands.ReviewReport, ports: Ports) -> Submission:
    if command.outcome not in ("accepted", "rejected"):
        raise Invalid([("outcome", "must be accepted or rejected")])
    at = ports.clock()
    return _compare_and_set(
        lambda: booth_report(ports, command.dispatch_id, command.booth_id),
        lambda report: report.review(
            submission_id=command.submission_id,
            outcome=command.outcome,
            reason=command.reason,
            note=command.note,
            by=command.by,
            at=at,
        ),
        ports.reports.save,
    )


def booth_report(ports: Ports, dispatch_id: str, booth_id: str) -> BoothReport:
    report = ports.reports.get(dispatch_id, booth_id)
    if report is None:
        raise NotFound("no-submission", f"booth {booth_id} has not answered dispatch {dispatch_id}")
    return report


def _dispatched_booth(
    ports: Ports, round_: Round, booth_id: str, *, asked: bool = False
) -> dict[str, str]:
    """The booth's path if the round asked it: inside its scope, and in the registry (unless the
    caller vouches that it was asked: see commands.SubmitReport)."""
    path = _in_scope(round_, booth_id)
    if not (
        asked
        or ports.remembered.booths.get(booth_id, lambda: ports.units.booth_exists(booth_id) or None)
    ):
        raise _not_asked(round_, booth_id)
    return path


def _in_scope(round_: Round, booth_id: str) -> dict[str, str]:
    """The booth's path, if it is a booth inside the round's scope."""
    path = booth_path(booth_id)
    if path is None or not any(is_within(booth_id, unit) for unit in round_.scope):
        raise _not_asked(round_, booth_id)
    return path


def _not_asked(round_: Round, booth_id: str) -> NotFound:
    return NotFound("not-dispatched", f"dispatch {round_.dispatch_id} did not ask {booth_id}")


def version_of(ports: Ports, round_: Round) -> Version:
    def read() -> Version | None:
        form = ports.forms.get(round_.form_id)
        return form.version(round_.form_version) if form else None

    key = (round_.form_id, round_.form_version)
    version = ports.remembered.versions.get(key, read, keep=lambda v: v.published)
    if version is None:
        raise NotFound("unknown-form", f"form {round_.form_id} v{round_.form_version} is gone")
    return version


def _compare_and_set(load, change, save, unchanged=lambda _: False):
    for _ in range(ATTEMPTS):
        document = load()
        outcome = change(document)
        if unchanged(outcome):
            return outcome
        try:
            save(document)
            return outcome
        except ConcurrentUpdate:
            continue
    raise ConcurrentUpdate("the document kept changing under this write")


HANDLERS: dict[type, Callable[[Any, Ports], Any]] = {
    commands.DesignForm: design_form,
    commands.ReviseDraft: revise_draft,
    commands.PublishForm: publish_form,
    commands.DuplicateForm: duplicate_form,
    commands.PlanDispatch: plan_dispatch,
    commands.SubmitReport: submit_report,
    commands.ReviewReport: review_report,
}


def handle(command: Any, ports: Ports) -> Any:
    return HANDLERS[type(command)](command, ports)
