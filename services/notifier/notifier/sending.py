"""Sending a lane's batch of tasks: the steps between a task read from Kafka and a message a
provider accepted, in order.

1. Screen: drop tasks expired, of cancelled directives, or to phones that opted out; park those
   outside their sending window (quiet hours, polling blackout) until it opens.
2. Claim: a task whose delivery is already done is a duplicate and sends nothing; one another
   worker is sending is parked briefly, in case that worker dies.
3. Caps: WhatsApp numbers reach a limited number of unique people a day; past it, the next
   channel of preference takes the message (or it waits for tomorrow).
4. Send, paced per sending number (urgent first); sends whose slot has come share batch requests.
5. Settle: accepted -> done + a `sent` event; transient -> retried later with backoff and jitter,
   until `max_attempts`; permanent -> the next channel, or failed and dead-lettered.

Waiting work (fallbacks, retries, parked tasks) is written before the ledger marks anything
done, so a crash between the two repeats a send's bookkeeping but never loses a message.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from prometheus_client import Counter as Metric
from prometheus_client import Histogram

from notifier.adapters.channels import ACCEPTED, PERMANENT, Outcome
from notifier.adapters.events import delivery_status, now
from notifier.adapters.http import Batches
from notifier.adapters.ledger import LEASE_S
from notifier.domain.acks import AckClaim
from notifier.domain.directives import Directive
from notifier.domain.messages import WHOLE_TEXTS, Message, directive_message, whole_text
from notifier.domain.pacing import Pacer
from notifier.domain.tasks import ESCALATION, OTP, REMINDER, URGENT, Task, backoff_s
from notifier.handlers.ports import Ports
from shared.logging import get_logger

log = get_logger(__name__)

MESSAGES = Metric(
    "sangathan_notifier_messages",
    "Provider answers to sends, by channel and outcome",
    ["channel", "outcome"],
)
SKIPPED = Metric(
    "sangathan_notifier_tasks_skipped", "Tasks not sent, by reason", ["lane", "reason"]
)
LANE_LATENCY = Histogram(
    "sangathan_notifier_lane_latency_seconds",
    "From task queued to provider accepted, by lane",
    ["lane"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)


class DirectiveCache:
    """Directive texts by id, re-read after `ttl_s`: tasks carry the id, not 4 KB of text each."""

    def __init__(
        self, load: Callable[[str], Directive | None], ttl_s: float = 60.0, size: int = 256
    ):
        self._load, self._ttl_s, self._size = load, ttl_s, size
        self._items: dict[str, tuple[float, Directive | None]] = {}

    def get(self, directive_id: str) -> Directive | None:
        now = time.monotonic()
        hit = self._items.get(directive_id)
        if hit is None or now - hit[0] > self._ttl_s:
            if len(self._items) >= self._size:
                self._items.pop(next(iter(self._items)))
            hit = (now, self._load(directive_id))
            self._items[directive_id] = hit
        return hit[1]


class AsyncPacing:
    """Waits for a booked slot. Non-urgent sends queue per sender (FIFO) and book at most the
    pacer's horizon ahead; urgent ones book at once, ahead of everything not yet booked."""

    def __init__(self):
        self._locks: dict[tuple[int, str], asyncio.Lock] = {}

    async def slot(self, pacer: Pacer, sender: str, *, urgent: bool) -> None:
        loop = asyncio.get_running_loop()
        if urgent:
            await asyncio.sleep(pacer.book(sender, loop.time(), urgent=True))
            return
        lock = self._locks.setdefault((id(pacer), sender), asyncio.Lock())
        async with lock:
            while (wait := pacer.book(sender, loop.time(), urgent=False)) is None:
                await asyncio.sleep(pacer.free_in(sender, loop.time()))
        await asyncio.sleep(wait)


@dataclass
class Settlement:
    """What a batch's sends came to, and the bookkeeping it needs."""

    sent: list[tuple[Task, str]] = field(default_factory=list)
    failed: list[tuple[Task, str]] = field(default_factory=list)
    released: list[Task] = field(default_factory=list)
    deferred: list[tuple[Task, float]] = field(default_factory=list)
    fallbacks: list[Task] = field(default_factory=list)
    dead: list[tuple[Task, str]] = field(default_factory=list)
    events: list[tuple] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    # Why each task that was not sent now was not: reason -> delivery ids (never a phone), for
    # the lane's log. Skips as counted above, plus `retry:<code>` and `failed:<code>`.
    why_not: dict[str, list[str]] = field(default_factory=dict)

    def skip(self, reason: str, task: Task) -> None:
        self.skipped[reason] += 1
        self.not_sent(reason, task)

    def not_sent(self, reason: str, task: Task) -> None:
        self.why_not.setdefault(reason, []).append(task.delivery_id)


class Sender:
    def __init__(self, ports: Ports, client: Batches | None):
        self.ports = ports
        self.client = client  # its connection pool bounds the requests in flight
        self.pacing = AsyncPacing()
        self.owner = f"{socket.gethostname()}:{os.getpid()}"

    async def deliver(self, tasks: list[Task]) -> Settlement:
        out = Settlement()
        ready = self._screen(tasks, out)
        ready = self._claim(ready, out)
        ready = self._within_caps(ready, out)
        outcomes = await asyncio.gather(*(self._send(task, sender) for task, sender in ready))
        for (task, _), outcome in zip(ready, outcomes):
            self._settle(task, outcome, out)
        return out

    # --- 1. screen -----------------------------------------------------------------------------

    def _screen(self, tasks: list[Task], out: Settlement) -> list[Task]:
        ports, now = self.ports, self.ports.clock()
        cancelled = ports.ledger.cancelled(task.directive_id for task in tasks if task.directive_id)
        opted_out = ports.ledger.opted_out([task.phone for task in tasks])
        erased = ports.ledger.erased(task.recipient_id for task in tasks)
        ready = []
        for task, out_of_consent in zip(tasks, opted_out):
            if task.expires_at is not None and task.expires_at < now:
                out.skip("expired", task)
            elif task.recipient_id in erased:
                out.skip("erased", task)
            elif task.directive_id in cancelled:
                out.skip("cancelled", task)
            elif out_of_consent and task.send != OTP:
                out.skip("opted_out", task)
            elif opens := ports.policy.opens_at(
                datetime.fromtimestamp(now, timezone.utc),
                campaign=task.campaign,
                booth_id=task.booth_id,
                quiet_hours=not task.quiet_hours_override,
            ):
                out.deferred.append((task, opens.timestamp()))
                out.skip("outside_window", task)
            else:
                ready.append(task)
        return ready

    # --- 2. claim ------------------------------------------------------------------------------

    def _claim(self, tasks: list[Task], out: Settlement) -> list[Task]:
        unique: dict[str, Task] = {}
        for task in tasks:  # the same delivery twice in one batch: the copy is a duplicate
            if task.delivery_id in unique:
                out.skip("duplicate", task)
            else:
                unique[task.delivery_id] = task
        tasks = list(unique.values())
        claims = self.ports.ledger.claim([task.delivery_id for task in tasks], self.owner)
        ready = []
        for task, claim in zip(tasks, claims):
            if claim == 1:
                ready.append(task)
            elif claim == 0:
                out.skip("duplicate", task)
            else:
                # another worker holds it; if that worker died, its lease runs out and this copy
                # goes
                out.deferred.append((task, self.ports.clock() + LEASE_S + 1))
                out.skip("leased", task)
        return ready

    # --- 3. caps -------------------------------------------------------------------------------

    def _within_caps(self, tasks: list[Task], out: Settlement) -> list[tuple[Task, str]]:
        ports = self.ports
        paired = [
            (task, ports.channels[task.channel].sender(task, ports.ledger.phone_hash(task.phone)))
            for task in tasks
        ]
        capped = [(task, sender) for task, sender in paired if task.channel == "whatsapp"]
        now = ports.clock()
        admitted = ports.ledger.admit(
            [(sender, ports.ledger.phone_hash(task.phone)) for task, sender in capped],
            cap=ports.policy.whatsapp_daily_cap,
            now=now,
        )
        refused = {task.delivery_id for (task, _), ok in zip(capped, admitted) if not ok}
        ready = []
        for task, sender in paired:
            if task.delivery_id not in refused:
                ready.append((task, sender))
                continue
            out.skip("daily_cap", task)
            out.released.append(task)
            following = task.fallback()
            if following is not None:
                out.fallbacks.append(following)
            else:
                # no other channel: it waits until the number's oldest recipient leaves the window
                out.deferred.append((task, ports.ledger.cap_frees_at(sender) or now + 60))
        return ready

    # --- 4. send -------------------------------------------------------------------------------

    async def _send(self, task: Task, sender: str) -> Outcome:
        message = self._message(task)
        if message is None:
            return Outcome(PERMANENT, code="UNKNOWN_DIRECTIVE")
        channel = self.ports.channels[task.channel]
        await self.pacing.slot(channel.pacer(task), sender, urgent=task.lane == URGENT)
        return await channel.send(self.client, task, message, sender)

    def _message(self, task: Task) -> Message | None:
        if task.send in WHOLE_TEXTS:
            return whole_text(task.send, task.text or "", task.locale)
        if task.send == ESCALATION:
            return Message(ESCALATION, "en", "Escalation", task.text or "")
        directive = self.ports.texts.get(task.directive_id)
        if directive is None:
            return None
        link = self.ports.links.link(AckClaim(task.directive_id, task.recipient_id, task.booth_id))
        return directive_message(
            title=directive.title,
            body=directive.body,
            locale=task.locale,
            link=link,
            reminder=task.send == REMINDER,
        )

    # --- 5. settle -----------------------------------------------------------------------------

    def _settle(self, task: Task, outcome: Outcome, out: Settlement) -> None:
        ports, policy, now = self.ports, self.ports.policy, self.ports.clock()
        MESSAGES.labels(task.channel, outcome.kind).inc()
        if outcome.kind == ACCEPTED:
            out.sent.append((task, outcome.provider_id))
            out.events.append(self._event(task, "sent", outcome.provider_id, None))
            if task.queued_at:
                LANE_LATENCY.labels(task.lane).observe(max(0.0, now - task.queued_at))
            return
        if outcome.kind != PERMANENT and task.attempt + 1 < policy.max_attempts:
            wait = max(
                outcome.retry_after_s or 0.0,
                backoff_s(
                    task.attempt,
                    base_s=policy.backoff_base_s,
                    cap_s=policy.backoff_cap_s,
                    rand=ports.rand(),
                ),
            )
            out.released.append(task)
            out.deferred.append((task.retried(), now + wait))
            out.not_sent(f"retry:{outcome.code or 'UNKNOWN'}", task)
            return
        code = outcome.code or "UNKNOWN"
        out.failed.append((task, code))
        out.not_sent(f"failed:{code}", task)
        out.events.append(
            self._event(
                task, "failed", None, {"code": code, "retryable": outcome.kind != PERMANENT}
            )
        )
        following = task.fallback()
        if following is not None:
            out.fallbacks.append(following)
        else:
            out.dead.append((task, code))

    @staticmethod
    def _event(
        task: Task, status: str, provider_id: str | None, error: dict | None
    ) -> tuple | None:
        if task.booth_path is None:
            return None  # not a booth's recipient (e.g. a test's OTP): no event can describe it
        context = {
            "delivery_id": task.delivery_id,
            "directive_id": task.directive_id,
            "otp_request_id": task.otp_request_id,
            "booth_id": task.booth_id,
            "booth_path": task.booth_path,
            "recipient_id": task.recipient_id,
            "channel": task.channel,
        }
        return delivery_status(context, status, now(), provider_id, error)
