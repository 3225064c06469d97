"""One contract, two implementations: every body runs against the in-memory fakes the handler
tests use (tests/fakes/reports.py) and against the MongoDB adapters on the real FerretDB, so the
fakes cannot drift."""

import asyncio
from datetime import date, datetime, timedelta, timezone

import pytest

from reports import domain
from reports.adapters.link_holders import EndedAppointmentStore
from reports.adapters.mongo import BoothReports, Forms, OutboxPointers, Plans, Rounds
from reports.bootstrap import batcher
from reports.domain import BoothReport, Form
from reports.link_holders import AppointmentEnded
from reports.ports import AlreadyExists, ConcurrentUpdate
from reports.settings import ReportsSettings
from shared.sending.policy import IST
from tests.fakes import reports as fakes
from tests.unit.test_reports_domain import FEEDBACK, plan

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 3, 9, 0, tzinfo=IST)
BOOTH = "IN-HP-D01-A01-M01-S01-B001"


@pytest.fixture(params=["in-memory", "mongodb"])
def stores(request):
    if request.param == "in-memory":
        return (
            fakes.InMemoryForms(),
            fakes.InMemoryPlans(),
            fakes.InMemoryRounds(),
            fakes.InMemoryReports(),
        )
    db = request.getfixturevalue("mongo_db")
    pointers = OutboxPointers(db)
    return Forms(db, pointers), Plans(db), Rounds(db), BoothReports(db, pointers)


def new_form(form_id="f-1", owner="IN-HP") -> Form:
    return Form.design(
        form_id=form_id, owner_unit=owner, kind="feedback", draft=domain.parse_version(FEEDBACK)
    )


def test_a_form_reads_back_as_it_was_saved_with_its_versions_and_outbox(stores):
    forms = stores[0]
    form = new_form()
    forms.add(form)
    form.publish(by="user-1", at=AT)
    form.revise({"hi": "नया", "en": "New"}, form.latest.questions[:2])
    forms.save(form)
    read = forms.get("f-1")
    assert read.versions == form.versions
    assert [e["data"] for e in read.outbox] == [e["data"] for e in form.outbox]
    assert read.latest.published_at == AT


def test_a_form_id_is_added_once(stores):
    forms = stores[0]
    forms.add(new_form())
    with pytest.raises(AlreadyExists):
        forms.add(new_form())


def test_a_stale_form_is_not_saved_over_a_newer_one(stores):
    forms = stores[0]
    forms.add(new_form())
    first, second = forms.get("f-1"), forms.get("f-1")
    first.publish(by="user-1", at=AT)
    forms.save(first)
    second.publish(by="user-2", at=AT)
    with pytest.raises(ConcurrentUpdate):
        forms.save(second)
    assert forms.get("f-1").latest.published_by == "user-1"


def test_a_unit_reads_forms_above_and_inside_it_and_not_another_states(stores):
    forms = stores[0]
    for form_id, owner in (("hq", "IN"), ("hp", "IN-HP"), ("mp", "IN-MP")):
        forms.add(new_form(form_id, owner))
    assert [f.form_id for f in forms.readable_by("IN-HP-D01")] == ["hp", "hq"]
    assert [f.form_id for f in forms.readable_by("IN")] == ["hp", "hq", "mp"]


def test_a_plan_stays_active_with_its_last_round_day_until_finished(stores):
    plans = stores[1]
    plans.add(plan())
    assert plans.active() == [(plan(), None)]
    plans.made_rounds_until(plan().plan_id, date(2026, 12, 2), finished=False)
    assert plans.active() == [(plan(), date(2026, 12, 2))]
    plans.made_rounds_until(plan().plan_id, date(2026, 12, 3), finished=True)
    assert plans.active() == []


def test_a_plan_tied_to_a_recurring_directive_reads_back_its_rounds_times(stores):
    plans = stores[1]
    sends = tuple(datetime(2026, 12, day, 7, 0, tzinfo=IST) for day in (7, 14, 21))
    tied = plan("before_directive", directive_id="d-1", occurrences=sends)
    plans.add(tied)
    [(read, _)] = plans.active()
    assert read == tied and read.occurrences == sends


def test_a_round_is_added_once_and_reads_back_exactly(stores):
    rounds = stores[2]
    made = domain.rounds_due(plan(), None, datetime(2026, 12, 1, 10, tzinfo=IST))
    rounds.add(made)
    rounds.add(made)
    assert [rounds.get(r.dispatch_id) for r in made] == made


def test_a_booth_report_is_inserted_once_and_then_saved_only_over_what_was_read(stores):
    reports = stores[3]
    report = BoothReport("d-1", BOOTH, {"state": "IN-HP"}, "2026-12-03", "f-1", 1)
    answers = domain.judge_answers(
        domain.parse_version(FEEDBACK), {"mood": "poor", "why_poor": "x"}
    )
    report.submit(submission_id="s-1", answers=answers, by="u", at=AT, due_at=AT)
    reports.save(report)
    twin = BoothReport("d-1", BOOTH, {"state": "IN-HP"}, "2026-12-03", "f-1", 1)
    with pytest.raises(ConcurrentUpdate):
        reports.save(twin)
    read = reports.get("d-1", BOOTH)
    assert read.submissions == report.submissions
    stale = reports.get("d-1", BOOTH)
    read.review(submission_id="s-1", outcome="accepted", reason=None, note=None, by="r", at=AT)
    reports.save(read)
    with pytest.raises(ConcurrentUpdate):
        reports.save(stale)
    assert reports.get("d-1", BOOTH).submissions[0].status == "accepted"


def test_a_first_report_added_on_the_event_loop_is_stored_once(stores):
    first_report_added_once(stores[3])


def test_a_first_report_added_through_the_group_commit_is_stored_once(mongo_db):
    """The MongoDB adapter as the service wires it (the fakes have no group commit)."""
    reports = BoothReports(mongo_db, OutboxPointers(mongo_db))
    reports.first_inserts = batcher(ReportsSettings(), "contract", reports.insert_first)
    first_report_added_once(reports)


def first_report_added_once(reports) -> None:
    def answered(submission_id: str) -> BoothReport:
        report = BoothReport("d-1", BOOTH, {"state": "IN-HP"}, "2026-12-03", "f-1", 1)
        answers = domain.judge_answers(domain.parse_version(FEEDBACK), {"mood": "good"})
        report.submit(submission_id=submission_id, answers=answers, by="u", at=AT, due_at=AT)
        return report

    first = answered("s-1")
    asyncio.run(reports.add_first(first))
    assert reports.get("d-1", BOOTH).submissions == first.submissions
    with pytest.raises(ConcurrentUpdate):
        asyncio.run(reports.add_first(answered("s-2")))
    assert [s.submission_id for s in reports.get("d-1", BOOTH).submissions] == ["s-1"]


@pytest.fixture(params=["in-memory", "mongodb"])
def ended_appointments(request):
    if request.param == "in-memory":
        return fakes.InMemoryEndedAppointments()
    store = EndedAppointmentStore(request.getfixturevalue("mongo_db"))
    store.ensure_indexes()  # FerretDB 1.x has no TTL index: it says so and the purge job does it
    return store


def test_an_ended_appointment_is_kept_once_until_its_time_then_purged(ended_appointments):
    store, now = ended_appointments, datetime.now(timezone.utc)
    revoked = AppointmentEnded("a-1", BOOTH, now, "revoked")
    assert not store.ended("a-1")
    assert store.record(revoked, now + timedelta(days=9))
    assert not store.record(revoked, now + timedelta(days=9)), "a replay changes nothing"
    assert not store.record(AppointmentEnded("a-1", BOOTH, now, "erased"), now + timedelta(days=10))
    store.record(AppointmentEnded("a-2", BOOTH, now, "replaced"), now + timedelta(days=1))
    assert store.ended("a-1") and store.ended("a-2") and not store.ended("a-3")
    assert store.purge(now + timedelta(days=2)) == 1
    assert store.ended("a-1") and not store.ended("a-2")
    assert store.purge(now + timedelta(days=9, hours=12)) == 0, "a later end moved its time on"
    assert store.purge(now + timedelta(days=11)) == 1 and not store.ended("a-1")
