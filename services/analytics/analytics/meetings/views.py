"""The meetings API on the worker's web server; every worker answers for every meeting and unit.

    GET /meetings/{meeting_id}/reach?unit=<id>   totals under the unit (default: the organiser's)
                                                 and one row per unit one level below it
    GET /coverage/{unit_id}/meetings?limit=20    latest meetings held by the unit or under it

A unit's own `meetings` numbers are part of GET /coverage/{unit_id} (analytics/coverage/views.py).
Readers see only inside their unit, as for coverage (analytics/coverage/access.py). A meeting whose
attendance was dropped (ended ANALYTICS_MEETING_KEEP_HOURS ago, analytics.meetings.retention)
has no reach per unit any more: 410 `meeting-attendance-dropped`, with its final totals; lists
show those totals.
"""

from __future__ import annotations

from analytics.app import app
from analytics.coverage.domain import NATIONAL
from analytics.coverage.views import (
    access,
    limit_of,
    require_readable,
    require_ready,
    respond,
    unit_or_404,
)
from analytics.meetings.agents import stream
from analytics.meetings.report import final_counts, final_totals, listed_meeting, reach_body
from shared.problems import ProblemError


@app.page("/meetings/{meeting_id}/reach")
async def meeting_reach(web, request, meeting_id: str):
    async def answer():
        who = access.reader(request.headers.get("Authorization"))
        require_ready()
        meeting = stream.view.meetings.get(meeting_id)
        if meeting is None:
            raise ProblemError(
                404,
                "meeting-not-found",
                "No such meeting",
                f"no meeting event for {meeting_id} has been counted",
            )
        access.require_concerned(who, [meeting["organiser_unit"], *(meeting.get("scope") or ())])
        if stream.dropped(meeting_id):
            raise ProblemError(
                410,
                "meeting-attendance-dropped",
                "The meeting's reach per unit is no longer kept",
                f"meeting {meeting_id} is {meeting['state']}; its attendance per unit is kept for "
                "a while after the end, then only its totals",
                state=meeting["state"],
                ended_at=meeting.get("ended_at") or meeting.get("cancelled_at"),
                totals=final_totals(meeting),
            )
        unit_id = request.query.get("unit") or meeting["organiser_unit"]
        access.require(who, [unit_id])
        unit = await unit_or_404(unit_id)
        below = [] if unit["level"] == "booth" else await stream.registry.children(unit_id)
        view = stream.view
        return reach_body(
            meeting,
            view.meeting_counts(meeting_id, unit_id),
            [(child["id"], view.meeting_counts(meeting_id, child["id"])) for child in below],
        )

    return await respond(web, request, answer)


@app.page("/coverage/{unit_id}/meetings")
async def unit_meetings(web, request, unit_id: str):
    async def answer():
        require_readable(request, unit_id)
        limit = limit_of(request, default=20, most=200)
        view = stream.view
        return {
            "unit_id": unit_id,
            "meetings": [
                listed_meeting(
                    m,
                    final_counts(m)
                    if stream.dropped(m["meeting_id"])
                    else view.meeting_counts(m["meeting_id"], NATIONAL),
                )
                for m in view.held_within(unit_id, limit)
            ],
        }

    return await respond(web, request, answer)
