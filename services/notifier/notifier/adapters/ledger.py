"""The delivery side's state in Redis: what was sent (idempotency), what waits (retries, quiet
hours, scheduled fan-outs), who opted out, and each sending number's unique recipients in the
last 24 hours (WhatsApp's messaging limit is over a rolling 24 hours, not a calendar day).

    {p}done:{delivery_id}        string  "sent:<provider id>" | "failed:<code>": never send again
    {p}lease:{delivery_id}       string  held while one worker sends it (expires if it dies)
    {p}pm:{provider id}          string  JSON: what a provider's message id delivered (receipts)
    {p}cancelled:{directive_id}  string  the directive was cancelled: send nothing more
    {p}optout                    set     `<key id>:<HMAC>` of phones that opted out (opt-out
                                         keyring)
    {p}uniq:{sender}             zset    HMACs of phones a sending number reached, by when last
    {p}deferred                  zset    task JSON by the epoch second it may go
    {p}jobs                      zset    fan-out jobs by the epoch second they are due: a directive
                                         id, or `<directive id>@<round id>` for a round of a
                                         recurring one
    {p}fanout:{job}              hash    fan-out chunks done (resume point) -> recipients targeted
    {p}first-round:{directive_id} string the round whose recipients the directive's totals count
    {p}fb:{provider id}          string  task JSON: the next channel, should the provider report a
                                         failure
    {p}erased:{appointment id}   string  the appointee's data was erased: send them nothing still
                                         queued
    {p}acked:{directive_id}:{recipient}  string  how they acknowledged: counted once
    {p}queued:{kind}:{day}       set     ids of a service's messages put on their lanes that UTC day
                                         (epoch days): never queued again

Every write that must not be repeated is one atomic step (SET NX, a Lua script), so two workers
holding the same task (a redelivery after a rebalance) cannot both send it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterable, Sequence

import redis
from redis.client import Pipeline

from notifier.domain.tasks import Task
from shared.crypto.fields import VersionedIndex

DONE_TTL_S = 7 * 86400  # longer than any lane keeps a task: a redelivery always finds it
ACK_MARK_TTL_S = 45 * 86400
LEASE_S = 120
PM_TTL_S = 7 * 86400
QUEUED_TTL_S = 2 * 86400  # a day's marks, read until the end of the next

# Take a lease unless the delivery is done or leased: 1 taken, 0 done, -1 someone else sends it.
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', ARGV[2]) then return 1 end
return -1
"""

# Admit phones on sending numbers under a cap of unique recipients in a rolling window
# (ARGV: cap, now, window seconds, then one phone HMAC per key): 1 admitted, 0 over the cap.
# A phone reached inside the window is not a new recipient; its time is refreshed.
_ADMIT = """
local cap, now, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for i = 1, #KEYS do
  local key, member = KEYS[i], ARGV[i + 3]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZSCORE', key, member) or redis.call('ZCARD', key) < cap then
    redis.call('ZADD', key, now, member); redis.call('EXPIRE', key, math.ceil(window)); out[i] = 1
  else out[i] = 0 end
end
return out
"""

UNIQUE_WINDOW_S = 86400

# Take due members of a zset and push them `lease` seconds ahead, so a crashed taker's work
# comes back by itself; the taker removes them when done.
_TAKE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], ARGV[3], member) end
return due
"""


class Ledger:
    def __init__(
        self, client: redis.Redis, *, prefix: str, phone_key: bytes, optouts: VersionedIndex
    ):
        self.redis = client
        self.prefix = prefix
        self._phone_key = phone_key
        self.optouts = optouts
        self._claim = client.register_script(_CLAIM)
        self._admit = client.register_script(_ADMIT)
        self._take_due = client.register_script(_TAKE_DUE)

    def phone_hash(self, phone: str) -> str:
        return hmac.new(self._phone_key, f"phone\x00{phone}".encode(), hashlib.sha256).hexdigest()[
            :32
        ]

    # --- idempotency ---------------------------------------------------------------------------

    def claim(self, delivery_ids: Sequence[str], owner: str) -> list[int]:
        with self.redis.pipeline(transaction=False) as pipe:
            for delivery_id in delivery_ids:
                self._claim(
                    keys=[f"{self.prefix}done:{delivery_id}", f"{self.prefix}lease:{delivery_id}"],
                    args=[owner, LEASE_S],
                    client=pipe,
                )
            return [int(outcome) for outcome in pipe.execute()]

    def settle(
        self,
        *,
        sent: Iterable[tuple[Task, str]] = (),
        failed: Iterable[tuple[Task, str]] = (),
        released: Iterable[Task] = (),
    ) -> None:
        """Record outcomes: sent (with the provider's id, mapped back for receipts), failed for
        good, or released for a retry."""
        now = time.time()
        with self.redis.pipeline(transaction=False) as pipe:
            for task, provider_id in sent:
                pipe.set(
                    f"{self.prefix}done:{task.delivery_id}", f"sent:{provider_id}", ex=DONE_TTL_S
                )
                pipe.set(
                    f"{self.prefix}pm:{provider_id}",
                    json.dumps(delivered_context(task)),
                    ex=PM_TTL_S,
                )
                pipe.delete(f"{self.prefix}lease:{task.delivery_id}")
                following = task.fallback()
                if (
                    following is not None
                ):  # kept until the task expires: a failure reported later still falls back
                    ttl = (
                        PM_TTL_S
                        if task.expires_at is None
                        else int(min(PM_TTL_S, max(60, task.expires_at - now)))
                    )
                    pipe.set(f"{self.prefix}fb:{provider_id}", following.to_json(), ex=ttl)
            for task, code in failed:
                pipe.set(f"{self.prefix}done:{task.delivery_id}", f"failed:{code}", ex=DONE_TTL_S)
                pipe.delete(f"{self.prefix}lease:{task.delivery_id}")
            for task in released:
                pipe.delete(f"{self.prefix}lease:{task.delivery_id}")
            pipe.execute()

    def park_early(self, receipts: Sequence[dict], ttl_s: int = 600) -> None:
        """Keep receipts for messages not yet recorded as sent: a provider may report a message
        before its send call has returned. `settle` hands them back once the message is known."""
        if not receipts:
            return
        with self.redis.pipeline(transaction=False) as pipe:
            for receipt in receipts:
                key = f"{self.prefix}early:{receipt['message_id']}"
                pipe.rpush(key, json.dumps(receipt))
                pipe.expire(key, ttl_s)
            pipe.execute()

    def take_early(self, provider_ids: Sequence[str]) -> list[dict]:
        if not provider_ids:
            return []
        with self.redis.pipeline(transaction=False) as pipe:
            for provider_id in provider_ids:
                pipe.lrange(f"{self.prefix}early:{provider_id}", 0, -1)
                pipe.delete(f"{self.prefix}early:{provider_id}")
            found = pipe.execute()[::2]
        return [json.loads(raw) for entries in found for raw in entries]

    def fallbacks(self, provider_ids: Sequence[str]) -> list[tuple[str, bytes]]:
        """(provider id, next channel's task) for messages that have one waiting."""
        if not provider_ids:
            return []
        tasks = self.redis.mget([f"{self.prefix}fb:{provider_id}" for provider_id in provider_ids])
        return [(provider_id, task) for provider_id, task in zip(provider_ids, tasks) if task]

    def forget_fallbacks(self, provider_ids: Sequence[str]) -> None:
        """Taken (produced to its lane) or no longer needed (the message was delivered)."""
        if provider_ids:
            self.redis.delete(*[f"{self.prefix}fb:{provider_id}" for provider_id in provider_ids])

    def done(self, delivery_id: str) -> str | None:
        value = self.redis.get(f"{self.prefix}done:{delivery_id}")
        return value.decode() if value else None

    def delivered_by(self, provider_ids: Sequence[str]) -> list[dict | None]:
        if not provider_ids:
            return []
        contexts = self.redis.mget(
            [f"{self.prefix}pm:{provider_id}" for provider_id in provider_ids]
        )
        return [json.loads(context) if context else None for context in contexts]

    # --- a service's messages, queued once -----------------------------------------------------

    def queued_before(self, kind: str, message_ids: Sequence[str]) -> list[bool]:
        """Whether each of a service's messages was queued already, today or yesterday (UTC): a
        caller retries within minutes. Two commands for a whole request, not one per message."""
        if not message_ids:
            return []
        today = int(time.time() // 86400)
        with self.redis.pipeline(transaction=False) as pipe:
            for day in (today, today - 1):
                pipe.smismember(self._queued(kind, day), list(message_ids))
            now, before = pipe.execute()
        return [bool(a) or bool(b) for a, b in zip(now, before)]

    def mark_queued(self, kind: str, message_ids: Sequence[str]) -> None:
        """Kafka has them: a retried request queues them no more."""
        if not message_ids:
            return
        key = self._queued(kind, int(time.time() // 86400))
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.sadd(key, *message_ids)
            pipe.expire(key, QUEUED_TTL_S)
            pipe.execute()

    def _queued(self, kind: str, day: int) -> str:
        return f"{self.prefix}queued:{kind}:{day}"

    # --- acknowledgements ----------------------------------------------------------------------

    def mark_acknowledged(self, directive_id: str, recipient_id: str, via: str) -> bool:
        """Mark the recipient's acknowledgement; False if it was marked already (SET NX)."""
        key = f"{self.prefix}acked:{directive_id}:{recipient_id}"
        return bool(self.redis.set(key, via, nx=True, ex=ACK_MARK_TTL_S))

    def unmark_acknowledged(self, directive_id: str, recipient_id: str) -> None:
        """It could not be recorded after all: the recipient may acknowledge again."""
        self.redis.delete(f"{self.prefix}acked:{directive_id}:{recipient_id}")

    # --- cancellation and consent --------------------------------------------------------------

    def cancel(self, directive_id: str, ttl_s: int = 90 * 86400) -> None:
        self.redis.set(f"{self.prefix}cancelled:{directive_id}", "1", ex=ttl_s)

    def cancelled(self, directive_ids: Iterable[str]) -> set[str]:
        ids = sorted(set(directive_ids))
        if not ids:
            return set()
        marks = self.redis.mget([f"{self.prefix}cancelled:{directive_id}" for directive_id in ids])
        return {directive_id for directive_id, mark in zip(ids, marks) if mark}

    # --- erasure (DPDP Act) --------------------------------------------------------------------

    def forget_recipients(self, recipient_ids: set[str], ttl_s: int = 2 * 86400) -> int:
        """Drop the waiting tasks (deferred, fallbacks) of erased appointees, whose JSON holds
        their phone, and mark them so a task still on a lane (kept a day at most) is not sent.
        Returns how many tasks were dropped. A scan: erasures are rare, waiting tasks bounded."""
        with self.redis.pipeline(transaction=False) as pipe:
            for recipient_id in recipient_ids:
                pipe.set(f"{self.prefix}erased:{recipient_id}", "1", ex=ttl_s)
            pipe.execute()
        theirs = [recipient_id.encode() for recipient_id in recipient_ids]

        def mentions(raw: bytes) -> bool:  # a cheap look first: most tasks are someone else's
            return (
                any(their in raw for their in theirs)
                and Task.from_json(raw).recipient_id in recipient_ids
            )

        deferred = [
            member
            for member, _ in self.redis.zscan_iter(f"{self.prefix}deferred", count=1000)
            if mentions(member)
        ]
        if deferred:
            self.redis.zrem(f"{self.prefix}deferred", *deferred)
        fallbacks = [
            key
            for key in self.redis.scan_iter(match=f"{self.prefix}fb:*", count=1000)
            if (raw := self.redis.get(key)) and mentions(raw)
        ]
        if fallbacks:
            self.redis.delete(*fallbacks)
        return len(deferred) + len(fallbacks)

    def erased(self, recipient_ids: Iterable[str]) -> set[str]:
        ids = sorted(set(recipient_ids))
        if not ids:
            return set()
        marks = self.redis.mget([f"{self.prefix}erased:{recipient_id}" for recipient_id in ids])
        return {recipient_id for recipient_id, mark in zip(ids, marks) if mark}

    def opt_out(self, phone: str) -> str:
        """Record the (E.164) phone's opt-out under the current opt-out key; returns what was
        recorded."""
        recorded = self.optouts.current(phone)
        self.redis.sadd(f"{self.prefix}optout", recorded)
        return recorded

    def restore_optouts(self, phone_hashes: Sequence[str]) -> None:
        if phone_hashes:
            self.redis.sadd(f"{self.prefix}optout", *phone_hashes)

    def opted_out(self, phones: Sequence[str]) -> list[bool]:
        """Whether each (E.164) phone opted out, under any opt-out key still in the ring."""
        if not phones:
            return []
        variants = [self.optouts.every(phone) for phone in phones]
        found = iter(self._members([key for keys in variants for key in keys]))
        return [any([next(found) for _ in keys]) for keys in variants]

    def _members(self, phone_hashes: Sequence[str]) -> list[bool]:
        if not phone_hashes:
            return []
        return [
            bool(member)
            for member in self.redis.smismember(f"{self.prefix}optout", list(phone_hashes))
        ]

    # --- unique-recipient caps per sending number, over a rolling 24 hours ----------------------

    def admit(self, pairs: Sequence[tuple[str, str]], *, cap: int, now: float) -> list[bool]:
        """For (sender, phone hash) pairs: may the sender message the phone now?"""
        if not pairs:
            return []
        keys = [f"{self.prefix}uniq:{sender}" for sender, _ in pairs]
        hashes = [phone_hash for _, phone_hash in pairs]
        return [
            bool(admitted)
            for admitted in self._admit(keys=keys, args=[cap, now, UNIQUE_WINDOW_S, *hashes])
        ]

    def cap_frees_at(self, sender: str) -> float | None:
        """When the sender's oldest recipient leaves the window, making room for a new one."""
        oldest = self.redis.zrange(f"{self.prefix}uniq:{sender}", 0, 0, withscores=True)
        return oldest[0][1] + UNIQUE_WINDOW_S if oldest else None

    # --- waiting tasks -------------------------------------------------------------------------

    def defer(self, tasks: Sequence[tuple[Task, float]]) -> None:
        if tasks:
            self.redis.zadd(f"{self.prefix}deferred", {task.to_json(): at for task, at in tasks})

    def take_due_tasks(self, now: float, limit: int = 1000, lease_s: float = 60) -> list[bytes]:
        return self._take_due(keys=[f"{self.prefix}deferred"], args=[now, limit, now + lease_s])

    def forget_tasks(self, members: Sequence[bytes]) -> None:
        if members:
            self.redis.zrem(f"{self.prefix}deferred", *members)

    def waiting(self) -> int:
        return self.redis.zcard(f"{self.prefix}deferred")

    # --- fan-out jobs --------------------------------------------------------------------------

    def schedule_fanout(self, directive_id: str, due: float) -> None:
        self.redis.zadd(
            f"{self.prefix}jobs", {directive_id: due}, nx=True
        )  # a redelivery never postpones

    def reschedule_fanout(self, directive_id: str, due: float) -> None:
        self.redis.zadd(f"{self.prefix}jobs", {directive_id: due})

    def take_due_fanout(self, now: float, lease_s: float) -> str | None:
        due = self._take_due(keys=[f"{self.prefix}jobs"], args=[now, 1, now + lease_s])
        return due[0].decode() if due else None

    def renew_fanout(self, directive_id: str, until: float) -> None:
        self.redis.zadd(f"{self.prefix}jobs", {directive_id: until}, xx=True)

    def finish_fanout(self, directive_id: str) -> None:
        with self.redis.pipeline() as pipe:
            pipe.zrem(f"{self.prefix}jobs", directive_id)
            pipe.delete(f"{self.prefix}fanout:{directive_id}")
            pipe.execute()

    def chunks_done(self, directive_id: str) -> set[str]:
        return {chunk.decode() for chunk in self.redis.hkeys(f"{self.prefix}fanout:{directive_id}")}

    def chunk_done(
        self, job: str, chunk: str, targeted: int, *, counted: Callable[[Pipeline], None]
    ) -> None:
        """Record a fan-out chunk done (the resume point) and, in the same transaction, the
        `counted` writes of its targeted recipients (`Tally.targeted`): a crash leaves both or
        neither, so a resumed fan-out never counts a chunk twice. One round trip."""
        with self.redis.pipeline() as pipe:
            counted(pipe)
            pipe.hset(f"{self.prefix}fanout:{job}", chunk, targeted)
            pipe.expire(f"{self.prefix}fanout:{job}", 30 * 86400)
            pipe.execute()

    def targeted(self, job: str) -> int:
        """Recipients the job's chunks done so far targeted."""
        return sum(int(targeted) for targeted in self.redis.hvals(f"{self.prefix}fanout:{job}"))

    def first_round(self, directive_id: str, round_id: str) -> bool:
        """Whether this round is the directive's first to run (the same answer when it resumes)."""
        key = f"{self.prefix}first-round:{directive_id}"
        if self.redis.set(key, round_id, nx=True, ex=90 * 86400):
            return True
        return (self.redis.get(key) or b"").decode() == round_id


def delivered_context(task: Task) -> dict:
    """What a receipt needs to become a delivery-status event: ids only, never the phone."""
    return {
        "delivery_id": task.delivery_id,
        "directive_id": task.directive_id,
        "otp_request_id": task.otp_request_id,
        "booth_id": task.booth_id,
        "booth_path": task.booth_path,
        "recipient_id": task.recipient_id,
        "channel": task.channel,
        "send": task.send,
        "channels": list(task.channels),
        "channel_index": task.channel_index,
    }
