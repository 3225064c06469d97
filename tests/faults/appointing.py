"""Appointing booth presidents on the running platform, as the fault tests need it."""

from __future__ import annotations

import random

import httpx

from tests.faults.conftest import APPOINTMENTS, NO_HANG_S


def booths_under(unit: str) -> list[str]:
    """Every booth under a unit of the demo tree, walking down the registry's children."""
    children = httpx.get(f"{APPOINTMENTS}/units/{unit}", timeout=10).json()["children"]
    if not children:
        return [unit]
    return [b for child in children for b in booths_under(child["id"])]


def random_mandal(district: str) -> str:
    unit = district
    while unit.count("-") < 4:
        unit = random.choice(
            httpx.get(f"{APPOINTMENTS}/units/{unit}", timeout=10).json()["children"]
        )["id"]
    return unit


def vacate(booth: str, headers: dict) -> None:
    """Revoke earlier runs' appointments, so the booth takes a new president."""
    team = httpx.get(f"{APPOINTMENTS}/booths/{booth}/team", headers=headers, timeout=10).json()
    for member in team["members"]:
        httpx.delete(
            f"{APPOINTMENTS}/booths/{booth}/appointments/{member['id']}",
            headers=headers,
            timeout=10,
        )


def appoint(booth: str, headers: dict) -> httpx.Response:
    body = {
        "role": "booth_president",
        "name": "Asha Devi",
        "phone": f"+919{random.randrange(10**9):09d}",
        "gender": "female",
    }
    return httpx.post(
        f"{APPOINTMENTS}/booths/{booth}/appointments",
        json=body,
        headers=headers,
        timeout=NO_HANG_S + 5,
    )


def team_ids(booth: str, headers: dict) -> set[str]:
    team = httpx.get(f"{APPOINTMENTS}/booths/{booth}/team", headers=headers, timeout=10).json()
    return {m["id"] for m in team["members"]}
