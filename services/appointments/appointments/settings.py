from pathlib import Path

from pydantic import Field, SecretStr

from shared.settings import PlatformSettings

ROOT = Path(__file__).resolve().parents[3]


class AppointmentsSettings(PlatformSettings):
    """Settings of the appointments service (environment variables, local defaults)."""

    service_name: str = "appointments"
    # The consumer group reading OTP outcomes; a second deployment (or a benchmark) uses its own.
    consumer_group: str = Field("appointments", validation_alias="APPOINTMENTS_CONSUMER_GROUP")
    # Prefixes the topics the outbox relay publishes to: a benchmark's own appointments service
    # keeps its events off the platform's topics (and its codes out of the OTP service) with it.
    topic_namespace: str = Field("", validation_alias="APPOINTMENTS_TOPIC_NAMESPACE")
    otp_url: str = Field("http://127.0.0.1:8002", validation_alias="OTP_URL")
    otp_timeout_s: float = Field(5.0, validation_alias="OTP_TIMEOUT_S")
    # The outbox relay: how often it looks for pointers, and how often it sweeps for lost ones.
    relay_interval_s: float = Field(0.05, validation_alias="OUTBOX_RELAY_INTERVAL_S")
    relay_batch: int = Field(500, validation_alias="OUTBOX_RELAY_BATCH")
    relay_sweep_interval_s: float = Field(60.0, validation_alias="OUTBOX_SWEEP_INTERVAL_S")
    # Bulk import: the largest upload accepted, and how many rows an error report lists in full.
    import_max_bytes: int = Field(200 * 1024 * 1024, validation_alias="IMPORT_MAX_BYTES")
    # How long POST .../verification waits to show the appointment verified before answering 202.
    verification_wait_s: float = Field(3.0, validation_alias="VERIFICATION_WAIT_S")
    # Retention (DPDP Act): a revoked or replaced appointee's name and phone are scrubbed this long
    # after the appointment ended; the job looks this often.
    retention_days: float = Field(180.0, gt=0, validation_alias="PERSONAL_DATA_RETENTION_DAYS")
    retention_interval_s: float = Field(3600.0, gt=0, validation_alias="PERSONAL_DATA_RETENTION_INTERVAL_S")
    # Development keys live here (made once); production names its keys below.
    state_dir: Path = Field(ROOT / ".state", validation_alias="SANGATHAN_STATE")
    # Names and phones at rest: a keyring of `<key id>:<secret>` lines, the last the current key
    # (older lines still decrypt), and the phone index's HMAC key. A Secret's file in production.
    personal_data_keys: SecretStr | None = Field(None, validation_alias="PERSONAL_DATA_KEYS")
    personal_data_keys_file: Path | None = Field(None, validation_alias="PERSONAL_DATA_KEYS_FILE")
    phone_index_key: SecretStr | None = Field(None, validation_alias="PHONE_INDEX_KEY")
    phone_index_key_file: Path | None = Field(None, validation_alias="PHONE_INDEX_KEY_FILE")
