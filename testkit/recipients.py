"""A stand-in for the appointments service's recipients endpoint, for tests and benchmarks that
need many verified appointees the real service does not hold.

    GET /internal/recipients?unit=<unit id>&roles=<role,role>   (service token with recipients:read)

It answers the same contract (NDJSON, one line per appointee) with a synthetic booth team per
booth: the booths come from the org registry in MongoDB (SIMULATOR_RECIPIENTS_SOURCE=registry,
the default) or from the deterministic national tree generator (=generated, for a national
benchmark without loading 1.28 million units). Phones and appointment ids are derived from the
booth and seat, so the same unit always yields the same people.

    python -m uvicorn testkit.recipients:app --host 127.0.0.1 --port 8006
"""

import functools
import hashlib
import json
import uuid
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Query
from fastapi.responses import StreamingResponse
from pydantic import Field

from shared.auth.http import Authenticator
from shared.auth.tokens import Principal
from shared.clients import mongo_client
from shared.http import create_app
from shared.orgtree.generator import generate_national, generate_state
from shared.orgtree.levels import is_within
from shared.orgtree.repository import OrgRegistry
from shared.settings import PlatformSettings

SEATS = (
    "booth_president",
    "mann_ki_baat_pramukh",
    "labharthi_pramukh",
    "whatsapp_pramukh",
    "it_social_media",
    *["panna_pramukh"] * 5,
    "member",
    "member",
)
_IDS = uuid.UUID("6a0f5d2e-41b7-4c8e-9f3a-b2d17e5c0a94")


class RecipientsSettings(PlatformSettings):
    service_name: str = "recipients-simulator"
    # It stands in for appointments' /internal/recipients, so it takes the tokens meant for that.
    auth_audience: str | None = Field("appointments", validation_alias="AUTH_AUDIENCE")
    source: str = Field(
        "registry", pattern="^(registry|generated)$", validation_alias="SIMULATOR_RECIPIENTS_SOURCE"
    )
    team_size: int = Field(12, ge=1, le=12, validation_alias="SIMULATOR_TEAM_SIZE")
    # Every n-th booth only (1: all): a national audience scaled down without changing its shape.
    booth_stride: int = Field(1, ge=1, validation_alias="SIMULATOR_BOOTH_STRIDE")


def appointee(booth_id: str, seat: int) -> dict:
    parts = booth_id.split("-")
    path = dict(
        zip(
            ("state", "district", "assembly", "mandal", "sector"),
            ("-".join(parts[:n]) for n in range(2, 7)),
        )
    )
    digest = int.from_bytes(hashlib.sha256(f"{booth_id}:{seat}".encode()).digest()[:8], "big")
    return {
        "booth_id": booth_id,
        "booth_path": path,
        "appointment_id": str(uuid.uuid5(_IDS, f"{booth_id}:{seat}")),
        "role": SEATS[seat],
        "phone": f"+91{6 + digest % 4}{digest // 4 % 10**9:09d}",
        "locale": "en" if digest % 5 == 0 else "hi",
    }


def generated_booths(unit_id: str) -> Iterator[str]:
    """The booths under `unit_id`, in the generator's order. A large audience is read a district
    at a time (meetings' and the notifier's chunks), so a state is generated once and kept by
    district, not generated again for each of its districts."""
    parts = unit_id.split("-")
    by_district = _booths_by_district(parts[1] if len(parts) > 1 else None)
    if len(parts) <= 2:
        return (booth for booths in by_district.values() for booth in booths)
    booths = by_district.get("-".join(parts[:3]), ())
    return (booth for booth in booths if is_within(booth, unit_id))


@functools.lru_cache(maxsize=2)
def _booths_by_district(state: str | None) -> dict[str, list[str]]:
    by_district: dict[str, list[str]] = {}
    for unit in generate_national() if state is None else generate_state(state):
        if unit["level"] == "booth":
            by_district.setdefault(unit["id"].rsplit("-", 4)[0], []).append(unit["id"])
    return by_district


def router(settings: RecipientsSettings) -> APIRouter:
    auth = Authenticator(settings)
    registry = (
        OrgRegistry(mongo_client(settings)[settings.mongo_db])
        if settings.source == "registry"
        else None
    )
    Caller = Annotated[Principal, Depends(auth.service("recipients:read"))]
    api = APIRouter(tags=["recipients"])

    @api.get("/internal/recipients", response_class=StreamingResponse)
    def recipients(
        caller: Caller,
        unit: Annotated[str, Query(min_length=1, max_length=64)],
        roles: str | None = None,
    ):
        wanted = set(roles.split(",")) if roles else None
        seats = [i for i in range(settings.team_size) if wanted is None or SEATS[i] in wanted]
        booths = registry.booth_ids_under(unit) if registry is not None else generated_booths(unit)

        def lines() -> Iterator[bytes]:
            chunk = []
            for n, booth_id in enumerate(booths):
                if n % settings.booth_stride:
                    continue
                chunk.extend(json.dumps(appointee(booth_id, seat)) + "\n" for seat in seats)
                if len(chunk) >= 500:
                    yield "".join(chunk).encode()
                    chunk = []
            yield "".join(chunk).encode()

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    return api


def create_recipients_app(settings: RecipientsSettings) -> FastAPI:
    return create_app(
        service=settings.service_name, settings=settings, checks={}, routers=[router(settings)]
    )


app = create_recipients_app(RecipientsSettings())
