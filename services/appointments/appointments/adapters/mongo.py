"""Booth teams in MongoDB: one document per booth (`_id` = booth id), saved by compare-and-set.

State, history and the outbox of unpublished events live in that one document, so a write
either happens with its events or not at all. A small `outbox_pending` collection points the
relay at booths with something to publish; a periodic sweep of `has_outbox` finds any booth
whose pointer a crash lost.
"""

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from appointments.domain import Appointment, BoothTeam, Person
from shared.mongo import insert_ignoring_duplicates
from shared.teams.rules import TeamRules


PERSONAL = ("phone", "name")


class ConcurrentUpdate(Exception):
    """Someone saved the booth team since we read it; read again and retry."""


class BoothTeams:
    def __init__(self, db: Database, rules_for: Callable[[str], TeamRules]):
        self.teams, self.pending, self.rules_for = db.booth_teams, db.outbox_pending, rules_for
        self.dead_letters = db.outbox_dead_letters

    def ensure_indexes(self) -> None:
        # Used by a real MongoDB; the local FerretDB scans these filters anyway.
        self.teams.create_index([("path_ids", ASCENDING), ("_id", ASCENDING)])
        self.teams.create_index([("has_outbox", ASCENDING)])

    def get(self, booth_id: str) -> BoothTeam | None:
        doc = self.teams.find_one({"_id": booth_id})
        return None if doc is None else self._team(doc)

    def save(self, team: BoothTeam) -> None:
        """Insert a new team or update the one read at `team.version`; ConcurrentUpdate if it moved on."""
        doc = self._document(team)
        if team.version == 0:
            try:
                self.teams.insert_one({"_id": team.booth_id, **doc, "version": 1})
            except DuplicateKeyError:
                raise ConcurrentUpdate(team.booth_id) from None
        else:
            result = self.teams.update_one({"_id": team.booth_id, "version": team.version},
                                           {"$set": {**doc, "version": team.version + 1}})
            if result.matched_count == 0:
                raise ConcurrentUpdate(team.booth_id)
        team.version += 1
        if team.outbox:
            self.mark_pending(team.booth_id)

    def insert_new(self, teams: list[BoothTeam]) -> set[str]:
        """Insert teams that have no document yet in one unordered batch; returns the booth ids
        that already had one (those teams are left as they are, unsaved)."""
        docs = [{"_id": t.booth_id, **self._document(t), "version": 1} for t in teams]
        existing = {docs[i]["_id"] for i in insert_ignoring_duplicates(self.teams, docs)}
        new = [t for t in teams if t.booth_id not in existing]
        for team in new:
            team.version = 1
        insert_ignoring_duplicates(self.pending, [{"_id": t.booth_id, "since": _now()} for t in new if t.outbox])
        return existing

    # ------------------------------------------------------------------ outbox pointers

    def mark_pending(self, booth_id: str) -> None:
        self.pending.update_one({"_id": booth_id}, {"$set": {"since": _now()}}, upsert=True)

    def pending_booths(self, limit: int) -> list[str]:
        return [d["_id"] for d in self.pending.find({}, {"_id": 1}).limit(limit)]

    def clear_pending(self, booth_id: str) -> None:
        self.pending.delete_one({"_id": booth_id})

    def quarantine(self, booth_id: str, event: dict[str, Any], reason: str) -> None:
        """Keep an event that cannot be published, with why, for a person to look at; without
        the personal data it may carry (a phone), which a dead letter does not need."""
        data = {k: v for k, v in event["data"].items() if k not in PERSONAL}
        self.dead_letters.update_one({"_id": event["id"]}, {"$setOnInsert": {
            "booth_id": booth_id, "type": event["type"], "time": event["time"], "data": data,
            "reason": reason, "quarantined_at": _now()}}, upsert=True)

    def booths_with_outbox(self) -> Iterator[str]:
        with self.teams.find({"has_outbox": True}, {"_id": 1}) as cursor:
            for doc in cursor:
                yield doc["_id"]

    def outbox_backlog(self) -> int:
        return self.pending.count_documents({})

    # ------------------------------------------------------------------ portal reads

    def teams_under(self, unit_id: str, *, after: str = "", limit: int = 200) -> list[BoothTeam]:
        query: dict[str, Any] = {"path_ids": unit_id}
        if after:
            query["_id"] = {"$gt": after}
        return [self._team(d) for d in self.teams.find(query).sort("_id", ASCENDING).limit(limit)]

    def every(self, batch_size: int = 1000) -> Iterator[BoothTeam]:
        """Every booth team, streamed by cursor (a scan: for one-off rebuilds only)."""
        with self.teams.find({}, batch_size=batch_size) as cursor:
            for doc in cursor:
                yield self._team(doc)

    # ------------------------------------------------------------------ mapping

    def _document(self, team: BoothTeam) -> dict[str, Any]:
        return {
            "booth_path": team.booth_path,
            "path_ids": ["IN", *team.booth_path.values()],
            "appointments": [_appointment_doc(a) for a in team.appointments],
            "history": team.history,
            "outbox": team.outbox,
            "has_outbox": bool(team.outbox),
            "idempotency": team.idempotency,
            "seen_events": team.seen_events,
            "updated_at": _now(),
        }

    def _team(self, doc: dict[str, Any]) -> BoothTeam:
        state_code = doc["booth_path"]["state"].split("-")[1]
        return BoothTeam(
            booth_id=doc["_id"], booth_path=doc["booth_path"], rules=self.rules_for(state_code),
            appointments=[_appointment(a) for a in doc["appointments"]], history=doc["history"],
            outbox=doc["outbox"], idempotency=doc["idempotency"], seen_events=doc["seen_events"],
            version=doc["version"],
        )


class PresidentPosts:
    """One booth-president post per person nationally: a claim document per phone (`_id`).

    A claim is written before the booth team and removed after the president leaves; a crash in
    between leaves a stale claim, which the next claimant detects (the booth no longer has that
    president) and takes over. So the rule holds across any crash without transactions.
    """

    def __init__(self, db: Database, teams: BoothTeams):
        self.posts, self.teams = db.president_posts, teams

    def claim(self, phone: str, booth_id: str, appointment_id: str) -> str | None:
        """Claim the post for this appointment; returns the booth already holding it, or None."""
        mine = {"_id": phone, "booth_id": booth_id, "appointment_id": appointment_id}
        for _ in range(5):
            try:
                self.posts.insert_one(mine)
                return None
            except DuplicateKeyError:
                held = self.posts.find_one({"_id": phone})
            if held is None:
                continue
            if held["appointment_id"] == appointment_id or not self._still_holds(held):
                replaced = self.posts.replace_one({"_id": phone, "appointment_id": held["appointment_id"]}, mine)
                if replaced.matched_count:
                    return None
                continue
            return held["booth_id"]
        raise ConcurrentUpdate(f"president post of booth {booth_id}")

    def claim_new(self, claims: list[tuple[str, str, str]]) -> set[str]:
        """Claim posts no one holds, (phone, booth id, appointment id) each, in one batch; returns
        the phones already claimed (by anyone), which need `claim`'s one-by-one judgement."""
        docs = [{"_id": phone, "booth_id": booth_id, "appointment_id": appointment_id}
                for phone, booth_id, appointment_id in claims]
        return {docs[i]["_id"] for i in insert_ignoring_duplicates(self.posts, docs)}

    def release(self, phone: str, appointment_id: str) -> None:
        self.posts.delete_one({"_id": phone, "appointment_id": appointment_id})

    def _still_holds(self, held: dict) -> bool:
        team = self.teams.get(held["booth_id"])
        if team is None:
            return False
        president = team.president()
        return president is not None and president.id == held["appointment_id"]


def _appointment_doc(a: Appointment) -> dict[str, Any]:
    return {
        "id": a.id, "role": a.role, "status": a.status, "appointed_by": a.appointed_by,
        "appointed_at": a.appointed_at, "replaces": a.replaces, "otp_request_id": a.otp_request_id,
        "verified_at": a.verified_at, "ended_at": a.ended_at, "ended_by": a.ended_by,
        "otp_failure": a.otp_failure, "wrong_codes": a.wrong_codes,
        "person": {"name": a.person.name, "phone": a.person.phone, "gender": a.person.gender,
                   "channel": a.person.channel, "locale": a.person.locale},
    }


def _appointment(d: dict[str, Any]) -> Appointment:
    return Appointment(
        id=d["id"], role=d["role"], person=Person(**d["person"]), status=d["status"],
        appointed_by=d["appointed_by"], appointed_at=_aware(d["appointed_at"]), replaces=d["replaces"],
        otp_request_id=d["otp_request_id"], verified_at=_aware(d["verified_at"]), ended_at=_aware(d["ended_at"]),
        ended_by=d["ended_by"], otp_failure=d.get("otp_failure"),
        wrong_codes=[_aware(t) for t in d.get("wrong_codes", [])],
    )


def _aware(value: datetime | None) -> datetime | None:
    # BSON dates come back naive (UTC); the domain works in aware datetimes.
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


def _now() -> datetime:
    return datetime.now(timezone.utc)
