"""The reports service's ports in memory: forms, plans, rounds, booth reports and a small
organisation tree. They pass the same contract tests as the MongoDB adapters
(tests/integration/test_reports_ports_contract.py)."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from datetime import date, datetime

from reports.domain import BoothReport, Form, Plan, Round
from reports.handlers import Ports
from reports.link_holders import AppointmentEnded
from reports.ports import AlreadyExists, ConcurrentUpdate
from shared.orgtree.levels import is_within, level_of


class InMemoryForms:
    def __init__(self):
        self.forms: dict[str, Form] = {}

    def get(self, form_id: str) -> Form | None:
        return copy.deepcopy(self.forms.get(form_id))

    def add(self, form: Form) -> None:
        if form.form_id in self.forms:
            raise AlreadyExists(form.form_id)
        form.rev = 1
        self.forms[form.form_id] = copy.deepcopy(form)

    def save(self, form: Form) -> None:
        stored = self.forms.get(form.form_id)
        if stored is None or stored.rev != form.rev:
            raise ConcurrentUpdate(form.form_id)
        form.rev += 1
        self.forms[form.form_id] = copy.deepcopy(form)

    def readable_by(self, unit: str) -> list[Form]:
        return [
            copy.deepcopy(f)
            for _, f in sorted(self.forms.items())
            if is_within(unit, f.owner_unit) or is_within(f.owner_unit, unit)
        ]


class InMemoryPlans:
    def __init__(self):
        self.plans: dict[str, list] = {}  # plan id -> [plan, last day, finished]

    def add(self, plan: Plan) -> None:
        self.plans[plan.plan_id] = [plan, None, False]

    def active(self) -> list[tuple[Plan, date | None]]:
        return [(plan, last) for plan, last, finished in self.plans.values() if not finished]

    def made_rounds_until(self, plan_id: str, day: date, finished: bool) -> None:
        self.plans[plan_id][1:] = [day, finished]


class InMemoryRounds:
    def __init__(self):
        self.rounds: dict[str, Round] = {}

    def add(self, rounds: Iterable[Round]) -> None:
        for found in rounds:
            self.rounds.setdefault(found.dispatch_id, found)

    def get(self, dispatch_id: str) -> Round | None:
        return self.rounds.get(dispatch_id)

    def asking(self, units: list[str], role: str) -> list[Round]:
        return [r for r in self.rounds.values() if set(r.scope) & set(units) and role in r.audience]


class InMemoryReports:
    def __init__(self):
        self.reports: dict[tuple[str, str], BoothReport] = {}

    def get(self, dispatch_id: str, booth_id: str) -> BoothReport | None:
        return copy.deepcopy(self.reports.get((dispatch_id, booth_id)))

    def save(self, report: BoothReport) -> None:
        key = (report.dispatch_id, report.booth_id)
        stored = self.reports.get(key)
        if (stored.rev if stored else 0) != report.rev:
            raise ConcurrentUpdate(key)
        report.rev += 1
        self.reports[key] = copy.deepcopy(report)

    async def add_first(self, report: BoothReport) -> None:
        if report.rev != 0:
            raise ValueError("add_first takes a booth's first report (rev 0)")
        self.save(report)


class TreeUnits:
    """Units named by their ids (levels read from depth); booth pages are the listed booths."""

    def __init__(self, booths: Iterable[str]):
        self.booths = sorted(booths)

    def get(self, unit_id: str):
        known = any(is_within(b, unit_id) for b in self.booths)
        return {"id": unit_id, "level": level_of(unit_id)} if known else None

    def booth_exists(self, booth_id: str) -> bool:
        return booth_id in self.booths

    async def booth_exists_async(self, booth_id: str) -> bool:
        return self.booth_exists(booth_id)

    def booth_page(self, unit_id: str, page: int) -> list[str]:
        under = [b for b in self.booths if is_within(b, unit_id)]
        return under[page * 1000 : (page + 1) * 1000]


class InMemoryEndedAppointments:
    """reports/adapters/link_holders.py in memory: the first record stays, `until` moves later."""

    def __init__(self):
        self.kept: dict[str, tuple[AppointmentEnded, datetime]] = {}

    def record(self, ended: AppointmentEnded, until: datetime) -> bool:
        first, kept_until = self.kept.get(ended.appointment_id, (ended, until))
        new = ended.appointment_id not in self.kept
        self.kept[ended.appointment_id] = (first, max(kept_until, until))
        return new

    def ended(self, appointment_id: str) -> bool:
        return appointment_id in self.kept

    def purge(self, now: datetime) -> int:
        gone = [a for a, (_, until) in self.kept.items() if until < now]
        for appointment_id in gone:
            del self.kept[appointment_id]
        return len(gone)


def in_memory_ports(booths: Iterable[str] = (), **kw) -> Ports:
    return Ports(
        forms=InMemoryForms(),
        plans=InMemoryPlans(),
        rounds=InMemoryRounds(),
        reports=InMemoryReports(),
        units=TreeUnits(booths),
        **kw,
    )
