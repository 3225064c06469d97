"""Settings of the notifier: where recipients and providers are, each channel's limits, the
sending policy, and the keys for webhooks and acknowledgement links.

Secrets come from the environment or a mounted file; only in development (and tests) does the
service make random keys of its own under .state/notifier, shared with the local simulator.
"""

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from shared.auth.keys import LOCAL_TOKENS
from shared.secrets import is_placeholder
from shared.settings import PlatformSettings, is_loopback

Names = Annotated[tuple[str, ...], NoDecode]


class NotifierSettings(PlatformSettings):
    """Settings of the notifier service (environment variables, local defaults)."""

    # A refusal's message must not quote the input: it holds the provider's key and URL.
    model_config = SettingsConfigDict(hide_input_in_errors=True)
    service_name: str = "notifier"
    # Where recipients open acknowledgement links.
    public_url: str = Field("http://127.0.0.1:8003", validation_alias="NOTIFIER_PUBLIC_URL")

    # Recipients: the appointments service's stream of verified appointees, with our own token.
    recipients_url: str = Field("http://127.0.0.1:8001", validation_alias="NOTIFIER_RECIPIENTS_URL")
    token_file: Path = Field(LOCAL_TOKENS / "notifier.jwt", validation_alias="NOTIFIER_TOKEN_FILE")
    recipients_timeout_s: float = Field(
        60.0, gt=0, validation_alias="NOTIFIER_RECIPIENTS_TIMEOUT_S"
    )
    # Inbound replies answering a report form go to the reports service (no phone in them).
    reports_url: str = Field("http://127.0.0.1:8008", validation_alias="NOTIFIER_REPORTS_URL")
    inbound_timeout_s: float = Field(5.0, gt=0, validation_alias="NOTIFIER_INBOUND_TIMEOUT_S")

    # Providers: one base URL (the local simulator by default); each channel's senders and rates.
    provider_url: str = Field("http://127.0.0.1:8005", validation_alias="PROVIDER_URL")
    provider_api_key: SecretStr | None = Field(None, validation_alias="PROVIDER_API_KEY")
    provider_timeout_s: float = Field(10.0, gt=0, validation_alias="PROVIDER_TIMEOUT_S")
    whatsapp_numbers: Names = Field(
        tuple(f"+9111400000{number:02d}" for number in range(1, 9)),
        validation_alias="NOTIFIER_WHATSAPP_NUMBERS",
    )
    whatsapp_rate: float = Field(80.0, gt=0, validation_alias="NOTIFIER_WHATSAPP_RATE")
    # The provider's cap of unique recipients per number in a rolling 24 hours (its messaging tier).
    whatsapp_daily_unique_cap: int = Field(
        100_000, ge=1, validation_alias="NOTIFIER_WHATSAPP_DAILY_CAP"
    )
    whatsapp_templates: dict[str, str] = Field(
        {
            "directive": "directive_v1",
            "reminder": "reminder_v1",
            "otp": "otp_v1",
            "personal": "personal_v1",
        },
        validation_alias="NOTIFIER_WHATSAPP_TEMPLATES",
    )
    sms_headers: Names = Field(("SNGTHN",), validation_alias="NOTIFIER_SMS_HEADERS")
    sms_otp_headers: Names = Field(("SNGOTP",), validation_alias="NOTIFIER_SMS_OTP_HEADERS")
    sms_rate: float = Field(80.0, gt=0, validation_alias="NOTIFIER_SMS_RATE")
    dlt_entity_id: str = Field("1101700000000000001", validation_alias="NOTIFIER_DLT_ENTITY_ID")
    dlt_templates: dict[str, str] = Field(
        {
            "directive": "1107170000000000001",
            "reminder": "1107170000000000002",
            "otp": "1107170000000000004",
            "personal": "1107170000000000005",
        },
        validation_alias="NOTIFIER_DLT_TEMPLATES",
    )
    push_app: str = Field("sangathan-app", validation_alias="NOTIFIER_PUSH_APP")
    push_rate: float = Field(500.0, gt=0, validation_alias="NOTIFIER_PUSH_RATE")
    bridge_numbers: Names = Field(("+911140009999",), validation_alias="NOTIFIER_BRIDGE_NUMBERS")
    bridge_rate: float = Field(20.0, gt=0, validation_alias="NOTIFIER_BRIDGE_RATE")

    # Lanes: how many sends each keeps in flight, tasks per poll, retries of transient failures.
    urgent_concurrency: int = Field(4, ge=1, validation_alias="NOTIFIER_URGENT_CONCURRENCY")
    normal_concurrency: int = Field(12, ge=1, validation_alias="NOTIFIER_NORMAL_CONCURRENCY")
    bulk_concurrency: int = Field(12, ge=1, validation_alias="NOTIFIER_BULK_CONCURRENCY")
    lane_batch: int = Field(500, ge=1, validation_alias="NOTIFIER_LANE_BATCH")
    # Sends per request to the provider's batch endpoint, and how long a send waits for others to
    # share its request. 1 (the default): one request per message, as every provider takes; set
    # it only for a provider with a batch endpoint (the simulator has one; `make up` sets 100).
    provider_batch: int = Field(1, ge=1, le=1000, validation_alias="PROVIDER_BATCH")
    provider_linger_ms: int = Field(20, ge=0, le=1000, validation_alias="PROVIDER_LINGER_MS")
    # Which lanes this instance sends from (e.g. a deployment of urgent-only workers); empty: none.
    lanes: Names = Field(("urgent", "normal", "bulk"), validation_alias="NOTIFIER_LANES")
    max_attempts: int = Field(6, ge=1, validation_alias="NOTIFIER_MAX_ATTEMPTS")
    backoff_base_s: float = Field(1.0, gt=0, validation_alias="NOTIFIER_BACKOFF_BASE_S")
    backoff_cap_s: float = Field(60.0, gt=0, validation_alias="NOTIFIER_BACKOFF_CAP_S")
    fanout_batch: int = Field(1000, ge=1, validation_alias="NOTIFIER_FANOUT_BATCH")

    # Sending windows (see shared.sending.policy).
    quiet_hours: str = Field("22:00-06:00", validation_alias="NOTIFIER_QUIET_HOURS")
    polls: str = Field("", validation_alias="NOTIFIER_POLLS")
    # Booths that have not acknowledged: a reminder after this long, then the unit above is told.
    remind_after_s: float = Field(3600.0, gt=0, validation_alias="NOTIFIER_REMIND_AFTER_S")
    escalate_after_s: float = Field(7200.0, gt=0, validation_alias="NOTIFIER_ESCALATE_AFTER_S")
    follow_up_interval_s: float = Field(
        30.0, gt=0, validation_alias="NOTIFIER_FOLLOW_UP_INTERVAL_S"
    )

    # Keys: provider webhooks' HMAC (the same variables the simulator reads) and ack links' HMAC.
    webhook_secret: SecretStr | None = Field(None, validation_alias="PROVIDER_WEBHOOK_SECRET")
    webhook_secret_file: Path | None = Field(None, validation_alias="PROVIDER_WEBHOOK_SECRET_FILE")
    ack_secret: SecretStr | None = Field(None, validation_alias="NOTIFIER_ACK_SECRET")
    ack_secret_file: Path | None = Field(None, validation_alias="NOTIFIER_ACK_SECRET_FILE")
    # Opt-outs are recorded as HMACs of the phone under a key of their own, versioned like the
    # personal-data keyring (`<key id>:<secret>` lines, the last current): rotating the ack-link
    # key, or this one, never forgets who said STOP.
    optout_secret: SecretStr | None = Field(None, validation_alias="NOTIFIER_OPTOUT_SECRET")
    optout_secret_file: Path | None = Field(None, validation_alias="NOTIFIER_OPTOUT_SECRET_FILE")

    # Where this instance keeps its state: tests give each run its own topics, keys, collections.
    topic_namespace: str = Field("", validation_alias="NOTIFIER_TOPIC_NAMESPACE")
    redis_prefix: str = Field("notifier:", validation_alias="NOTIFIER_REDIS_PREFIX")
    collection_prefix: str = Field("notifier_", validation_alias="NOTIFIER_COLLECTION_PREFIX")
    # Channel workers, fan-out and follow-ups run as threads of the HTTP service unless off
    # (then `python -m notifier.worker` processes run them).
    run_workers: bool = Field(True, validation_alias="NOTIFIER_RUN_WORKERS")

    @field_validator(
        "whatsapp_numbers", "sms_headers", "sms_otp_headers", "bridge_numbers", mode="before"
    )
    @classmethod
    def _split(cls, value):
        if isinstance(value, str):
            value = tuple(item.strip() for item in value.split(",") if item.strip())
        if not value:
            raise ValueError("at least one sender is needed")
        return tuple(value)

    @field_validator("lanes", mode="before")
    @classmethod
    def _lanes(cls, value):
        if isinstance(value, str):
            value = tuple(item.strip() for item in value.split(",") if item.strip())
        unknown = set(value) - {"urgent", "normal", "bulk"}
        if unknown:
            raise ValueError(f"unknown lane(s): {', '.join(sorted(unknown))}")
        return tuple(value)

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> "NotifierSettings":
        if self.makes_development_keys:
            return self  # missing keys are made once under .state/notifier (adapters.keys)
        if self.webhook_secret is None and self.webhook_secret_file is None:
            raise ValueError(
                "set PROVIDER_WEBHOOK_SECRET or PROVIDER_WEBHOOK_SECRET_FILE outside development"
            )
        if self.ack_secret is None and self.ack_secret_file is None:
            raise ValueError(
                "set NOTIFIER_ACK_SECRET or NOTIFIER_ACK_SECRET_FILE outside development"
            )
        if self.optout_secret is None and self.optout_secret_file is None:
            raise ValueError(
                "set NOTIFIER_OPTOUT_SECRET or NOTIFIER_OPTOUT_SECRET_FILE outside development"
            )
        # The defaults point at the local simulator: in production that would send every
        # directive to loopback and report it failed, so a real provider must be named.
        if is_loopback(self.provider_url):
            # The host only: a provider URL may carry credentials.
            raise ValueError(
                f"PROVIDER_URL's host {urlsplit(self.provider_url).hostname!r} is this machine "
                "(the local simulator's default) or none; set the messaging provider's URL "
                "outside development"
            )
        key = self.provider_api_key.get_secret_value().strip() if self.provider_api_key else ""
        if is_placeholder(key):
            raise ValueError(
                "set PROVIDER_API_KEY (the messaging provider's key) outside development"
            )
        # Acknowledgement links are opened on recipients' phones: a loopback address (the local
        # default) would send every booth a link that can never be acknowledged.
        if is_loopback(self.public_url):
            raise ValueError(
                f"NOTIFIER_PUBLIC_URL's host {urlsplit(self.public_url).hostname!r} is this "
                "machine (the local default) or none; set the public address recipients open "
                "links at outside development"
            )
        return self

    def topic(self, name: str) -> str:
        return f"{self.topic_namespace}{name}"
