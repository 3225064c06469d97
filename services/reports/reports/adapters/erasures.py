"""Finding an erased appointee's submissions: a scan of `report_booth_reports` for the submitter
(FerretDB v1 serves only `_id` from an index; erasures are rare, and the notifier's ledger scans
for them too). The reports found are read and saved through BoothReports, so the change
is a compare-and-set like any other."""

from __future__ import annotations

from pymongo.database import Database

from reports.adapters.mongo import BoothReports, OutboxPointers, report_of
from reports.domain import BoothReport


class SubmitterReports:
    def __init__(self, db: Database, pointers: OutboxPointers):
        self.collection, self.reports = db.report_booth_reports, BoothReports(db, pointers)

    def answered_by(self, submitter: str) -> list[tuple[str, str]]:
        where = {"submissions.submitted_by": submitter}
        with self.collection.find(where, {"_id": 1}) as cursor:
            return [report_of(d["_id"]) for d in cursor]

    def get(self, dispatch_id: str, booth_id: str) -> BoothReport | None:
        return self.reports.get(dispatch_id, booth_id)

    def save(self, report: BoothReport) -> None:
        self.reports.save(report)
