"""A booth report as the MongoDB adapter stores it (reports/adapters/mongo.py), on the real
FerretDB: its dispatch, booth and booth path are its `_id`'s, not written again in the document;
a document written before, which holds them, reads the same; the erasure's scan and the
follow-ups' read find their booths by the `_id` alone."""

from datetime import datetime, timedelta

import pytest

from reports.adapters.erasures import SubmitterReports
from reports.adapters.followups import FollowUpRecords
from reports.adapters.mongo import BoothReports, OutboxPointers
from reports.domain import BoothReport, judge_answers, parse_version
from shared.orgtree.levels import booth_path
from shared.sending.policy import IST
from tests.unit.test_reports_domain import FEEDBACK

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 3, 9, 0, tzinfo=IST)
DISPATCH = "6f1d2c3b-4a59-4e7f-8a1b-2c3d4e5f6a7b"
BOOTH, OTHER = "IN-HP-D01-A01-M01-S01-B001", "IN-HP-D01-A01-M01-S01-B002"


def answered(booth: str, by: str) -> BoothReport:
    report = BoothReport(DISPATCH, booth, booth_path(booth), "2026-12-03", "f-1", 1)
    answers = judge_answers(parse_version(FEEDBACK), {"mood": "good"})
    report.submit(
        submission_id=f"s-{booth}", answers=answers, by=by, at=AT, due_at=AT + timedelta(1)
    )
    return report


def test_a_booth_report_stores_its_dispatch_booth_and_path_only_in_its_id(mongo_db):
    pointers = OutboxPointers(mongo_db)
    reports = BoothReports(mongo_db, pointers)
    report = answered(BOOTH, "appointee-1")
    reports.save(report)
    stored = mongo_db.report_booth_reports.find_one({"_id": f"{DISPATCH}/{BOOTH}"})
    assert not {"dispatch_id", "booth_id", "booth_path"} & set(stored)
    read = reports.get(DISPATCH, BOOTH)
    assert (read.dispatch_id, read.booth_id, read.booth_path) == (
        DISPATCH,
        BOOTH,
        booth_path(BOOTH),
    )
    assert (read.period_key, read.form_id, read.form_version) == ("2026-12-03", "f-1", 1)
    assert read.submissions == report.submissions


def test_a_booth_report_written_before_reads_the_same_and_is_found_by_its_id(mongo_db):
    pointers = OutboxPointers(mongo_db)
    reports = BoothReports(mongo_db, pointers)
    reports.save(answered(BOOTH, "appointee-1"))
    new = reports.get(DISPATCH, BOOTH)
    old = mongo_db.report_booth_reports.find_one({"_id": f"{DISPATCH}/{BOOTH}"})
    old |= {"_id": f"{DISPATCH}/{OTHER}", "dispatch_id": DISPATCH, "booth_id": OTHER}
    old |= {"booth_path": booth_path(OTHER), "outbox": []}
    old["submissions"][0]["submitted_by"] = "appointee-2"
    mongo_db.report_booth_reports.insert_one(old)
    before = reports.get(DISPATCH, OTHER)
    assert (before.booth_id, before.booth_path, before.rev) == (OTHER, booth_path(OTHER), new.rev)
    assert before.submissions[0].answers == new.submissions[0].answers

    erasing = SubmitterReports(mongo_db, pointers)
    assert erasing.answered_by("appointee-1") == [(DISPATCH, BOOTH)]
    assert erasing.answered_by("appointee-2") == [(DISPATCH, OTHER)]
    records = FollowUpRecords(mongo_db)
    assert records.answered(DISPATCH, [BOOTH, OTHER, "IN-HP-D01-A01-M01-S01-B003"]) == {
        BOOTH,
        OTHER,
    }
