"""Calls back what the provider owes: status reports and replies, in batches, signed in the
X-Provider-Signature header, to SIMULATOR_CALLBACK_URL; a failed call is tried again later.
Both posters use aiohttp: httpx's async pool checked every idle connection's socket on every
post, ~a fifth of the simulator's CPU in a state-wide meeting's dial-out, on the box the
services share."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timezone

import aiohttp

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
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as client:
            while True:
                await asyncio.sleep(interval)
                try:
                    await self.report_due(client)
                except Exception as exc:  # keep reporting whatever one batch did
                    log.warning("reporting failed", fields={"error_class": type(exc).__name__})

    async def report_due(self, client: aiohttp.ClientSession) -> None:
        batch = self.settings.callback_batch
        due = self.provider.take_due(batch * 4)
        for start in range(0, len(due), batch):
            await self._post(client, due[start : start + batch])

    async def _post(self, client: aiohttp.ClientSession, items: list[dict]) -> None:
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
            async with client.post(
                self.settings.callback_url, data=body, headers=headers
            ) as answer:
                await answer.read()  # the connection goes back to the pool
                ok = answer.status < 300
        except (aiohttp.ClientError, asyncio.TimeoutError):
            ok = False
        stats = self.provider.stats
        if ok:
            stats["callbacks"] += 1
            stats["callback_statuses"] += len(payload["statuses"])
            return
        stats["callback_failures"] += 1
        self.provider.try_again(items)  # later, backing off, like providers do


class ConferenceCallbacks:
    """Moves the conference's time on every tick and posts each owed webhook, one event a call,
    to its bridge's `status_callback`, signed like the delivery reports; a failed post is owed
    again later, up to SIMULATOR_CALLBACK_ATTEMPTS times.

    Posts go out as a provider's do: up to PARALLEL at once, each on its own, so one slow answer
    holds one slot, not a whole round of them (posting in locksteps of 32 capped a state-wide
    meeting at the pace of each round's slowest answer)."""

    PARALLEL = 32  # posts in flight: a state-wide meeting owes thousands a second

    def __init__(self, provider: Provider, settings: SimulatorSettings, key: bytes):
        self.provider, self.settings, self.key = provider, settings, key
        self.attempts: dict[str, int] = {}
        self._in_flight: set[asyncio.Task] = set()

    async def run(self) -> None:
        interval = self.settings.callback_interval_ms / 1000
        slots = asyncio.Semaphore(self.PARALLEL)
        connector = aiohttp.TCPConnector(limit=self.PARALLEL)
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
            while True:
                await asyncio.sleep(interval)
                try:
                    self.report_due(client, slots)
                except Exception as exc:  # keep reporting whatever one tick did
                    log.warning(
                        "conference webhooks failed", fields={"error_class": type(exc).__name__}
                    )

    def report_due(self, client: aiohttp.ClientSession, slots: asyncio.Semaphore) -> None:
        """Take what is owed now, as much as may wait for a slot (a few ticks' worth), and post
        each as soon as a slot is free; what is not taken stays owed for the next tick."""
        conferences = self.provider.conferences
        conferences.advance(self.provider.clock())
        room = self.settings.callback_batch * 4 - len(self._in_flight)
        if room <= 0:
            return
        for webhook in conferences.take_owed(self.provider.clock(), room):
            task = asyncio.create_task(self._post_in_slot(client, slots, webhook))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _post_in_slot(self, client, slots: asyncio.Semaphore, webhook) -> None:
        async with slots:
            try:
                await self._post(client, webhook)
            except Exception as exc:  # one post's trouble, logged; the others go on
                log.warning("conference webhook failed", fields={"error_class": type(exc).__name__})

    async def _post(self, client: aiohttp.ClientSession, webhook) -> None:
        body = json.dumps(webhook.body).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Provider-Signature": sign(self.key, body, int(time.time())),
        }
        try:
            async with client.post(webhook.url, data=body, headers=headers) as response:
                await response.read()  # the connection goes back to the pool for the next post
                outcome = str(response.status)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            outcome = type(exc).__name__
        stats = self.provider.stats
        if outcome.startswith("2"):
            stats["conference_webhooks"] += 1
            return
        stats["conference_webhook_failures"] += 1
        stats[f"conference_webhook_failures:{outcome}"] += 1
        # A duplicate shares its event id, so attempts count per delivery, not per event.
        attempt = self.attempts.pop(id(webhook), 0) + 1
        if attempt < self.settings.callback_attempts:
            self.attempts[id(webhook)] = attempt
            later = self.provider.clock() + min(2**attempt * 0.5, 30)
            self.provider.conferences.owe_again(webhook, later)
        else:
            stats["conference_webhooks_abandoned"] += 1
