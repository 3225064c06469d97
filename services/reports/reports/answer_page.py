"""The answer page a link opens, as HTML strings: pure, no I/O (page_assets/ is read once at
import). Small enough for a cheap phone on a slow network: one document, its styles and script
inline (allowed by their hashes in the Content-Security-Policy, nothing else runs), no framework,
no web font, no image. It works with JavaScript off: every question is then shown, and the
server drops answers to questions whose condition is not met before judging them.

Labels are the form's own, in Hindi or English; the page's own words are below in both.
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from reports.domain import Question, Submission, Version
from shared.sending.policy import IST

ASSETS = Path(__file__).with_name("page_assets")
CSS = (ASSETS / "answer.css").read_text(encoding="utf-8")
JS = (ASSETS / "answer.js").read_text(encoding="utf-8")


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; script-src {_hash(JS)}; style-src {_hash(CSS)}; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # The link is the recipient's key: never sent on to another site.
    "Referrer-Policy": "no-referrer",
    # Personal (a link of one's own) and changing (answered, rejected): kept by no cache.
    "Cache-Control": "private, no-store",
}

WORDS = {
    "hi": {
        "lang": "English",
        "lang_code": "en",
        "due": "अंतिम समय",
        "send": "भेजें",
        "yes": "हाँ",
        "no": "नहीं",
        "required": "ज़रूरी",
        "fix": "कृपया लाल रंग में दिखे उत्तर ठीक करें।",
        "thanks": "धन्यवाद! आपका उत्तर मिल गया।",
        "late": "यह उत्तर अंतिम समय के बाद आया: रखा गया है और देर से चिह्नित है।",
        "answered": "आपके बूथ ने यह रिपोर्ट भेज दी है।",
        "accepted": "उत्तर स्वीकार हो गया है।",
        "rejected": "पिछला उत्तर लौटाया गया ({reason})। कृपया फिर से भरें।",
        "invalid-answer-link": "यह लिंक मान्य नहीं है। संगठन से भेजा गया लिंक ही खोलें।",
        "answer-link-expired": "इस लिंक का समय समाप्त हो गया है।",
        "link-closed": "यह लिंक बंद हो गया है",
        "answer-link-revoked": (
            "क्षमा करें, यह लिंक अब आपका नहीं है: जिस बूथ पद के लिए यह भेजा गया था, वह अब किसी और "
            "के पास है या समाप्त हो गया है। अब इससे उत्तर नहीं भेजा जा सकता।"
        ),
        "not-found": "यह रिपोर्ट अब उपलब्ध नहीं है।",
        "busy": "अभी व्यस्त है, थोड़ी देर बाद फिर से भेजें।",
    },
    "en": {
        "lang": "हिन्दी",
        "lang_code": "hi",
        "due": "Due",
        "send": "Send",
        "yes": "Yes",
        "no": "No",
        "required": "required",
        "fix": "Please correct the answers marked in red.",
        "thanks": "Thank you! Your answer was received.",
        "late": "This answer came after the due time: it is kept and marked late.",
        "answered": "Your booth has sent this report already.",
        "accepted": "The answer was accepted.",
        "rejected": "The previous answer was sent back ({reason}). Please answer again.",
        "invalid-answer-link": "This link is not valid. Open the link the organisation sent.",
        "answer-link-expired": "This link has expired.",
        "link-closed": "This link is closed",
        "answer-link-revoked": (
            "Sorry, this link is no longer yours: the booth post it was sent for has changed "
            "hands or ended. It can no longer send an answer."
        ),
        "not-found": "This report is no longer available.",
        "busy": "Busy right now; please send again in a moment.",
    },
}
# The domain's reasons for a refused answer (domain._answer), as a Hindi reader is told them.
HINDI_REASONS = (
    (re.compile(r"is required"), "यह ज़रूरी है"),
    (re.compile(r"must be between (\S+) and (\S+)"), r"\1 और \2 के बीच होना चाहिए"),
    (re.compile(r"must be a number"), "कृपया संख्या लिखें"),
    (re.compile(r"must be a date.*"), "कृपया तारीख चुनें"),
    (re.compile(r"must be text of at most (\d+) characters"), r"अधिकतम \1 अक्षर"),
    (re.compile(r"must (be one of|list distinct options of) .*"), "दिए गए विकल्पों में से चुनें"),
)
REASONS = {
    "hi": {
        "incomplete": "अधूरा",
        "implausible_numbers": "संख्याएँ सही नहीं लगतीं",
        "wrong_booth": "गलत बूथ",
        "duplicate": "दोहराया गया",
        "other": "अन्य कारण",
    },
    "en": {
        "incomplete": "incomplete",
        "implausible_numbers": "the numbers look wrong",
        "wrong_booth": "wrong booth",
        "duplicate": "a duplicate",
        "other": "another reason",
    },
}


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def document(lang: str, title: str, body: str, *, script: bool = False) -> str:
    words = WORDS[lang]
    switch = f'<nav><a href="?lang={words["lang_code"]}" lang="{words["lang_code"]}">' + (
        f"{words['lang']}</a></nav>"
    )
    tail = f"<script>{JS}</script>" if script else ""
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<link rel="icon" href="data:,">'  # no favicon request on a slow network
        f"<title>{_e(title)}</title><style>{CSS}</style></head>"
        f"<body>{switch}<h1>{_e(title)}</h1>{body}{tail}</body></html>"
    )


def notice(lang: str, kind: str, *, title: str | None = None) -> str:
    """A page that only says something: a refused link, an answered report, a busy server."""
    words = WORDS[lang]
    return document(lang, title or words[kind], f'<p class="box">{_e(words[kind])}</p>')


def done(lang: str, title: str, submission: Submission) -> str:
    words = WORDS[lang]
    body = f'<p class="box ok" id="done">{_e(words["thanks"])}</p>'
    if submission.late:
        body += f'<p class="note" id="late">{_e(words["late"])}</p>'
    return document(lang, title, body)


def answered(lang: str, title: str, current: Submission) -> str:
    words = WORDS[lang]
    said = words["accepted"] if current.status == "accepted" else words["answered"]
    return document(lang, title, f'<p class="box ok" id="answered">{_e(said)}</p>')


def form(
    lang: str,
    version: Version,
    *,
    due_at: datetime,
    key: str,
    submission_id: str,
    values: Mapping[str, object] | None = None,
    errors: Mapping[str, str] | None = None,
    rejected: Submission | None = None,
) -> str:
    """The questions as one form posting back to the link. `values` are what was sent (kept on a
    refusal), `errors` the domain's reasons by question id, `key` names this page's client-made
    submission id in the browser's session storage."""
    words, values, errors = WORDS[lang], values or {}, errors or {}
    parts = [f'<p class="due">{_e(words["due"])}: {due_at.astimezone(IST):%d.%m.%Y %H:%M}</p>']
    if rejected is not None:
        reason = REASONS[lang].get(rejected.reason or "other", rejected.reason)
        parts.append(
            f'<p class="box" id="rejected">{_e(words["rejected"].format(reason=reason))}</p>'
        )
    if errors:
        parts.append(f'<p class="box" id="fix" role="alert">{_e(words["fix"])}</p>')
    parts.append(f'<form id="answer" method="post" data-key="{_e(key)}">')
    parts.append(f'<input type="hidden" name="_sid" value="{_e(submission_id)}">')
    parts += [_question(q, lang, values.get(q.id), errors.get(q.id)) for q in version.questions]
    parts.append(f'<button type="submit">{_e(words["send"])}</button></form>')
    return document(
        lang, version.title.get(lang) or version.title["en"], "".join(parts), script=True
    )


def reason_in(lang: str, reason: str) -> str:
    if lang == "hi":
        for pattern, said in HINDI_REASONS:
            if pattern.match(reason):
                return pattern.sub(said, reason)
    return reason


def _question(q: Question, lang: str, value: object, error: str | None) -> str:
    words = WORDS[lang]
    label = _e(q.label.get(lang) or q.label["en"])
    if q.required:
        label += f' <span class="req" title="{_e(words["required"])}">*</span>'
    shown_if = ""
    if q.show_if is not None:
        equals = q.show_if.equals
        equals = ("yes" if equals else "no") if isinstance(equals, bool) else equals
        shown_if = f' data-if="{_e(q.show_if.question)}" data-eq="{_e(equals)}"'
    err = ""
    if error:
        err = f'<p class="err" id="err-{_e(q.id)}">{_e(reason_in(lang, error))}</p>'
    inputs = _inputs(q, lang, value, native_required=q.required and q.show_if is None)
    return f'<fieldset id="q-{_e(q.id)}"{shown_if}><legend>{label}</legend>{inputs}{err}</fieldset>'


def _inputs(q: Question, lang: str, value: object, *, native_required: bool) -> str:
    name, req = _e(q.id), " required" if native_required else ""
    if q.type in ("single_choice", "multiple_choice", "yes_no"):
        kind = "checkbox" if q.type == "multiple_choice" else "radio"
        if q.type == "yes_no":
            choices = [("yes", WORDS[lang]["yes"]), ("no", WORDS[lang]["no"])]
        else:
            choices = [(o.id, o.label.get(lang) or o.label["en"]) for o in q.options]
        chosen = set(value) if isinstance(value, list) else {value}
        req = req if kind == "radio" else ""
        return "".join(
            f'<label><input type="{kind}" name="{name}" value="{_e(v)}"'
            f"{' checked' if v in chosen else ''}{req}>{_e(text)}</label>"
            for v, text in choices
        )
    shown = "" if value is None else f' value="{_e(value)}"'
    if q.type == "number":
        bounds = "".join(
            f' {attr}="{bound:g}"'
            for attr, bound in (("min", q.min), ("max", q.max))
            if bound is not None
        )
        number = f'<input type="number" name="{name}" inputmode="decimal" step="any"'
        return f"{number}{bounds}{shown}{req}>"
    if q.type == "date":
        return f'<input type="date" name="{name}"{shown}{req}>'
    if q.max_length > 120:
        text = "" if value is None else _e(value)
        return f'<textarea name="{name}" rows="3" maxlength="{q.max_length}"{req}>{text}</textarea>'
    return f'<input type="text" name="{name}" maxlength="{q.max_length}"{shown}{req}>'


def answers_from_form(version: Version, fields: Mapping[str, list[str]]) -> dict[str, object]:
    """A posted HTML form as the `answers` the API takes: numbers as numbers, yes/no as booleans,
    several choices as a list, blanks left out. Answers to questions whose condition the other
    answers do not meet are dropped (with JavaScript off every question is on the page); the
    domain judges the rest as it judges any answer."""
    answers: dict[str, object] = {}
    for q in version.questions:
        given = [v for v in fields.get(q.id, []) if v.strip() != ""]
        if not given:
            continue
        if q.type == "multiple_choice":
            answers[q.id] = given
        elif q.type == "number":
            answers[q.id] = _number(given[0])
        elif q.type == "yes_no":
            answers[q.id] = {"yes": True, "no": False}.get(given[0], given[0])
        else:
            answers[q.id] = given[0]
    for q in version.questions:  # in order, so a chain of conditions falls together
        if q.show_if is not None and answers.get(q.show_if.question) != q.show_if.equals:
            answers.pop(q.id, None)
    return answers


def _number(text: str) -> object:
    try:
        number = float(text.strip())
    except ValueError:
        return text  # the domain says "must be a number"
    if not math.isfinite(number):
        return text
    return int(number) if number.is_integer() else number
