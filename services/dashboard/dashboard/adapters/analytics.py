"""The analytics coverage API, called on behalf of the signed-in organiser with a read-only token
exchanged for them (shared/auth/exchange.py), so analytics applies the same jurisdiction as the
dashboard does."""

from __future__ import annotations

from typing import Any

import httpx

from shared.problems import ProblemError


class AnalyticsUnavailable(Exception):
    """Analytics did not answer in time, or not at all."""


class AnalyticsClient:
    def __init__(self, base_url: str, timeout_s: float):
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout_s)

    async def get(self, path: str, token: str, params: dict[str, Any] | None = None) -> Any:
        """The JSON answer; analytics' own problem (401, 403, 404, 422, 503) as a ProblemError."""
        try:
            response = await self._client.get(
                path, params=params, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            raise AnalyticsUnavailable(type(exc).__name__) from exc
        if response.status_code == 200:
            return response.json()
        raise _problem(response)

    async def close(self) -> None:
        await self._client.aclose()


def _problem(response: httpx.Response) -> ProblemError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    kind = str(body.get("type", "")).rsplit("/", 1)[-1] or "analytics-error"
    extensions = {
        k: v for k, v in body.items() if k not in ("type", "title", "status", "detail", "instance")
    }
    headers = {
        h: response.headers[h] for h in ("Retry-After", "WWW-Authenticate") if h in response.headers
    }
    return ProblemError(
        response.status_code,
        kind,
        body.get("title", "Analytics refused the request"),
        body.get("detail", ""),
        headers=headers,
        **extensions,
    )
