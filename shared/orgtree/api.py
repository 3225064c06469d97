"""HTTP read routes for the organisation registry, mounted by the services that need them."""

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel

from shared.orgtree.index import PAGE_SIZE
from shared.orgtree.levels import Unit
from shared.orgtree.repository import OrgRegistry
from shared.problems import ProblemError, problems

# A unit id in a path: the same rule as the events' `booth_id`, so a malformed id is a 422 at the
# door rather than a 403 or 404 further in. The examples are demo-tree units (`make up`), which
# OpenAPI readers and the contract fuzzer (tests/e2e/test_contracts.py) can really reach.
UNIT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
UnitId = Annotated[str, Path(pattern=UNIT_ID_PATTERN, examples=["IN-HP-D17"])]
BoothId = Annotated[str, Path(pattern=UNIT_ID_PATTERN, examples=["IN-HP-D17-A01-M01-S01-B001"])]


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


class BoothPageRead(BaseModel):
    unit_id: str
    page: int
    page_size: int
    booths: list[str]  # booth ids in tree order
    next_page: int | None


def units_router(get_registry: Callable[..., OrgRegistry]) -> APIRouter:
    router = APIRouter(prefix="/units", tags=["units"])
    Registry = Annotated[OrgRegistry, Depends(get_registry)]

    @router.get("/{unit_id}", response_model=UnitDetailRead, responses=problems(404))
    def read_unit(unit_id: UnitId, registry: Registry) -> UnitDetailRead:
        unit = _known(registry, unit_id)
        return UnitDetailRead(
            **{
                **unit,
                "ancestors": [UnitRead(**a) for a in registry.ancestors(unit)],
                "children": [UnitRead(**c) for c in registry.children(unit_id)],
            }
        )

    @router.get("/{unit_id}/booths", response_model=BoothPageRead, responses=problems(404))
    def read_booth_page(
        unit_id: UnitId, registry: Registry, page: Annotated[int, Query(ge=0)] = 0
    ) -> BoothPageRead:
        """One page of the unit's booth ids, in tree order."""
        unit = _known(registry, unit_id)
        more = (page + 1) * PAGE_SIZE < unit["booths"]
        return BoothPageRead(
            unit_id=unit_id,
            page=page,
            page_size=PAGE_SIZE,
            booths=registry.booth_page(unit_id, page),
            next_page=page + 1 if more else None,
        )

    return router


def _known(registry: OrgRegistry, unit_id: str) -> Unit:
    unit = registry.get(unit_id)
    if unit is None:
        raise ProblemError(
            404, "unknown-unit", "Unknown unit", f"No organisational unit has id {unit_id!r}."
        )
    return unit
