"""The reports API on the worker's web server; every worker answers for every unit.

    GET /reports/{unit_id}?form_id=&period_key=   a unit's rollup of a form for a period, one row
                                                   per unit below, silent booths (mandal or below)
    GET /reports/{unit_id}/trend?form_id=&days=14  the latest periods, oldest first

A unit's reports today and WhatsApp groups are part of GET /coverage/{unit_id}
(analytics/coverage/views.py). Readers see only inside their unit, as for coverage
(analytics/coverage/access.py). Rollups go from the nation down to the sector; a booth's own
report is the reports service's (GET /v1/dispatches/{id}/booths/{booth}).
"""

from __future__ import annotations

import re

from analytics.app import app
from analytics.coverage.views import require_readable, respond, unit_or_404
from analytics.reports.agents import stream
from analytics.reports.report import report_body, trend_body
from shared.problems import ProblemError, invalid_field

LISTING = frozenset({"mandal", "sector"})
ROLLED_UP = frozenset({"national", "state", "district", "assembly", "mandal", "sector"})
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
PERIOD = re.compile(r"^[0-9]{4}-([0-9]{2}-[0-9]{2}|W[0-9]{2}-[12])$")
MOST_DAYS = 92


@app.page("/reports/{unit_id}")
async def unit_report(web, request, unit_id: str):
    async def answer():
        require_readable(request, unit_id)
        form_id = _query(request, "form_id", UUID, "a form id (uuid)")
        period_key = _query(request, "period_key", PERIOD, "2024-11-23 or 2024-W47-1")
        unit = await _rolled_up_unit(unit_id)
        below = await stream.registry.children(unit_id)
        view = stream.view
        return report_body(
            unit_id,
            form_id,
            period_key,
            view.rollup(form_id, period_key, unit_id),
            [(child["id"], view.rollup(form_id, period_key, child["id"])) for child in below],
            unit["level"] in LISTING,
        )

    return await respond(web, request, answer)


@app.page("/reports/{unit_id}/trend")
async def unit_trend(web, request, unit_id: str):
    async def answer():
        require_readable(request, unit_id)
        form_id = _query(request, "form_id", UUID, "a form id (uuid)")
        days = _days(request)
        await _rolled_up_unit(unit_id)
        view = stream.view
        periods = view.periods(unit_id, form_id)[-days:]
        return trend_body(
            unit_id, form_id, [(p, view.rollup(form_id, p, unit_id)) for p in periods]
        )

    return await respond(web, request, answer)


async def _rolled_up_unit(unit_id: str) -> dict:
    unit = await unit_or_404(unit_id)
    if unit["level"] not in ROLLED_UP:
        raise ProblemError(
            422,
            "unit-not-rolled-up",
            "Reports are rolled up to sectors",
            f"{unit_id} is a booth; its own report is in the reports service",
        )
    return unit


def _query(request, name: str, pattern: re.Pattern, shape: str) -> str:
    value = request.query.get(name, "")
    if not pattern.match(value):
        raise invalid_field(name, shape)
    return value


def _days(request) -> int:
    raw = request.query.get("days", "14")
    if not raw.isdigit() or not 1 <= int(raw) <= MOST_DAYS:
        raise invalid_field("days", f"a whole number from 1 to {MOST_DAYS}")
    return int(raw)
