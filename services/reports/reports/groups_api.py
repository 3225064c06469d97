"""HTTP routes of the booth WhatsApp groups (docs/reports.md): the booth's WhatsApp pramukh, or an
organiser above the booth, registers a group or broadcast list, updates its count and closes it;
those with jurisdiction over the booth read its groups, invite links included; a unit's summary
counts its booths' groups. Names and links are never logged."""

import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from reports import group_handlers as handlers
from reports.group_handlers import CloseGroup, GroupPorts, RegisterGroup, UpdateGroup
from reports.groups import Group
from reports.refusals import refusals_as_problems
from shared.auth.http import Authenticator, require_jurisdiction
from shared.auth.tokens import Principal
from shared.problems import problems

UNIT = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
SCOPE = "reports:groups"
UnitId = Annotated[str, Path(pattern=UNIT)]


class GroupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["group", "broadcast_list"]
    name: str = Field(max_length=200)
    members: int = Field(ge=0, description="at most 256 on a broadcast list, 1,024 in a group")
    invite_link: str | None = Field(None, max_length=200, description="private to the booth")


class GroupUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200)
    members: int | None = Field(None, ge=0)
    invite_link: str | None = Field(None, max_length=200)


class GroupRead(BaseModel):
    group_id: str
    kind: str
    name: str
    members: int
    invite_link: str | None
    active: bool
    registered_by: str
    updated_by: str
    updated_at: datetime


class BoothGroupsRead(BaseModel):
    booth_id: str
    groups: list[GroupRead]


class GroupsSummaryRead(BaseModel):
    unit_id: str
    booths_with_group: int
    members_reached: int
    broadcast_lists: int
    broadcast_recipients: int
    closed: int


def groups_router(ports: GroupPorts, auth: Authenticator) -> APIRouter:
    router = APIRouter(tags=["whatsapp groups"])
    Keeper = Annotated[Principal, Depends(auth.organiser(SCOPE))]
    Reader = Annotated[Principal, Depends(auth.organiser("reports:read"))]
    booth_groups = "/v1/booths/{booth_id}/whatsapp-groups"
    refusals = problems(403, 404, 409, 503)

    @router.post(booth_groups, status_code=201, response_model=GroupRead, responses=refusals)
    def register(booth_id: UnitId, body: GroupCreate, who: Keeper) -> GroupRead:
        require_jurisdiction(who, booth_id)
        command = RegisterGroup(
            booth_id, body.kind, body.name, body.members, body.invite_link, who.subject
        )
        with refusals_as_problems():
            return group_read(handlers.handle(command, ports))

    @router.patch(booth_groups + "/{group_id}", response_model=GroupRead, responses=refusals)
    def update(booth_id: UnitId, group_id: uuid.UUID, body: GroupUpdate, who: Keeper) -> GroupRead:
        require_jurisdiction(who, booth_id)
        command = UpdateGroup(
            booth_id, str(group_id), body.name, body.members, body.invite_link, who.subject
        )
        with refusals_as_problems():
            return group_read(handlers.handle(command, ports))

    @router.post(
        booth_groups + "/{group_id}/deactivate", response_model=GroupRead, responses=refusals
    )
    def deactivate(booth_id: UnitId, group_id: uuid.UUID, who: Keeper) -> GroupRead:
        require_jurisdiction(who, booth_id)
        with refusals_as_problems():
            command = CloseGroup(booth_id, str(group_id), who.subject)
            return group_read(handlers.handle(command, ports))

    @router.get(booth_groups, response_model=BoothGroupsRead, responses=refusals)
    def read(booth_id: UnitId, who: Reader) -> BoothGroupsRead:
        require_jurisdiction(who, booth_id)
        groups = handlers.booth_groups(ports, booth_id)
        return BoothGroupsRead(booth_id=booth_id, groups=[group_read(g) for g in groups])

    @router.get(
        "/v1/units/{unit_id}/whatsapp-groups", response_model=GroupsSummaryRead, responses=refusals
    )
    def summary(unit_id: UnitId, who: Reader) -> GroupsSummaryRead:
        require_jurisdiction(who, unit_id)
        with refusals_as_problems():
            counts = handlers.unit_summary(ports, unit_id)
        return GroupsSummaryRead(unit_id=unit_id, **asdict(counts))

    return router


def group_read(group: Group) -> GroupRead:
    return GroupRead(**asdict(group))
