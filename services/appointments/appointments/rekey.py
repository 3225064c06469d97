"""Re-seal every stored name and phone under the current key, so an older key can be retired.

    python -m appointments.rekey [--batch 200]   re-seal what older keys sealed (make rekey)
    python -m appointments.rekey --retire ID     may key ID go? exit 0 if nothing uses it, 1 if
                                                 something does (make rekey RETIRE=ID)

To rotate: append a new `<id>:<secret>` line to PERSONAL_DATA_KEYS (it becomes current) and roll
it out to every appointments process, run this, check `--retire` of the old id, then drop its
line. The pass rewrites booth teams (appointees, unsent code requests; an unkeyed request hash
left by an older release goes too) and the recipient directory, a page at a time. It runs beside
the service: a team is saved by the compare-and-set every write uses, a directory entry is
replaced only if it still holds what was read, and either is read again if it moved. Progress
(the store and the last id done, for the current key) is kept in `personal_data_meta`, so a
stopped pass resumes where it stopped.
"""

import argparse
import sys
from dataclasses import dataclass

from pymongo.database import Database

from appointments.adapters.mongo import BoothTeams, Resealed
from appointments.adapters.offices import UnitOffices
from appointments.adapters.personal import PersonalData, personal_data
from appointments.adapters.recipients import RecipientDirectory
from appointments.settings import AppointmentsSettings
from shared.clients import mongo_client
from shared.orgtree.repository import OrgRegistry
from shared.teams.offices import audience_roles
from shared.teams.rules import rules_for

PROGRESS = "rekey"


@dataclass
class Counts:
    scanned: int = 0
    resealed: int = 0
    raced: int = 0

    def add(self, page: Resealed) -> None:
        self.scanned += page.scanned
        self.resealed += page.resealed
        self.raced += page.raced


def stores(db: Database, personal: PersonalData) -> dict:
    """Every store holding sealed fields, in the order a pass visits them."""
    teams = BoothTeams(db, rules_for, personal)
    return {
        "booth_teams": teams,
        "unit_offices": UnitOffices(db, rules_for, personal),
        "verified_recipients": RecipientDirectory(db, OrgRegistry(db), audience_roles, personal),
    }


def reseal(db: Database, personal: PersonalData, *, batch: int) -> dict[str, Counts]:
    """Re-seal every store under the current key, resuming a pass stopped under the same key."""
    current = personal.cipher.current
    progress = db.personal_data_meta.find_one({"_id": PROGRESS, "key": current}) or {}
    counts: dict[str, Counts] = {}
    every = stores(db, personal)
    names = list(every)
    for name, store in every.items():
        counts[name] = Counts()
        if progress.get("store") in names and names.index(progress["store"]) > names.index(name):
            continue  # done before the pass stopped
        after = progress.get("after", "") if progress.get("store") == name else ""
        while (page := store.reseal_page(after=after, limit=batch)).last is not None:
            counts[name].add(page)
            after = page.last
            db.personal_data_meta.replace_one(
                {"_id": PROGRESS},
                {"_id": PROGRESS, "key": current, "store": name, "after": after},
                upsert=True,
            )
    db.personal_data_meta.replace_one(
        {"_id": PROGRESS},
        {"_id": PROGRESS, "key": current, "store": "done", "after": ""},
        upsert=True,
    )
    return counts


def in_use(db: Database, personal: PersonalData, key_id: str) -> dict[str, int]:
    """How many stored fields each store still holds sealed under `key_id`."""
    return {name: store.fields_sealed_with(key_id) for name, store in stores(db, personal).items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m appointments.rekey", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--retire", metavar="KEY_ID", help="only check whether this key still seals anything"
    )
    parser.add_argument(
        "--batch", type=int, default=200, help="booth teams (or seat documents) a page"
    )
    args = parser.parse_args(argv)
    settings = AppointmentsSettings()
    personal = personal_data(settings)
    db = mongo_client(settings)[settings.mongo_db]
    if args.retire is None:
        for name, c in reseal(db, personal, batch=args.batch).items():
            print(
                f"{name}: {c.scanned} read, {c.resealed} re-sealed under key "
                f"{personal.cipher.current}, {c.raced} changed meanwhile and read again"
            )
        return 0
    if args.retire == personal.cipher.current:
        print(f"key {args.retire} is the current key: make another current (a new last line) first")
        return 2
    used = in_use(db, personal, args.retire)
    if any(used.values()):
        print(
            f"key {args.retire} is still in use: "
            + ", ".join(f"{n}: {c} fields" for n, c in used.items() if c)
            + "; run `make rekey` first"
        )
        return 1
    print(
        f"key {args.retire} seals nothing stored: its line can be removed from PERSONAL_DATA_KEYS"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
