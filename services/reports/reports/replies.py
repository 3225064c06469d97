"""Answering a short form by an SMS or WhatsApp reply ("1 3 250"): which forms may be answered
so, the format a booth worker is told, and the parser from a reply's text to the `answers`
mapping the API takes. Pure: no I/O, no clock. The answers it makes are judged by
`domain.judge_answers` like any other (one validation), so a number out of range is refused there.

A form is replyable when a reply can say all of it in order: 1 to MAX_REPLY_QUESTIONS questions,
each single choice (the option's number, 1..n), yes/no (1 or 2, haan/nahi, yes/no) or a number,
and none shown only by an earlier answer (a reply's positions must not depend on its content).
An optional question may be skipped with "-".
"""

from __future__ import annotations

import re
from typing import Any

from reports.domain import Question, Version

REPLY_TYPES = ("single_choice", "yes_no", "number")
MAX_REPLY_QUESTIONS = 5
SKIP = "-"
YES = frozenset({"1", "y", "yes", "haan", "han", "ha", "haa", "हाँ", "हां", "हा"})
NO = frozenset({"2", "n", "no", "nahi", "nahin", "nai", "नहीं", "नही", "ना"})
YES_NO_WORDS = {"en": ("yes", "no"), "hi": ("हाँ", "नहीं")}
# Spaces, commas, semicolons or full stops between answers: what people type on a phone.
SEPARATORS = re.compile(r"[\s,;|]+")


class NotUnderstood(Exception):
    """The reply does not read as this form's answers; `reason` is safe to show and to log (it
    never repeats the text)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def replyable(version: Version) -> bool:
    questions = version.questions
    return 1 <= len(questions) <= MAX_REPLY_QUESTIONS and all(
        q.type in REPLY_TYPES and q.show_if is None for q in questions
    )


def reply_format(version: Version) -> dict[str, str] | None:
    """How to answer by reply, in English and Hindi, with an example; None if not replyable."""
    if not replyable(version):
        return None
    example = " ".join(_example(q) for q in version.questions)
    en = "; ".join(f"{i}) {_what(q, 'en')}" for i, q in enumerate(version.questions, 1))
    hi = "; ".join(f"{i}) {_what(q, 'hi')}" for i, q in enumerate(version.questions, 1))
    return {
        "en": f"Reply with the answers in order, separated by spaces: {en}. Like: {example}",
        "hi": f"जवाब क्रम से, खाली जगह छोड़कर भेजें: {hi}. जैसे: {example}",
    }


def parse_reply(version: Version, text: str) -> dict[str, Any]:
    """The answers a reply gives, by question id, for `domain.judge_answers` to judge."""
    if not replyable(version):
        raise NotUnderstood("this form is not answered by reply")
    tokens = [t for t in SEPARATORS.split(text.strip().rstrip(".")) if t]
    if len(tokens) != len(version.questions):
        raise NotUnderstood(f"expected {len(version.questions)} answers, got {len(tokens)}")
    answers: dict[str, Any] = {}
    for position, (question, token) in enumerate(zip(version.questions, tokens), 1):
        if token == SKIP:
            if question.required:
                raise NotUnderstood(f"answer {position} is required")
            continue
        answers[question.id] = _value(question, token.casefold(), position)
    return answers


def _value(question: Question, token: str, position: int) -> Any:
    if question.type == "yes_no":
        if token in YES or token in NO:
            return token in YES
        raise NotUnderstood(f"answer {position} must be 1 (yes) or 2 (no)")
    number = _number(token)
    if question.type == "single_choice":
        count = len(question.options)
        if number is None or number != int(number) or not 1 <= number <= count:
            raise NotUnderstood(f"answer {position} must be an option number, 1 to {count}")
        return question.options[int(number) - 1].id
    if number is None:
        raise NotUnderstood(f"answer {position} must be a number")
    return int(number) if number == int(number) else number


def _number(token: str) -> float | None:
    """A number as typed, in Latin or Devanagari digits (float() reads both)."""
    try:
        value = float(token)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def _what(question: Question, language: str) -> str:
    label = question.label.get(language) or question.label["en"]
    if question.type == "single_choice":
        options = ", ".join(
            f"{i}={o.label.get(language) or o.label['en']}"
            for i, o in enumerate(question.options, 1)
        )
        return f"{label} ({options})"
    if question.type == "yes_no":
        yes, no = YES_NO_WORDS[language]
        return f"{label} (1={yes}, 2={no})"
    return f"{label} ({'संख्या' if language == 'hi' else 'a number'})"


def _example(question: Question) -> str:
    if question.type != "number":
        return "1"
    low = question.min if question.min is not None else 0
    high = question.max if question.max is not None else max(low, 0) + 250
    return f"{min(max(low, 10), high):g}"
