"""What an export reads, over the service's MongoDB adapters and the organisation registry:
rounds and forms by `_id`, each booth's report by `_id`, and a form's rounds by a scan of
`report_rounds` (a few rounds a day, so a small collection)."""

from __future__ import annotations

from dataclasses import dataclass

from pymongo.database import Database

from reports.adapters.mongo import BoothReports, Forms, Rounds, _round
from reports.domain import BoothReport, Form, Round
from shared.orgtree.repository import OrgRegistry


@dataclass
class ExportSource:
    db: Database
    rounds: Rounds
    forms: Forms
    reports: BoothReports
    units: OrgRegistry

    def round(self, dispatch_id: str) -> Round | None:
        return self.rounds.get(dispatch_id)

    def form_rounds(self, form_id: str) -> list[Round]:
        with self.db.report_rounds.find({"form_id": form_id}) as cursor:
            return [_round(doc) for doc in cursor]

    def form(self, form_id: str) -> Form | None:
        return self.forms.get(form_id)

    def report(self, dispatch_id: str, booth_id: str) -> BoothReport | None:
        return self.reports.get(dispatch_id, booth_id)
