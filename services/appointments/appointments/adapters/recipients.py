"""Verified recipients by assembly seat and role: what a directive's fan-out reads, by `_id` alone.

Reading them out of `booth_teams` filters on `path_ids`, which FerretDB v1 answers by scanning
every booth team (about a minute a pass nationally, and a fan-out makes one pass per chunk).
So the outbox relay, which visits every booth whose team changed, also writes the booth's verified
appointees of each role that changed into one document per assembly seat and role:

    _id "<assembly id>/<role>"
    booths: {<booth id>: "<team version>|<appointment id>,<sealed phone>,<locale>|..."}

A unit's office-bearers (a mandal's president) are kept the same way under the unit's id, each
person with their own booth last (`...,<locale>,<booth id>`): a reader gets them at that booth,
so directives and meetings count them there, and a scope reaches them when it holds their unit.

An entry is one string, its version zero-padded first: FerretDB v1 reads a seat's document of
strings about five times faster than the same entries as nested documents (270 booths: 14 ms
against 71), and a string still compares by version. The phone in an entry is sealed (AES-GCM,
`PersonalData`): the directory is a copy of personal data at rest like the teams it follows,
and is opened one recipient at a time as a fan-out reads it. An entry only moves to a newer team
version, so relays racing on one booth leave the newest. A unit's recipients are its seats'
documents: the nation's ~3,850 per role, a district's ~5, a mandal's one (filtered to the mandal).

A directory created beside booth teams that already exist is filled from them once at start
(`backfill`); until then readers get RecipientsBuilding, which the API answers with a 503.
"""

from collections.abc import Callable, Iterable, Iterator

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from appointments.adapters.mongo import Resealed
from appointments.adapters.personal import PersonalData
from appointments.domain import Appointment, BoothTeam
from shared.crypto.fields import sealed_with
from shared.logging import get_logger
from shared.orgtree.levels import BY_NAME, LEVELS, booth_path, is_within, level_of
from shared.orgtree.repository import OrgRegistry

log = get_logger(__name__)

ASSEMBLY_DEPTH = LEVELS.index(BY_NAME["assembly"])  # segments below the nation: IN-HP-D03-A02
BUILT = {"_id": "built", "version": 1}
VERSION_DIGITS = 12  # zero-padded, so versions compare as strings


def document_id(assembly_id: str, role: str) -> str:
    return f"{assembly_id}/{role}"


def entry(team: BoothTeam, role: str, seal_phone: Callable[[str], str]) -> str:
    """A booth's entry in its seat's document for a role: the team's version and who it reaches."""
    return "|".join(
        [_version(team.version), *(_person(a, seal_phone) for a in team.verified(role))]
    )


def _person(a: Appointment, seal_phone: Callable[[str], str]) -> str:
    at = [a.home_booth] if a.home_booth else []  # an office-bearer's own booth
    return ",".join([a.id, seal_phone(a.person.phone), a.person.locale, *at])


def _version(version: int) -> str:
    return f"{version:0{VERSION_DIGITS}d}"


def _phones(value: str) -> list[str]:
    """The (sealed) phones in a booth's entry."""
    return [person.split(",")[1] for person in value.split("|")[1:]]


class RecipientsBuilding(Exception):
    """The directory is still being filled from the booth teams that existed before it."""


class RecipientDirectory:
    def __init__(
        self,
        db: Database,
        registry: OrgRegistry,
        roles_of: Callable[[str], Iterable[str]],
        personal: PersonalData,
    ):
        self.docs, self.meta = db.verified_recipients, db.verified_recipients_meta
        self.personal = personal
        self.registry, self.roles_of = (
            registry,
            roles_of,
        )  # roles_of(state code) -> every role there
        self._built = False

    # ------------------------------------------------------------------ writing (the relay)

    def record(self, team: BoothTeam, roles: Iterable[str]) -> None:
        """Write the team's verified appointees of these roles, unless a newer version is there."""
        for role in roles:
            self._put(
                document_id(team.booth_path["assembly"], role),
                team.booth_id,
                entry(team, role, self.personal.seal_phone),
            )

    def _put(self, doc_id: str, booth_id: str, value: str) -> None:
        field = f"booths.{booth_id}"
        version = value.split("|", 1)[0]
        older = {"_id": doc_id, "$or": [{field: {"$lt": version}}, {field: {"$exists": False}}]}
        for _ in range(3):
            if self.docs.update_one(older, {"$set": {field: value}}).matched_count:
                return
            try:
                self.docs.insert_one({"_id": doc_id, "booths": {booth_id: value}})
                return
            except DuplicateKeyError:
                continue  # the document exists: either it was just made, or it holds a newer entry
        # Three times refused by an existing document: it holds this version or a newer one.

    def backfill(self, teams: Iterable[BoothTeam]) -> int:
        """Fill the directory from booth teams that existed before it (once); how many were read."""
        if self.meta.find_one({"_id": BUILT["_id"], "version": BUILT["version"]}):
            self._built = True
            return 0
        read = 0
        for team in teams:
            self.record(team, {a.role for a in team.appointments})
            read += 1
        self.meta.replace_one({"_id": BUILT["_id"]}, BUILT, upsert=True)
        self._built = True
        log.info("verified recipients filled from existing booth teams", fields={"teams": read})
        return read

    # ------------------------------------------------------------------ re-sealing (key rotation)

    def reseal_page(self, *, after: str, limit: int) -> Resealed:
        """Re-seal, from document id `after`, the next `limit` seat documents' phones under the
        current key. An entry is replaced only if it still holds what was read: one the relay
        rewrote meanwhile is read again (a relay of this keyring sealed it under the current
        key)."""
        query = {"_id": {"$gt": after}} if after else {}
        docs = list(self.docs.find(query).sort("_id", 1).limit(limit))
        done = Resealed(last=docs[-1]["_id"] if docs else None, scanned=len(docs))
        for doc in docs:
            for booth_id, value in doc.get("booths", {}).items():
                self._reseal_entry(doc["_id"], booth_id, value, done)
        return done

    def _reseal_entry(self, doc_id: str, booth_id: str, value: str | None, done: Resealed) -> None:
        field = f"booths.{booth_id}"
        for _ in range(5):
            if value is None or not self.personal.stale(_phones(value)):
                return
            resealed = {"$set": {field: self._resealed(value)}}
            if self.docs.update_one({"_id": doc_id, field: value}, resealed).matched_count:
                done.resealed += 1
                return
            done.raced += 1
            value = (self.docs.find_one({"_id": doc_id}) or {}).get("booths", {}).get(booth_id)
        raise RuntimeError(f"the recipients of {doc_id} kept changing while they were re-sealed")

    def _resealed(self, value: str) -> str:
        version, *people = value.split("|")
        opened = [person.split(",") for person in people]
        return "|".join(
            [
                version,
                *(
                    ",".join(
                        [
                            appointment_id,
                            self.personal.seal_phone(self.personal.open_phone(phone)),
                            *rest,
                        ]
                    )
                    for appointment_id, phone, *rest in opened
                ),
            ]
        )

    def fields_sealed_with(self, key_id: str) -> int:
        """How many stored phones the key `key_id` sealed (a scan: for retiring a key)."""
        with self.docs.find({}) as cursor:
            return sum(
                sealed_with(phone) == key_id
                for doc in cursor
                for value in doc.get("booths", {}).values()
                for phone in _phones(value)
            )

    # ------------------------------------------------------------------ reading (the fan-out)

    def under(self, unit_id: str, roles: set[str] | None) -> Iterator[dict]:
        """Every verified appointee of these roles (all, if None) in the unit's subtree, streamed.

        Raises RecipientsBuilding at once (not when the stream is first read) while the
        directory is still being filled."""
        if not self._built:
            if not self.meta.find_one({"_id": BUILT["_id"], "version": BUILT["version"]}):
                raise RecipientsBuilding(
                    "verified recipients are still being filled from existing teams"
                )
            self._built = True
        return self._stream(unit_id, roles)

    def _stream(self, unit_id: str, roles: set[str] | None) -> Iterator[dict]:
        for assembly in self._assemblies(unit_id):
            state = assembly.split("-")[1]
            for role in sorted(roles if roles is not None else self.roles_of(state)):
                doc = self.docs.find_one({"_id": document_id(assembly, role)})
                for booth_id, value in sorted((doc or {}).get("booths", {}).items()):
                    if is_within(booth_id, unit_id):
                        path = booth_path(booth_id)
                        for person in value.split("|")[1:]:
                            appointment_id, phone, locale, *home = person.split(",")
                            at = home[0] if home else booth_id  # an office-bearer's own booth
                            yield {
                                "booth_id": at,
                                "booth_path": booth_path(at) if home else path,
                                "appointment_id": appointment_id,
                                "role": role,
                                "phone": self.personal.open_phone(phone),
                                "locale": locale,
                            }

    def _assemblies(self, unit_id: str) -> Iterator[str]:
        """The assembly seats covering the unit: its own (at or below a seat), or all below it."""
        depth = LEVELS.index(BY_NAME[level_of(unit_id)])
        if depth >= ASSEMBLY_DEPTH:
            yield "-".join(unit_id.split("-")[: ASSEMBLY_DEPTH + 1])
            return
        for child in self.registry.children(unit_id):
            yield from self._assemblies(child["id"])
