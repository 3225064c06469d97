"""Codes, send history, outcomes and call counts in Redis.

Keys name phones only by their HMAC (`domain.phone_key`), never in clear, and every write sets
a TTL, so nothing outlives its use. Whatever must be read and written as one step is redone on
fresh data if another process changed what it read in between, so concurrent tries of one code
are counted one after the other and a code is used at most once: sending runs as a WATCH/MULTI
transaction; a try, the hot path, as two round trips (one pipelined read of the caller's call
count and the record, then a compare-and-set script that writes the result only if the record
is still the one decided on) instead of the four a WATCH transaction plus the count took.

    {prefix}code:{request_id}         hash   the CodeRecord (digest, tries left, state)
    {prefix}current:{appointment_id}  string the newest request of the appointment
    {prefix}outcome:{request_id}      string how the request was handled (idempotency marker)
    {prefix}sends:{phone hash}        zset   request ids by send time, for the per-phone limits
    {prefix}calls:{caller}:{minute}   int    verification calls by a client in one minute
    {prefix}decoy                     hash   what a try on an unknown request writes (see attempt)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import redis

from otp.domain import Attempt, CodeRecord, Refusal, State
from otp.ports import Failure, Sent

# A record stays an hour past its expiry, so a late try is reported `expired` once instead of
# looking unknown; after that every try is simply rejected.
RETAIN_AFTER_EXPIRY_S = 3600
# Outcomes outlive the otp-requests topic's 6 hours: a replay from its start never sends twice.
OUTCOME_TTL_S = 7 * 3600
ISSUED = "issued"
_UNREAD = object()  # `attempt` was given no record read beforehand


class RedisCodeStore:
    def __init__(self, client: redis.Redis, *, prefix: str, send_window_s: int):
        self.redis = client
        self.prefix = prefix
        self.send_window_s = send_window_s
        self._cas = client.register_script(COMPARE_AND_SET)  # EVALSHA, loaded on first use

    # --- sending -------------------------------------------------------------------------------

    def record_send(
        self,
        *,
        record: CodeRecord,
        phone_key: str,
        now: float,
        refuse: Callable[[list[float]], Refusal | None],
    ) -> Sent:
        """Issue `record` unless the request was handled before or `refuse` (given the phone's
        recent send times) says no. A new code replaces the appointment's previous one."""
        rid = record.request_id
        outcome, sends, current = (
            self._outcome(rid),
            self._sends(phone_key),
            self._current(record.appointment_id),
        )

        def transaction(pipe: redis.client.Pipeline) -> Sent:
            earlier = pipe.get(outcome)
            if earlier is not None:
                return Sent(issued=False, failure=_failure(earlier), duplicate=True)
            times = [
                score
                for _, score in pipe.zrangebyscore(
                    sends, now - self.send_window_s, "+inf", withscores=True
                )
            ]
            refusal = refuse(times)
            previous = pipe.get(current)
            pipe.multi()
            if refusal is not None:
                failure = Failure("rejected", now, refusal.value)
                pipe.set(outcome, json.dumps(failure.__dict__), ex=OUTCOME_TTL_S)
                return Sent(issued=False, failure=failure)
            pipe.set(outcome, ISSUED, ex=OUTCOME_TTL_S)
            if previous is not None and previous.decode() != rid:
                pipe.delete(self._code(previous.decode()))  # only the newest code is valid
            self._write(pipe, record)
            pipe.set(current, rid, pxat=_expiry_ms(record))
            pipe.zadd(sends, {rid: now})
            pipe.zremrangebyscore(sends, "-inf", now - self.send_window_s)
            pipe.expire(sends, self.send_window_s)
            return Sent(issued=True)

        return self.redis.transaction(
            transaction, outcome, sends, current, value_from_callable=True
        )

    def mark_undeliverable(self, request_id: str, now: float) -> Failure:
        """The code could not be handed to a channel: forget it and remember why."""
        failure = Failure("undeliverable", now)
        with self.redis.pipeline() as pipe:
            pipe.set(self._outcome(request_id), json.dumps(failure.__dict__), ex=OUTCOME_TTL_S)
            pipe.delete(self._code(request_id))
            pipe.execute()
        return failure

    # --- verifying -----------------------------------------------------------------------------

    def load(self, request_id: str) -> CodeRecord | None:
        return _record(self.redis.hgetall(self._code(request_id)))

    def count_call_and_load(
        self, caller: str, request_id: str, now: float, window_s: int = 60
    ) -> tuple[int, float, CodeRecord | None]:
        """`count_call` and `load` in one round trip: (calls so far, seconds left, the record)."""
        (calls,), left, record = self.count_calls_and_load([caller], request_id, now, window_s)
        return calls, left, record

    def count_calls_and_load(
        self, callers: list[str], request_id: str, now: float, window_s: int = 60
    ) -> tuple[list[int], float, CodeRecord | None]:
        """One call counted for each of `callers` (a service, the person it acts for) and the
        record loaded, in one round trip: (calls so far by each, seconds left, the record)."""
        with self.redis.pipeline(transaction=False) as pipe:
            for caller in callers:
                key, left = self._calls(caller, now, window_s)
                pipe.incr(key)
                pipe.expire(key, window_s)
            pipe.hgetall(self._code(request_id))
            *counts, fields = pipe.execute()
        return counts[::2], left, _record(fields)

    def attempt(
        self,
        request_id: str,
        decide: Callable[[CodeRecord | None], Attempt],
        seen: CodeRecord | None | object = _UNREAD,
    ) -> Attempt:
        """Decide one try on the stored record and store the result, as one atomic step.

        `seen` is the record just read (by `count_call_and_load`), if it was."""
        while True:
            record = self.load(request_id) if seen is _UNREAD else seen
            attempt = decide(record)
            # Always one write of one record (unchanged, or a decoy for an unknown request), so
            # every try costs the same and timing does not tell which requests exist.
            written = attempt.after if attempt.after is not None else _decoy(request_id)
            target = self._code(request_id) if attempt.after is not None else self._decoy_key
            if self._compare_and_set(self._code(request_id), record, target, written):
                return attempt
            seen = _UNREAD  # changed since it was read: decide again on what is there now

    def put_back(self, attempt: Attempt) -> bool:
        """Undo a try whose event could not be published, if nothing changed the record since."""
        key = self._code(attempt.before.request_id)

        def transaction(pipe: redis.client.Pipeline) -> bool:
            if _record(pipe.hgetall(key)) != attempt.after:
                return False
            pipe.multi()
            self._write(pipe, attempt.before)
            return True

        return self.redis.transaction(transaction, key, value_from_callable=True)

    def count_call(self, caller: str, now: float, window_s: int = 60) -> tuple[int, float]:
        """Count one call by `caller` in the current fixed window; (calls so far, seconds left)."""
        key, left = self._calls(caller, now, window_s)
        with self.redis.pipeline() as pipe:
            pipe.incr(key)
            pipe.expire(key, window_s)
            calls, _ = pipe.execute()
        return calls, left

    def _calls(self, caller: str, now: float, window_s: int) -> tuple[str, float]:
        window = int(now // window_s)
        return f"{self.prefix}calls:{caller}:{window}", (window + 1) * window_s - now

    def _compare_and_set(
        self, key: str, expected: CodeRecord | None, target: str, record: CodeRecord
    ) -> bool:
        """Write `record` to `target` if the record at `key` is still `expected` (None: absent)."""
        was = [""] * len(FIELDS) if expected is None else list(_fields(expected).values())
        new = list(_fields(record).values())
        return bool(
            self._cas(
                keys=[key, target], args=[_expiry_ms(record), len(FIELDS), *FIELDS, *was, *new]
            )
        )

    # --- keys and records ----------------------------------------------------------------------

    def _code(self, request_id: str) -> str:
        return f"{self.prefix}code:{request_id}"

    def _current(self, appointment_id: str) -> str:
        return f"{self.prefix}current:{appointment_id}"

    def _outcome(self, request_id: str) -> str:
        return f"{self.prefix}outcome:{request_id}"

    def _sends(self, phone_key: str) -> str:
        return f"{self.prefix}sends:{phone_key}"

    @property
    def _decoy_key(self) -> str:
        return f"{self.prefix}decoy"

    def _write(
        self, pipe: redis.client.Pipeline, record: CodeRecord, key: str | None = None
    ) -> None:
        key = key or self._code(record.request_id)
        pipe.hset(key, mapping=_fields(record))
        pipe.pexpireat(key, _expiry_ms(record))


FIELDS = (
    "request_id",
    "appointment_id",
    "booth_id",
    "digest",
    "attempts_left",
    "expires_at",
    "state",
)

# KEYS: the code's key, the key to write. ARGV: expiry (ms), n, n field names, the n values the
# code's record must still hold ("" for each: no record), the n values to write.
COMPARE_AND_SET = """
local n = tonumber(ARGV[2])
local names = {unpack(ARGV, 3, 2 + n)}
local now = redis.call('HMGET', KEYS[1], unpack(names))
for i = 1, n do
  if (now[i] or '') ~= ARGV[2 + n + i] then return 0 end
end
local values = {}
for i = 1, n do
  values[2 * i - 1] = names[i]
  values[2 * i] = ARGV[2 + 2 * n + i]
end
redis.call('HSET', KEYS[2], unpack(values))
redis.call('PEXPIREAT', KEYS[2], ARGV[1])
return 1
"""


def _fields(record: CodeRecord) -> dict[str, str]:
    """The record as stored, in the order of FIELDS."""
    return {
        "request_id": record.request_id,
        "appointment_id": record.appointment_id,
        "booth_id": record.booth_id,
        "digest": record.digest,
        "attempts_left": str(record.attempts_left),
        "expires_at": repr(record.expires_at),
        "state": record.state.value,
    }


def _decoy(request_id: str) -> CodeRecord:
    """A record shaped like a real one, written for unknown requests; it lives a minute."""
    return CodeRecord(
        request_id, "-", "-", "0" * 64, 0, time.time() - RETAIN_AFTER_EXPIRY_S + 60, State.LOCKED
    )


def _expiry_ms(record: CodeRecord) -> int:
    return int((record.expires_at + RETAIN_AFTER_EXPIRY_S) * 1000)


def _record(fields: dict[bytes, bytes]) -> CodeRecord | None:
    if not fields:
        return None
    text = {k.decode(): v.decode() for k, v in fields.items()}
    return CodeRecord(
        request_id=text["request_id"],
        appointment_id=text["appointment_id"],
        booth_id=text["booth_id"],
        digest=text["digest"],
        attempts_left=int(text["attempts_left"]),
        expires_at=float(text["expires_at"]),
        state=State(text["state"]),
    )


def _failure(raw: bytes) -> Failure | None:
    return None if raw == ISSUED.encode() else Failure(**json.loads(raw))
