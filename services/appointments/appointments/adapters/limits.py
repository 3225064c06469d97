"""Budgets of calls per organiser and per appointment, and one import at a time per organiser.

Counted in Redis, so every process of the service shares them: one organiser hammering codes
or refusals spends their own budget, not the service's (which the OTP service caps as a whole).
"""

import hashlib
import time

import redis

from shared.ratelimit import Limit, LimitsUnavailable, RateLimiter, Throttled
from shared.ratelimit import window_left as _left


class AppointmentLimits:
    def __init__(self, client: redis.Redis, settings, prefix: str = "appointments:"):
        self.redis, self.prefix = client, prefix
        self.limiter = RateLimiter(client, prefix)
        s = settings
        self.verify_organiser = Limit("verify-per-organiser", s.verify_per_organiser_per_min, 60)
        self.verify_appointment = Limit(
            "verify-per-appointment", s.verify_per_appointment_per_min, 60
        )
        self.resend_organiser = Limit("resend-per-organiser", s.resend_per_organiser_per_10min, 600)
        self.resend_appointment = Limit(
            "resend-per-appointment", s.resend_per_appointment_per_10min, 600
        )
        self.refusals_organiser = Limit(
            "president-refusals-per-organiser", s.president_refusals_per_hour, 3600
        )
        self.new_numbers = Limit(
            "new-numbers-per-organiser", s.new_numbers_per_organiser_per_day, 86400
        )
        self.import_lease_s = s.import_lease_s

    def verification(self, organiser: str, appointment_id: str) -> None:
        """Throttled or LimitsUnavailable, else the try is counted."""
        self.limiter.spend(
            (self.verify_organiser, organiser), (self.verify_appointment, appointment_id)
        )

    def resend(self, organiser: str, appointment_id: str) -> None:
        self.limiter.spend(
            (self.resend_organiser, organiser), (self.resend_appointment, appointment_id)
        )

    def president_refusal(self, organiser: str) -> None:
        """Count a refusal because the phone is a president elsewhere: each one tells something."""
        self.limiter.spend((self.refusals_organiser, organiser))

    def may_try_president(self, organiser: str) -> None:
        """Throttled once the organiser's refusals are spent: from then on every president
        appointment waits, whether it would succeed or not, so the answer tells nothing."""
        self.limiter.check(self.refusals_organiser, organiser)

    # --- codes to new numbers ---------------------------------------------------------------------

    def may_send_to_new_numbers(self, organiser: str, now: float | None = None) -> None:
        """Throttled once the organiser has had codes sent to their day's allowance of numbers."""
        now = time.time() if now is None else now
        try:
            count = self.redis.pfcount(self._numbers(organiser, now))
        except redis.RedisError as exc:
            raise LimitsUnavailable(type(exc).__name__) from None
        if count >= self.new_numbers.calls:
            raise Throttled(self.new_numbers, _left(self.new_numbers, now))

    def sent_to(self, organiser: str, phone: str, now: float | None = None) -> None:
        """Count a number the organiser had a code sent to. A HyperLogLog counts distinct numbers
        (a retry to the same one is not counted again) without keeping any number readable."""
        now = time.time() if now is None else now
        key = self._numbers(organiser, now)
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.pfadd(key, hashlib.sha256(phone.encode()).hexdigest())
                pipe.expire(key, self.new_numbers.window_s)
                pipe.execute()
        except redis.RedisError:
            pass  # the code is already on its way; an uncounted number only loosens the cap

    def _numbers(self, organiser: str, now: float) -> str:
        return (
            f"{self.prefix}{self.new_numbers.name}:{organiser}:"
            f"{int(now // self.new_numbers.window_s)}"
        )

    # --- imports -------------------------------------------------------------------------------

    def begin_import(self, organiser: str) -> bool:
        """Take the organiser's import lease; False if one of theirs is running. The lease expires
        by itself, so a pod that dies mid-import does not block the organiser for ever."""
        try:
            return bool(self.redis.set(self._import(organiser), 1, nx=True, ex=self.import_lease_s))
        except redis.RedisError as exc:
            raise LimitsUnavailable(type(exc).__name__) from None

    def end_import(self, organiser: str) -> None:
        try:
            self.redis.delete(self._import(organiser))
        except redis.RedisError:
            pass  # the lease expires on its own

    def _import(self, organiser: str) -> str:
        return f"{self.prefix}import:{organiser}"
