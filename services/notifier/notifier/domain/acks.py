"""Acknowledgement tokens: a link per (directive, recipient) that only this service can mint.

The token packs the directive id, the recipient's appointment id and the booth id, with an HMAC
over all three under the service's key: changing any part (another directive, another person)
breaks the MAC, so a token can be neither forged nor reused for another directive.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass

MAC_BYTES = 16  # 128 bits
_LABEL = b"sangathan-ack-v1\x00"


class InvalidAckToken(Exception):
    """Malformed, or not minted by this service for these ids."""


@dataclass(frozen=True)
class AckClaim:
    directive_id: str
    recipient_id: str
    booth_id: str


@dataclass(frozen=True)
class AckLinks:
    """The links the service sends: its public address and a token only it can mint."""

    key: bytes
    public_url: str

    def link(self, claim: AckClaim) -> str:
        return f"{self.public_url}/a/{mint(self.key, claim)}"


def mint(key: bytes, claim: AckClaim) -> str:
    payload = (
        uuid.UUID(claim.directive_id).bytes
        + uuid.UUID(claim.recipient_id).bytes
        + claim.booth_id.encode()
    )
    return _b64(payload) + "." + _b64(_mac(key, payload))


def read(key: bytes, token: str) -> AckClaim:
    try:
        payload_text, mac_text = token.split(".")
        payload, mac = _unb64(payload_text), _unb64(mac_text)
    except (ValueError, TypeError):
        raise InvalidAckToken("malformed token") from None
    if len(payload) <= 32 or not hmac.compare_digest(mac, _mac(key, payload)):
        raise InvalidAckToken("token not minted by this service")
    try:
        booth = payload[32:].decode()
    except UnicodeDecodeError:
        raise InvalidAckToken("malformed token") from None
    return AckClaim(str(uuid.UUID(bytes=payload[:16])), str(uuid.UUID(bytes=payload[16:32])), booth)


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, _LABEL + payload, hashlib.sha256).digest()[:MAC_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
