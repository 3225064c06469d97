"""The coverage API on the worker's web server: any unit with its children, and a directive's reach.

Every worker answers for every unit: its view sums the partials of all workers.

    GET /coverage/{unit_id}                  national, state, ... sector, or one booth
    GET /directives/{directive_id}/reach
"""

from __future__ import annotations

from shared.problems import MEDIA_TYPE, ProblemError, problem_body

from analytics.adapters.registry import RegistryUnavailable
from analytics.app import app, settings
from analytics.coverage.access import CoverageAccess
from analytics.coverage.agents import stream, view_reader
from analytics.coverage.report import reach_body, unit_body

access = CoverageAccess(settings)


@app.page("/coverage/{unit_id}")
async def unit_coverage(web, request, unit_id: str):
    async def answer():
        access.require(access.reader(request.headers.get("Authorization")), [unit_id])
        _require_ready()
        unit = await stream.registry.unit(unit_id)
        if unit is None:
            raise ProblemError(404, "unit-not-found", "No such unit", f"the org registry has no unit {unit_id}")
        children = [] if unit["level"] == "booth" else await stream.registry.children(unit_id)
        body = _coverage(unit)
        body["children"] = [_coverage(child) for child in children]
        return body
    return await _respond(web, request, answer)


def _coverage(unit: dict) -> dict:
    """A unit's body, with its deadline's progress where it has one (states)."""
    totals = stream.view.totals(unit["id"])
    body = unit_body(unit, totals)
    target = stream.targets.get(unit["id"])
    if target is not None:
        body["deadline"] = stream.deadline(target, totals, unit["booths"]).to_json()
    return body


@app.page("/directives/{directive_id}/reach")
async def directive_reach(web, request, directive_id: str):
    async def answer():
        who = access.reader(request.headers.get("Authorization"))
        _require_ready()
        directive = stream.view.directives.get(directive_id)
        if directive is None:
            raise ProblemError(404, "directive-not-found", "No such directive",
                               f"no directive-issued event for {directive_id} has been counted")
        access.require(who, [directive["issuing_unit"], *directive["scope"]])
        return reach_body(directive, stream.view.reach(directive_id))
    return await _respond(web, request, answer)


def _require_ready() -> None:
    if not view_reader.ready.is_set():
        raise ProblemError(503, "coverage-recovering", "Coverage is being recovered",
                           "this worker is still reading its state back; try again in a few seconds",
                           headers={"Retry-After": "2"})


async def _respond(web, request, answer):
    try:
        return web.json(await answer())
    except ProblemError as exc:
        body = problem_body(exc.status, exc.kind, exc.title, exc.detail, request.path, **exc.extensions)
        return web.json(body, status=exc.status, content_type=MEDIA_TYPE, headers=exc.headers or None)
    except RegistryUnavailable as exc:
        body = problem_body(503, "dependency-unavailable", "A dependency is unavailable",
                            f"the org registry did not answer: {exc}", request.path)
        return web.json(body, status=503, content_type=MEDIA_TYPE)
