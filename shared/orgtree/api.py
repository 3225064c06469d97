"""HTTP read routes for the organisation registry, mounted by the services that need them."""

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from shared.orgtree.repository import OrgRegistry
from shared.problems import ProblemError


class UnitRead(BaseModel):
    id: str
    level: str
    parent: str | None
    state: str | None
    name: str
    name_hi: str
    booths: int


class UnitDetailRead(UnitRead):
    ancestors: list[UnitRead]  # national first
    children: list[UnitRead]


def units_router(get_registry: Callable[..., OrgRegistry]) -> APIRouter:
    router = APIRouter(prefix="/units", tags=["units"])
    Registry = Annotated[OrgRegistry, Depends(get_registry)]

    @router.get("/{unit_id}", response_model=UnitDetailRead)
    def read_unit(unit_id: str, registry: Registry) -> UnitDetailRead:
        unit = registry.get(unit_id)
        if unit is None:
            raise ProblemError(404, "unknown-unit", "Unknown unit", f"No organisational unit has id {unit_id!r}.")
        return UnitDetailRead(**{
            **unit,
            "ancestors": [UnitRead(**a) for a in registry.ancestors(unit)],
            "children": [UnitRead(**c) for c in registry.children(unit_id)],
        })

    return router
