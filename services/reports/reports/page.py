"""The answer link's HTTP side: `GET /r/{token}` opens the booth's form (answer_page.py), and
`POST /r/{token}` (an HTML form post, or JSON `{submission_id, answers}` from an app) sends
`commands.SubmitReport` through the same handler as the organiser's API, with the appointee the
link names as `by`; the domain judges the answers, once.

The link is the only credential (answer_links.py): it answers its own booth's report for its own
round and nothing else. A forged or changed link is 403 `invalid-answer-link`, an expired one 410
`answer-link-expired`, one whose appointee no longer holds the post (revoked, replaced, erased:
reports/link_holders.py) 410 `answer-link-revoked`, checked on opening and on submitting, so
nothing is stored: a small HTML page for a browser, RFC 9457 JSON for an API client. The
submission id is made by the page once per load and kept in the browser's session storage, so a
submit retried on a slow network is one submission. Answers' free text is never logged.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reports import answer_links, answer_page, commands, handlers
from reports.answer_links import AnswerClaim, ExpiredAnswerLink, InvalidAnswerLink
from reports.domain import Invalid, Refused, Round, Version
from reports.handlers import Ports
from reports.link_holders import EndedAppointments, HolderGone, check_holder
from reports.ports import ConcurrentUpdate
from shared.orgtree.levels import is_within
from shared.problems import ProblemError, problems

OPEN_PATHS = (r"/r/[^/]+",)  # the link is the credential: no bearer token
FORM = "application/x-www-form-urlencoded"
_REFUSALS = {
    "invalid-answer-link": (403, "This answer link is not valid"),
    "answer-link-expired": (410, "This answer link has expired"),
    "answer-link-revoked": (410, "The post this answer link was sent for changed hands"),
    "not-found": (404, "Not found"),
    "answered": (409, "Already answered"),
    "busy": (503, "Busy"),
}


class AnswerLinksUnlogged(logging.Filter):
    """Keeps answer links out of uvicorn's access log: a link's path is its credential, and the
    answers' peak is thousands of requests a second (the request metrics still count them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not any(isinstance(a, str) and a.startswith("/r/") for a in args)


def keep_links_out_of_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, AnswerLinksUnlogged) for f in access.filters):
        access.addFilter(AnswerLinksUnlogged())


class LinkAnswer(BaseModel):
    """An app's answer through the link: the booth and the round are the link's own."""

    model_config = ConfigDict(extra="forbid")

    submission_id: uuid.UUID = Field(description="Made by the client: a retry sends the same id")
    answers: dict[str, Any] = Field(max_length=50)


class Refusal(Exception):
    def __init__(self, kind: str, detail: str, lang: str = "hi", page: str | None = None):
        self.kind, self.detail, self.lang, self.page = kind, detail, lang, page
        super().__init__(detail)


def _as_pages_too(responses: dict) -> dict:
    """A refusal is a small HTML page for a browser, the problem for a JSON client."""
    page = {"text/html": {"schema": {"type": "string"}}}
    return {status: {**r, "content": {**r["content"], **page}} for status, r in responses.items()}


def answer_router(
    ports: Ports,
    key: bytes,
    holders: EndedAppointments,
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> APIRouter:
    router = APIRouter(tags=["answer links"])
    responses = _as_pages_too(
        problems(
            403,
            404,
            409,
            410,
            422,
            503,
            kinds={403: "invalid-answer-link", 410: "answer-link-expired, answer-link-revoked"},
        )
    )

    @router.get("/r/{token}", response_class=HTMLResponse, responses=responses)
    async def open_link(token: str, request: Request, lang: str | None = None):
        try:
            claim = _claim(key, token, clock)
            lang = _lang(lang, claim)
            page, status = await run_in_threadpool(_open, ports, holders, claim, lang)
            return _html(page, status)
        except Refusal as refused:
            return _refused(refused, _wants_json(request))

    @router.post("/r/{token}", responses=responses)
    async def answer(token: str, request: Request, lang: str | None = None):
        as_json = request.headers.get("content-type", "").startswith("application/json")
        try:
            claim = _claim(key, token, clock)
            lang = _lang(lang, claim)
            body = await request.body()
            return await run_in_threadpool(_answer, ports, holders, claim, lang, body, as_json)
        except Refusal as refused:
            return _refused(refused, as_json)

    return router


def _claim(key: bytes, token: str, clock) -> AnswerClaim:
    try:
        return answer_links.read(key, token, clock())
    except InvalidAnswerLink:
        raise Refusal("invalid-answer-link", "the link was changed or not sent by us") from None
    except ExpiredAnswerLink as expired:
        raise Refusal("answer-link-expired", str(expired)) from None


def _lang(asked: str | None, claim: AnswerClaim) -> str:
    return asked if asked in answer_links.LOCALES else answer_links.locale_of(claim.locale)


def _still_held(holders: EndedAppointments, claim: AnswerClaim, lang: str) -> None:
    try:
        check_holder(claim.recipient_id, holders)
    except HolderGone as gone:
        title = answer_page.WORDS[lang]["link-closed"]
        page = answer_page.notice(lang, "answer-link-revoked", title=title)
        raise Refusal("answer-link-revoked", str(gone), lang, page) from None


def _open(
    ports: Ports, holders: EndedAppointments, claim: AnswerClaim, lang: str
) -> tuple[str, int]:
    _still_held(holders, claim, lang)
    return _form_page(ports, claim, lang)


def _asked(ports: Ports, claim: AnswerClaim, lang: str) -> tuple[Round, Version]:
    """The link's round and form version, read as the handler reads them (remembered: neither
    changes once made or published)."""
    no_round = Refusal("not-found", f"no dispatch {claim.dispatch_id} for this booth", lang)
    try:
        round_ = handlers.dispatch_round(ports, claim.dispatch_id)
    except handlers.NotFound:
        raise no_round from None
    if not any(is_within(claim.booth_id, unit) for unit in round_.scope):
        raise no_round
    try:
        return round_, handlers.version_of(ports, round_)
    except handlers.NotFound:
        raise Refusal("not-found", f"form {round_.form_id} is gone", lang) from None


def _form_page(
    ports: Ports, claim: AnswerClaim, lang: str, values=None, errors=None
) -> tuple[str, int]:
    round_, version = _asked(ports, claim, lang)
    report = ports.reports.get(claim.dispatch_id, claim.booth_id)
    submissions = report.submissions if report else []
    current = submissions[-1] if submissions else None
    title = version.title.get(lang) or version.title["en"]
    if current is not None and current.status != "rejected" and errors is None:
        return answer_page.answered(lang, title, current), 200
    page = answer_page.form(
        lang,
        version,
        due_at=round_.due_at,
        key=f"{claim.dispatch_id}:{claim.booth_id}:{len(submissions)}",
        submission_id=str(uuid.uuid4()),
        values=values,
        errors=errors,
        rejected=current if current is not None and current.status == "rejected" else None,
    )
    return page, 200 if errors is None else 422


def _answer(
    ports: Ports,
    holders: EndedAppointments,
    claim: AnswerClaim,
    lang: str,
    body: bytes,
    as_json: bool,
):
    _still_held(holders, claim, lang)
    _, version = _asked(ports, claim, lang)
    submission_id, answers, values = _read_body(version, body, as_json)
    # The link names the booth and the round under our signature: the round asked it.
    command = commands.SubmitReport(
        claim.dispatch_id, claim.booth_id, submission_id, answers, by=claim.recipient_id, asked=True
    )
    try:
        submission, new = handlers.handle(command, ports)
    except Invalid as bad:
        if as_json:
            errors = [{"field": f, "reason": r} for f, r in bad.errors]
            raise ProblemError(422, "invalid", "The answers are not valid", str(bad), errors=errors)
        by_question = {f.removeprefix("answers."): r for f, r in bad.errors}
        page, status = _form_page(ports, claim, lang, values, by_question)
        return _html(page, status)
    except Refused as refused:
        if refused.kind != "already-submitted":
            raise Refusal(refused.kind, refused.detail, lang) from None
        title = version.title.get(lang) or version.title["en"]
        page = answer_page.notice(lang, "answered", title=title)
        raise Refusal("answered", refused.detail, lang, page) from None
    except handlers.NotFound as missing:
        raise Refusal("not-found", missing.detail, lang) from None
    except ConcurrentUpdate:
        raise Refusal("busy", "others changed the same report meanwhile; try again", lang) from None
    status = 201 if new else 200
    if as_json:
        read = {
            "submission_id": submission.submission_id,
            "attempt": submission.attempt,
            "late": submission.late,
            "status": submission.status,
        }
        return JSONResponse(read, status, headers=answer_page.SECURITY_HEADERS)
    title = version.title.get(lang) or version.title["en"]
    return _html(answer_page.done(lang, title, submission), status)


def _read_body(version: Version, body: bytes, as_json: bool) -> tuple[str, dict, dict]:
    """(submission id, answers, the values to show again on a refusal)."""
    if as_json:
        try:
            sent = LinkAnswer.model_validate(json.loads(body or b"null"))
        except (ValueError, ValidationError) as bad:
            errors = _validation_errors(bad)
            raise ProblemError(
                422, "invalid", "The request is not valid", "see errors", errors=errors
            ) from None
        return str(sent.submission_id), sent.answers, sent.answers
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    try:
        submission_id = str(uuid.UUID(fields.get("_sid", [""])[0]))
    except ValueError:
        errors = [{"field": "_sid", "reason": "must be the page's submission id (a UUID)"}]
        raise ProblemError(
            422, "invalid", "The request is not valid", "no submission id", errors=errors
        ) from None
    values = {q: v if len(v) > 1 else v[0] for q, v in fields.items() if q != "_sid"}
    return submission_id, answer_page.answers_from_form(version, fields), values


def _validation_errors(bad: Exception) -> list[dict]:
    if isinstance(bad, ValidationError):
        return [
            {"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]} for e in bad.errors()
        ]
    return [{"field": "body", "reason": "is not JSON"}]


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "json" in accept and "text/html" not in accept


def _html(page: str, status: int) -> HTMLResponse:
    return HTMLResponse(page, status, headers=answer_page.SECURITY_HEADERS)


def _refused(refused: Refusal, as_json: bool):
    status, title = _REFUSALS.get(refused.kind, (409, "Refused"))
    headers = dict(answer_page.SECURITY_HEADERS)
    if status == 503:
        headers["Retry-After"] = "2"
    if as_json:
        raise ProblemError(status, refused.kind, title, refused.detail, headers=headers)
    kind = refused.kind if refused.kind in answer_page.WORDS["en"] else "not-found"
    page = refused.page or answer_page.notice(refused.lang, kind)
    return HTMLResponse(page, status, headers=headers)
