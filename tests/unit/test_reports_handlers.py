"""The reports handlers on in-memory ports: built-in forms published once, a new version only when
their file changes; dispatch inside the form's owner and not before it is published; rounds made
once; a submission to a booth the dispatch did not ask is refused."""

import asyncio
import dataclasses
import uuid
from datetime import date, datetime, time

import pytest
import yaml

from reports import commands, handlers
from reports.domain import Invalid, Refused
from reports.handlers import NotFound
from reports.memo import Remembered
from reports.settings import BUILTIN_FORMS
from shared.events import types
from shared.sending.policy import IST
from tests.fakes.reports import in_memory_ports

BOOTHS = ["IN-HP-D01-A01-M01-S01-B001", "IN-HP-D01-A01-M01-S01-B002", "IN-HP-D02-A01-M01-S01-B001"]
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=IST)


@pytest.fixture
def ports():
    clock = {"now": NOW}
    made = iter(str(uuid.UUID(int=n)) for n in range(1, 1000))
    ports = in_memory_ports(BOOTHS, clock=lambda: clock["now"], new_id=lambda: next(made))
    ports.test_clock = clock
    return ports


def builtin(name: str) -> dict:
    return yaml.safe_load((BUILTIN_FORMS / f"{name}.yaml").read_text(encoding="utf-8"))


def test_a_built_in_form_is_published_once_and_again_only_when_its_file_changes(ports):
    form = builtin("daily_feedback")
    assert handlers.load_builtin(ports, form).number == 1
    assert handlers.load_builtin(ports, form).number == 1
    form["title"]["en"] = "Daily feedback (v2)"
    assert handlers.load_builtin(ports, form).number == 2
    stored = ports.forms.get(form["form_id"])
    assert (stored.owner_unit, len(stored.outbox)) == ("IN", 2)


def dispatch(form_id, unit="IN-HP", scope=("IN-HP-D01",), **kw) -> commands.PlanDispatch:
    fields = dict(
        unit=unit,
        by="user-1",
        form_id=form_id,
        version=None,
        scope=scope,
        audience=("booth_president",),
        cadence="once",
        weekdays=(),
        starts_on=None,
        send_time=None,
        due_after_h=12,
        remind_before_h=2,
    )
    return commands.PlanDispatch(**{**fields, **kw})


def test_a_state_dispatches_hqs_form_now_as_one_round_keyed_by_today(ports):
    form_id = builtin("daily_feedback")["form_id"]
    handlers.load_builtin(ports, builtin("daily_feedback"))
    plan, rounds = handlers.handle(dispatch(form_id), ports)
    assert [(r.period_key, r.send_at, r.scope) for r in rounds] == [
        ("2026-12-03", NOW, ("IN-HP-D01",))
    ]
    assert handlers.open_due_rounds(ports) == 0  # made once


def test_a_daily_plan_makes_tomorrows_round_when_its_time_comes(ports):
    handlers.load_builtin(ports, builtin("seva_tally"))
    command = dispatch(builtin("seva_tally")["form_id"], cadence="daily", send_time=time(18, 0))
    _, rounds = handlers.handle(command, ports)
    assert rounds == []
    ports.test_clock["now"] = datetime(2026, 12, 4, 18, 0, tzinfo=IST)
    assert handlers.open_due_rounds(ports) == 2  # today's 18:00 and tomorrow's
    assert handlers.open_due_rounds(ports) == 0


def test_a_form_of_another_state_is_refused_to_read_and_to_dispatch(ports):
    draft = builtin("daily_feedback")
    mp = handlers.handle(commands.DesignForm("IN-MP", "feedback", draft), ports)
    handlers.handle(commands.PublishForm("IN-MP", mp.form_id, "user-mp"), ports)
    with pytest.raises(Refused) as refused:
        handlers.handle(dispatch(mp.form_id), ports)
    assert refused.value.kind == "outside-jurisdiction"
    with pytest.raises(Refused):
        handlers.handle(commands.DuplicateForm("IN-HP", mp.form_id), ports)


def test_hq_may_not_dispatch_a_states_form_beyond_that_state(ports):
    hp = handlers.handle(commands.DesignForm("IN-HP", "feedback", builtin("seva_tally")), ports)
    handlers.handle(commands.PublishForm("IN-HP", hp.form_id, "user-hp"), ports)
    with pytest.raises(Invalid) as invalid:
        handlers.handle(dispatch(hp.form_id, unit="IN", scope=("IN-MP",)), ports)
    assert dict(invalid.value.errors).keys() == {"scope"}


def test_a_draft_is_not_dispatched_and_a_district_cannot_publish_its_states_form(ports):
    form = handlers.handle(commands.DesignForm("IN-HP", "feedback", builtin("seva_tally")), ports)
    with pytest.raises(Refused) as refused:
        handlers.handle(dispatch(form.form_id), ports)
    assert refused.value.kind == "unpublished-form"
    with pytest.raises(Refused) as refused:
        handlers.handle(commands.PublishForm("IN-HP-D01", form.form_id, "user-d1"), ports)
    assert refused.value.kind == "not-the-owner"


def submit(dispatch_id, booth=BOOTHS[0], submission_id=None, answers=None):
    return commands.SubmitReport(
        dispatch_id,
        booth,
        submission_id or str(uuid.uuid4()),
        answers if answers is not None else {"seva_done": False},
        "user-1",
    )


def seva_round(ports):
    handlers.load_builtin(ports, builtin("seva_tally"))
    _, rounds = handlers.handle(dispatch(builtin("seva_tally")["form_id"]), ports)
    return rounds[0]


def test_a_retried_submission_is_one_submission(ports):
    round_ = seva_round(ports)
    command = submit(round_.dispatch_id)
    first, new = handlers.handle(command, ports)
    again, new_again = handlers.handle(command, ports)
    assert (new, new_again, again.submission_id) == (True, False, first.submission_id)
    report = ports.reports.get(round_.dispatch_id, BOOTHS[0])
    assert len(report.submissions) == len(report.outbox) == 1


def test_a_booth_the_dispatch_did_not_ask_is_refused(ports):
    round_ = seva_round(ports)
    with pytest.raises(NotFound) as missing:
        handlers.handle(submit(round_.dispatch_id, booth=BOOTHS[2]), ports)
    assert missing.value.kind == "not-dispatched"


def test_an_answer_link_vouches_for_its_booth_but_never_for_one_outside_the_rounds_scope(ports):
    """The link was signed for a booth the round was sent to: the registry is not asked again
    (here it does not know the booth); a booth outside the round's scope is refused all the same."""
    round_ = seva_round(ports)
    unknown = "IN-HP-D01-A01-M01-S01-B077"
    with pytest.raises(NotFound):
        handlers.handle(submit(round_.dispatch_id, booth=unknown), ports)
    linked = dataclasses.replace(submit(round_.dispatch_id, booth=unknown), asked=True)
    assert handlers.handle(linked, ports)[1]
    outside = dataclasses.replace(submit(round_.dispatch_id, booth=BOOTHS[2]), asked=True)
    with pytest.raises(NotFound) as missing:
        handlers.handle(outside, ports)
    assert missing.value.kind == "not-dispatched"


def test_an_answer_after_the_due_time_is_kept_and_marked_late(ports):
    round_ = seva_round(ports)
    ports.test_clock["now"] = round_.due_at.replace(minute=1)
    submission, _ = handlers.handle(submit(round_.dispatch_id), ports)
    assert submission.late


def test_a_rejected_answer_may_be_answered_again(ports):
    round_ = seva_round(ports)
    first, _ = handlers.handle(submit(round_.dispatch_id), ports)
    review = commands.ReviewReport(
        round_.dispatch_id, BOOTHS[0], first.submission_id, "rejected", "incomplete", None, "u-2"
    )
    handlers.handle(review, ports)
    answers = {
        "seva_done": True,
        "food_packets": 10,
        "ration_kits": 2,
        "masks": 0,
        "people_served": 12,
        "relief_fund_rupees": 500,
    }
    second, new = handlers.handle(submit(round_.dispatch_id, answers=answers), ports)
    assert (new, second.attempt) == (True, 2)


def test_starts_on_a_date_makes_no_round_before_it(ports):
    handlers.load_builtin(ports, builtin("seva_tally"))
    command = dispatch(
        builtin("seva_tally")["form_id"], cadence="daily", starts_on=date(2026, 12, 10)
    )
    assert handlers.handle(command, ports)[1] == []


class Counted:
    """A port whose reads are counted, by method name."""

    def __init__(self, port):
        self.port, self.reads = port, {}

    def __getattr__(self, name):
        found = getattr(self.port, name)
        if name not in ("get", "booth_exists"):
            return found

        def get(*args):
            self.reads[name] = self.reads.get(name, 0) + 1
            return found(*args)

        return get


def test_answers_to_one_round_read_its_round_form_and_booths_once_not_per_answer(ports):
    round_ = seva_round(ports)
    for name in ("rounds", "forms", "units", "reports"):
        setattr(ports, name, Counted(getattr(ports, name)))
    for _ in range(3):  # the first answer, a retry of it, and a retry once more
        handlers.handle(submit(round_.dispatch_id, submission_id="s-1"), ports)
    handlers.handle(submit(round_.dispatch_id, booth=BOOTHS[1]), ports)
    reads = {name: getattr(ports, name).reads.get("get", 0) for name in ("rounds", "forms")}
    assert reads == {"rounds": 1, "forms": 1}
    assert ports.units.reads == {"booth_exists": 2}  # each booth once
    # A first answer is inserted without a read; each retry reads the one stored.
    assert ports.reports.reads.get("get", 0) == 2
    assert len(ports.reports.port.get(round_.dispatch_id, BOOTHS[0]).submissions) == 1


def test_a_draft_version_is_read_again_not_remembered(ports):
    remembered = Remembered()
    draft = type("V", (), {"published": False})()
    read = []
    for _ in range(2):
        remembered.versions.get(
            ("f", 1), lambda: read.append(1) or draft, keep=lambda v: v.published
        )
    assert len(read) == 2


def on_loop(command, ports):
    return asyncio.run(handlers.submit_first_report(command, ports))


def test_a_first_answer_on_the_loop_is_stored_as_in_a_thread_once_its_round_is_remembered(ports):
    """The lane's handler (no thread) takes a first answer only once this process remembers
    the round and form version (an answer in a thread read them); a booth's second answer and
    any read go to submit_report, which gives a retried submission back."""
    round_ = seva_round(ports)
    first = submit(round_.dispatch_id, booth=BOOTHS[0])
    assert on_loop(first, ports) is None  # nothing remembered yet: nothing done
    assert ports.reports.get(round_.dispatch_id, BOOTHS[0]) is None
    handlers.handle(first, ports)

    second = submit(round_.dispatch_id, booth=BOOTHS[1])
    submission, new = on_loop(second, ports)
    stored = ports.reports.get(round_.dispatch_id, BOOTHS[1])
    assert (new, [s.submission_id for s in stored.submissions]) == (True, [second.submission_id])
    assert [e["type"] for e in stored.outbox] == [types.REPORT_SUBMITTED]
    assert on_loop(second, ports) is None  # the booth has a report: read in a thread
    assert handlers.handle(second, ports) == (submission, False)


def test_on_the_loop_a_booth_not_asked_and_answers_not_valid_are_refused_as_in_a_thread(ports):
    round_ = seva_round(ports)
    handlers.handle(submit(round_.dispatch_id), ports)  # the round and version remembered
    unknown = "IN-HP-D01-A01-M01-S01-B077"
    for booth in (BOOTHS[2], unknown):  # outside the round's scope; not in the registry
        with pytest.raises(NotFound) as missing:
            on_loop(submit(round_.dispatch_id, booth=booth), ports)
        assert missing.value.kind == "not-dispatched"
    linked = dataclasses.replace(submit(round_.dispatch_id, booth=unknown), asked=True)
    assert on_loop(linked, ports)[1]
    with pytest.raises(Invalid):
        on_loop(submit(round_.dispatch_id, booth=BOOTHS[1], answers={"seva_done": "x"}), ports)
    assert ports.reports.get(round_.dispatch_id, BOOTHS[1]) is None
