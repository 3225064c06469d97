"""A booth's WhatsApp groups and broadcast lists: the rules, no I/O.

The booth's WhatsApp pramukh (or an organiser above the booth) registers each group or list with
its name, member count and invite link, updates the count, and closes it. WhatsApp's own caps hold
here too: a broadcast list reaches at most 256 recipients, a group at most 1,024 members.

All of a booth's groups live in one document (`BoothGroups`, a handful per booth), so a booth's
list is one read and each change one compare-and-set carrying its whatsapp-group-updated event.
The event tells analytics the kind, the count and whether it is open: never the name nor the invite
link, which stay in the reports service (the link sealed at rest).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime

from reports.domain import Invalid, Refused

CAPS = {"broadcast_list": 256, "group": 1024}
KINDS = tuple(CAPS)
MAX_GROUPS = 20  # a booth runs a group and a list or two; more is a mistake or abuse
NAME_LENGTH = 100
INVITE_PREFIX = "https://chat.whatsapp.com/"
EVENT_TYPE = "org.sangathan.whatsapp-group-updated.v1"


@dataclass(frozen=True)
class Group:
    group_id: str
    kind: str  # group | broadcast_list
    name: str
    members: int
    invite_link: str | None  # private: returned only to callers with jurisdiction
    active: bool
    registered_by: str
    updated_by: str
    updated_at: datetime


@dataclass
class BoothGroups:
    booth_id: str
    booth_path: dict[str, str]
    groups: list[Group] = field(default_factory=list)
    rev: int = 0
    outbox: list[dict] = field(default_factory=list)

    def find(self, group_id: str) -> Group | None:
        return next((g for g in self.groups if g.group_id == group_id), None)

    def register(
        self,
        *,
        group_id: str,
        kind: str,
        name: str,
        members: int,
        invite_link: str | None,
        by: str,
        at: datetime,
    ) -> Group:
        check(kind=kind, name=name, members=members, invite_link=invite_link)
        if len(self.groups) >= MAX_GROUPS:
            raise Refused("too-many-groups", f"a booth registers at most {MAX_GROUPS} groups")
        group = Group(group_id, kind, name, members, invite_link, True, by, by, at)
        self.groups.append(group)
        self._announce(group)
        return group

    def update(
        self,
        group_id: str,
        *,
        name: str | None = None,
        members: int | None = None,
        invite_link: str | None = None,
        by: str,
        at: datetime,
    ) -> Group:
        group = self._open(group_id)
        changed = replace(
            group,
            name=group.name if name is None else name,
            members=group.members if members is None else members,
            invite_link=group.invite_link if invite_link is None else invite_link,
            updated_by=by,
            updated_at=at,
        )
        check(
            kind=changed.kind,
            name=changed.name,
            members=changed.members,
            invite_link=changed.invite_link,
        )
        return self._replace(changed)

    def deactivate(self, group_id: str, *, by: str, at: datetime) -> Group:
        group = self._open(group_id)
        return self._replace(replace(group, active=False, updated_by=by, updated_at=at))

    def _open(self, group_id: str) -> Group:
        group = self.find(group_id)
        if group is None:
            raise LookupError(group_id)
        if not group.active:
            raise Refused("group-closed", "the group was closed; register it again to reopen")
        return group

    def _replace(self, group: Group) -> Group:
        self.groups = [group if g.group_id == group.group_id else g for g in self.groups]
        self._announce(group)
        return group

    def _announce(self, group: Group) -> None:
        self.outbox.append(
            {
                "id": str(uuid.uuid4()),
                "type": EVENT_TYPE,
                "data": group_updated(self, group),
                "time": group.updated_at.isoformat(),
            }
        )


def check(*, kind: str, name: str, members: int, invite_link: str | None) -> None:
    """Refuse what WhatsApp itself would: a count over the kind's cap, a link that is not an
    invite; each reason names its field."""
    errors: list[tuple[str, str]] = []
    if kind not in CAPS:
        errors.append(("kind", "must be group or broadcast_list"))
    elif not 0 <= members <= CAPS[kind]:
        noun = "a broadcast list" if kind == "broadcast_list" else "a group"
        errors.append(("members", f"{noun} holds 0 to {CAPS[kind]:,} members on WhatsApp"))
    if not name.strip() or len(name) > NAME_LENGTH:
        errors.append(("name", f"must be 1 to {NAME_LENGTH} characters"))
    if invite_link is not None and not _is_invite(invite_link):
        errors.append(("invite_link", f"must be a WhatsApp invite link, {INVITE_PREFIX}…"))
    if errors:
        raise Invalid(errors)


def _is_invite(link: str) -> bool:
    code = link.removeprefix(INVITE_PREFIX)
    return link.startswith(INVITE_PREFIX) and 0 < len(code) <= 64 and code.isalnum()


def group_updated(booth: BoothGroups, group: Group) -> dict:
    """whatsapp-group-updated's data: counts and state, nothing that names or opens the group."""
    return {
        "group_id": group.group_id,
        "booth_id": booth.booth_id,
        "booth_path": booth.booth_path,
        "kind": group.kind,
        "members": group.members,
        "active": group.active,
        "updated_by": group.updated_by,
        "updated_at": group.updated_at.isoformat(),
    }


@dataclass(frozen=True)
class Summary:
    """A unit's booth groups, counted as analytics counts them on /coverage."""

    booths_with_group: int = 0
    members_reached: int = 0
    broadcast_lists: int = 0
    broadcast_recipients: int = 0
    closed: int = 0


def summarise(booths: Iterable[list[Group]]) -> Summary:
    """Counts over each booth's groups: a booth with an active group once, members of active
    groups, active lists and their recipients; closed ones apart."""
    with_group = members = lists = recipients = closed = 0
    for groups in booths:
        active = [g for g in groups if g.active]
        closed += len(groups) - len(active)
        with_group += any(g.kind == "group" for g in active)
        members += sum(g.members for g in active if g.kind == "group")
        lists += sum(1 for g in active if g.kind == "broadcast_list")
        recipients += sum(g.members for g in active if g.kind == "broadcast_list")
    return Summary(with_group, members, lists, recipients, closed)
