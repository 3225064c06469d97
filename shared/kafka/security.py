"""How every Kafka client of the platform authenticates and encrypts: read once, from the
environment.

    KAFKA_SECURITY_PROTOCOL   PLAINTEXT (the local platform), SSL, SASL_PLAINTEXT or SASL_SSL
    KAFKA_SASL_MECHANISM      SCRAM-SHA-512 (Strimzi's `scram-sha-512` KafkaUsers) or SCRAM-SHA-256
    KAFKA_SASL_USERNAME       the service's KafkaUser
    KAFKA_SASL_PASSWORD_FILE  a file holding its password (the KafkaUser's Secret, key `password`)
    KAFKA_SSL_CA_FILE         the CA that signed the brokers' certificates (Strimzi's cluster CA)

Every librdkafka client (producers, consumers, admin clients) starts from `client_config`, and
the analytics worker's Faust app and aiokafka reader from `faust_credentials` and `aiokafka_auth`,
so a service cannot have one client on TLS and another in the clear. `PlatformSettings` carries
the same fields, so a service with an incomplete setting refuses to start. The password is read
from its file whenever a client is made: a rotated Secret reaches new clients without a restart.
"""

from __future__ import annotations

import ssl
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SASL = ("SASL_PLAINTEXT", "SASL_SSL")
TLS = ("SSL", "SASL_SSL")


class KafkaSecurity(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", validation_alias="KAFKA_SECURITY_PROTOCOL"
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = Field(
        "SCRAM-SHA-512", validation_alias="KAFKA_SASL_MECHANISM"
    )
    kafka_sasl_username: str | None = Field(None, validation_alias="KAFKA_SASL_USERNAME")
    kafka_sasl_password_file: Path | None = Field(None, validation_alias="KAFKA_SASL_PASSWORD_FILE")
    kafka_ssl_ca_file: Path | None = Field(None, validation_alias="KAFKA_SSL_CA_FILE")

    @model_validator(mode="after")
    def _complete(self):
        if self.kafka_security_protocol in SASL and not (
            self.kafka_sasl_username and self.kafka_sasl_password_file
        ):
            raise ValueError(
                f"KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD_FILE"
            )
        if self.kafka_ssl_ca_file and self.kafka_security_protocol not in TLS:
            raise ValueError(
                "KAFKA_SSL_CA_FILE is set but KAFKA_SECURITY_PROTOCOL is not SSL or SASL_SSL"
            )
        return self

    @property
    def sasl(self) -> bool:
        return self.kafka_security_protocol in SASL

    @property
    def tls(self) -> bool:
        return self.kafka_security_protocol in TLS

    def password(self) -> str:
        return self.kafka_sasl_password_file.read_text(encoding="utf-8").strip()

    def librdkafka(self) -> dict[str, str]:
        """The librdkafka properties (confluent-kafka's config) for this security setting."""
        config = {"security.protocol": self.kafka_security_protocol}
        if self.sasl:
            config |= {
                "sasl.mechanism": self.kafka_sasl_mechanism,
                "sasl.username": self.kafka_sasl_username,
                "sasl.password": self.password(),
            }
        if self.tls and self.kafka_ssl_ca_file:
            config["ssl.ca.location"] = str(self.kafka_ssl_ca_file)
        return config

    def ssl_context(self) -> ssl.SSLContext | None:
        """Verifies the brokers' certificates and names (against the CA file, else the system's)."""
        if not self.tls:
            return None
        return ssl.create_default_context(
            cafile=str(self.kafka_ssl_ca_file) if self.kafka_ssl_ca_file else None
        )

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for an aiokafka client."""
        auth: dict[str, Any] = {
            "security_protocol": self.kafka_security_protocol,
            "ssl_context": self.ssl_context(),
        }
        if self.sasl:
            auth |= {
                "sasl_mechanism": self.kafka_sasl_mechanism,
                "sasl_plain_username": self.kafka_sasl_username,
                "sasl_plain_password": self.password(),
            }
        return auth

    def faust_credentials(self):
        """Faust's `broker_credentials`: None in the clear."""
        import faust

        if self.sasl:
            return faust.SASLCredentials(
                username=self.kafka_sasl_username,
                password=self.password(),
                mechanism=self.kafka_sasl_mechanism,
                ssl_context=self.ssl_context(),
            )
        if self.tls:
            return faust.SSLCredentials(self.ssl_context())
        return None


@cache
def security() -> KafkaSecurity:
    return KafkaSecurity()


def client_config(bootstrap: str, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """A librdkafka client's config: the bootstrap servers, the platform's security, then the
    client's own `settings` (later keys win, as in a dict literal)."""
    return {"bootstrap.servers": bootstrap, **security().librdkafka(), **(settings or {})}


def aiokafka_auth() -> dict[str, Any]:
    return security().aiokafka()


def faust_credentials():
    return security().faust_credentials()
