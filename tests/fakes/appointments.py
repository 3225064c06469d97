"""The appointments service's ports in memory: booth teams, president posts, the erasure log,
organisers' budgets and the OTP service. A team is copied in and out, as a database would."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from appointments.domain import BoothTeam
from appointments.ports import ConcurrentUpdate, OtpRejected
from shared.orgtree.levels import ancestor_ids, level_of
from shared.ratelimit import Limit, Throttled
from shared.teams.rules import TeamRules
from shared.teams.rules import rules_for as national_rules


class InMemoryBoothTeams:
    """BoothTeams' contract: a save of a team read at an older version is a ConcurrentUpdate."""

    def __init__(self, rules_for: Callable[[str], TeamRules] = national_rules):
        self.rules_for = rules_for
        self.stored: dict[str, BoothTeam] = {}
        self.pending: set[str] = set()  # booths with events for the relay
        self._lock = threading.Lock()

    def get(self, booth_id: str) -> BoothTeam | None:
        with self._lock:
            team = self.stored.get(booth_id)
            return copy.deepcopy(team) if team else None

    def save(self, team: BoothTeam) -> None:
        with self._lock:
            stored = self.stored.get(team.booth_id)
            if (stored.version if stored else 0) != team.version:
                raise ConcurrentUpdate(team.booth_id)
            team.version += 1
            self.stored[team.booth_id] = copy.deepcopy(team)
            if team.outbox:
                self.pending.add(team.booth_id)

    def insert_new(self, teams: list[BoothTeam]) -> set[str]:
        with self._lock:
            existing = {t.booth_id for t in teams if t.booth_id in self.stored}
            for team in (t for t in teams if t.booth_id not in existing):
                team.version = 1
                self.stored[team.booth_id] = copy.deepcopy(team)
                if team.outbox:
                    self.pending.add(team.booth_id)
            return existing

    def with_phone(self, phone: str, unit_id: str) -> list[str]:
        return [
            t.booth_id
            for t in self._under(unit_id)
            if any(a.person.phone == phone for a in t.appointments)
        ]

    def ended_before(
        self, cutoff: datetime, *, after: str = "", limit: int = 500
    ) -> list[BoothTeam]:
        due = [t for t in self._sorted() if t.booth_id > after and t.ended_before(cutoff)]
        return [copy.deepcopy(t) for t in due[:limit]]

    def teams_under(self, unit_id: str, *, after: str = "", limit: int = 200) -> list[BoothTeam]:
        return [copy.deepcopy(t) for t in self._under(unit_id) if t.booth_id > after][:limit]

    def _under(self, unit_id: str) -> list[BoothTeam]:
        return [t for t in self._sorted() if unit_id in ("IN", *t.booth_path.values())]

    def _sorted(self) -> list[BoothTeam]:
        with self._lock:
            return [self.stored[b] for b in sorted(self.stored)]


class InMemoryPresidentPosts:
    """PresidentPosts' contract: one post per phone nationally; a claim whose booth no longer has
    that president (a crash between claim and save) is taken over."""

    def __init__(self, teams: InMemoryBoothTeams):
        self.teams = teams
        self.held: dict[str, tuple[str, str]] = {}  # phone -> (booth id, appointment id)
        self._lock = threading.Lock()

    def claim(self, phone: str, booth_id: str, appointment_id: str) -> str | None:
        with self._lock:
            held = self.held.get(phone)
            if held is None or held[1] == appointment_id or not self._still_holds(*held):
                self.held[phone] = (booth_id, appointment_id)
                return None
            return held[0]

    def claim_new(self, claims: list[tuple[str, str, str]]) -> set[str]:
        with self._lock:
            taken = set()
            for phone, booth_id, appointment_id in claims:
                if phone in self.held:
                    taken.add(phone)
                else:
                    self.held[phone] = (booth_id, appointment_id)
            return taken

    def release(self, phone: str, appointment_id: str) -> None:
        with self._lock:
            if self.held.get(phone, (None, None))[1] == appointment_id:
                del self.held[phone]

    def _still_holds(self, booth_id: str, appointment_id: str) -> bool:
        team = self.teams.get(booth_id)
        president = team.president() if team else None
        return president is not None and president.id == appointment_id


class InMemoryErasureLog:
    def __init__(self):
        self.requests: dict[str, dict[str, Any]] = {}

    def opened(
        self,
        erasure_id: str,
        *,
        requested_by: str,
        unit: str | None,
        reason: str,
        by: str,
        at: datetime,
    ) -> None:
        self.requests[erasure_id] = {
            "_id": erasure_id,
            "requested_by": requested_by,
            "unit": unit,
            "reason": reason,
            "by": by,
            "at": at,
            "erased": [],
        }

    def erased(self, erasure_id: str, booth_id: str, appointment_id: str) -> None:
        entry = {"booth_id": booth_id, "appointment_id": appointment_id}
        if entry not in self.requests[erasure_id]["erased"]:
            self.requests[erasure_id]["erased"].append(entry)

    def get(self, erasure_id: str) -> dict[str, Any] | None:
        return self.requests.get(erasure_id)


class Budgets:
    """AppointmentLimits' answers without Redis: every budget has room, except the ones named
    in `spent` (e.g. "verification"), which are Throttled."""

    def __init__(self, spent: tuple[str, ...] = ()):
        self.spent, self.numbers, self.refusals = spent, [], 0

    def verification(self, organiser: str, appointment_id: str) -> None:
        self._spend("verification")

    def resend(self, organiser: str, appointment_id: str) -> None:
        self._spend("resend")

    def president_refusal(self, organiser: str) -> None:
        self.refusals += 1
        self._spend("president_refusal")

    def may_try_president(self, organiser: str) -> None:
        self._spend("may_try_president")

    def may_send_to_new_numbers(self, organiser: str) -> None:
        self._spend("may_send_to_new_numbers")

    def sent_to(self, organiser: str, phone: str) -> None:
        self.numbers.append(phone)

    def _spend(self, kind: str) -> None:
        if kind in self.spent:
            raise Throttled(Limit(kind, 0, 60), 60)


class ScriptedOtp:
    """The OTP service: accepts `right_code` and announces it through `on_verified`,
    refuses others."""

    def __init__(
        self, right_code: str = "123456", on_verified: Callable[[str, str], None] | None = None
    ):
        self.right_code, self.on_verified, self.asked = right_code, on_verified, []

    def verify(self, *, request_id: str, appointment_id: str, code: str, on_behalf_of: str) -> None:
        self.asked.append((request_id, on_behalf_of))
        if code != self.right_code:
            raise OtpRejected()
        if self.on_verified:
            self.on_verified(request_id, appointment_id)


class IdRegistry:
    """An org registry that knows every well-formed id: a unit's level, ancestors and state read
    from the id itself (levels.py), as the demo tree would answer for a unit it holds."""

    def get(self, unit_id: str) -> dict[str, Any] | None:
        try:
            level = level_of(unit_id)
        except ValueError:
            return None
        ancestors = ancestor_ids(unit_id)
        return {
            "id": unit_id,
            "level": level,
            "parent": ancestors[-1] if ancestors else None,
            "ancestors": ancestors,
            "state": unit_id.split("-")[1] if "-" in unit_id else None,
        }

    def booth_units(self, booth_ids) -> dict[str, dict[str, Any]]:
        return {b: unit for b in booth_ids if (unit := self.get(b)) and unit["level"] == "booth"}
