"""What the appointments handlers need from the world, as Protocols. `bootstrap` wires the real
adapters (MongoDB, Redis, the OTP service); the handlers' fast tests wire in-memory fakes
(tests/fakes/appointments.py) that pass the same contract tests
(tests/integration/test_appointments_ports_contract.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from appointments.domain import BoothTeam
from shared.teams.rules import TeamRules


class ConcurrentUpdate(Exception):
    """Someone saved the booth team since we read it; read again and retry."""


class TeamStore(Protocol):
    """Booth teams, saved by compare-and-set: `save` of a team read at an older version raises
    ConcurrentUpdate (adapters/mongo.py), and the caller reads again."""

    rules_for: Callable[[str], TeamRules]  # a state's team rules, by state code

    def get(self, booth_id: str) -> BoothTeam | None: ...

    def save(self, team: BoothTeam) -> None: ...

    def insert_new(self, teams: list[BoothTeam]) -> set[str]:
        """Insert teams that have none yet; returns the booths that had one (left unsaved)."""

    def with_phone(self, phone: str, unit_id: str) -> list[str]:
        """The booths under `unit_id` whose team has (or had) this phone."""

    def ended_before(
        self, cutoff: datetime, *, after: str = "", limit: int = 500
    ) -> list[BoothTeam]:
        """Teams, by booth id from `after`, with an ended appointment still naming its person."""

    def teams_under(
        self, unit_id: str, *, after: str = "", limit: int = 200
    ) -> list[BoothTeam]: ...


class PresidentPostRegister(Protocol):
    """One booth-president post per person nationally."""

    def claim(self, phone: str, booth_id: str, appointment_id: str) -> str | None:
        """Claim the post; returns the booth already holding it, or None."""

    def claim_new(self, claims: list[tuple[str, str, str]]) -> set[str]:
        """Claim unheld posts in one batch; returns the phones already claimed."""

    def release(self, phone: str, appointment_id: str) -> None: ...


class ErasureTrail(Protocol):
    def opened(
        self,
        erasure_id: str,
        *,
        requested_by: str,
        unit: str | None,
        reason: str,
        by: str,
        at: datetime,
    ) -> None: ...

    def erased(self, erasure_id: str, booth_id: str, appointment_id: str) -> None: ...


class OrganiserBudgets(Protocol):
    """Calls an organiser may make; each raises shared.ratelimit.Throttled once spent, or
    LimitsUnavailable when the budgets cannot be read."""

    def verification(self, organiser: str, appointment_id: str) -> None: ...

    def resend(self, organiser: str, appointment_id: str) -> None: ...

    def president_refusal(self, organiser: str) -> None: ...

    def may_try_president(self, organiser: str) -> None: ...

    def may_send_to_new_numbers(self, organiser: str) -> None: ...

    def sent_to(self, organiser: str, phone: str) -> None: ...


class OtpUnavailable(Exception):
    """The OTP service could not decide now (down, or its events not confirmed): try again."""


class OtpThrottled(Exception):
    """The OTP service's budget for this organiser (or this service) is spent for now."""

    def __init__(self, retry_after_s: int):
        super().__init__(f"retry after {retry_after_s}s")
        self.retry_after_s = retry_after_s


class OtpRejected(Exception):
    """Wrong, expired, used or locked code: the OTP service does not say which, by design."""


class CodeChecker(Protocol):
    """The OTP service: checks a code, or raises OtpRejected, OtpThrottled or OtpUnavailable."""

    def verify(
        self, *, request_id: str, appointment_id: str, code: str, on_behalf_of: str
    ) -> None: ...
