"""Typed settings read from the environment.

Every service has its own settings class that extends `PlatformSettings`. The server
addresses carry the plain names the README documents (`KAFKA_BOOTSTRAP`, `REDIS_URL`,
`MONGO_URL`, `MONGO_DB`) so one exported variable points every service at, say, a real
MongoDB replica set instead of the local FerretDB.
"""

import ipaddress
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.auth.keys import LOCAL_PUBLIC_KEY, LOCAL_TOKENS
from shared.kafka.security import KafkaSecurity
from shared.secrets import DEVELOPMENT_KEY_ENVIRONMENTS, configured_key

ROOT = Path(__file__).resolve().parents[1]


class PlatformSettings(KafkaSecurity, BaseSettings):
    # KafkaSecurity: KAFKA_SECURITY_PROTOCOL and the SASL and TLS settings of every Kafka client.
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    # Production unless said otherwise: a deployment that forgets the variable gets production's
    # refusals (no placeholder secrets, no readable OTP sink, Secure cookies), never development's.
    environment: Literal["development", "test", "production"] = Field(
        "production", validation_alias="SANGATHAN_ENV"
    )
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")
    kafka_bootstrap: str = Field("127.0.0.1:9092", validation_alias="KAFKA_BOOTSTRAP")
    redis_url: str = Field("redis://127.0.0.1:6390/0", validation_alias="REDIS_URL")
    mongo_url: str = Field("mongodb://127.0.0.1:27017/", validation_alias="MONGO_URL")
    mongo_db: str = Field("sangathan", validation_alias="MONGO_DB")
    # How long a readiness probe waits for one dependency before calling it down.
    dependency_timeout_s: float = Field(2.0, validation_alias="DEPENDENCY_TIMEOUT_S")
    # How long one MongoDB operation may wait for the server's answer (a bulk write included).
    mongo_socket_timeout_s: float = Field(8.0, gt=0, validation_alias="MONGO_SOCKET_TIMEOUT_S")
    # The service's name; every service's settings say it (its logs, its token's audience).
    service_name: str = "platform"
    # Bearer tokens: who issues them, for whom, and the public key that checks their signature.
    auth_issuer: str = Field("sangathan-local", validation_alias="AUTH_ISSUER")
    # The `aud` this service accepts; by default its own name, so a token meant for one service
    # is refused by every other (AUTH_AUDIENCE when an identity provider names them otherwise).
    auth_audience: str | None = Field(None, validation_alias="AUTH_AUDIENCE")
    auth_public_key_file: Path = Field(LOCAL_PUBLIC_KEY, validation_alias="AUTH_PUBLIC_KEY_FILE")
    # This service's own bearer token for calling other services (a mounted, rotated file).
    service_token_file: Path | None = Field(None, validation_alias="SERVICE_TOKEN_FILE")
    # Development keys live here (made once); production names its keys in settings.
    state_dir: Path = Field(ROOT / ".state", validation_alias="SANGATHAN_STATE")
    # Seals phones and names in dead letters (shared/kafka/deadletters.py): `<key id>:<secret>`
    # lines, the last current; one keyring for every service, so any of them can open a replay.
    dead_letter_keys: SecretStr | None = Field(None, validation_alias="DEAD_LETTER_KEYS")
    dead_letter_keys_file: Path | None = Field(None, validation_alias="DEAD_LETTER_KEYS_FILE")

    @property
    def audience(self) -> str:
        return self.auth_audience or self.service_name

    @property
    def makes_development_keys(self) -> bool:
        return self.environment in DEVELOPMENT_KEY_ENVIRONMENTS

    def key(
        self,
        secret: SecretStr | None,
        secret_file: Path | None,
        *,
        development_file: str,
        what: str,
    ) -> bytes:
        """A key from its setting or its mounted file; in development and tests only, without
        either, the key made once at `state_dir/development_file` (shared.secrets)."""
        development = self.state_dir / development_file if self.makes_development_keys else None
        value = secret.get_secret_value() if secret is not None else None
        return configured_key(value, secret_file, development=development, what=what)

    def own_token_file(self, service: str) -> Path:
        """SERVICE_TOKEN_FILE, or the local issuer's token for `service` in development."""
        return self.service_token_file or LOCAL_TOKENS / f"{service}.jwt"


def is_loopback(url: str) -> bool:
    """True for a URL on this machine (localhost, 127.0.0.0/8, ::1, 0.0.0.0) or with no host at
    all."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if not host or host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name: resolved by the cluster's DNS, not ours to judge
    return address.is_loopback or address.is_unspecified
