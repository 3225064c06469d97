"""The booth WhatsApp groups' commands and their handlers: load the booth's groups, ask the
domain (reports/groups.py), save with the event in the same write, again on a concurrent one."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

from reports.groups import BoothGroups, Group, Summary, summarise
from reports.handlers import NotFound, _compare_and_set
from reports.ports import Units
from shared.orgtree.levels import booth_path


class GroupStore(Protocol):
    def get(self, booth_id: str) -> BoothGroups | None: ...

    def save(self, booth: BoothGroups) -> None:
        """Insert (rev 0) or compare-and-set, with the outbox (ConcurrentUpdate)."""

    def under(self, unit_id: str) -> Iterator[list[Group]]:
        """Each booth's groups in the unit's subtree."""


@dataclass
class GroupPorts:
    groups: GroupStore
    units: Units
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    new_id: Callable[[], str] = lambda: str(uuid.uuid4())


@dataclass(frozen=True)
class RegisterGroup:
    booth_id: str
    kind: str
    name: str
    members: int
    invite_link: str | None
    by: str  # an account id, never a name


@dataclass(frozen=True)
class UpdateGroup:
    booth_id: str
    group_id: str
    name: str | None
    members: int | None
    invite_link: str | None
    by: str


@dataclass(frozen=True)
class CloseGroup:
    booth_id: str
    group_id: str
    by: str


def register_group(command: RegisterGroup, ports: GroupPorts) -> Group:
    path = booth_path(command.booth_id)
    if path is None or ports.units.get(command.booth_id) is None:
        raise NotFound("unknown-booth", f"no booth {command.booth_id}")
    group_id, at = ports.new_id(), ports.clock()
    return _compare_and_set(
        lambda: ports.groups.get(command.booth_id) or BoothGroups(command.booth_id, path),
        lambda booth: booth.register(
            group_id=group_id,
            kind=command.kind,
            name=command.name,
            members=command.members,
            invite_link=command.invite_link,
            by=command.by,
            at=at,
        ),
        ports.groups.save,
    )


def update_group(command: UpdateGroup, ports: GroupPorts) -> Group:
    at = ports.clock()
    return _change(
        ports,
        command.booth_id,
        command.group_id,
        lambda booth: booth.update(
            command.group_id,
            name=command.name,
            members=command.members,
            invite_link=command.invite_link,
            by=command.by,
            at=at,
        ),
    )


def close_group(command: CloseGroup, ports: GroupPorts) -> Group:
    at = ports.clock()
    return _change(
        ports,
        command.booth_id,
        command.group_id,
        lambda booth: booth.deactivate(command.group_id, by=command.by, at=at),
    )


def booth_groups(ports: GroupPorts, booth_id: str) -> list[Group]:
    found = ports.groups.get(booth_id)
    return found.groups if found else []


def unit_summary(ports: GroupPorts, unit_id: str) -> Summary:
    if ports.units.get(unit_id) is None:
        raise NotFound("unknown-unit", f"no unit {unit_id}")
    return summarise(ports.groups.under(unit_id))


def _change(ports: GroupPorts, booth_id: str, group_id: str, change) -> Group:
    def load() -> BoothGroups:
        booth = ports.groups.get(booth_id)
        if booth is None or booth.find(group_id) is None:
            raise NotFound("unknown-group", f"booth {booth_id} has no group {group_id}")
        return booth

    return _compare_and_set(load, change, ports.groups.save)


HANDLERS = {RegisterGroup: register_group, UpdateGroup: update_group, CloseGroup: close_group}


def handle(command, ports: GroupPorts) -> Group:
    return HANDLERS[type(command)](command, ports)
