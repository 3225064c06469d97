"""The coverage API's answers, built from totals and registry units. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from analytics.coverage.domain import Counts, Reach, state_code
from shared.orgtree.levels import is_within
from shared.teams.rules import rules_for


def unit_body(unit: dict[str, Any], totals: Counts) -> dict[str, Any]:
    booths = unit["booths"]
    body = {
        "unit_id": unit["id"],
        "level": unit["level"],
        "name": unit["name"],
        "name_hi": unit["name_hi"],
        "parent": unit["parent"],
        "booths_total": booths,
        **{name: getattr(totals, name) for name in Counts.NUMBERS},
        "verified_by_role": dict(sorted(totals.verified_by_role.items())),
        "shares": {
            "verified_president": _share(totals.booths_with_verified_president, booths),
            "complete": _share(totals.booths_complete, booths),
            "whatsapp_pramukh": _share(totals.booths_with_whatsapp_pramukh, booths),
        },
        "as_of": _iso(totals.as_of),
    }
    if unit["level"] == "booth":
        body["team"] = team_body(unit, totals)
    return body


def team_body(unit: dict[str, Any], totals: Counts) -> dict[str, Any]:
    """One booth: what its verified team has and still lacks under its state's rules."""
    rules = rules_for(state_code(unit["ancestors"][1]))
    missing = {
        key: role.min - totals.verified_by_role.get(key, 0)
        for key, role in rules.roles.items()
        if totals.verified_by_role.get(key, 0) < role.min
    }
    if totals.verified_women < rules.min_women:
        missing["women"] = rules.min_women - totals.verified_women
    return {
        "president_verified": bool(totals.booths_with_verified_president),
        "complete": bool(totals.booths_complete),
        "missing": missing,
    }


def reach_body(directive: dict[str, Any], reach: Reach) -> dict[str, Any]:
    targeted = directive["booths_targeted"]
    return {
        **directive,
        "booths_delivered": reach.delivered,
        "booths_acknowledged": reach.acknowledged,
        "shares": {
            "delivered": _share(reach.delivered, targeted),
            "acknowledged": _share(reach.acknowledged, targeted),
        },
        "as_of": _iso(reach.as_of),
    }


def directives_within(
    directives: Iterable[Mapping[str, Any]], unit_id: str, limit: int
) -> list[Mapping[str, Any]]:
    """The `limit` latest directives issued in or aimed into `unit_id`'s subtree, newest first.

    The rule /directives/{id}/reach applies to its caller: a directive belongs to a unit when its
    issuing unit or a unit of its scope lies inside it (a national directive is HQ's, not a
    state's).
    """
    mine = [
        d
        for d in directives
        if any(is_within(u, unit_id) for u in (d["issuing_unit"], *d["scope"]))
    ]
    return sorted(mine, key=lambda d: (d["issued_at"], d["directive_id"]), reverse=True)[:limit]


def booths_without_president(
    booth_ids: Iterable[str], has_president: Callable[[str], bool], limit: int
) -> dict[str, Any]:
    """How many of the booths still lack a verified president, and the first `limit` of them in
    booth order."""
    missing = sorted(b for b in booth_ids if not has_president(b))
    return {"count": len(missing), "booths": missing[:limit]}


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat() if ts is not None else None
