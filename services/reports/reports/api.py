"""HTTP entrypoint of the reports service: translates requests to commands and refusals to
problems (docs/reports.md lists the calls).

Forms are designed by HQ or a state and read by the units above and inside their owner;
dispatches, answers and reviews only inside the caller's jurisdiction. Answers' free text and
reviewers' notes are stored and returned to those who may read them, never logged.
"""

import uuid
from dataclasses import asdict
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Annotated, Any, Literal

from anyio import to_thread
from fastapi import APIRouter, Depends, FastAPI, Response
from pydantic import BaseModel, ConfigDict, Field

from reports import commands, domain, followups, handlers, replies
from reports.answer_lane import AnswerLane
from reports.bootstrap import Adapters, bootstrap
from reports.directive_cadence import start_of
from reports.domain import Form, Round, Submission, Version
from reports.export_api import export_router
from reports.groups_api import groups_router
from reports.page import OPEN_PATHS, answer_router, keep_links_out_of_access_log
from reports.refusals import refusals_as_problems
from reports.replies_api import replies_router
from reports.settings import ReportsSettings
from shared.auth.http import Authenticator, Credentials, require_jurisdiction, token_of
from shared.auth.tokens import Principal
from shared.http import create_app
from shared.limits import BodyRules
from shared.orgtree.levels import overlap
from shared.problems import ProblemError, problems

UNIT = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
SUBMISSIONS = "/v1/dispatches/{dispatch_id}/submissions"
ANSWER_SCOPE = "reports:answer"
ROLE = r"^[a-z][a-z_]{1,39}$"

Labels = dict[Literal["hi", "en"], str]


class DraftWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Labels
    questions: list[dict[str, Any]] = Field(max_length=domain.MAX_QUESTIONS)


class FormCreate(DraftWrite):
    kind: Literal["feedback", "seva"]


class VersionRead(BaseModel):
    number: int
    status: Literal["draft", "published"]
    title: dict[str, str]
    questions: list[dict[str, Any]]
    published_at: datetime | None
    published_by: str | None
    replyable: bool = Field(description="answerable by an SMS/WhatsApp reply such as 1 3 250")
    reply_format: dict[str, str] | None = Field(description="how to reply ({en, hi}), if so")


class FormRead(BaseModel):
    form_id: str
    owner_unit: str
    kind: str
    versions: list[VersionRead]


class FormsRead(BaseModel):
    forms: list[FormRead]


class DispatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    form_id: uuid.UUID
    version: int | None = Field(None, ge=1, description="default: the latest published")
    scope: list[Annotated[str, Field(pattern=UNIT)]] = Field(min_length=1, max_length=1000)
    audience: list[Annotated[str, Field(pattern=ROLE)]] = Field(min_length=1, max_length=12)
    cadence: Literal["once", "daily", "twice_weekly", *domain.TIED] = "once"
    directive_id: uuid.UUID | None = Field(None, description="before/after_directive: which")
    offset_h: float = Field(0, ge=0, le=168, description="hours before/after the directive")
    weekdays: list[Literal[domain.WEEKDAYS]] = Field(default_factory=list, max_length=2)
    starts_on: date | None = Field(None, description="default: today (IST)")
    send_time: time | None = Field(None, description="IST; default now (once) or 09:00")
    due_after_h: float = Field(12, gt=0, le=168)
    remind_before_h: float = Field(2, ge=0, le=167)
    until: date | None = None


class FollowUpRead(BaseModel):
    step: str = Field(description="`remind` (the silent booths), or the level told of them")
    at: datetime = Field(description="When it is taken: a reminder held by the quiet hours moves")
    done: bool


class RoundRead(BaseModel):
    dispatch_id: str
    plan_id: str
    form_id: str
    form_version: int
    scope: list[str]
    audience: list[str]
    period_key: str
    send_at: datetime
    due_at: datetime
    remind_at: datetime
    booths_dispatched: int | None = None
    fanned_out: bool | None = None
    followups: list[FollowUpRead] | None = None


class PlanRead(BaseModel):
    plan_id: str
    cadence: str
    rounds: list[RoundRead]  # the rounds already due


class SubmissionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    submission_id: uuid.UUID = Field(description="Made by the client: a retry sends the same id")
    booth_id: str = Field(pattern=UNIT)
    answers: dict[Annotated[str, Field(max_length=40)], Any] = Field(
        max_length=domain.MAX_QUESTIONS
    )


class SubmissionRead(BaseModel):
    submission_id: str
    attempt: int
    late: bool
    status: str
    submitted_at: datetime
    answers: list[dict[str, Any]] | None = None
    reason: str | None = None
    note: str | None = None
    reviewed_at: datetime | None = None


class ReviewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    submission_id: uuid.UUID
    outcome: Literal["accepted", "rejected"]
    reason: Literal[domain.REJECTION_REASONS] | None = None
    note: str | None = Field(None, max_length=500)


class BoothReportRead(BaseModel):
    dispatch_id: str
    booth_id: str
    period_key: str
    form_id: str
    form_version: int
    submissions: list[SubmissionRead]


def create_reports_app(adapters: Adapters) -> FastAPI:
    settings = adapters.settings
    auth = Authenticator(settings)
    keep_links_out_of_access_log()

    def start() -> None:
        # Handlers wait for their group commit, not for a thread (anyio lends 40 by default):
        # the more answers wait together, the fewer round trips they take.
        to_thread.current_default_thread_limiter().total_tokens = settings.handler_threads
        adapters.start()

    dispatches = dispatches_router(adapters, auth)
    app = create_app(
        service=settings.service_name,
        settings=settings,
        checks=adapters.checks,
        routers=[
            forms_router(adapters, auth),
            dispatches,
            answer_router(adapters.ports, adapters.links.key, adapters.holders),
            replies_router(adapters, auth),
            groups_router(adapters.groups, auth),
            export_router(adapters.export, auth),
        ],
        bodies=BodyRules(open_paths=OPEN_PATHS),
        on_startup=start,
        on_shutdown=adapters.stop,
    )
    # An ordinary answer skips FastAPI's routing and dependencies (reports/answer_lane.py).
    answers = next(r for r in dispatches.routes if getattr(r, "path", "") == SUBMISSIONS)
    lane = AnswerLane(
        answers,
        SubmissionCreate,
        ANSWER_SCOPE,
        auth,
        answers.endpoint,
        on_loop=partial(submit_on_loop, adapters.ports),
    )
    app.router.routes.insert(0, lane)
    return app


def forms_router(adapters: Adapters, auth: Authenticator) -> APIRouter:
    router = APIRouter(prefix="/v1/forms", tags=["forms"])
    ports = adapters.ports
    Designer = Annotated[Principal, Depends(auth.organiser("reports:design"))]
    Reader = Annotated[Principal, Depends(auth.organiser("reports:read"))]
    refusals = problems(403, 404, 409, 503)

    @router.post("", status_code=201, response_model=FormRead, responses=problems(403, 503))
    def design(body: FormCreate, who: Designer) -> FormRead:
        draft = {"title": body.title, "questions": body.questions}
        with refusals_as_problems():
            form = handlers.handle(commands.DesignForm(who.unit, body.kind, draft), ports)
        return form_read(form)

    @router.get("", response_model=FormsRead)
    def readable(who: Reader) -> FormsRead:
        return FormsRead(forms=[form_read(f) for f in ports.forms.readable_by(who.unit)])

    @router.get("/{form_id}", response_model=FormRead, responses=refusals)
    def read(form_id: uuid.UUID, who: Reader) -> FormRead:
        with refusals_as_problems():
            return form_read(handlers.readable_form(ports, str(form_id), who.unit))

    @router.get("/{form_id}/versions/{number}", response_model=VersionRead, responses=refusals)
    def read_version(form_id: uuid.UUID, number: int, who: Reader) -> VersionRead:
        with refusals_as_problems():
            version = handlers.readable_form(ports, str(form_id), who.unit).version(number)
        if version is None:
            raise ProblemError(404, "unknown-version", "No such version", f"no version {number}")
        return version_read(version)

    @router.put("/{form_id}/draft", response_model=VersionRead, responses=refusals)
    def revise(form_id: uuid.UUID, body: DraftWrite, who: Designer) -> VersionRead:
        draft = {"title": body.title, "questions": body.questions}
        with refusals_as_problems():
            command = commands.ReviseDraft(who.unit, str(form_id), draft)
            return version_read(handlers.handle(command, ports))

    @router.post("/{form_id}/publish", response_model=VersionRead, responses=refusals)
    def publish(form_id: uuid.UUID, who: Designer) -> VersionRead:
        with refusals_as_problems():
            command = commands.PublishForm(who.unit, str(form_id), who.subject)
            return version_read(handlers.handle(command, ports))

    @router.post(
        "/{form_id}/duplicate", status_code=201, response_model=FormRead, responses=refusals
    )
    def duplicate(form_id: uuid.UUID, who: Designer) -> FormRead:
        with refusals_as_problems():
            command = commands.DuplicateForm(who.unit, str(form_id))
            return form_read(handlers.handle(command, ports))

    return router


def dispatches_router(adapters: Adapters, auth: Authenticator) -> APIRouter:
    router = APIRouter(prefix="/v1/dispatches", tags=["dispatches"])
    ports = adapters.ports
    Dispatcher = Annotated[Principal, Depends(auth.organiser("reports:dispatch"))]
    Answerer = Annotated[Principal, Depends(auth.organiser(ANSWER_SCOPE))]
    Reviewer = Annotated[Principal, Depends(auth.organiser("reports:review"))]
    Reader = Annotated[Principal, Depends(auth.organiser("reports:read"))]
    refusals = problems(403, 404, 409, 503)

    @router.post("", status_code=201, response_model=PlanRead, responses=refusals)
    def dispatch(body: DispatchCreate, who: Dispatcher, credentials: Credentials) -> PlanRead:
        for unit in body.scope:
            require_jurisdiction(who, unit)
        starts_on, send_time = body.starts_on, body.send_time
        occurrences: tuple[datetime, ...] = ()
        if body.cadence in domain.TIED and body.directive_id is not None:
            with refusals_as_problems():
                sends = adapters.directives.tied_rounds(
                    body.cadence,
                    str(body.directive_id),
                    timedelta(hours=body.offset_h),
                    token_of(credentials),
                    ports.clock(),
                    body.until,
                )
            starts_on, send_time = start_of(sends[0])
            occurrences = sends if len(sends) > 1 else ()  # a recurring directive's rounds
        command = commands.PlanDispatch(
            unit=who.unit,
            by=who.subject,
            form_id=str(body.form_id),
            version=body.version,
            scope=tuple(body.scope),
            audience=tuple(body.audience),
            cadence=body.cadence,
            weekdays=tuple(body.weekdays),
            starts_on=starts_on,
            send_time=send_time,
            due_after_h=body.due_after_h,
            remind_before_h=body.remind_before_h,
            until=body.until,
            directive_id=str(body.directive_id) if body.directive_id else None,
            occurrences=occurrences,
        )
        with refusals_as_problems():
            plan, rounds = handlers.handle(command, ports)
        return PlanRead(
            plan_id=plan.plan_id, cadence=plan.cadence, rounds=[round_read(r) for r in rounds]
        )

    @router.get("/{dispatch_id}", response_model=RoundRead, responses=refusals)
    def read(dispatch_id: uuid.UUID, who: Reader) -> RoundRead:
        with refusals_as_problems():
            found = handlers.dispatch_round(ports, str(dispatch_id))
        # Those above the scope and those inside it (a district sees HQ's round for its booths).
        if not overlap([who.unit or ""], found.scope):
            require_jurisdiction(who, found.scope[0])
        read = round_read(found, adapters.rounds.progress(found.dispatch_id))
        done = adapters.followups.records.done_of(found.dispatch_id)
        steps = followups.schedule(found, done, adapters.followups.rules)
        read.followups = [FollowUpRead(step=s, at=at, done=d) for s, at, d in steps]
        return read

    @router.post(
        SUBMISSIONS.removeprefix(router.prefix),
        status_code=201,
        response_model=SubmissionRead,
        responses=problems(
            403, 404, 409, 503, kinds={409: "already-submitted: answered, and not rejected"}
        ),
    )
    def submit(dispatch_id: uuid.UUID, body: SubmissionCreate, who: Answerer) -> Response:
        command = _submit_command(dispatch_id, body, who)
        with refusals_as_problems():
            submission, new = handlers.handle(command, ports)
        return _submitted(submission, new)

    @router.post(
        "/{dispatch_id}/booths/{booth_id}/review",
        response_model=SubmissionRead,
        responses=refusals,
    )
    def review(
        dispatch_id: uuid.UUID,
        booth_id: str,
        body: ReviewCreate,
        who: Reviewer,
    ) -> SubmissionRead:
        require_jurisdiction(who, booth_id)
        if who.unit == booth_id:
            raise ProblemError(403, "own-booth", "Not allowed", "a booth does not review itself")
        command = commands.ReviewReport(
            str(dispatch_id),
            booth_id,
            str(body.submission_id),
            body.outcome,
            body.reason,
            body.note,
            who.subject,
        )
        with refusals_as_problems():
            return submission_read(handlers.handle(command, ports), full=True)

    @router.get(
        "/{dispatch_id}/booths/{booth_id}", response_model=BoothReportRead, responses=refusals
    )
    def booth_report(dispatch_id: uuid.UUID, booth_id: str, who: Reader) -> BoothReportRead:
        require_jurisdiction(who, booth_id)
        with refusals_as_problems():
            report = handlers.booth_report(ports, str(dispatch_id), booth_id)
        return BoothReportRead(
            dispatch_id=report.dispatch_id,
            booth_id=report.booth_id,
            period_key=report.period_key,
            form_id=report.form_id,
            form_version=report.form_version,
            submissions=[submission_read(s, full=True) for s in report.submissions],
        )

    return router


async def submit_on_loop(
    ports: handlers.Ports, dispatch_id: uuid.UUID, body: SubmissionCreate, who: Principal
) -> Response | None:
    """The submissions route for the answer lane, on the event loop where the handler can be
    (handlers.submit_first_report); None: the route itself is to run, in a thread."""
    command = _submit_command(dispatch_id, body, who)
    with refusals_as_problems():
        done = await handlers.submit_first_report(command, ports)
    return None if done is None else _submitted(*done)


def _submit_command(
    dispatch_id: uuid.UUID, body: SubmissionCreate, who: Principal
) -> commands.SubmitReport:
    require_jurisdiction(who, body.booth_id)
    return commands.SubmitReport(
        str(dispatch_id), body.booth_id, str(body.submission_id), body.answers, who.subject
    )


def _submitted(submission: Submission, new: bool) -> Response:
    # 200: the same submission, sent again. The read written here, as FastAPI would write the
    # response model, whose check and second thread hop (a `def` route's response is validated
    # in the thread pool) took a tenth of an answer's CPU at the morning peak.
    return _json(submission_read(submission), 201 if new else 200)


def _json(read: BaseModel, status: int) -> Response:
    """A response model's JSON, as FastAPI writes it (null fields included)."""
    return Response(read.model_dump_json(), status, media_type="application/json")


def form_read(form: Form) -> FormRead:
    return FormRead(
        form_id=form.form_id,
        owner_unit=form.owner_unit,
        kind=form.kind,
        versions=[version_read(v) for v in form.versions],
    )


def version_read(version: Version) -> VersionRead:
    return VersionRead(
        number=version.number,
        status="published" if version.published else "draft",
        title=version.title,
        questions=[asdict(q) for q in version.questions],
        published_at=version.published_at,
        published_by=version.published_by,
        replyable=replies.replyable(version),
        reply_format=replies.reply_format(version),
    )


def round_read(found: Round, progress: dict | None = None) -> RoundRead:
    fields = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(found).items()}
    if progress is not None:
        fields |= {"booths_dispatched": progress["booths"], "fanned_out": progress["done"]}
    return RoundRead(**fields)


def submission_read(submission: Submission, *, full: bool = False) -> SubmissionRead:
    read = SubmissionRead(
        submission_id=submission.submission_id,
        attempt=submission.attempt,
        late=submission.late,
        status=submission.status,
        submitted_at=submission.submitted_at,
    )
    if full:  # what the booth wrote, for those who review it
        read.answers = [asdict(a) for a in submission.answers]
        read.reason, read.note, read.reviewed_at = (
            submission.reason,
            submission.note,
            submission.reviewed_at,
        )
    return read


app = create_reports_app(bootstrap(ReportsSettings()))
