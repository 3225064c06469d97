"""Answers by SMS or WhatsApp reply: the notifier verified the provider's webhook and found the
sender's appointments by phone; here the reply becomes the booth's answer to the latest round
that asks it, through `handlers.submit_report` like an answer over HTTP (one validation, one
refusal of a second answer, late answers kept and marked).

Which round: among the rounds whose scope holds the booth and whose audience holds the sender's
role, sent within REPLY_WINDOW and of a replyable form version, the one sent last. The
submission id is derived from the provider's message id, so a webhook delivered twice is one
submission. Every outcome carries the message to send back (None when nothing needs saying, as
for a repeated webhook): the notifier queues it to the sender.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from reports import commands, replies
from reports.domain import Invalid, Refused, Round, Version
from reports.handlers import NotFound, Ports, submit_report
from shared.orgtree.levels import ancestor_ids

REPLY_WINDOW = timedelta(days=3)
# Submission ids of replies: uuid5 of the provider's message id under this namespace.
REPLIES = uuid.UUID("3c0b9d6e-51a7-4f0e-9b2d-8e4a1f6c7d20")

SUBMITTED, REPEATED, NOT_UNDERSTOOD = "submitted", "repeated", "not-understood"
ALREADY_ANSWERED, NOTHING_ASKED = "already-answered", "nothing-asked"


@dataclass(frozen=True)
class ReplyOutcome:
    outcome: str
    message: dict[str, str] | None  # {en, hi} to send back to the sender, or None
    dispatch_id: str | None = None
    booth_id: str | None = None
    appointment_id: str | None = None
    submission_id: str | None = None
    late: bool | None = None
    reason: str | None = None  # why it was not understood: safe to log, never the text


def submission_id_of(reply_id: str) -> str:
    return str(uuid.uuid5(REPLIES, reply_id))


def answer_by_reply(command: commands.AnswerByReply, ports: Ports) -> ReplyOutcome:
    found = _latest_round(command.appointees, ports)
    if found is None:
        return ReplyOutcome(NOTHING_ASKED, NOTHING_WAITING)
    round_, appointee, version = found
    where = {
        "dispatch_id": round_.dispatch_id,
        "booth_id": appointee.booth_id,
        "appointment_id": appointee.appointment_id,
    }
    try:
        answers = replies.parse_reply(version, command.text)
        submission, new = submit_report(
            commands.SubmitReport(
                round_.dispatch_id,
                appointee.booth_id,
                submission_id_of(command.reply_id),
                answers,
                appointee.appointment_id,
            ),
            ports,
        )
    except replies.NotUnderstood as unclear:
        return ReplyOutcome(NOT_UNDERSTOOD, _help(version), reason=unclear.reason, **where)
    except Invalid as bad:
        reason = "; ".join(r for _, r in bad.errors)
        return ReplyOutcome(NOT_UNDERSTOOD, _help(version), reason=reason, **where)
    except NotFound as missing:  # the booth left the registry since the round was sent
        return ReplyOutcome(NOTHING_ASKED, NOTHING_WAITING, reason=missing.kind, **where)
    except Refused as refused:
        if refused.kind != "already-submitted":
            raise
        return ReplyOutcome(ALREADY_ANSWERED, ANSWERED_BEFORE, reason=refused.kind, **where)
    return ReplyOutcome(
        SUBMITTED if new else REPEATED,
        (LATE_THANKS if submission.late else THANKS) if new else None,
        submission_id=submission.submission_id,
        late=submission.late,
        **where,
    )


def _latest_round(
    appointees: tuple[commands.Appointee, ...], ports: Ports
) -> tuple[Round, commands.Appointee, Version] | None:
    now = ports.clock()
    candidates = []
    for appointee in appointees:
        for round_ in ports.rounds.asking(
            [*ancestor_ids(appointee.booth_id), appointee.booth_id], appointee.role
        ):
            if not now - REPLY_WINDOW <= round_.send_at <= now:
                continue
            version = _version(ports, round_)
            if version is not None and replies.replyable(version):
                candidates.append((round_.send_at, round_.dispatch_id, round_, appointee, version))
    if not candidates:
        return None
    return max(candidates, key=lambda c: (c[0], c[1]))[2:]


def _version(ports: Ports, round_: Round) -> Version | None:
    form = ports.forms.get(round_.form_id)
    return form.version(round_.form_version) if form else None


def _help(version: Version) -> dict[str, str]:
    hint = replies.reply_format(version)
    return {lang: f"{NOT_UNDERSTOOD_PREFIX[lang]} {hint[lang]}" for lang in ("en", "hi")}


NOT_UNDERSTOOD_PREFIX = {
    "en": "Sorry, we could not read your answer.",
    "hi": "क्षमा करें, आपका जवाब समझ नहीं आया।",
}
THANKS = {"en": "Thank you: your booth's answer is recorded.", "hi": "धन्यवाद: बूथ का जवाब दर्ज हुआ।"}
LATE_THANKS = {
    "en": "Thank you: your booth's answer is recorded, after the due time (marked late).",
    "hi": "धन्यवाद: बूथ का जवाब दर्ज हुआ, समय सीमा के बाद (देर से)।",
}
ANSWERED_BEFORE = {
    "en": "Your booth has already answered this report; a reviewer may reject it to allow another.",
    "hi": "आपके बूथ ने यह रिपोर्ट पहले ही भर दी है; समीक्षक अस्वीकार करे तो दोबारा भेज सकते हैं।",
}
NOTHING_WAITING = {
    "en": "No report is waiting for your answer now.",
    "hi": "अभी कोई रिपोर्ट आपके जवाब की प्रतीक्षा में नहीं है।",
}
