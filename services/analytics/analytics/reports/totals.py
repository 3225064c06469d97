"""Every worker's report and WhatsApp partials read back: totals for any unit, form and period.

Two kinds of record share the coverage partials topic (analytics/coverage/partials.py):
- `rp|{form}|{period}|{unit}|{partition}`: what one booth-keyed partition adds to a unit's
  rollup of a form for a period (mandals and sectors also list their booths' flags);
- `wa|{unit}|{partition}`: what that partition's booth WhatsApp groups add to a unit.

A unit's expected, submitted and late of a period over all forms are kept summed as partials
arrive (old out, new in), so /coverage needs no pass over every form. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable

from analytics.coverage.partials import held_of_partitions, parse_key, replace_part
from analytics.reports.domain import ReportCounts, WhatsAppCounts, split_rollup_ident

ROLLUP, WHATSAPP = "rp", "wa"
DAY_NUMBERS = ("expected", "submitted", "late")


class ReportsView:
    KINDS = frozenset({ROLLUP, WHATSAPP})

    def __init__(self):
        self._rollups: dict[str, dict[int, ReportCounts]] = {}  # form|period|unit -> partition
        self._periods: dict[tuple[str, str], set[str]] = {}  # (unit, form) -> period keys
        self._days: dict[tuple[str, str], list[int]] = {}  # (unit, period) -> over every form
        self._whatsapp: dict[str, dict[int, WhatsAppCounts]] = {}  # unit -> partition

    def on_record(self, key: str, value: dict | None) -> None:
        kind, ident, partition = parse_key(key)
        if kind == WHATSAPP:
            replace_part(
                self._whatsapp,
                ident,
                partition,
                None if value is None else WhatsAppCounts.from_json(value),
            )
            return
        new = None if value is None else ReportCounts.from_json(value)
        old = replace_part(self._rollups, ident, partition, new)
        form_id, period_key, unit_id = split_rollup_ident(ident)
        self._periods.setdefault((unit_id, form_id), set()).add(period_key)
        day = self._days.setdefault((unit_id, period_key), [0] * len(DAY_NUMBERS))
        for sign, counts in ((-1, old), (1, new)):
            if counts is not None:
                for i, name in enumerate(DAY_NUMBERS):
                    day[i] += sign * getattr(counts, name)

    # --- reading ---------------------------------------------------------------------------------

    def rollup(self, form_id: str, period_key: str, unit_id: str) -> ReportCounts:
        parts = self._rollups.get(f"{form_id}|{period_key}|{unit_id}", {})
        return ReportCounts.sum(parts.values())

    def periods(self, unit_id: str, form_id: str) -> list[str]:
        """The periods the unit has a rollup of the form for, oldest first."""
        return sorted(self._periods.get((unit_id, form_id), ()))

    def day(self, unit_id: str, period_key: str) -> dict[str, int]:
        """The unit's expected, submitted and late of a period, over every form."""
        numbers = self._days.get((unit_id, period_key), [0] * len(DAY_NUMBERS))
        return dict(zip(DAY_NUMBERS, numbers))

    def whatsapp(self, unit_id: str) -> WhatsAppCounts:
        return WhatsAppCounts.sum(self._whatsapp.get(unit_id, {}).values())

    def held_of_partitions(self, partitions: Iterable[int]) -> dict[int, dict[str, dict]]:
        return held_of_partitions({ROLLUP: self._rollups, WHATSAPP: self._whatsapp}, partitions)
