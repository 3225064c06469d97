"""Signed claims in a link: ids packed into a token that only the holder of the key can mint.

A token is `base64url(payload).base64url(mac)`, the MAC an HMAC-SHA256 (truncated to 128 bits)
over a label and the payload. The label names what the token is for (an acknowledgement, a
meeting's join link), so a token minted for one purpose is refused by another even under the
same key; changing any byte of the payload breaks the MAC, so a token can be neither forged nor
turned into another's. The payload is UUIDs (16 bytes each) followed by one text, as both the
notifier's ack links and the meetings' join links carry them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

MAC_BYTES = 16  # 128 bits


class InvalidClaim(Exception):
    """Malformed, or not minted under this key for this purpose."""


def mint(key: bytes, label: bytes, ids: tuple[str, ...], text: str) -> str:
    payload = b"".join(uuid.UUID(value).bytes for value in ids) + text.encode()
    return _b64(payload) + "." + _b64(_mac(key, label, payload))


def read(key: bytes, label: bytes, token: str, ids: int) -> tuple[tuple[str, ...], str]:
    """The `ids` UUIDs and the text a token carries, or InvalidClaim."""
    try:
        payload_text, mac_text = token.split(".")
        payload, mac = _unb64(payload_text), _unb64(mac_text)
    except (ValueError, TypeError):
        raise InvalidClaim("malformed token") from None
    fixed = 16 * ids
    if len(payload) <= fixed or not hmac.compare_digest(mac, _mac(key, label, payload)):
        raise InvalidClaim("token not minted by this service")
    try:
        text = payload[fixed:].decode()
    except UnicodeDecodeError:
        raise InvalidClaim("malformed token") from None
    values = tuple(str(uuid.UUID(bytes=payload[i : i + 16])) for i in range(0, fixed, 16))
    return values, text


def _mac(key: bytes, label: bytes, payload: bytes) -> bytes:
    return hmac.new(key, label + payload, hashlib.sha256).digest()[:MAC_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
