"""The signing key pair: where it lives, made once for local development, and read with caching."""

import os
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

LOCAL_DIR = Path(__file__).resolve().parents[2] / ".state" / "auth"
LOCAL_PRIVATE_KEY = LOCAL_DIR / "issuer-private.pem"
LOCAL_PUBLIC_KEY = LOCAL_DIR / "issuer-public.pem"
LOCAL_TOKENS = LOCAL_DIR / "tokens"


def ensure_local_keys(directory: Path = LOCAL_DIR, name: str = "issuer") -> tuple[Path, Path]:
    """Create a local signing key pair once (the issuer's, or another signer's such as the
    dashboard's): `<name>-private.pem`, readable by its owner only, and `<name>-public.pem`."""
    private, public = directory / f"{name}-private.pem", directory / f"{name}-public.pem"
    if not private.exists():
        directory.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        public.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return private, public


class KeyFile:
    """A PEM file re-read when it changes, so a rotated key (or token) is picked up without a
    restart: within `recheck_s`, for which a key read is trusted. Looked at on every call, the
    file cost each request one `stat` per check (an answer has two: its body's and its route's),
    and each let go of the GIL, so the event loop waited behind the handler threads to go on."""

    RECHECK_S = 1.0

    def __init__(self, path: Path, loader, recheck_s: float = RECHECK_S):
        self.path, self.loader, self.recheck_s = Path(path), loader, recheck_s
        self._mtime, self._value = None, None
        self._checked = float("-inf")

    def get(self):
        now = time.monotonic()
        if now - self._checked < self.recheck_s:
            return self._value
        mtime = self.path.stat().st_mtime_ns
        if mtime != self._mtime:
            self._value, self._mtime = self.loader(self.path.read_bytes()), mtime
        self._checked = now
        return self._value


def public_key_file(path: Path) -> KeyFile:
    return KeyFile(path, serialization.load_pem_public_key)


def private_key_file(path: Path) -> KeyFile:
    return KeyFile(path, lambda pem: serialization.load_pem_private_key(pem, password=None))


def token_file(path: Path) -> KeyFile:
    """A service's own bearer token, mounted as a file (like a projected service-account token)."""
    return KeyFile(path, lambda raw: raw.decode().strip())
