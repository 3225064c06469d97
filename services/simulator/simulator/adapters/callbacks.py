"""Calls back what the provider owes: status reports and replies, in batches, signed in the
X-Provider-Signature header, to SIMULATOR_CALLBACK_URL; a failed call is tried again later."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timezone

import httpx

from shared.logging import get_logger
from shared.sending.signatures import sign
from simulator.handlers import Provider
from simulator.settings import SimulatorSettings

log = get_logger(__name__)


class Callbacks:
    def __init__(self, provider: Provider, settings: SimulatorSettings, key: bytes):
        self.provider, self.settings, self.key = provider, settings, key

    async def run(self) -> None:
        interval = self.settings.callback_interval_ms / 1000
        async with httpx.AsyncClient(timeout=10) as client:
            while True:
                await asyncio.sleep(interval)
                try:
                    await self.report_due(client)
                except Exception as exc:  # keep reporting whatever one batch did
                    log.warning("reporting failed", fields={"error_class": type(exc).__name__})

    async def report_due(self, client: httpx.AsyncClient) -> None:
        batch = self.settings.callback_batch
        due = self.provider.take_due(batch * 4)
        for start in range(0, len(due), batch):
            await self._post(client, due[start : start + batch])

    async def _post(self, client: httpx.AsyncClient, items: list[dict]) -> None:
        stamp = datetime.now(timezone.utc).isoformat()
        payload = {"statuses": [], "messages": []}
        for item in items:
            for status in item.get("statuses", []):
                payload["statuses"].append({**status, "timestamp": stamp})
            payload["messages"].extend(item.get("messages", []))
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Provider-Signature": sign(self.key, body, int(time.time())),
        }
        try:
            response = await client.post(self.settings.callback_url, content=body, headers=headers)
            ok = response.status_code < 300
        except httpx.HTTPError:
            ok = False
        stats = self.provider.stats
        if ok:
            stats["callbacks"] += 1
            stats["callback_statuses"] += len(payload["statuses"])
            return
        stats["callback_failures"] += 1
        self.provider.try_again(items)  # later, backing off, like providers do
