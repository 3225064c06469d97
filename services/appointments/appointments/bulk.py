"""Bulk import: a CSV of appointments for a unit, applied row by row, reported line by line.

Rows stream from a file on disk and results stream back, so memory stays bounded whatever the
size; consecutive rows of one booth are applied together, and BATCH_BOOTHS booths at a time, so
booths without a team yet are written in a few batched writes (handlers.appoint_booths).
Columns: booth_id, role, name, phone, gender, and optionally channel and locale.
"""

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

from appointments import handlers
from appointments.domain import DomainError, Person
from appointments.phones import InvalidPhone, normalise_mobile
from shared.auth.tokens import Principal
from shared.orgtree.levels import is_within

REQUIRED_COLUMNS = ("booth_id", "role", "name", "phone", "gender")
MAX_BOOTH_ROWS = 50  # a booth has 12 seats; more rows for one booth in a row is not a team
BATCH_BOOTHS = (
    200  # booths appointed together: a few batched writes instead of round trips per booth
)


@dataclass(frozen=True)
class Hooks:
    """What the caller adds to the rows' outcomes. `seen` turns a "president elsewhere" refusal
    into what the organiser may be told; `sent` counts a new number a code goes to; `next_batch`
    is asked before each batch of booths is applied. `seen` and `next_batch` may raise to end the
    import (shared.ratelimit.Throttled): rows already applied are reported, the rest untouched."""

    seen: Callable[[handlers.PresidentElsewhere, str], DomainError] = lambda refused, booth_id: (
        refused
    )
    sent: Callable[[str], None] = lambda phone: None
    next_batch: Callable[[], None] = lambda: None


def organiser_hooks(ports: handlers.Ports, who: Principal) -> Hooks:
    """An organiser's import: "president elsewhere" refusals audited and counted like single ones
    (the import ends once their budget is spent), each new number counted, and each batch of
    booths waits for the day's allowance of new numbers (the rest of the file, for tomorrow)."""

    def seen(refused: handlers.PresidentElsewhere, booth_id: str) -> DomainError:
        handlers.president_refused(ports, who, booth_id, refused, spent_ends=True)
        return handlers.as_seen_by(refused, who.unit)

    return Hooks(
        seen=seen,
        sent=lambda phone: ports.limits.sent_to(who.subject, phone),
        next_batch=lambda: ports.limits.may_send_to_new_numbers(who.subject),
    )


class BadFile(Exception):
    """The upload is not a CSV with the required columns."""


def import_rows(
    ports: handlers.Ports,
    source: IO[bytes],
    *,
    unit_id: str,
    organiser: str,
    progress_every: int = 1000,
    hooks: Hooks = None,
) -> Iterator[dict]:
    """Yields one report line per refused row, progress lines, and a summary at the end."""
    hooks = hooks or Hooks()
    reader = _Checked(csv.DictReader(io.TextIOWrapper(source, encoding="utf-8-sig", newline="")))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise BadFile(
            f"the CSV lacks column(s) {', '.join(missing)}; expected {', '.join(REQUIRED_COLUMNS)}"
        )
    totals = {"rows": 0, "appointed": 0, "unchanged": 0, "refused": 0}
    for line in _applied(ports, _booth_groups(reader), unit_id, organiser, hooks):
        totals["rows"] += 1
        totals[line.pop("outcome")] += 1
        if "problem" in line:
            yield line
        if totals["rows"] % progress_every == 0:
            yield {"progress": dict(totals)}
    yield {"summary": totals}


class _Checked:
    """A DictReader whose parse errors (a field over csv's 128 KiB limit, bytes that are not
    UTF-8) are BadFile, answered `bad-csv` like any other unreadable file."""

    def __init__(self, reader: csv.DictReader):
        self.reader = reader

    @property
    def fieldnames(self):
        return self._guarded(lambda: self.reader.fieldnames)

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        return self._guarded(lambda: next(self.reader))

    def _guarded(self, read):
        try:
            return read()
        except (csv.Error, UnicodeDecodeError) as bad:
            raise BadFile(f"line {self.reader.line_num}: {_reason(bad)}") from None


def _reason(bad: Exception) -> str:
    # csv's message names the limit, never the field's content; a decode error names the bytes.
    return "not UTF-8 text" if isinstance(bad, UnicodeDecodeError) else str(bad)


def _booth_groups(reader: _Checked) -> Iterator[tuple[str, list[tuple[int, dict]]]]:
    booth, rows = None, []
    for number, record in enumerate(reader, start=2):  # line 1 is the header
        booth_id = (record.get("booth_id") or "").strip()
        if rows and (booth_id != booth or len(rows) >= MAX_BOOTH_ROWS):
            yield booth, rows
            rows = []
        booth = booth_id
        rows.append((number, record))
    if rows:
        yield booth, rows


def _applied(ports, groups, unit_id: str, organiser: str, hooks: Hooks) -> Iterator[dict]:
    """One line per row, booth by booth in file order, BATCH_BOOTHS booths appointed at a time."""
    batch: list[tuple[str, list[handlers.Row], list[dict]]] = []
    for booth_id, records in groups:
        if len(batch) >= BATCH_BOOTHS or any(booth_id == b for b, _, _ in batch):
            hooks.next_batch()
            yield from _appoint(ports, batch, organiser, hooks)
            batch = []
        batch.append((booth_id, *_checked(booth_id, records, unit_id)))
    hooks.next_batch()
    yield from _appoint(ports, batch, organiser, hooks)


def _checked(
    booth_id: str, records: list[tuple[int, dict]], unit_id: str
) -> tuple[list[handlers.Row], list[dict]]:
    """A booth's rows that can be tried, and the lines of those refused before any is tried."""
    if not is_within(booth_id, unit_id):
        detail = f"{booth_id or '(empty)'} is not in {unit_id}"
        return [], [
            _refused(n, booth_id, "outside-jurisdiction", "booth_id", detail) for n, _ in records
        ]
    rows, refused = [], []
    for number, record in records:
        try:
            rows.append(handlers.Row(number, (record.get("role") or "").strip(), _person(record)))
        except DomainError as bad:
            refused.append(_refused(number, booth_id, bad.kind, bad.field, bad.detail))
    return rows, refused


def _appoint(
    ports, batch: list[tuple[str, list[handlers.Row], list[dict]]], organiser: str, hooks: Hooks
) -> Iterator[dict]:
    tried = [(booth_id, rows) for booth_id, rows, _ in batch if rows]
    outcomes = handlers.appoint_booths(ports, tried, organiser) if tried else {}
    for booth_id, rows, refused in batch:
        yield from refused
        booth = outcomes.get(booth_id)
        for row in rows:
            result = (
                booth if isinstance(booth, DomainError) else booth[row.number]
            )  # a whole booth refused
            if isinstance(result, handlers.Appointed):
                if result.new:
                    hooks.sent(row.person.phone)
                yield {"row": row.number, "outcome": "appointed" if result.new else "unchanged"}
            else:
                if isinstance(result, handlers.PresidentElsewhere):
                    result = hooks.seen(result, booth_id)
                yield _refused(row.number, booth_id, result.kind, result.field, result.detail)


def _person(record: dict) -> Person:
    name = (record.get("name") or "").strip()
    if not name or len(name) > 100:
        raise DomainError("a name of 1 to 100 characters is required", "name")
    try:
        phone = normalise_mobile(record.get("phone") or "")
    except InvalidPhone as bad:
        raise DomainError(f"bad phone: {bad}", "phone") from None
    return Person(
        name=name,
        phone=phone,
        gender=(record.get("gender") or "").strip().lower(),
        channel=(record.get("channel") or "sms").strip().lower() or "sms",
        locale=(record.get("locale") or "hi").strip() or "hi",
    )


def _refused(number: int, booth_id: str, kind: str, field: str | None, detail: str) -> dict:
    # The report names the row, the field and why; it never echoes the submitted values.
    return {
        "row": number,
        "booth_id": booth_id,
        "outcome": "refused",
        "problem": {"type": kind, "field": field, "detail": detail},
    }
