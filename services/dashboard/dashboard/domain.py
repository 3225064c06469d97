"""The dashboard's rules, without I/O: which live changes a viewer is sent, and how they are
framed."""

from __future__ import annotations

import json
from typing import Any

from shared.orgtree.levels import is_within

# The session cookie: `__Host-` whenever the site is HTTPS, so the browser takes it only when it
# is Secure, for Path=/ and without a Domain (no subdomain can set or read it).
SESSION_COOKIE = "sangathan_session"
HOST_SESSION_COOKIE = "__Host-" + SESSION_COOKIE
# What a live change carries to the page: numbers only (the coverage-updated contract has no
# personal data, and nothing else is passed on).
COVERAGE_FIELDS = (
    "unit_id",
    "level",
    "booths_total",
    "booths_with_verified_president",
    "booths_complete",
    "booths_with_whatsapp_pramukh",
    "verified_appointees",
    "as_of",
)
# A page shows a unit and its children: those are the changes it is sent.
LIVE_DEPTH = 1
# What a live meeting reach carries to the page: counts per unit, no participant.
REACH_FIELDS = ("meeting_id", "kind", "organiser_unit", "state", "totals", "units")
# A meeting in this state has its final, reconciled numbers: watching it further shows nothing new.
MEETING_ENDED = "ended"


def session_cookie(https: bool) -> str:
    return HOST_SESSION_COOKIE if https else SESSION_COOKIE


def session_ends(token_expires: float, now: float, longest_s: float) -> float:
    """A session ends with the organiser's token, or after `longest_s`, whichever comes first."""
    return min(token_expires, now + longest_s)


def may_view(home_unit: str, unit_id: str) -> bool:
    """An organiser sees their own unit's subtree; HQ (unit IN) sees the nation."""
    return is_within(unit_id, home_unit)


def coverage_change(item: dict[str, Any]) -> dict[str, Any]:
    """The page's view of a coverage-updated event."""
    data = item["data"]
    return {name: data.get(name) for name in COVERAGE_FIELDS}


def meeting_reach(body: dict[str, Any]) -> dict[str, Any]:
    """The page's view of analytics' reach of a meeting."""
    return {name: body.get(name) for name in REACH_FIELDS}


def reach_is_final(reach: dict[str, Any]) -> bool:
    return reach.get("state") == MEETING_ENDED


def sse_frame(event: str, data: dict[str, Any], event_id: str | None = None) -> str:
    """One server-sent event (one data line: JSON never contains a raw newline)."""
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
