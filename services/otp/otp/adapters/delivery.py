"""The local sink that stands in for SMS and WhatsApp behind the `DeliveryChannel` port
(otp/ports.py); the notifier provides the real channel (notifier_delivery.py). The sink keeps each
message in a capped Redis stream that developers and tests read (`GET /v1/dev/deliveries`); the
phone is stored masked, the text holds the code.
"""

from __future__ import annotations

import re

import redis

from otp.domain import mask_phone

# The code is the message's first word, in every locale's template.
_CODE = re.compile(r"^(\d{4,10})\b")


class RedisStreamSink:
    """A DeliveryChannel that keeps messages in one capped, expiring Redis stream."""

    def __init__(
        self, client: redis.Redis, *, key: str, maxlen: int, ttl_s: int, prefixes: tuple[str, ...]
    ):
        self.redis, self.key, self.maxlen, self.ttl_s, self.prefixes = (
            client,
            key,
            maxlen,
            ttl_s,
            prefixes,
        )

    def deliver(
        self,
        *,
        request_id: str,
        appointment_id: str,
        booth_id: str,
        phone: str,
        channel: str,
        locale: str,
        text: str,
    ) -> None:
        with self.redis.pipeline() as pipe:
            pipe.xadd(
                self.key,
                {
                    "request_id": request_id,
                    "appointment_id": appointment_id,
                    "booth_id": booth_id,
                    "channel": channel,
                    "locale": locale,
                    "phone": mask_phone(phone, self.prefixes),
                    "text": text,
                },
                maxlen=self.maxlen,
                approximate=True,
            )
            pipe.expire(self.key, self.ttl_s)
            pipe.execute()

    def deliveries(self, appointment_id: str, limit: int = 10) -> list[dict[str, str]]:
        """The newest messages for one appointment, newest first, each with its code."""
        found = []
        for entry_id, fields in self.redis.xrevrange(self.key, count=self.maxlen):
            entry = {k.decode(): v.decode() for k, v in fields.items()}
            if entry["appointment_id"] != appointment_id:
                continue
            match = _CODE.match(entry["text"])
            entry["code"] = match.group(1) if match else ""
            entry["delivered_at_ms"] = int(entry_id.split(b"-")[0])
            found.append(entry)
            if len(found) == limit:
                break
        return found
