"""Booth teams in MongoDB: one document per booth (`_id` = booth id), saved by compare-and-set.

State, history and the outbox of unpublished events live in that one document, so a write
either happens with its events or not at all. A small `outbox_pending` collection points the
relay at booths with something to publish; a periodic sweep of `has_outbox` finds any booth
whose pointer a crash lost. Names and phones are sealed on the way in (`PersonalData`).
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from appointments.adapters.personal import PersonalData
from appointments.domain import Appointment, BoothTeam
from appointments.ports import ConcurrentUpdate
from shared.crypto.fields import sealed_with
from shared.mongo import insert_ignoring_duplicates
from shared.teams.rules import TeamRules

PERSONAL = ("phone", "name")


@dataclass
class Resealed:
    """One page of a re-seal pass: the last booth id read (None: nothing left) and counts."""

    last: str | None
    scanned: int
    resealed: int = 0
    raced: int = 0  # teams changed while being re-sealed, read again


class BoothTeams:
    # The team documents, the relay's pointers to those with events, and events set aside.
    COLLECTIONS = ("booth_teams", "outbox_pending", "outbox_dead_letters")

    def __init__(self, db: Database, rules_for: Callable[[str], TeamRules], personal: PersonalData):
        teams, pending, dead_letters = self.COLLECTIONS
        self.teams, self.pending, self.rules_for = db[teams], db[pending], rules_for
        self.dead_letters = db[dead_letters]
        self.personal = personal

    def ensure_indexes(self) -> None:
        # Used by a real MongoDB; the local FerretDB scans these filters anyway.
        self.teams.create_index([("path_ids", ASCENDING), ("_id", ASCENDING)])
        self.teams.create_index([("has_outbox", ASCENDING)])
        self.teams.create_index([("retained_since", ASCENDING)], sparse=True)
        self.teams.create_index([("phone_indexes", ASCENDING)])

    def get(self, booth_id: str) -> BoothTeam | None:
        doc = self.teams.find_one({"_id": booth_id})
        return None if doc is None else self._team(doc)

    def save(self, team: BoothTeam) -> None:
        """Insert a new team or update the one read at `team.version`; ConcurrentUpdate if it moved
        on."""
        doc = self._document(team)
        if team.version == 0:
            try:
                self.teams.insert_one({"_id": team.booth_id, **doc, "version": 1})
            except DuplicateKeyError:
                raise ConcurrentUpdate(team.booth_id) from None
        else:
            result = self.teams.update_one(
                {"_id": team.booth_id, "version": team.version},
                {"$set": {**doc, "version": team.version + 1}},
            )
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
        new = [team for team in teams if team.booth_id not in existing]
        for team in new:
            team.version = 1
        insert_ignoring_duplicates(
            self.pending, [{"_id": t.booth_id, "since": _now()} for t in new if t.outbox]
        )
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
        self.dead_letters.update_one(
            {"_id": event["id"]},
            {
                "$setOnInsert": {
                    "booth_id": booth_id,
                    "type": event["type"],
                    "time": event["time"],
                    "data": data,
                    "reason": reason,
                    "quarantined_at": _now(),
                }
            },
            upsert=True,
        )

    def booths_with_outbox(self) -> Iterator[str]:
        with self.teams.find({"has_outbox": True}, {"_id": 1}) as cursor:
            for doc in cursor:
                yield doc["_id"]

    def outbox_backlog(self) -> int:
        return self.pending.count_documents({})

    # ------------------------------------------------------------------ personal data

    def with_phone(self, phone: str, unit_id: str) -> list[str]:
        """The booths under `unit_id` whose team has (or had) this phone, found by its index."""
        query = {"phone_indexes": self.personal.index(phone), "path_ids": unit_id}
        return [d["_id"] for d in self.teams.find(query, {"_id": 1})]

    def ended_before(
        self, cutoff: datetime, *, after: str = "", limit: int = 500
    ) -> list[BoothTeam]:
        """Teams (by booth id, from `after`) with an appointment that ended before `cutoff` and
        still names its person: the retention job's work, read in pages."""
        query: dict[str, Any] = {"retained_since": {"$lt": cutoff}}
        if after:
            query["_id"] = {"$gt": after}
        return [self._team(d) for d in self.teams.find(query).sort("_id", ASCENDING).limit(limit)]

    def seal_plaintext(self) -> int:
        """Save again every team written before encryption (no `phone_indexes`), which seals its
        names and phones; returns how many. Once at start-up: a scan, and then none are left."""
        sealed = 0
        for booth_id in [
            d["_id"] for d in self.teams.find({"phone_indexes": {"$exists": False}}, {"_id": 1})
        ]:
            for _ in range(5):
                try:
                    self.save(self.get(booth_id))
                    sealed += 1
                    break
                except ConcurrentUpdate:
                    continue  # changed meanwhile: read it again
        return sealed

    def reseal_page(self, *, after: str, limit: int) -> "Resealed":
        """Save again, from booth id `after`, the next `limit` teams holding a field not sealed
        under the current key (or an unkeyed request hash): the save seals under the current key, by
        the compare-and-set every write uses, so a team changed meanwhile is read again, never
        lost."""
        query: dict[str, Any] = {"_id": {"$gt": after}} if after else {}
        docs = list(self.teams.find(query).sort("_id", ASCENDING).limit(limit))
        done = Resealed(last=docs[-1]["_id"] if docs else None, scanned=len(docs))
        for doc in docs:
            for _ in range(5):
                if doc is None or not self._stale(doc):
                    break
                try:
                    self.save(self._team(doc))
                    done.resealed += 1
                    break
                except ConcurrentUpdate:
                    done.raced += 1
                    doc = self.teams.find_one({"_id": doc["_id"]})
            else:
                raise ConcurrentUpdate(f"booth {doc['_id']} kept changing while it was re-sealed")
        return done

    def fields_sealed_with(self, key_id: str) -> int:
        """How many stored fields the key `key_id` sealed (a scan: for retiring a key)."""
        with self.teams.find({}, {"appointments": 1, "outbox": 1}) as cursor:
            return sum(sealed_with(v) == key_id for doc in cursor for v in _personal_values(doc))

    def _stale(self, doc: dict[str, Any]) -> bool:
        legacy = any("fingerprint" in entry for entry in doc.get("idempotency", {}).values())
        return legacy or self.personal.stale(_personal_values(doc))

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
        appointments = [self._appointment_doc(a) for a in team.appointments]
        return {
            "booth_path": team.booth_path,
            "path_ids": ["IN", *team.booth_path.values()],
            "appointments": appointments,
            # Who is in this team, by phone index: finds a person's teams without their phone.
            "phone_indexes": sorted({i for a in appointments if (i := a["person"]["phone_index"])}),
            # When the earliest ended appointment still naming its person ended: what retention
            # looks for.
            "retained_since": min(
                (a.ended_at for a in team.appointments if a.ended_at and not a.erased_at),
                default=None,
            ),
            "history": team.history,
            "outbox": self.personal.sealed_events(team.outbox),
            "has_outbox": bool(team.outbox),
            "idempotency": team.idempotency,
            "seen_events": team.seen_events,
            "updated_at": _now(),
        }

    def _team(self, doc: dict[str, Any]) -> BoothTeam:
        return self._made(doc, BoothTeam, self.rules_for(doc["booth_path"]["state"].split("-")[1]))

    def _made(self, doc: dict[str, Any], kind: type[BoothTeam], rules: TeamRules) -> BoothTeam:
        return kind(
            booth_id=doc["_id"],
            booth_path=doc["booth_path"],
            rules=rules,
            appointments=[self._appointment(a) for a in doc["appointments"]],
            history=doc["history"],
            outbox=self.personal.opened_events(doc["outbox"]),
            idempotency=_idempotency(doc["idempotency"]),
            seen_events=doc["seen_events"],
            version=doc["version"],
        )

    def _appointment_doc(self, a: Appointment) -> dict[str, Any]:
        return {
            "id": a.id,
            "role": a.role,
            "status": a.status,
            "appointed_by": a.appointed_by,
            "appointed_at": a.appointed_at,
            "replaces": a.replaces,
            "otp_request_id": a.otp_request_id,
            "verified_at": a.verified_at,
            "ended_at": a.ended_at,
            "ended_by": a.ended_by,
            "otp_failure": a.otp_failure,
            "erased_at": a.erased_at,
            "wrong_codes": a.wrong_codes,
            "person": self.personal.person_doc(a.person),
            **({"home_booth": a.home_booth} if a.home_booth else {}),
        }

    def _appointment(self, d: dict[str, Any]) -> Appointment:
        return Appointment(
            id=d["id"],
            role=d["role"],
            person=self.personal.person(d["person"]),
            status=d["status"],
            appointed_by=d["appointed_by"],
            appointed_at=_aware(d["appointed_at"]),
            replaces=d["replaces"],
            otp_request_id=d["otp_request_id"],
            verified_at=_aware(d["verified_at"]),
            ended_at=_aware(d["ended_at"]),
            ended_by=d["ended_by"],
            otp_failure=d.get("otp_failure"),
            erased_at=_aware(d.get("erased_at")),
            wrong_codes=[_aware(t) for t in d.get("wrong_codes", [])],
            home_booth=d.get("home_booth"),
        )


class PresidentPosts:
    """One booth-president post per person nationally: a claim document per phone, its `_id` the
    phone's keyed index (never the phone itself).

    A claim is written before the booth team and removed after the president leaves; a crash in
    between leaves a stale claim, which the next claimant detects (the booth no longer has that
    president) and takes over. So the rule holds across any crash without transactions.
    """

    def __init__(self, db: Database, teams: BoothTeams):
        self.posts, self.teams, self.index = db.president_posts, teams, teams.personal.index

    def claim(self, phone: str, booth_id: str, appointment_id: str) -> str | None:
        """Claim the post for this appointment; returns the booth already holding it, or None."""
        post = self.index(phone)
        mine = {"_id": post, "booth_id": booth_id, "appointment_id": appointment_id}
        for _ in range(5):
            try:
                self.posts.insert_one(mine)
                return None
            except DuplicateKeyError:
                held = self.posts.find_one({"_id": post})
            if held is None:
                continue
            if held["appointment_id"] == appointment_id or not self._still_holds(held):
                replaced = self.posts.replace_one(
                    {"_id": post, "appointment_id": held["appointment_id"]}, mine
                )
                if replaced.matched_count:
                    return None
                continue
            return held["booth_id"]
        raise ConcurrentUpdate(f"president post of booth {booth_id}")

    def claim_new(self, claims: list[tuple[str, str, str]]) -> set[str]:
        """Claim posts no one holds, (phone, booth id, appointment id) each, in one batch; returns
        the phones already claimed (by anyone), which need `claim`'s one-by-one judgement."""
        phones = [phone for phone, _, _ in claims]
        docs = [
            {"_id": self.index(phone), "booth_id": booth_id, "appointment_id": appointment_id}
            for phone, booth_id, appointment_id in claims
        ]
        return {phones[i] for i in insert_ignoring_duplicates(self.posts, docs)}

    def release(self, phone: str, appointment_id: str) -> None:
        self.posts.delete_one({"_id": self.index(phone), "appointment_id": appointment_id})

    def rekey_plaintext(self) -> int:
        """Claims written before encryption had the phone as `_id` (E.164, so `+...`): move each to
        the phone's index; returns how many. Once at start-up."""
        moved = 0
        for held in list(self.posts.find({"_id": {"$regex": r"^\+"}})):
            insert_ignoring_duplicates(self.posts, [{**held, "_id": self.index(held["_id"])}])
            self.posts.delete_one({"_id": held["_id"]})
            moved += 1
        return moved

    def _still_holds(self, held: dict) -> bool:
        team = self.teams.get(held["booth_id"])
        if team is None:
            return False
        president = team.president()
        return president is not None and president.id == held["appointment_id"]


def _personal_values(doc: dict[str, Any]) -> list[str]:
    """Every name and phone a stored team holds: its appointees' and its unsent code requests'."""
    people = [a["person"][field] for a in doc.get("appointments", []) for field in PERSONAL]
    return people + [
        e["data"]["phone"] for e in doc.get("outbox", []) if e.get("data", {}).get("phone")
    ]


def _idempotency(stored: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    # Entries written before retries were compared with their appointment also held an unkeyed
    # hash of the request (name and phone): dropped here, so the next save leaves it out.
    return {key: {"appointment_id": entry["appointment_id"]} for key, entry in stored.items()}


def _aware(value: datetime | None) -> datetime | None:
    # BSON dates come back naive (UTC); the domain works in aware datetimes.
    return (
        value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value
    )


def _now() -> datetime:
    return datetime.now(timezone.utc)
