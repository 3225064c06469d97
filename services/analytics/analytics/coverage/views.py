"""The coverage API on the worker's web server: any unit with its children, and a directive's reach.

Every worker answers for every unit: its view sums the partials of all workers.

    GET /coverage/{unit_id}                  national, state, ... sector, or one booth
    GET /coverage/{unit_id}/directives?limit=10   latest directives in the subtree, with reach
    GET /coverage/{unit_id}/booths-without-president?limit=200   (units of at most 5,000 booths)
    GET /directives/{directive_id}/reach
"""

from __future__ import annotations

from analytics.adapters.registry import RegistryUnavailable
from analytics.app import app, settings
from analytics.coverage.access import CoverageAccess
from analytics.coverage.agents import meetings_stream, stream, view_reader
from analytics.coverage.report import (
    booths_without_president,
    directives_within,
    reach_body,
    unit_body,
)
from shared.problems import MEDIA_TYPE, ProblemError, problem_body

access = CoverageAccess(settings)
# A list a person reads through: a mandal's or an assembly's booths, not a state's.
MAX_BOOTHS_LISTED = 5000


@app.page("/coverage/{unit_id}")
async def unit_coverage(web, request, unit_id: str):
    async def answer():
        require_readable(request, unit_id)
        unit = await unit_or_404(unit_id)
        children = [] if unit["level"] == "booth" else await stream.registry.children(unit_id)
        body = _coverage(unit)
        body["children"] = [_coverage(child) for child in children]
        return body

    return await respond(web, request, answer)


@app.page("/coverage/{unit_id}/directives")
async def unit_directives(web, request, unit_id: str):
    async def answer():
        require_readable(request, unit_id)
        limit = limit_of(request, default=10, most=100)
        latest = directives_within(stream.view.directives.values(), unit_id, limit)
        return {
            "unit_id": unit_id,
            "directives": [reach_body(d, stream.view.reach(d["directive_id"])) for d in latest],
        }

    return await respond(web, request, answer)


@app.page("/coverage/{unit_id}/booths-without-president")
async def unit_booths_without_president(web, request, unit_id: str):
    async def answer():
        require_readable(request, unit_id)
        limit = limit_of(request, default=200, most=MAX_BOOTHS_LISTED)
        unit = await unit_or_404(unit_id)
        if unit["booths"] > MAX_BOOTHS_LISTED:
            raise ProblemError(
                422,
                "unit-too-large",
                "Too many booths to list",
                f"{unit_id} has {unit['booths']} booths; "
                f"list a unit of at most {MAX_BOOTHS_LISTED}",
            )
        booths = await stream.registry.booth_ids_under(unit_id)
        missing = booths_without_president(
            booths, lambda b: stream.view.totals(b).booths_with_verified_president > 0, limit
        )
        return {"unit_id": unit_id, "booths_total": unit["booths"], **missing}

    return await respond(web, request, answer)


def require_readable(request, unit_id: str) -> None:
    """The caller may read the unit (its own subtree) and this worker's view is ready."""
    access.require(access.reader(request.headers.get("Authorization")), [unit_id])
    require_ready()


async def unit_or_404(unit_id: str) -> dict:
    """The unit from the registry; 404 if there is none."""
    unit = await stream.registry.unit(unit_id)
    if unit is None:
        raise ProblemError(
            404, "unit-not-found", "No such unit", f"the org registry has no unit {unit_id}"
        )
    return unit


def limit_of(request, *, default: int, most: int) -> int:
    raw = request.query.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise ProblemError(
            422,
            "validation-error",
            "The request is not valid",
            f"limit: a whole number from 1 to {most}",
            errors=[{"field": "limit", "reason": f"1..{most}"}],
        )
    return int(raw)


def _coverage(unit: dict) -> dict:
    """A unit's body, with its deadline's progress where it has one (states), and its meetings
    (analytics/meetings)."""
    totals = stream.view.totals(unit["id"])
    body = unit_body(unit, totals)
    body["meetings"] = meetings_stream.section(unit["id"])
    target = stream.targets.get(unit["id"])
    if target is not None:
        body["deadline"] = stream.deadline(target, totals, unit["booths"]).to_json()
    return body


@app.page("/directives/{directive_id}/reach")
async def directive_reach(web, request, directive_id: str):
    async def answer():
        who = access.reader(request.headers.get("Authorization"))
        require_ready()
        directive = stream.view.directives.get(directive_id)
        if directive is None:
            raise ProblemError(
                404,
                "directive-not-found",
                "No such directive",
                f"no directive-issued event for {directive_id} has been counted",
            )
        access.require(who, [directive["issuing_unit"], *directive["scope"]])
        return reach_body(directive, stream.view.reach(directive_id))

    return await respond(web, request, answer)


def require_ready() -> None:
    if not view_reader.ready.is_set():
        raise ProblemError(
            503,
            "coverage-recovering",
            "Coverage is being recovered",
            "this worker is still reading its state back; try again in a few seconds",
            headers={"Retry-After": "2"},
        )


async def respond(web, request, answer):
    try:
        return web.json(await answer())
    except ProblemError as exc:
        body = problem_body(
            exc.status, exc.kind, exc.title, exc.detail, request.path, **exc.extensions
        )
        return web.json(
            body, status=exc.status, content_type=MEDIA_TYPE, headers=exc.headers or None
        )
    except RegistryUnavailable as exc:
        body = problem_body(
            503,
            "dependency-unavailable",
            "A dependency is unavailable",
            f"the org registry did not answer: {exc}",
            request.path,
        )
        return web.json(body, status=503, content_type=MEDIA_TYPE)
