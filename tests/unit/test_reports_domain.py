"""The rules of field reports without servers: forms as data, answers judged against their
version, show-if, versioning, period keys and cadences."""

from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
import yaml

from reports import domain
from reports.adapters.fanout import EventIds
from reports.domain import Form, Invalid, Plan, Refused
from reports.settings import BUILTIN_FORMS
from shared.events import types
from shared.events.contracts import validate
from shared.sending.policy import IST

AT = datetime(2026, 12, 3, 9, 0, tzinfo=IST)


def labels(text: str) -> dict:
    return {"hi": f"{text} (hi)", "en": text}


FEEDBACK = {
    "title": labels("Daily feedback"),
    "questions": [
        {
            "id": "mood",
            "type": "single_choice",
            "required": True,
            "label": labels("Mood"),
            "options": [
                {"id": "good", "label": labels("Good")},
                {"id": "poor", "label": labels("Poor")},
            ],
        },
        {
            "id": "why_poor",
            "type": "short_text",
            "required": True,
            "label": labels("Why?"),
            "show_if": {"question": "mood", "equals": "poor"},
        },
        {"id": "meetings", "type": "number", "min": 0, "max": 50, "label": labels("Meetings")},
        {"id": "held", "type": "yes_no", "label": labels("Held?")},
        {"id": "on", "type": "date", "label": labels("On")},
        {
            "id": "issues",
            "type": "multiple_choice",
            "label": labels("Issues"),
            "options": [
                {"id": "water", "label": labels("Water")},
                {"id": "roads", "label": labels("Roads")},
            ],
        },
    ],
}


def version():
    return domain.parse_version(FEEDBACK)


def errors_of(call) -> dict:
    with pytest.raises(Invalid) as caught:
        call()
    return dict(caught.value.errors)


def test_every_built_in_form_is_a_valid_form_with_hindi_and_english_labels():
    files = sorted(Path(BUILTIN_FORMS).glob("*.yaml"))
    assert {f.stem for f in files} >= {"daily_feedback", "seva_tally"}
    for path in files:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        parsed = domain.parse_version(data)
        assert all(q.label["hi"] and q.label["en"] for q in parsed.questions)


def test_the_seva_tally_sums_food_ration_masks_people_and_rupees():
    data = yaml.safe_load((BUILTIN_FORMS / "seva_tally.yaml").read_text(encoding="utf-8"))
    summed = {q.id for q in domain.parse_version(data).questions if q.summed}
    assert summed == {"food_packets", "ration_kits", "masks", "people_served", "relief_fund_rupees"}


def test_a_form_with_bad_questions_is_refused_naming_each_field():
    bad = {
        "title": {"en": "x"},
        "questions": [
            {"id": "a", "type": "single_choice", "label": labels("A"), "options": [{"id": "x"}]},
            {"id": "a", "type": "essay", "label": labels("B")},
            {"id": "c", "type": "number", "label": labels("C"), "min": 5, "max": 1},
            {
                "id": "d",
                "type": "yes_no",
                "label": labels("D"),
                "show_if": {"question": "c", "equals": 1},
            },
            {"id": "e", "type": "short_text", "label": labels("E"), "summed": True},
        ],
    }
    errors = errors_of(lambda: domain.parse_version(bad))
    assert set(errors) >= {
        "title.hi",
        "questions[0].options",
        "questions[1].id",
        "questions[1].type",
        "questions[2].min",
        "questions[3].show_if.question",
        "questions[4].summed",
    }


def test_show_if_may_only_point_back_at_an_option_that_exists():
    bad = {
        "title": labels("t"),
        "questions": [
            {
                "id": "b",
                "type": "yes_no",
                "label": labels("B"),
                "show_if": {"question": "a", "equals": True},
            },
            {"id": "a", "type": "yes_no", "label": labels("A")},
            {
                "id": "c",
                "type": "yes_no",
                "label": labels("C"),
                "show_if": {"question": "a", "equals": "yes"},
            },
        ],
    }
    errors = errors_of(lambda: domain.parse_version(bad))
    assert set(errors) == {"questions[0].show_if.question", "questions[2].show_if.equals"}


def test_answers_of_every_type_are_kept_as_their_types():
    answers = domain.judge_answers(
        version(),
        {
            "mood": "good",
            "meetings": 3,
            "held": True,
            "on": "2026-12-03",
            "issues": ["water", "roads"],
        },
    )
    by_id = {a.question_id: a for a in answers}
    assert by_id["mood"].option_ids == ("good",)
    assert by_id["meetings"].number == 3
    assert by_id["held"].yes is True
    assert by_id["on"].date == "2026-12-03"
    assert by_id["issues"].option_ids == ("water", "roads")
    assert "why_poor" not in by_id


def test_a_required_question_is_required_only_when_it_is_shown():
    domain.judge_answers(version(), {"mood": "good"})
    assert errors_of(lambda: domain.judge_answers(version(), {"mood": "poor"})) == {
        "answers.why_poor": "is required"
    }
    assert errors_of(lambda: domain.judge_answers(version(), {})) == {"answers.mood": "is required"}


def test_an_answer_to_a_hidden_question_is_refused():
    errors = errors_of(lambda: domain.judge_answers(version(), {"mood": "good", "why_poor": "x"}))
    assert errors == {"answers.why_poor": "is not asked unless mood is poor"}


def test_wrong_types_and_unknown_questions_are_named_per_field_without_their_values():
    errors = errors_of(
        lambda: domain.judge_answers(
            version(),
            {
                "mood": "great",
                "meetings": 51,
                "held": "yes",
                "on": "03/12/2026",
                "issues": ["water", "water"],
                "phone": "+919876543210",
            },
        )
    )
    assert set(errors) == {
        "answers.mood",
        "answers.meetings",
        "answers.held",
        "answers.on",
        "answers.issues",
        "answers.phone",
    }
    assert errors["answers.meetings"] == "must be between 0 and 50"
    assert not any("9876543210" in reason for reason in errors.values())


def test_text_longer_than_the_question_allows_is_refused():
    errors = errors_of(
        lambda: domain.judge_answers(version(), {"mood": "poor", "why_poor": "x" * 201})
    )
    assert errors == {"answers.why_poor": "must be text of at most 200 characters"}


def form() -> Form:
    return Form.design(form_id="f-1", owner_unit="IN-HP", kind="feedback", draft=version())


def test_a_published_version_never_changes_a_change_is_a_new_version():
    designed = form()
    first = designed.publish(by="user-1", at=AT)
    designed.revise(labels("New title"), first.questions[:1])
    second = designed.publish(by="user-1", at=AT + timedelta(days=1))
    assert (first.number, second.number) == (1, 2)
    assert designed.version(1) == first and designed.version(1).title == labels("Daily feedback")
    assert designed.latest == second
    assert [e["data"]["version"] for e in designed.outbox] == [1, 2]


def test_a_published_version_goes_out_as_form_published_v2_with_its_labels():
    designed = Form.design(
        form_id="2b1f0c7e-4d3a-4f5b-9c8e-1a0d2e3f4b5c",
        owner_unit="IN",
        kind="feedback",
        draft=version(),
    )
    designed.publish(by="user-1", at=AT)
    [event] = designed.outbox
    assert event["type"] == types.FORM_PUBLISHED_V2
    validate(types.FORM_PUBLISHED_V2, event["data"])
    mood = event["data"]["questions"][0]
    assert mood["label"] == labels("Mood") and mood["option_ids"] == ["good", "poor"]
    assert mood["options"] == [
        {"option_id": "good", "label": labels("Good")},
        {"option_id": "poor", "label": labels("Poor")},
    ]
    # v1's fields are kept as they were: without the labels it is a valid v1.
    v1 = {**event["data"]}
    v1["questions"] = [
        {k: v for k, v in q.items() if k not in ("label", "options")} for q in v1["questions"]
    ]
    validate(types.FORM_PUBLISHED, v1)


def test_revising_twice_before_publishing_keeps_one_draft():
    designed = form()
    designed.publish(by="user-1", at=AT)
    designed.revise(labels("a"), version().questions)
    designed.revise(labels("b"), version().questions)
    assert [v.number for v in designed.versions] == [1, 2]
    assert designed.draft.title == labels("b") and designed.latest.number == 1


def test_a_form_without_a_draft_cannot_be_published_again():
    designed = form()
    designed.publish(by="user-1", at=AT)
    with pytest.raises(Refused, match="no draft"):
        designed.publish(by="user-1", at=AT)


def test_only_hq_or_a_state_designs_and_a_form_is_read_only_above_and_inside_its_owner():
    with pytest.raises(Refused):
        Form.design(form_id="f", owner_unit="IN-HP-D01", kind="feedback", draft=version())
    designed = form()
    assert domain.may_read(designed, "IN") and domain.may_read(designed, "IN-HP-D01")
    assert not domain.may_read(designed, "IN-MP")
    assert domain.may_edit(designed, "IN-HP") and not domain.may_edit(designed, "IN-HP-D01")


def test_a_duplicate_is_a_new_draft_owned_by_whoever_duplicated_it():
    designed = form()
    designed.publish(by="user-1", at=AT)
    copy = designed.duplicate(form_id="f-2", owner_unit="IN-MP")
    assert (copy.owner_unit, copy.draft.number, copy.latest) == ("IN-MP", 1, None)
    assert copy.draft.questions == designed.latest.questions


def plan(cadence="daily", weekdays=(), **kw) -> Plan:
    fields = dict(
        plan_id="7b0c2f3e-1a2b-4c3d-8e4f-5a6b7c8d9e0f",
        form_id="f-1",
        form_version=1,
        owner_unit="IN-HP",
        scope=("IN-HP-D01",),
        audience=("booth_president",),
        cadence=cadence,
        weekdays=weekdays,
        starts_on=date(2026, 11, 30),  # a Monday
        send_time=time(9, 0),
        due_after=timedelta(hours=12),
        remind_before=timedelta(hours=2),
        dispatched_by="user-1",
        dispatched_at=AT,
    )
    return Plan(**{**fields, **kw})


def test_a_daily_plan_makes_one_round_a_day_keyed_by_its_date_with_due_and_reminder_times():
    rounds = domain.rounds_due(plan(), None, datetime(2026, 12, 2, 10, 0, tzinfo=IST))
    assert [r.period_key for r in rounds] == ["2026-11-30", "2026-12-01", "2026-12-02"]
    last = rounds[-1]
    assert last.due_at == datetime(2026, 12, 2, 21, 0, tzinfo=IST)
    assert last.remind_at == datetime(2026, 12, 2, 19, 0, tzinfo=IST)


def test_a_round_is_made_only_once_its_send_time_has_come():
    before = domain.rounds_due(plan(), date(2026, 12, 1), datetime(2026, 12, 2, 8, 59, tzinfo=IST))
    after = domain.rounds_due(plan(), date(2026, 12, 1), datetime(2026, 12, 2, 9, 0, tzinfo=IST))
    assert (before, [r.period_key for r in after]) == ([], ["2026-12-02"])


def test_twice_a_week_keys_each_round_by_iso_week_and_which_of_the_two_it_is():
    rounds = domain.rounds_due(
        plan("twice_weekly", ("thu", "mon")), None, datetime(2026, 12, 10, 12, 0, tzinfo=IST)
    )
    assert [r.period_key for r in rounds] == [
        "2026-W49-1",
        "2026-W49-2",
        "2026-W50-1",
        "2026-W50-2",
    ]
    assert [r.send_at.date().isoformat() for r in rounds][:2] == ["2026-11-30", "2026-12-03"]


def test_a_once_plan_makes_one_round_and_no_more():
    once = plan("once")
    first = domain.rounds_due(once, None, datetime(2026, 12, 5, tzinfo=IST))
    assert len(first) == 1
    assert domain.rounds_due(once, date(2026, 11, 30), datetime(2026, 12, 9, tzinfo=IST)) == []


def test_the_same_plan_and_period_always_name_the_same_dispatch():
    now = datetime(2026, 12, 1, 10, 0, tzinfo=IST)
    assert domain.rounds_due(plan(), None, now) == domain.rounds_due(plan(), None, now)
    assert domain.dispatched_event_id(domain.rounds_due(plan(), None, now)[0].dispatch_id, "B") == (
        domain.dispatched_event_id(domain.rounds_due(plan(), None, now)[0].dispatch_id, "B")
    )


def test_a_plan_outside_its_forms_owner_or_with_bad_times_is_refused():
    errors = errors_of(
        lambda: domain.check_plan(
            plan("twice_weekly", ("mon",), scope=("IN-MP",), remind_before=timedelta(hours=13))
        )
    )
    assert set(errors) == {"weekdays", "scope", "remind_before_h"}


def report():
    return domain.BoothReport("d-1", "IN-HP-D01-A01-M01-S01-B001", {}, "2026-12-03", "f-1", 1)


def test_the_same_submission_id_twice_is_one_submission_and_one_event():
    booth = report()
    answers = domain.judge_answers(version(), {"mood": "good"})
    first, new = booth.submit(submission_id="s-1", answers=answers, by="u", at=AT, due_at=AT)
    again, new_again = booth.submit(submission_id="s-1", answers=(), by="u", at=AT, due_at=AT)
    assert (new, new_again, again) == (True, False, first)
    assert len(booth.submissions) == len(booth.outbox) == 1


def test_every_attempt_at_storing_one_submission_names_its_event_the_same():
    """A retry that reaches the store as a second attempt (its first was written, the answer
    lost on the way back) makes an event a consumer counts once; another submission, another
    booth or another round is another event."""
    at_first, at_retry = AT, AT + timedelta(seconds=3)
    first, retry, other = report(), report(), report()
    first.submit(submission_id="s-1", answers=(), by="u", at=at_first, due_at=AT)
    retry.submit(submission_id="s-1", answers=(), by="u", at=at_retry, due_at=AT)
    other.submit(submission_id="s-2", answers=(), by="u", at=at_first, due_at=AT)
    assert first.outbox[0]["id"] == retry.outbox[0]["id"] != other.outbox[0]["id"]
    elsewhere = {
        domain.submitted_event_id("d-2", first.booth_id, "s-1"),
        domain.submitted_event_id("d-1", "IN-HP-D01-A01-M01-S01-B002", "s-1"),
    }
    assert first.outbox[0]["id"] not in elsewhere and len(elsewhere) == 2


def test_a_second_answer_is_refused_until_the_first_is_rejected_and_late_answers_are_marked():
    booth = report()
    booth.submit(submission_id="s-1", answers=(), by="u", at=AT, due_at=AT)
    with pytest.raises(Refused, match="answered"):
        booth.submit(submission_id="s-2", answers=(), by="u", at=AT, due_at=AT)
    booth.review(
        submission_id="s-1", outcome="rejected", reason="incomplete", note="x", by="r", at=AT
    )
    later = AT + timedelta(hours=1)
    second, _ = booth.submit(submission_id="s-2", answers=(), by="u", at=later, due_at=AT)
    assert (second.attempt, second.late) == (2, True)
    assert [e["type"].split(".")[2] for e in booth.outbox] == [
        "report-submitted",
        "report-reviewed",
        "report-submitted",
    ]


def test_a_rejection_needs_a_reason_code_and_the_note_never_reaches_the_event():
    booth = report()
    booth.submit(submission_id="s-1", answers=(), by="u", at=AT, due_at=AT)
    with pytest.raises(Invalid):
        booth.review(submission_id="s-1", outcome="rejected", reason=None, note="x", by="r", at=AT)
    booth.review(
        submission_id="s-1", outcome="rejected", reason="other", note="call me", by="r", at=AT
    )
    assert "call me" not in str(booth.outbox[-1]["data"])


def test_the_submitted_event_says_a_text_was_written_but_not_what():
    booth = report()
    answers = domain.judge_answers(version(), {"mood": "poor", "why_poor": "the road is broken"})
    booth.submit(submission_id="s-1", answers=answers, by="u", at=AT, due_at=AT)
    data = booth.outbox[0]["data"]
    assert "road" not in str(data)
    assert [a["text_given"] for a in data["answers"]] == [False, True]


def test_the_fan_outs_event_ids_are_the_domains_derived_ids():
    dispatch_id = "76924fd5-8bac-5de9-81bb-9a1b38e6a3bb"
    booths = [f"IN-UP-D{d:02d}-A01-M03-S02-B{b:03d}" for d in (1, 75) for b in range(1, 400)]
    ids = EventIds(dispatch_id)
    assert [ids(b) for b in booths] == [domain.dispatched_event_id(dispatch_id, b) for b in booths]
