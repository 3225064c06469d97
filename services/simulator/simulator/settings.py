"""Settings of the provider simulator: how it fails, how fast it lets senders go, where it calls
back.

Every share is a probability in [0, 1]; tests set them to 0 or 1 to make behaviour certain.
"""

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from shared.settings import PlatformSettings


class SimulatorSettings(PlatformSettings):
    service_name: str = "simulator"

    # WhatsApp's default: 80 messages a second per sending number; SMS headers get the same here.
    rate_per_sender: float = Field(80.0, gt=0, validation_alias="SIMULATOR_RATE_PER_SENDER")
    # Requests answered 503 (try again) and 4xx (never works) before anything is sent.
    transient_failure_share: float = Field(
        0.02, ge=0, le=1, validation_alias="SIMULATOR_TRANSIENT_FAILURE_SHARE"
    )
    # Decided per (channel, phone), so a bad number stays bad on every retry, as a real one does.
    permanent_failure_share: float = Field(
        0.01, ge=0, le=1, validation_alias="SIMULATOR_PERMANENT_FAILURE_SHARE"
    )
    # Accepted, then reported `failed` by webhook (a phone switched off for days).
    undeliverable_share: float = Field(
        0.0, ge=0, le=1, validation_alias="SIMULATOR_UNDELIVERABLE_SHARE"
    )
    read_share: float = Field(0.7, ge=0, le=1, validation_alias="SIMULATOR_READ_SHARE")
    read_before_delivered_share: float = Field(
        0.1, ge=0, le=1, validation_alias="SIMULATOR_READ_BEFORE_DELIVERED_SHARE"
    )
    duplicate_share: float = Field(0.1, ge=0, le=1, validation_alias="SIMULATOR_DUPLICATE_SHARE")
    delivered_delay_ms: Annotated[tuple[int, int], NoDecode] = Field(
        (200, 1500), validation_alias="SIMULATOR_DELIVERED_DELAY_MS"
    )
    read_delay_ms: Annotated[tuple[int, int], NoDecode] = Field(
        (500, 3000), validation_alias="SIMULATOR_READ_DELAY_MS"
    )

    # Status webhooks: where, how many statuses per call (providers batch them), how often.
    callback_url: str = Field(
        "http://127.0.0.1:8003/v1/webhooks/provider", validation_alias="SIMULATOR_CALLBACK_URL"
    )
    callback_batch: int = Field(200, ge=1, validation_alias="SIMULATOR_CALLBACK_BATCH")
    callback_interval_ms: int = Field(100, ge=10, validation_alias="SIMULATOR_CALLBACK_INTERVAL_MS")
    callback_attempts: int = Field(8, ge=1, validation_alias="SIMULATOR_CALLBACK_ATTEMPTS")
    # The key webhooks are signed with; in development a random one shared with the notifier
    # through a file under .state (see simulator.adapters.keys).
    webhook_secret: SecretStr | None = Field(None, validation_alias="PROVIDER_WEBHOOK_SECRET")
    webhook_secret_file: Path | None = Field(None, validation_alias="PROVIDER_WEBHOOK_SECRET_FILE")

    # What the provider accepts: approved WhatsApp templates, registered DLT templates and headers.
    approved_templates: Annotated[tuple[str, ...], NoDecode] = Field(
        ("directive_v1", "reminder_v1", "escalation_v1", "otp_v1", "personal_v1"),
        validation_alias="SIMULATOR_APPROVED_TEMPLATES",
    )
    dlt_templates: Annotated[tuple[str, ...], NoDecode] = Field(
        (
            "1107170000000000001",
            "1107170000000000002",
            "1107170000000000003",
            "1107170000000000004",
            "1107170000000000005",
        ),
        validation_alias="SIMULATOR_DLT_TEMPLATES",
    )
    sms_headers: Annotated[tuple[str, ...], NoDecode] = Field(
        ("SNGTHN", "SNGOTP"), validation_alias="SIMULATOR_SMS_HEADERS"
    )

    # Memory bounds: recent messages kept for inspection, idempotency keys remembered.
    messages_kept: int = Field(20_000, ge=100, validation_alias="SIMULATOR_MESSAGES_KEPT")
    idempotency_kept: int = Field(500_000, ge=100, validation_alias="SIMULATOR_IDEMPOTENCY_KEPT")
    seed: int | None = Field(None, validation_alias="SIMULATOR_SEED")
    # Drop an erased person's messages on person-erased (Kafka); a topic prefix for tests' own
    # topics.
    honour_erasures: bool = Field(True, validation_alias="SIMULATOR_HONOUR_ERASURES")
    topic_namespace: str = Field("", validation_alias="SIMULATOR_TOPIC_NAMESPACE")

    # The conference provider (docs/meetings.md): a per-bridge cap (Twilio/Telnyx: 250), dial-out
    # calls per second, each call's fate as shares, and time: how long a call rings, how long an
    # early leaver stays. Shares of webhooks sent twice, pairs swapped, and lost.
    conference_cap: int = Field(250, ge=1, validation_alias="SIMULATOR_CONFERENCE_CAP")
    conference_cps: float = Field(50.0, gt=0, validation_alias="SIMULATOR_CONFERENCE_CPS")
    conference_no_answer_share: float = Field(
        0.1, ge=0, le=1, validation_alias="SIMULATOR_CONFERENCE_NO_ANSWER_SHARE"
    )
    conference_busy_share: float = Field(
        0.05, ge=0, le=1, validation_alias="SIMULATOR_CONFERENCE_BUSY_SHARE"
    )
    conference_failed_share: float = Field(
        0.02, ge=0, le=1, validation_alias="SIMULATOR_CONFERENCE_FAILED_SHARE"
    )
    conference_leave_early_share: float = Field(
        0.1, ge=0, le=1, validation_alias="SIMULATOR_CONFERENCE_LEAVE_EARLY_SHARE"
    )
    conference_confirm_share: float = Field(
        0.8, ge=0, le=1, validation_alias="SIMULATOR_CONFERENCE_CONFIRM_SHARE"
    )
    conference_ring_ms: int = Field(1000, ge=0, validation_alias="SIMULATOR_CONFERENCE_RING_MS")
    conference_early_stay_ms: int = Field(
        5000, ge=0, validation_alias="SIMULATOR_CONFERENCE_EARLY_STAY_MS"
    )
    conference_duplicate_share: float = Field(
        0.1, ge=0, le=1, validation_alias="SIMULATOR_CONFERENCE_DUPLICATE_SHARE"
    )
    conference_out_of_order_share: float = Field(
        0.1, ge=0, le=1, validation_alias="SIMULATOR_CONFERENCE_OUT_OF_ORDER_SHARE"
    )
    conference_lost_share: float = Field(
        0.0, ge=0, le=1, validation_alias="SIMULATOR_CONFERENCE_LOST_SHARE"
    )
    # Where the simulator is reached (room links, recordings) and the number late joiners ring.
    conference_base_url: str = Field(
        "http://127.0.0.1:8005", validation_alias="SIMULATOR_CONFERENCE_BASE_URL"
    )
    conference_dial_in_number: str = Field(
        "+911140000000", validation_alias="SIMULATOR_CONFERENCE_DIAL_IN_NUMBER"
    )

    @field_validator("approved_templates", "dlt_templates", "sms_headers", mode="before")
    @classmethod
    def _split(cls, value):
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return value

    @field_validator("delivered_delay_ms", "read_delay_ms", mode="before")
    @classmethod
    def _range(cls, value):
        if isinstance(value, str):
            low, _, high = value.partition(",")
            value = (int(low), int(high or low))
        if value[0] < 0 or value[1] < value[0]:
            raise ValueError("a delay range is MIN,MAX milliseconds with 0 <= MIN <= MAX")
        return tuple(value)
