"""Follow-ups of a round, as pure rules: a reminder to the booths that have not answered at the
round's reminder time, then word up the hierarchy about the booths still silent (their mandal at
the due time or a configured delay after it, then one level up after a further delay, for as many
levels as configured). No I/O and no clock: the job (adapters/followups.py) passes the time.

A reminder that falls in the quiet hours is held by the notifier until they end; the escalations
move by as much, so a booth always has the time between reminder and due time that its round
planned before its mandal hears of it (a 22:30 reminder goes at 06:00, so a 23:30 due time's
word to the mandal goes at 07:00, not at 23:30 while the booth has not yet been reminded).

A booth has answered when its latest submission is pending review or accepted; a rejected one
must be answered again, so it counts as silent. Each message has an id derived from the round and
who it is for (a recipient's reminder; a unit's escalation at one level), and the notifier queues
an id once: a step run again, by a restarted or a second process, sends nothing twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from reports.domain import Round
from shared.orgtree.levels import BY_NAME, LEVELS, booth_path
from shared.sending.policy import IST, SendingPolicy

REMIND = "remind"
ANSWERED = ("submitted", "accepted")  # a submission's status that counts as the booth's answer
LISTED_BOOTHS = 30  # booth ids named in one escalation; the count says the rest
ESCALATING_LEVELS = ("sector", "mandal", "assembly", "district", "state")


@dataclass(frozen=True)
class Escalation:
    """When silent booths are told up the hierarchy: `levels[0]` at due + `after_due`, each next
    level `step` later, and no step later than `window` after its time (an old round found by a
    new process is not followed up days late). `quiet`: the notifier's quiet hours, which hold a
    reminder and so move the escalations by as long (None: no quiet hours)."""

    levels: tuple[str, ...] = ("mandal", "district")
    after_due: timedelta = timedelta(0)
    step: timedelta = timedelta(hours=4)
    window: timedelta = timedelta(hours=24)
    quiet: SendingPolicy | None = None

    def __post_init__(self) -> None:
        depths = [_depth(level) for level in self.levels]
        if not self.levels or any(d is None for d in depths):
            raise ValueError(f"escalation levels must be among {', '.join(ESCALATING_LEVELS)}")
        if depths != sorted(depths, reverse=True) or len(set(depths)) != len(depths):
            raise ValueError("escalation levels go up the hierarchy, each once")

    def at(self, round_: Round, level: str) -> datetime:
        held = self.reminder_goes_at(round_) - round_.remind_at
        return round_.due_at + held + self.after_due + self.levels.index(level) * self.step

    def reminder_goes_at(self, round_: Round) -> datetime:
        """When the round's reminder reaches the booths: its time, or the end of the quiet hours
        it falls in. Quiet hours only: a blackout is per constituency and holds the escalations
        at the notifier as well."""
        if self.quiet is None:
            return round_.remind_at
        opens = self.quiet.opens_at(round_.remind_at, campaign=True, booth_id="")
        return opens or round_.remind_at


@dataclass
class Done:
    """What a round's follow-ups did so far (stored on the round)."""

    reminded: bool = False
    escalated: list[str] = field(default_factory=list)  # levels told
    finished: bool = False


def due_steps(
    round_: Round, done: Done, rules: Escalation, now: datetime
) -> list[tuple[str, bool]]:
    """The steps whose time has come (REMIND, then levels), in order, each with whether it is
    still worth taking: a reminder after the due time, or a level past its window, is recorded as
    done without sending."""
    steps = []
    for step in _steps(done, rules):
        if now < _time_of(step, round_, rules):
            break
        steps.append((step, not _stale(step, round_, rules, now)))
    return steps


def schedule(round_: Round, done: Done, rules: Escalation) -> list[tuple[str, datetime, bool]]:
    """Every step of the round's follow-ups (REMIND, then levels): its time, and whether taken."""
    steps = [(REMIND, rules.reminder_goes_at(round_), done.reminded)]
    return steps + [(lv, rules.at(round_, lv), lv in done.escalated) for lv in rules.levels]


def record(done: Done, step: str, rules: Escalation) -> Done:
    reminded = done.reminded or step == REMIND
    escalated = done.escalated + ([step] if step != REMIND else [])
    return Done(reminded, escalated, finished=reminded and len(escalated) == len(rules.levels))


def _steps(done: Done, rules: Escalation) -> list[str]:
    steps = [] if done.reminded else [REMIND]
    return steps + [level for level in rules.levels if level not in done.escalated]


def _time_of(step: str, round_: Round, rules: Escalation) -> datetime:
    return round_.remind_at if step == REMIND else rules.at(round_, step)


def _stale(step: str, round_: Round, rules: Escalation, now: datetime) -> bool:
    if step == REMIND:
        return now >= round_.due_at
    return now >= rules.at(round_, step) + rules.window


def _depth(level: str) -> int | None:
    if level not in ESCALATING_LEVELS or level not in BY_NAME:
        return None
    return [known.name for known in LEVELS].index(level)


def has_answered(statuses: Iterable[str]) -> bool:
    """A booth's submissions' statuses, oldest first: its latest counts unless rejected."""
    latest = None
    for latest in statuses:
        pass
    return latest in ANSWERED


def silent_by_unit(level: str, silent_booths: Iterable[str]) -> dict[str, list[str]]:
    """The silent booths under each unit of `level`, sorted."""
    found: dict[str, list[str]] = defaultdict(list)
    for booth in silent_booths:
        path = booth_path(booth) or {}
        if level in path:
            found[path[level]].append(booth)
    return {unit: sorted(booths) for unit, booths in sorted(found.items())}


# --- what the notifier is handed --------------------------------------------------------------


def reminder_id(dispatch_id: str, appointment_id: str) -> str:
    return f"reports:{dispatch_id}:{appointment_id}:reminder"


def escalation_id(dispatch_id: str, unit_id: str, level: str) -> str:
    return f"reports:{dispatch_id}:{unit_id}:escalation-{level}"


def due_text(due_at: datetime, language: str) -> str:
    local = due_at.astimezone(IST)
    return local.strftime("%d-%m-%Y %H:%M") + (" बजे" if language == "hi" else " IST")


def reminder_text(title: Mapping[str, str], due_at: datetime, locale: str) -> str:
    """The reminder in the recipient's language (Hindi or English)."""
    if locale.split("-")[0].lower() == "hi":
        return (
            f"संगठन अनुस्मारक: आपके बूथ की रिपोर्ट '{title['hi']}' अभी नहीं मिली। "
            f"कृपया {due_text(due_at, 'hi')} तक भेजें।"
        )
    return (
        f"Sangathan reminder: your booth's report '{title['en']}' has not arrived yet. "
        f"Please send it by {due_text(due_at, 'en')}."
    )


def reminder(round_: Round, title: Mapping[str, str], recipient, channel: str) -> dict:
    """The message for one recipient of a silent booth (`recipient`: shared.recipients)."""
    return {
        "message_id": reminder_id(round_.dispatch_id, recipient.appointment_id),
        "appointment_id": recipient.appointment_id,
        "booth_id": recipient.booth_id,
        "phone": recipient.phone,
        "channel": channel,
        "locale": recipient.locale,
        "text": reminder_text(title, round_.due_at, recipient.locale),
        "lane": "normal",
    }


def escalations(
    round_: Round, title: Mapping[str, str], level: str, silent: Mapping[str, list[str]]
) -> list[dict]:
    """One word to each unit of `level` with silent booths: how many, and which."""
    return [
        {
            "message_id": escalation_id(round_.dispatch_id, unit, level),
            "unit_id": unit,
            "text": escalation_text(title, round_, unit, booths),
        }
        for unit, booths in silent.items()
    ]


def escalation_text(title: Mapping[str, str], round_: Round, unit: str, booths: list[str]) -> str:
    named = ", ".join(booths[:LISTED_BOOTHS])
    more = f" and {len(booths) - LISTED_BOOTHS} more" if len(booths) > LISTED_BOOTHS else ""
    return (
        f"{len(booths)} booth(s) of {unit} have not sent the report '{title['en']}' "
        f"({round_.period_key}) due {due_text(round_.due_at, 'en')}: {named}{more}."
    )
