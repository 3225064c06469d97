from pathlib import Path

from pydantic import Field, SecretStr

from shared.settings import PlatformSettings


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
    # Bulk import: the largest upload accepted. It is spooled to /tmp, so the pod's /tmp volume
    # (deploy/k8s/base/appointments) holds IMPORTS_PER_POD of them; a district's file is ~2 MB.
    import_max_bytes: int = Field(48 * 1024 * 1024, validation_alias="IMPORT_MAX_BYTES")
    imports_per_pod: int = Field(4, ge=1, validation_alias="IMPORTS_PER_POD")
    # An organiser runs one import at a time; the lease ends with the import, or after this.
    import_lease_s: int = Field(1800, ge=60, validation_alias="IMPORT_LEASE_S")
    # Budgets per organiser and per appointment (Redis, shared by every process): verifications
    # a minute, codes sent again per 10 minutes, "already president elsewhere" refusals an hour.
    verify_per_organiser_per_min: int = Field(
        30, ge=1, validation_alias="VERIFY_PER_ORGANISER_PER_MIN"
    )
    verify_per_appointment_per_min: int = Field(
        10, ge=1, validation_alias="VERIFY_PER_APPOINTMENT_PER_MIN"
    )
    resend_per_organiser_per_10min: int = Field(
        60, ge=1, validation_alias="RESEND_PER_ORGANISER_PER_10MIN"
    )
    resend_per_appointment_per_10min: int = Field(
        5, ge=1, validation_alias="RESEND_PER_APPOINTMENT_PER_10MIN"
    )
    president_refusals_per_hour: int = Field(
        20, ge=1, validation_alias="PRESIDENT_REFUSALS_PER_HOUR"
    )
    # Distinct numbers an organiser may have codes sent to in a day (SMS costs; a pumping account):
    # above a district's whole import (~2,000 booths x 12 seats).
    new_numbers_per_organiser_per_day: int = Field(
        25_000, ge=1, validation_alias="NEW_NUMBERS_PER_ORGANISER_PER_DAY"
    )
    # How long POST .../verification waits to show the appointment verified before answering 202.
    verification_wait_s: float = Field(3.0, validation_alias="VERIFICATION_WAIT_S")
    # Retention (DPDP Act): a revoked or replaced appointee's name and phone are scrubbed this long
    # after the appointment ended; the job looks this often.
    retention_days: float = Field(180.0, gt=0, validation_alias="PERSONAL_DATA_RETENTION_DAYS")
    retention_interval_s: float = Field(
        3600.0, gt=0, validation_alias="PERSONAL_DATA_RETENTION_INTERVAL_S"
    )
    # Names and phones at rest: a keyring of `<key id>:<secret>` lines, the last the current key
    # (older lines still decrypt), and the phone index's HMAC key. A Secret's file in production.
    personal_data_keys: SecretStr | None = Field(None, validation_alias="PERSONAL_DATA_KEYS")
    personal_data_keys_file: Path | None = Field(None, validation_alias="PERSONAL_DATA_KEYS_FILE")
    phone_index_key: SecretStr | None = Field(None, validation_alias="PHONE_INDEX_KEY")
    phone_index_key_file: Path | None = Field(None, validation_alias="PHONE_INDEX_KEY_FILE")
