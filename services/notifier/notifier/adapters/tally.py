"""Per-directive counts in Redis: targeted, sent, delivered, read, acknowledged and failed, for
the whole directive, per state and per district, and which booths are targeted, reached and
acknowledged. Fed by the fan-out (targeted) and by every delivery-status and
directive-acknowledged event as the notifier makes it (the rest); every update is one Lua script,
so the forward-only rule of `notifier.domain.receipts` holds however events are duplicated,
reordered or replayed.

    {p}d:{<id>}:counts          hash  "<scope>|<status>" -> n; scope: all, a state id, a district id
    {p}d:{<id>}:r:<recipient>   string the recipient's furthest state
    {p}d:{<id>}:ack:<recipient> string present once their acknowledgement was counted
    {p}d:{<id>}:booths          set   booths targeted
    {p}d:{<id>}:reached         set   booths with a message delivered or read
    {p}d:{<id>}:acked           set   booths with an acknowledgement
    {p}d:{<id>}:failures        hash  recipient -> JSON {booth_id, channel, code} while failed
    {p}d:{<id>}:seq             int   bumped on every change, so a live stream knows when to send

Keys carry the directive id in braces, so on a Redis Cluster one directive's keys share a slot.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

import redis
from redis.client import Pipeline

from notifier.domain.receipts import RANK
from shared.events import types

TTL_S = 45 * 86400
COUNTED = ("targeted", "sent", "delivered", "read", "acknowledged", "failed")

_RANKS = "{" + ", ".join(f"{name} = {rank}" for name, rank in RANK.items()) + "}"

# KEYS: state, counts, reached, failures, seq.
# ARGV: status, state, district, booth, recipient, failure, ttl
_STATUS = (
    """
local rank = """
    + _RANKS
    + """
local before = redis.call('GET', KEYS[1]) or 'none'
local after = ARGV[1]
if rank[after] <= rank[before] then return 0 end
redis.call('SET', KEYS[1], after, 'EX', ARGV[7])
local scopes = {'all', ARGV[2], ARGV[3]}
local function bump(status, n)
  for _, s in ipairs(scopes) do if s ~= '' then \
redis.call('HINCRBY', KEYS[2], s .. '|' .. status, n) end end
end
if before == 'failed' then bump('failed', -1); redis.call('HDEL', KEYS[4], ARGV[5]) end
if after == 'failed' then bump('failed', 1); redis.call('HSET', KEYS[4], ARGV[5], ARGV[6]) end
for _, st in ipairs({'sent', 'delivered', 'read'}) do
  if rank[before] < rank[st] and rank[st] <= rank[after] then bump(st, 1) end
end
if rank[after] >= rank['delivered'] and rank[before] < rank['delivered'] then \
redis.call('SADD', KEYS[3], ARGV[4]) end
for i = 2, 5 do redis.call('EXPIRE', KEYS[i], ARGV[7]) end
redis.call('INCR', KEYS[5])
return 1
"""
)

# KEYS: ack marker, counts, acked, seq. ARGV: state, district, booth, ttl
_ACK = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[4]) then return 0 end
for _, s in ipairs({'all', ARGV[1], ARGV[2]}) do
  if s ~= '' then redis.call('HINCRBY', KEYS[2], s .. '|acknowledged', 1) end
end
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[4])
redis.call('INCR', KEYS[4])
return 1
"""


def count_target(counts: Counter, path: dict[str, str] | None) -> None:
    counts["all"] += 1
    if path:
        counts[path["state"]] += 1
        counts[path["district"]] += 1


class Tally:
    def __init__(self, client: redis.Redis, *, prefix: str):
        self.redis = client
        self.prefix = prefix
        self._status = client.register_script(_STATUS)
        self._ack = client.register_script(_ACK)

    def key(self, directive_id: str, name: str) -> str:
        return f"{self.prefix}d:{{{directive_id}}}:{name}"

    # --- writes --------------------------------------------------------------------------------

    def status(
        self,
        *,
        directive_id: str,
        recipient_id: str,
        booth_id: str,
        path: dict[str, str] | None,
        status: str,
        channel: str,
        code: str | None,
        client=None,
    ) -> bool:
        """Apply one reported status; True if the recipient's state moved forward (or, given a
        pipeline as `client`, queue it there)."""
        named = lambda name: self.key(directive_id, name)  # noqa: E731
        failure = json.dumps({"booth_id": booth_id, "channel": channel, "code": code})
        return bool(
            self._status(
                keys=[
                    named(f"r:{recipient_id}"),
                    named("counts"),
                    named("reached"),
                    named("failures"),
                    named("seq"),
                ],
                args=[
                    status,
                    (path or {}).get("state", ""),
                    (path or {}).get("district", ""),
                    booth_id,
                    recipient_id,
                    failure,
                    TTL_S,
                ],
                client=client,
            )
        )

    def acknowledged(
        self,
        *,
        directive_id: str,
        recipient_id: str,
        booth_id: str,
        path: dict[str, str] | None,
        client=None,
    ) -> bool:
        named = lambda name: self.key(directive_id, name)  # noqa: E731
        return bool(
            self._ack(
                keys=[named(f"ack:{recipient_id}"), named("counts"), named("acked"), named("seq")],
                args=[
                    (path or {}).get("state", ""),
                    (path or {}).get("district", ""),
                    booth_id,
                    TTL_S,
                ],
                client=client,
            )
        )

    def count(self, events: list[tuple]) -> None:
        """Count delivery-status and directive-acknowledged events (type, id, data, time) in one
        round trip. Idempotent: a repeated or late event changes nothing."""
        with self.redis.pipeline(transaction=False) as pipe:
            for event_type, _, data, _ in events:
                if event_type == types.DELIVERY_STATUS and data["directive_id"]:
                    self.status(
                        directive_id=data["directive_id"],
                        recipient_id=data["recipient_id"],
                        booth_id=data["booth_id"],
                        path=data["booth_path"],
                        status=data["status"],
                        channel=data["channel"],
                        code=(data["error"] or {}).get("code"),
                        client=pipe,
                    )
                elif event_type == types.DIRECTIVE_ACKNOWLEDGED:
                    self.acknowledged(
                        directive_id=data["directive_id"],
                        recipient_id=data["recipient_id"],
                        booth_id=data["booth_id"],
                        path=data["booth_path"],
                        client=pipe,
                    )
            pipe.execute()

    def targeted(
        self, directive_id: str, counts: Counter, booths: set[str]
    ) -> Callable[[Pipeline], None]:
        """A fan-out chunk's targeted recipients, `counts` per scope (all, state, district ids, as
        `count_target` makes them) and the booths they are in, as writes for the ledger to make
        with the chunk's resume point (`Ledger.chunk_done`), in one transaction."""

        def write(pipe: Pipeline) -> None:
            for scope, n in counts.items():
                pipe.hincrby(self.key(directive_id, "counts"), f"{scope}|targeted", n)
            if booths:
                pipe.sadd(self.key(directive_id, "booths"), *booths)
            for name in ("counts", "booths"):
                pipe.expire(self.key(directive_id, name), TTL_S)
            pipe.incr(self.key(directive_id, "seq"))

        return write

    # --- reads ---------------------------------------------------------------------------------

    def seq(self, directive_id: str) -> int:
        return int(self.redis.get(self.key(directive_id, "seq")) or 0)

    def snapshot(self, directive_id: str) -> dict:
        """Counts for the directive, per state and per district, and booth totals."""
        raw = self.redis.hgetall(self.key(directive_id, "counts"))
        scopes: dict[str, dict[str, int]] = {}
        for field, value in raw.items():
            scope, _, status = field.decode().rpartition("|")
            scopes.setdefault(scope, dict.fromkeys(COUNTED, 0))[status] = int(value)
        total = scopes.pop("all", dict.fromkeys(COUNTED, 0))
        states = {unit: counts for unit, counts in scopes.items() if unit.count("-") == 1}
        districts = {unit: counts for unit, counts in scopes.items() if unit.count("-") == 2}
        with self.redis.pipeline(transaction=False) as pipe:
            for name in ("booths", "reached", "acked"):
                pipe.scard(self.key(directive_id, name))
            booths, reached, acked = pipe.execute()
        return {
            "total": total,
            "states": dict(sorted(states.items())),
            "districts": dict(sorted(districts.items())),
            "booths": {
                "targeted": booths,
                "reached": reached,
                "acknowledged": acked,
                "not_reached": booths - reached,
                "not_acknowledged": booths - acked,
            },
            "seq": self.seq(directive_id),
        }

    def booths_without(self, directive_id: str, which: str, limit: int) -> list[str]:
        """Targeted booths not yet `reached` or `acked`, sorted, at most `limit`."""
        missing = self.redis.sdiff(self.key(directive_id, "booths"), self.key(directive_id, which))
        return sorted(booth.decode() for booth in missing)[:limit]

    def acked_booths(self, directive_id: str, booth_ids: list[str]) -> list[bool]:
        if not booth_ids:
            return []
        return [
            bool(acked)
            for acked in self.redis.smismember(self.key(directive_id, "acked"), booth_ids)
        ]

    def failures(self, directive_id: str, limit: int) -> list[dict]:
        found = []
        for recipient, raw in self.redis.hscan_iter(self.key(directive_id, "failures"), count=500):
            found.append({"recipient_id": recipient.decode(), **json.loads(raw)})
            if len(found) >= limit:
                break
        return sorted(found, key=lambda failure: (failure["booth_id"], failure["recipient_id"]))
