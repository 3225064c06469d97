"""Recipients: the appointments service's stream of verified, active appointees under a unit,
as the notifier's fan-out and the meetings' invitations read it.

    GET {url}/internal/recipients?unit=<unit id>&roles=<role,role>
        (service token, recipients:read)
    -> application/x-ndjson, one line per appointee:
       {"booth_id", "booth_path": {...}, "appointment_id", "role", "phone", "locale"}

Read line by line as it streams: a national audience never sits in memory, and the service
answers from one cursor rather than one query per booth.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx

from shared.auth.keys import token_file


@dataclass(frozen=True)
class Recipient:
    booth_id: str
    booth_path: dict[str, str]
    appointment_id: str
    role: str
    phone: str  # personal data
    locale: str


class RecipientsUnavailable(Exception):
    """The source failed or broke off; the fan-out chunk is retried from its start."""


class RecipientSource(Protocol):
    def stream(self, unit_id: str, roles: Sequence[str]) -> Iterator[Recipient]: ...


class HttpRecipients:
    def __init__(self, base_url: str, token_path: Path, timeout_s: float):
        self.base_url = base_url.rstrip("/")
        self._token = token_file(token_path)
        self._timeout = httpx.Timeout(timeout_s, connect=5.0)

    def stream(self, unit_id: str, roles: Sequence[str]) -> Iterator[Recipient]:
        params = {"unit": unit_id}
        if roles:
            params["roles"] = ",".join(roles)
        try:
            headers = {
                "Authorization": f"Bearer {self._token.get()}",
                "Accept": "application/x-ndjson",
            }
            with httpx.stream(
                "GET",
                f"{self.base_url}/internal/recipients",
                params=params,
                headers=headers,
                timeout=self._timeout,
            ) as response:
                if response.status_code != 200:
                    response.read()
                    raise RecipientsUnavailable(
                        f"recipients answered {response.status_code} for {unit_id}"
                    )
                for line in response.iter_lines():
                    if line.strip():
                        yield _recipient(json.loads(line))
        except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:
            raise RecipientsUnavailable(
                f"{type(exc).__name__} while streaming recipients of {unit_id}"
            ) from exc


def _recipient(row: dict) -> Recipient:
    return Recipient(
        booth_id=row["booth_id"],
        booth_path=row["booth_path"],
        appointment_id=row["appointment_id"],
        role=row["role"],
        phone=row["phone"],
        locale=row.get("locale") or "hi",
    )
