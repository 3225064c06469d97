"""HTTP route of the spreadsheet export (docs/reports.md): a unit's answers to a round, or to a
form's rounds over some days, as CSV or XLSX, streamed. The caller needs jurisdiction over the
unit; the round and the form are read before the first byte goes out, so MongoDB away is a 503
problem, not a broken download."""

import uuid
from datetime import date, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import StreamingResponse

from reports.adapters.export import ExportSource
from reports.export import MAX_DAYS, plan_export, rows, sheet_name
from reports.refusals import refusals_as_problems
from reports.spreadsheet import XLSX_TYPE, csv_chunks, xlsx_chunks
from shared.auth.http import Authenticator, require_jurisdiction
from shared.auth.tokens import Principal
from shared.problems import invalid_field, problems

UNIT = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
MEDIA = {"csv": "text/csv; charset=utf-8", "xlsx": XLSX_TYPE}


def export_router(source: ExportSource, auth: Authenticator) -> APIRouter:
    router = APIRouter(tags=["export"])
    Reader = Annotated[Principal, Depends(auth.organiser("reports:read"))]

    @router.get(
        "/v1/units/{unit_id}/submissions.{fmt}",
        response_class=StreamingResponse,
        responses={
            200: {"content": {m.split(";")[0]: {} for m in MEDIA.values()}},
            **problems(403, 404, 503),
        },
    )
    def export(
        unit_id: Annotated[str, Path(pattern=UNIT)],
        fmt: Literal["csv", "xlsx"],
        who: Reader,
        dispatch_id: uuid.UUID | None = None,
        form_id: uuid.UUID | None = None,
        first: Annotated[date | None, Query(alias="from")] = None,
        last: Annotated[date | None, Query(alias="to")] = None,
        lang: Literal["hi", "en"] = "hi",
    ) -> StreamingResponse:
        require_jurisdiction(who, unit_id)
        days = _days(dispatch_id, form_id, first, last)
        with refusals_as_problems():
            plan = plan_export(
                source,
                unit_id,
                lang=lang,
                dispatch_id=str(dispatch_id) if dispatch_id else None,
                form_id=str(form_id) if form_id else None,
                days=days,
            )
        form = source.form(plan.rounds[0].form_id)
        lines = rows(source, plan)
        period = plan.rounds[0].period_key
        if len(plan.rounds) > 1:
            period += f"_{plan.rounds[-1].period_key}"
        chunks = (
            csv_chunks(plan.header(), lines)
            if fmt == "csv"
            else xlsx_chunks(sheet_name(plan, form), plan.header(), lines)
        )
        name = f"reports-{unit_id}-{period}.{fmt}"
        return StreamingResponse(
            chunks,
            media_type=MEDIA[fmt],
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return router


def _days(dispatch_id, form_id, first: date | None, last: date | None) -> tuple | None:
    """A round, or a form with the first and last day (IST) of its rounds, at most MAX_DAYS."""
    if (dispatch_id is None) == (form_id is None):
        raise invalid_field("dispatch_id", "give either dispatch_id, or form_id with from and to")
    if form_id is None:
        return None
    if first is None or last is None:
        raise invalid_field("from" if first is None else "to", "a form's export needs from and to")
    if not timedelta(0) <= last - first < timedelta(days=MAX_DAYS):
        raise invalid_field("to", f"must be on or after from, at most {MAX_DAYS} days in all")
    return first, last
