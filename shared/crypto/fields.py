"""Personal data sealed field by field (AES-256-GCM), and a keyed index of phone numbers.

A sealed field is one string, `pd1.<key id>.<base64url(nonce | ciphertext | tag)>`, so it fits
wherever the plaintext did (a document field, an entry inside a string). The field's purpose
("name", "phone") is authenticated with it: a phone's ciphertext cannot be passed off as a name.

Rotation by key id: a keyring holds every key still needed to read; new writes use the current
one and every listed key still opens what it sealed. To retire a key, make another current, re-seal
what it sealed (appointments: `python -m appointments.rekey`), then drop the old line.

The phone index is HMAC-SHA256 under its own key: equal phones give equal values, so uniqueness
and look-ups work without the phone, and no one without the key can test a guessed number. It
does not rotate by id (changing it means recomputing every index), hence a key of its own.
"""

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.secrets import checked_key

PREFIX = "pd1"
NONCE_BYTES = 12
BARE_KEY_ID = "0"  # a keyring of one bare secret (the development key) has this id


class UnreadableField(ValueError):
    """Not a sealed field, sealed under a key the ring no longer holds, or tampered with."""


class FieldCipher:
    """Seals and opens text fields; `keys` maps key id -> secret, `current` seals new writes."""

    def __init__(self, keys: dict[str, bytes], current: str):
        if current not in keys:
            raise ValueError(f"the current key id {current!r} is not in the keyring")
        self._aead = {key_id: AESGCM(_derive(secret, key_id)) for key_id, secret in keys.items()}
        self.current = current

    def seal(self, value: str, purpose: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead[self.current].encrypt(nonce, value.encode(), purpose.encode())
        return (
            f"{PREFIX}.{self.current}."
            f"{base64.urlsafe_b64encode(nonce + sealed).decode().rstrip('=')}"
        )

    def open(self, token: str, purpose: str) -> str:
        prefix, key_id, body = _parts(token)
        if prefix != PREFIX or key_id not in self._aead:
            raise UnreadableField(
                f"no key {key_id!r} in the keyring" if prefix == PREFIX else "not a sealed field"
            )
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        try:
            return (
                self._aead[key_id]
                .decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], purpose.encode())
                .decode()
            )
        except InvalidTag:
            raise UnreadableField(f"a {purpose} field failed its integrity check") from None


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX + ".")


def sealed_with(value: str) -> str | None:
    """The id of the key that sealed this field, or None if it is not a sealed field."""
    prefix, key_id, _ = _parts(value)
    return key_id if prefix == PREFIX else None


def _parts(token: str) -> tuple[str, str, str]:
    parts = token.split(".", 2)
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else ("", "", "")


def _derive(secret: bytes, key_id: str) -> bytes:
    """A 256-bit AES key from a configured secret (text of at least 32 bytes, not raw key bytes)."""
    info = f"sangathan personal-data field key {key_id}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def keyring(raw: bytes, what: str) -> FieldCipher:
    """A cipher from a keyring file: `<key id>:<secret>` lines, the last the current key."""
    return FieldCipher(*parse_keys(raw, what))


def parse_keys(raw: bytes, what: str) -> tuple[dict[str, bytes], str]:
    """Key id -> secret from `<key id>:<secret>` lines, and the current id (the last line's).

    One bare secret is a keyring of one (key id "0"): the development key is made that way."""
    lines = [
        line.strip()
        for line in raw.decode().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    if len(lines) == 1 and ":" not in lines[0]:
        lines = [f"{BARE_KEY_ID}:{lines[0]}"]
    keys: dict[str, bytes] = {}
    for line in lines:
        key_id, _, secret = line.partition(":")
        if not key_id or "." in key_id or key_id in keys:
            raise ValueError(f"{what}: each line is <key id>:<secret>, ids unique and without dots")
        keys[key_id] = checked_key(secret.strip().encode(), f"{what} ({key_id})")
    if not keys:
        raise ValueError(f"{what} holds no key")
    return keys, lines[-1].partition(":")[0]


class PhoneIndex:
    """The keyed index of an E.164 phone: stable, 128 bits, hex."""

    def __init__(self, key: bytes):
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)  # keyed once, copied per phone

    def __call__(self, e164: str) -> str:
        mac = self._keyed.copy()
        mac.update(e164.encode())
        return mac.hexdigest()[:32]


class VersionedIndex:
    """A keyed index whose key rotates by id: values are `<key id>:<hmac>`, written under the
    current key; a look-up computes the value under every key still in the ring, so what was
    recorded before a rotation is still found after it."""

    def __init__(self, keys: dict[str, bytes], current: str):
        self._indexes = {key_id: PhoneIndex(secret) for key_id, secret in keys.items()}
        self.current_id = current

    def current(self, value: str) -> str:
        return f"{self.current_id}:{self._indexes[self.current_id](value)}"

    def every(self, value: str) -> list[str]:
        return [f"{key_id}:{index(value)}" for key_id, index in self._indexes.items()]
