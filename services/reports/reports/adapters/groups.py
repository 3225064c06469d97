"""Booths' WhatsApp groups in MongoDB: one document per booth (`_id` the booth id, so a booth's
list is a read by `_id`), its outbox written in the same compare-and-set as the change, as forms
and booth reports do (adapters/mongo.py). Invite links are sealed (shared/crypto/fields.py,
purpose "invite-link") and opened only when a caller with jurisdiction reads them.

A unit's summary scans the documents of its booths (`booth_path.<level>`): a mandal's or a
district's is a few thousand small documents; the nation's counts are analytics' /coverage."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pymongo.database import Database

from reports.adapters.mongo import OutboxPointers, save_with_outbox
from reports.groups import BoothGroups, Group
from shared.crypto.fields import FieldCipher
from shared.orgtree.levels import level_of

PURPOSE = "invite-link"


class GroupStore:
    def __init__(self, db: Database, pointers: OutboxPointers, cipher: FieldCipher):
        # Named on `db` itself, so deploy/k8s/rules.py finds it for the service's MongoDB role.
        self.groups, self.pointers, self.cipher = db.report_whatsapp_groups, pointers, cipher

    def get(self, booth_id: str) -> BoothGroups | None:
        doc = self.groups.find_one({"_id": booth_id})
        return self._booth(doc) if doc else None

    def save(self, booth: BoothGroups) -> None:
        """Insert (rev 0) or compare-and-set the booth's groups and outbox (ConcurrentUpdate)."""
        doc = {
            "_id": booth.booth_id,
            "booth_path": booth.booth_path,
            "groups": [self._group_doc(g) for g in booth.groups],
            "outbox": booth.outbox,
        }
        booth.rev = save_with_outbox(self.groups, self.pointers, doc, booth.rev)

    def under(self, unit_id: str) -> Iterator[list[Group]]:
        """Each booth's groups in the unit's subtree, links left sealed (a count needs none)."""
        level = level_of(unit_id)
        where = {"national": {}, "booth": {"_id": unit_id}}.get(
            level, {f"booth_path.{level}": unit_id}
        )
        with self.groups.find(where, {"groups": 1}) as cursor:
            for doc in cursor:
                yield [_group(g, None) for g in doc["groups"]]

    def _group_doc(self, group: Group) -> dict[str, Any]:
        link = group.invite_link
        return {
            "group_id": group.group_id,
            "kind": group.kind,
            "name": group.name,
            "members": group.members,
            "invite_link": self.cipher.seal(link, PURPOSE) if link else None,
            "active": group.active,
            "registered_by": group.registered_by,
            "updated_by": group.updated_by,
            "updated_at": group.updated_at.isoformat(),
        }

    def _booth(self, doc: dict[str, Any]) -> BoothGroups:
        link = self.cipher.open
        return BoothGroups(
            doc["_id"],
            doc["booth_path"],
            [
                _group(g, link(g["invite_link"], PURPOSE) if g["invite_link"] else None)
                for g in doc["groups"]
            ],
            rev=doc["rev"],
            outbox=doc.get("outbox", []),
        )


def _group(doc: dict[str, Any], invite_link: str | None) -> Group:
    return Group(
        **{
            **doc,
            "invite_link": invite_link,
            "updated_at": datetime.fromisoformat(doc["updated_at"]),
        }
    )
