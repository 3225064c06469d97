"""Codes delivered through the notifier (OTP_DELIVERY=notifier): the code goes to the notifier's
urgent lane, which sends it by SMS or WhatsApp through the same channel adapters as directives,
ahead of any bulk traffic.

    POST {NOTIFIER_URL}/v1/otp-deliveries   with this service's token (scope messages:send)

In development (the local platform and its tests) each code is also kept in the local sink, so
developers and tests still read codes from GET /v1/dev/deliveries while the notifier really sends
them.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import redis

from otp.adapters.delivery import RedisStreamSink
from otp.ports import DeliveryChannel, DeliveryUnavailable
from shared.auth.keys import token_file


class DeliveryRefused(Exception):
    """The notifier will not queue the code; the OTP service withdraws it."""


# The notifier is busy or its Kafka lanes are away (503 lanes-unavailable): worth another try.
TRANSIENT_STATUSES = {429, 502, 503, 504}


class NotifierDelivery:
    def __init__(self, url: str, token_path: Path, timeout_s: float):
        self.url = url.rstrip("/") + "/v1/otp-deliveries"
        self._token = token_file(token_path)
        self._client = httpx.Client(timeout=timeout_s)

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
        body = {
            "request_id": request_id,
            "appointment_id": appointment_id,
            "booth_id": booth_id,
            "phone": phone,
            "channel": channel,
            "locale": locale,
            "text": text,
        }
        try:
            response = self._client.post(
                self.url, json=body, headers={"Authorization": f"Bearer {self._token.get()}"}
            )
        except (
            httpx.TransportError
        ) as exc:  # timed out, refused, reset: the notifier may be back soon
            raise DeliveryUnavailable(type(exc).__name__) from None
        if response.status_code in TRANSIENT_STATUSES:
            raise DeliveryUnavailable(f"notifier answered {response.status_code}")
        if response.status_code != 202:
            raise DeliveryRefused(f"notifier answered {response.status_code}")


class AlsoToSink:
    """The notifier sends the code; the development sink keeps a copy to read."""

    def __init__(self, channel: DeliveryChannel, sink: RedisStreamSink):
        self.channel, self.sink = channel, sink

    def deliver(self, **message: str) -> None:
        self.channel.deliver(**message)
        self.sink.deliver(**message)


def notifier_channel(
    settings, client: redis.Redis
) -> tuple[DeliveryChannel, RedisStreamSink | None]:
    """The notifier channel, plus the sink in development only; (channel, sink or None)."""
    channel = NotifierDelivery(
        settings.notifier_url, settings.notifier_token_file, settings.notifier_timeout_s
    )
    if settings.environment != "development":
        return channel, None
    sink = RedisStreamSink(
        client,
        key=f"{settings.redis_prefix}dev-sink",
        maxlen=settings.dev_sink_maxlen,
        ttl_s=settings.dev_sink_ttl_s,
        prefixes=settings.allowed_prefixes,
    )
    return AlsoToSink(channel, sink), sink
