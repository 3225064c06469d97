"""Answer links and the answer page's pure parts: a link carries its round, recipient, booth,
expiry and locale and nothing personal; a changed, foreign or expired link is refused; a posted
HTML form becomes the answers the API takes; the message names the form and carries the link."""

import logging
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from meetings import links as join_links
from reports import answer_links, answer_page
from reports.answer_links import AnswerClaim, ExpiredAnswerLink, InvalidAnswerLink
from reports.domain import parse_version
from tests.e2e.test_reports_flow import DAILY

KEY = b"k" * 32
NOW = datetime(2030, 1, 1, 4, 30, tzinfo=timezone.utc)
BOOTH = "IN-HP-D04-A01-M01-S01-B001"


def a_claim(**changes) -> AnswerClaim:
    values = dict(
        dispatch_id=str(uuid.uuid4()),
        recipient_id=str(uuid.uuid4()),
        booth_id=BOOTH,
        expires_at=NOW + timedelta(hours=1),
        locale="en",
    )
    return AnswerClaim(**{**values, **changes})


def test_a_link_reads_back_as_the_round_recipient_booth_expiry_and_locale_it_was_made_for():
    claim = a_claim()
    assert answer_links.read(KEY, answer_links.mint(KEY, claim), NOW) == claim


def test_a_changed_or_foreign_link_is_refused():
    token = answer_links.mint(KEY, a_claim())
    payload, mac = token.split(".")
    changed = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + mac
    join = join_links.mint(KEY, join_links.JoinClaim(str(uuid.uuid4()), str(uuid.uuid4()), BOOTH))
    for bad in (changed, join, "not-a-token", answer_links.mint(b"o" * 32, a_claim())):
        with pytest.raises(InvalidAnswerLink):
            answer_links.read(KEY, bad, NOW)


def test_an_expired_link_is_refused_as_expired():
    token = answer_links.mint(KEY, a_claim(expires_at=NOW))
    with pytest.raises(ExpiredAnswerLink):
        answer_links.read(KEY, token, NOW)


def test_the_message_names_the_form_in_the_recipients_language_and_carries_the_link():
    due = datetime(2030, 1, 1, 12, 30, tzinfo=timezone.utc)  # 18:00 IST
    hindi = answer_links.message_text(DAILY["title"], due, "hi", "https://x/r/t")
    english = answer_links.message_text(DAILY["title"], due, "en", "https://x/r/t")
    assert "दैनिक बूथ रिपोर्ट" in hindi and "18:00" in hindi and "https://x/r/t" in hindi
    assert "Daily booth report" in english and "01 Jan 18:00" in english


def test_each_round_and_recipient_has_one_message_id():
    dispatch, recipient = str(uuid.uuid4()), str(uuid.uuid4())
    assert answer_links.message_id(dispatch, recipient) == answer_links.message_id(
        dispatch, recipient
    )
    assert answer_links.message_id(dispatch, recipient) != answer_links.message_id(
        dispatch, str(uuid.uuid4())
    )


def test_a_posted_form_becomes_typed_answers_and_unasked_questions_are_dropped():
    version = parse_version(DAILY)
    fields = {"_sid": ["x"], "mood": ["good"], "why": ["not asked"], "meetings": ["3"]}
    assert answer_page.answers_from_form(version, fields) == {"mood": "good", "meetings": 3}
    fields = {"mood": ["poor"], "why": ["flooded road"], "meetings": ["2.5"]}
    assert answer_page.answers_from_form(version, fields) == {
        "mood": "poor",
        "why": "flooded road",
        "meetings": 2.5,
    }
    # A blank is no answer; a word where a number belongs is left for the domain to refuse.
    assert answer_page.answers_from_form(version, {"mood": [""], "meetings": ["lots"]}) == {
        "meetings": "lots"
    }
    assert answer_page.answers_from_form(version, {"meetings": ["nan"]}) == {"meetings": "nan"}


def test_the_page_shows_every_question_type_with_hindi_labels_for_a_hindi_reader():
    version = parse_version(
        {
            "title": {"hi": "सब प्रकार", "en": "Every type"},
            "questions": [
                {
                    "id": "one",
                    "type": "single_choice",
                    "required": True,
                    "label": {"hi": "एक", "en": "One"},
                    "options": [
                        {"id": "a", "label": {"hi": "क", "en": "A"}},
                        {"id": "c", "label": {"hi": "ग", "en": "C"}},
                    ],
                },
                {
                    "id": "many",
                    "type": "multiple_choice",
                    "label": {"hi": "कई", "en": "Many"},
                    "options": [
                        {"id": "b", "label": {"hi": "ख", "en": "B"}},
                        {"id": "d", "label": {"hi": "घ", "en": "D"}},
                    ],
                },
                {"id": "count", "type": "number", "label": {"hi": "गिनती", "en": "Count"}},
                {"id": "note", "type": "short_text", "label": {"hi": "टिप्पणी", "en": "Note"}},
                {"id": "held", "type": "yes_no", "label": {"hi": "हुई?", "en": "Held?"}},
                {
                    "id": "on",
                    "type": "date",
                    "label": {"hi": "तारीख", "en": "On"},
                    "show_if": {"question": "held", "equals": True},
                },
            ],
        }
    )
    page = answer_page.form("hi", version, due_at=NOW, key="k", submission_id="s")
    for shown in (
        'type="radio" name="one"',
        'type="checkbox" name="many"',
        'type="number"',
        'name="note"',
        'name="held" value="yes"',
        'type="date"',
        'data-if="held" data-eq="yes"',
        "सब प्रकार",
        "गिनती",
        "हाँ",
        "भेजें",
    ):
        assert shown in page
    assert "Count" not in page


def test_uvicorns_access_log_never_holds_an_answer_link_and_keeps_other_requests():
    from reports.page import AnswerLinksUnlogged

    def access(path: str) -> logging.LogRecord:
        args = ("127.0.0.1:5000", "POST", path, "1.1", 201)
        return logging.LogRecord("uvicorn.access", 20, "", 0, '%s - "%s %s HTTP/%s" %d', args, None)

    unlogged = AnswerLinksUnlogged()
    assert not unlogged.filter(access("/r/JRWgmNBgX4S6IzjcSzM6w.ZcrLLEEJLBn0vw"))
    assert not unlogged.filter(access("/r/JRWgmNBgX4S6IzjcSzM6w.ZcrLLEEJLBn0vw?lang=en"))
    assert unlogged.filter(access("/v1/dispatches/9c1d/submissions"))
