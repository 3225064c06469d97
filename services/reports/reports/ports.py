"""What the reports handlers need from the world, as Protocols. `bootstrap` wires the MongoDB
adapters (adapters/mongo.py) and the organisation registry; the handlers' fast tests wire the
in-memory fakes of tests/fakes/reports.py, which pass the same contract tests
(tests/integration/test_reports_ports_contract.py).

Every save is a compare-and-set on the document's `rev`, and a document's outbox is written in
the same single-document write as the change it announces."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Protocol

from reports.domain import BoothReport, Form, Plan, Round
from shared.orgtree.levels import Unit


class ConcurrentUpdate(Exception):
    """Another writer saved the document first: load it again and retry."""


class AlreadyExists(Exception):
    """A document with this id exists."""


class FormStore(Protocol):
    def get(self, form_id: str) -> Form | None: ...

    def add(self, form: Form) -> None:
        """Insert a new form; AlreadyExists if its id is taken."""

    def save(self, form: Form) -> None:
        """Store the form and its outbox unless it changed since read (ConcurrentUpdate)."""

    def readable_by(self, unit: str) -> list[Form]:
        """The forms of the unit's subtree and of the units above it."""


class PlanStore(Protocol):
    def add(self, plan: Plan) -> None: ...

    def active(self) -> list[tuple[Plan, date | None]]:
        """Plans that may still have rounds to make, each with the day of its last round made."""

    def made_rounds_until(self, plan_id: str, day: date, finished: bool) -> None:
        """Record the last round day made; a finished plan makes no more rounds."""


class RoundStore(Protocol):
    def add(self, rounds: Iterable[Round]) -> None:
        """Insert rounds, leaving any already made (their ids are derived from plan and period)."""

    def get(self, dispatch_id: str) -> Round | None: ...

    def asking(self, units: list[str], role: str) -> list[Round]:
        """The rounds whose scope names one of these units and whose audience holds the role."""


class ReportStore(Protocol):
    def get(self, dispatch_id: str, booth_id: str) -> BoothReport | None: ...

    def save(self, report: BoothReport) -> None:
        """Insert (rev 0) or compare-and-set the report and its outbox (ConcurrentUpdate)."""

    async def add_first(self, report: BoothReport) -> None:
        """`save` of a first report (rev 0), awaited: ConcurrentUpdate if the booth has one."""


class Units(Protocol):
    """The organisation registry, read-only (shared/orgtree/repository.py:OrgRegistry)."""

    def get(self, unit_id: str) -> Unit | None: ...

    def booth_exists(self, booth_id: str) -> bool:
        """Whether the registry holds this booth (an answer's, at the peak: batched)."""

    async def booth_exists_async(self, booth_id: str) -> bool:
        """`booth_exists`, awaited."""

    def booth_page(self, unit_id: str, page: int) -> list[str]: ...
