"""Answers by SMS/WhatsApp reply: the parser (pure domain), which forms are replyable and the
format a booth worker is told; then the reply handler on in-memory ports: the latest round asking
the booth is answered, a repeated webhook is one submission, a text that does not read gets help,
a second different answer is refused, a rejected one may be answered again, a late one is
marked."""

import uuid
from datetime import datetime, timedelta

import pytest
import yaml

from reports import commands, domain, handlers, replies, replying
from reports.settings import BUILTIN_FORMS
from shared.sending.policy import IST
from tests.fakes.reports import in_memory_ports

BOOTH = "IN-HP-D01-A01-M01-S01-B001"
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=IST)

SHORT = {
    "title": {"hi": "बूथ नब्ज़", "en": "Booth pulse"},
    "questions": [
        {
            "id": "mood",
            "type": "single_choice",
            "required": True,
            "label": {"hi": "मनोबल", "en": "Mood"},
            "options": [
                {"id": "good", "label": {"hi": "अच्छा", "en": "Good"}},
                {"id": "mixed", "label": {"hi": "मिला-जुला", "en": "Mixed"}},
                {"id": "poor", "label": {"hi": "कमज़ोर", "en": "Poor"}},
            ],
        },
        {"id": "met", "type": "yes_no", "required": True, "label": {"hi": "बैठक", "en": "Met"}},
        {
            "id": "served",
            "type": "number",
            "min": 0,
            "max": 5000,
            "label": {"hi": "लोग", "en": "People served"},
        },
    ],
}


def version(raw: dict = SHORT) -> domain.Version:
    return domain.parse_version(raw)


# --- the parser ------------------------------------------------------------------------------


def test_a_reply_in_question_order_becomes_the_forms_answers():
    assert replies.parse_reply(version(), "3 1 250") == {
        "mood": "poor",
        "met": True,
        "served": 250,
    }


@pytest.mark.parametrize(
    "text,met",
    [
        ("1,2,0", False),
        ("1 haan 7", True),
        ("1 NAHI 7", False),
        ("1 हाँ 7", True),
        ("1 yes 7", True),
    ],
)
def test_yes_and_no_read_as_1_2_haan_nahi_or_yes_no_with_any_separator(text, met):
    assert replies.parse_reply(version(), text)["met"] is met


def test_devanagari_digits_and_a_decimal_read_as_numbers():
    assert replies.parse_reply(version(), "२ 1 २५०")["served"] == 250
    assert replies.parse_reply(version(), "2 1 2.5")["served"] == 2.5


def test_an_optional_question_is_skipped_with_a_dash_and_a_required_one_is_not():
    assert replies.parse_reply(version(), "1 1 -") == {"mood": "good", "met": True}
    with pytest.raises(replies.NotUnderstood, match="answer 1 is required"):
        replies.parse_reply(version(), "- 1 5")


@pytest.mark.parametrize(
    "text,reason",
    [
        ("1 2", "expected 3 answers, got 2"),
        ("1 2 3 4", "expected 3 answers, got 4"),
        ("4 1 5", "answer 1 must be an option number, 1 to 3"),
        ("good 1 5", "answer 1 must be an option number, 1 to 3"),
        ("1 maybe 5", "answer 2 must be 1 (yes) or 2 (no)"),
        ("1 1 many", "answer 3 must be a number"),
        ("1 1 nan", "answer 3 must be a number"),
    ],
)
def test_a_reply_that_does_not_read_says_which_answer_without_repeating_the_text(text, reason):
    with pytest.raises(replies.NotUnderstood) as unclear:
        replies.parse_reply(version(), text)
    assert unclear.value.reason == reason


def test_a_long_or_branching_form_is_not_replyable_and_a_short_one_says_how_to_reply():
    daily = yaml.safe_load((BUILTIN_FORMS / "daily_feedback.yaml").read_text(encoding="utf-8"))
    assert not replies.replyable(version(daily))  # show-if, multiple choice and text
    assert replies.reply_format(version(daily)) is None
    six = {**SHORT, "questions": [{**SHORT["questions"][2], "id": f"q{i}"} for i in range(6)]}
    assert not replies.replyable(version(six))
    hint = replies.reply_format(version())
    assert hint["en"].endswith("Like: 1 1 10")
    assert "1=Good, 2=Mixed, 3=Poor" in hint["en"] and "1=हाँ, 2=नहीं" in hint["hi"]
    with pytest.raises(replies.NotUnderstood, match="not answered by reply"):
        replies.parse_reply(version(daily), "1 1 1")


# --- the reply handler on in-memory ports ----------------------------------------------------


@pytest.fixture
def ports():
    clock = {"now": NOW}
    ports = in_memory_ports([BOOTH], clock=lambda: clock["now"])
    ports.test_clock = clock
    return ports


def dispatched(ports, raw: dict = SHORT, audience=("booth_president",)) -> str:
    form = handlers.handle(commands.DesignForm("IN", "feedback", raw), ports)
    handlers.handle(commands.PublishForm("IN", form.form_id, "user-hq"), ports)
    plan = commands.PlanDispatch(
        unit="IN-HP",
        by="user-hp",
        form_id=form.form_id,
        version=None,
        scope=("IN-HP-D01",),
        audience=audience,
        cadence="once",
        weekdays=(),
        starts_on=None,
        send_time=None,
        due_after_h=12,
        remind_before_h=2,
    )
    _, [round_] = handlers.handle(plan, ports)
    return round_.dispatch_id


def reply(text: str, reply_id: str | None = None, role="booth_president"):
    return commands.AnswerByReply(
        reply_id or f"in.{uuid.uuid4().hex}",
        "sms",
        text,
        (commands.Appointee("appt-1", BOOTH, role),),
    )


def test_a_reply_answers_the_latest_round_asking_the_booth_and_a_repeat_is_one_submission(ports):
    dispatched(ports)
    ports.test_clock["now"] = NOW + timedelta(minutes=5)
    latest = dispatched(ports)
    sent = reply("1 1 250", "in.abc")
    first = replying.answer_by_reply(sent, ports)
    again = replying.answer_by_reply(sent, ports)
    assert (first.outcome, first.dispatch_id, first.late) == ("submitted", latest, False)
    assert first.message == replying.THANKS
    assert (again.outcome, again.submission_id, again.message) == (
        "repeated",
        first.submission_id,
        None,
    )
    report = handlers.booth_report(ports, latest, BOOTH)
    [submission] = report.submissions
    assert submission.submitted_by == "appt-1"
    assert submission.submission_id == replying.submission_id_of("in.abc")
    assert [a.option_ids or a.yes or a.number for a in submission.answers] == [("good",), True, 250]


def test_a_reply_that_does_not_read_or_is_out_of_range_gets_the_format_and_submits_nothing(
    ports,
):
    dispatch_id = dispatched(ports)
    for text in ("hello there", "1 1 9999"):
        outcome = replying.answer_by_reply(reply(text), ports)
        assert outcome.outcome == "not-understood" and "Like: 1 1 10" in outcome.message["en"]
    assert ports.reports.get(dispatch_id, BOOTH) is None


def test_a_second_different_reply_is_refused_until_a_reviewer_rejects_the_first(ports):
    dispatch_id = dispatched(ports)
    first = replying.answer_by_reply(reply("1 1 5"), ports)
    second = replying.answer_by_reply(reply("2 2 0"), ports)
    assert (second.outcome, second.message) == ("already-answered", replying.ANSWERED_BEFORE)
    review = commands.ReviewReport(
        dispatch_id, BOOTH, first.submission_id, "rejected", "implausible_numbers", None, "u"
    )
    handlers.handle(review, ports)
    third = replying.answer_by_reply(reply("2 2 0"), ports)
    assert third.outcome == "submitted"
    assert handlers.booth_report(ports, dispatch_id, BOOTH).submissions[-1].attempt == 2


def test_a_late_reply_is_kept_and_marked_and_nothing_is_asked_of_another_role_or_past_rounds(
    ports,
):
    dispatched(ports)
    assert replying.answer_by_reply(reply("1 1 5", role="bla2"), ports).outcome == "nothing-asked"
    ports.test_clock["now"] = NOW + timedelta(hours=13)
    late = replying.answer_by_reply(reply("1 1 5"), ports)
    assert (late.outcome, late.late, late.message) == ("submitted", True, replying.LATE_THANKS)
    ports.test_clock["now"] = NOW + replying.REPLY_WINDOW + timedelta(minutes=1)
    assert replying.answer_by_reply(reply("1 1 5"), ports).outcome == "nothing-asked"


def test_a_round_of_a_form_not_replyable_is_not_answered_by_reply(ports):
    daily = yaml.safe_load((BUILTIN_FORMS / "daily_feedback.yaml").read_text(encoding="utf-8"))
    dispatched(ports, {"title": daily["title"], "questions": daily["questions"]})
    outcome = replying.answer_by_reply(reply("1 1 5"), ports)
    assert (outcome.outcome, outcome.message) == ("nothing-asked", replying.NOTHING_WAITING)
