"""The reports API's answers, built from the view's rollups. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from analytics.reports.domain import ReportCounts, WhatsAppCounts, tidy_number


def report_body(
    unit_id: str,
    form_id: str,
    period_key: str,
    totals: ReportCounts,
    units: Iterable[tuple[str, ReportCounts]],
    listing: bool,
) -> dict[str, Any]:
    """GET /reports/{unit}: the unit's rollup, one row per unit one level below (its numbers and
    its own sums, so a drill-down is one call), and (mandal or below) the booths asked that have
    not answered."""
    return {
        "unit_id": unit_id,
        "form_id": form_id,
        "form_version": totals.form_version,
        "period_key": period_key,
        **{name: getattr(totals, name) for name in ReportCounts.NUMBERS},
        "options": {q: dict(sorted(o.items())) for q, o in sorted(totals.options.items())},
        "sums": sums_json(totals),
        "units": [
            {
                "unit_id": child,
                "expected": c.expected,
                "submitted": c.submitted,
                "late": c.late,
                "sums": sums_json(c),
            }
            for child, c in units
        ],
        "silent_booths": totals.silent_booths() if listing else None,
    }


def trend_body(
    unit_id: str, form_id: str, periods: Iterable[tuple[str, ReportCounts]]
) -> dict[str, Any]:
    """GET /reports/{unit}/trend: the latest periods, oldest first."""
    return {
        "unit_id": unit_id,
        "form_id": form_id,
        "days": [
            {
                "period_key": period_key,
                "expected": c.expected,
                "submitted": c.submitted,
                "sums": sums_json(c),
            }
            for period_key, c in periods
        ],
    }


def coverage_sections(today: dict[str, int], whatsapp: WhatsAppCounts) -> dict[str, Any]:
    """What GET /coverage/{unit} says of the unit's reports today and its WhatsApp groups."""
    return {
        "reports": {f"{name}_today": n for name, n in today.items()},
        "whatsapp": whatsapp.to_json(),
    }


def sums_json(counts: ReportCounts) -> dict[str, int | float]:
    return {q: tidy_number(n) for q, n in sorted(counts.sums.items())}
