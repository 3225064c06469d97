"""A unit's answers to a round (or to a form's rounds over some days) as rows for a spreadsheet:
one row per booth the round asked, in tree order, a silent booth's row left empty after its
names, so the people who open it see who has not reported as well as what was said.

A row: the booth's path names (state … sector) and its own, its id, the period, when its current
answer came, whether late, its review status, then each question's answer in the chosen
language: an option's label, a list of labels, a number as a number, yes/no, a date, the text.
Booths are read a page (1,000) at a time, each booth's report by its `_id`, so memory stays that of
one page whatever the unit's size.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from reports.domain import Answer, BoothReport, Form, Question, Round, Version
from reports.handlers import NotFound
from reports.spreadsheet import Cell
from shared.orgtree.levels import BY_NAME, Unit, is_within, outermost
from shared.sending.policy import IST

PATH_LEVELS = ("state", "district", "assembly", "mandal", "sector")
MAX_DAYS = 92
WORDS = {
    "hi": {
        "booth_name": "बूथ",
        "booth_id": "बूथ आईडी",
        "period": "अवधि",
        "submitted_at": "जमा करने का समय",
        "late": "देर से",
        "status": "स्थिति",
        True: "हाँ",
        False: "नहीं",
        "submitted": "जमा",
        "accepted": "स्वीकृत",
        "rejected": "अस्वीकृत",
    },
    "en": {
        "booth_name": "Booth",
        "booth_id": "Booth id",
        "period": "Period",
        "submitted_at": "Submitted at",
        "late": "Late",
        "status": "Status",
        True: "Yes",
        False: "No",
        "submitted": "Submitted",
        "accepted": "Accepted",
        "rejected": "Rejected",
    },
}


class ExportUnits(Protocol):
    """The organisation registry, read-only (shared/orgtree/repository.py:OrgRegistry)."""

    def get(self, unit_id: str) -> Unit | None: ...

    def booth_page(self, unit_id: str, page: int) -> list[str]: ...

    def booth_units(self, booth_ids: Iterable[str]) -> dict[str, Unit]: ...


class ExportPorts(Protocol):
    units: ExportUnits

    def round(self, dispatch_id: str) -> Round | None: ...

    def form_rounds(self, form_id: str) -> list[Round]:
        """Every round made of the form (a small collection: a few a day)."""

    def form(self, form_id: str) -> Form | None: ...

    def report(self, dispatch_id: str, booth_id: str) -> BoothReport | None: ...


@dataclass(frozen=True)
class Export:
    """What an export holds: its rounds (oldest first), the questions as columns."""

    unit_id: str
    rounds: list[Round]
    columns: list[Question]
    lang: str

    def header(self) -> list[str]:
        words = WORDS[self.lang]
        levels = [_level_label(name, self.lang) for name in PATH_LEVELS]
        fixed = ["booth_name", "booth_id", "period", "submitted_at", "late", "status"]
        return levels + [words[w] for w in fixed] + [q.label[self.lang] for q in self.columns]


def plan_export(
    ports: ExportPorts,
    unit_id: str,
    *,
    lang: str,
    dispatch_id: str | None = None,
    form_id: str | None = None,
    days: tuple[date, date] | None = None,
) -> Export:
    """The rounds and columns of an export; NotFound before any row is read if there is none."""
    if dispatch_id is not None:
        found = ports.round(dispatch_id)
        rounds = [found] if found is not None else []
        if not rounds:
            raise NotFound("unknown-dispatch", f"no dispatch {dispatch_id}")
    else:
        first, last = days
        rounds = [
            r
            for r in ports.form_rounds(form_id)
            if first <= r.send_at.astimezone(IST).date() <= last
        ]
    rounds = sorted((r for r in rounds if _sources(r, unit_id)), key=lambda r: r.send_at)
    if not rounds:
        raise NotFound("not-dispatched", f"no round of this report asked the booths of {unit_id}")
    form = ports.form(rounds[0].form_id)
    versions = [form.version(n) for n in sorted({r.form_version for r in rounds}, reverse=True)]
    return Export(unit_id, rounds, _columns([v for v in versions if v is not None]), lang)


def rows(ports: ExportPorts, export: Export) -> Iterator[list[Cell]]:
    names = _Names(ports.units)
    for round_ in export.rounds:
        for source in _sources(round_, export.unit_id):
            for page in _pages(ports.units, source):
                booths = ports.units.booth_units(page)
                for booth_id in page:
                    report = ports.report(round_.dispatch_id, booth_id)
                    yield names.path(booth_id, booths.get(booth_id), export.lang) + _answered(
                        export, round_, booth_id, report
                    )


def _sources(round_: Round, unit_id: str) -> list[str]:
    """The units whose booths the round asked, inside `unit_id`."""
    inside = [unit_id if is_within(unit_id, s) else s for s in round_.scope]
    return outermost(u for u in inside if is_within(u, unit_id))


def _pages(units: ExportUnits, unit_id: str) -> Iterator[list[str]]:
    page = 0
    while booths := units.booth_page(unit_id, page):
        yield booths
        page += 1


def _answered(
    export: Export, round_: Round, booth_id: str, report: BoothReport | None
) -> list[Cell]:
    current = report.submissions[-1] if report and report.submissions else None
    if current is None:  # a silent booth: its id and period, nothing answered
        return [booth_id, round_.period_key] + [None] * (3 + len(export.columns))
    words = WORDS[export.lang]
    given = {a.question_id: a for a in current.answers}
    return [
        booth_id,
        round_.period_key,
        current.submitted_at.astimezone(IST).strftime("%Y-%m-%d %H:%M"),
        words[current.late],
        words[current.status],
    ] + [_cell(q, given.get(q.id), export.lang) for q in export.columns]


def _cell(question: Question, answer: Answer | None, lang: str) -> Cell:
    if answer is None:
        return None
    if answer.option_ids is not None:
        labels = {o.id: o.label[lang] for o in question.options}
        return "; ".join(labels.get(o, o) for o in answer.option_ids)
    if answer.number is not None:
        return int(answer.number) if float(answer.number).is_integer() else answer.number
    if answer.yes is not None:
        return WORDS[lang][answer.yes]
    return answer.date if answer.date is not None else answer.text


def _columns(versions: list[Version]) -> list[Question]:
    """The newest version's questions, then any an older version asked that it dropped."""
    seen: dict[str, Question] = {}
    for version in versions:
        for question in version.questions:
            seen.setdefault(question.id, question)
    return list(seen.values())


def _level_label(name: str, lang: str) -> str:
    level = BY_NAME[name]
    return level.name_hi if lang == "hi" else level.name.capitalize()


class _Names:
    """Units' names by id, each looked up once (a district's export meets a few hundred)."""

    def __init__(self, units: ExportUnits):
        self.units, self.known = units, {}

    def path(self, booth_id: str, booth: Unit | None, lang: str) -> list[Cell]:
        key = "name_hi" if lang == "hi" else "name"
        ancestors = booth["ancestors"][1:] if booth else []
        names = [self._name(u, key) for u in ancestors[: len(PATH_LEVELS)]]
        names += [None] * (len(PATH_LEVELS) - len(names))
        return names + [booth[key] if booth else None]

    def _name(self, unit_id: str, key: str) -> str | None:
        if unit_id not in self.known:
            self.known[unit_id] = self.units.get(unit_id)
        unit = self.known[unit_id]
        return unit[key] if unit else None


def sheet_name(export: Export, form: Form | None) -> str:
    title = form.latest.title[export.lang] if form and form.latest else "report"
    return f"{title} {export.unit_id}"
