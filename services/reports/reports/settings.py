"""Settings of the reports service, from the environment."""

from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from reports.followup_settings import FollowUpSettings
from reports.link_settings import LinkSettings
from shared.crypto.fields import FieldCipher, keyring

BUILTIN_FORMS = Path(__file__).resolve().parent / "forms"


class ReportsSettings(LinkSettings, FollowUpSettings):
    """Settings of the reports service (environment variables, local defaults); the answer
    links' are LinkSettings', the reminders' and escalations' FollowUpSettings'."""

    service_name: str = "reports"
    # The built-in forms (YAML), published by HQ at start; a changed file is a new version.
    builtin_forms_dir: Path = Field(BUILTIN_FORMS, validation_alias="REPORTS_BUILTIN_FORMS_DIR")
    # The outbox relay: how often it looks for pointers, how many documents a round, and how old
    # a pointer whose write is not there gets before that write counts as failed (far beyond the
    # store client's timeouts).
    relay_interval_s: float = Field(0.05, gt=0, validation_alias="REPORTS_RELAY_INTERVAL_S")
    relay_batch: int = Field(500, ge=1, validation_alias="REPORTS_RELAY_BATCH")
    relay_unwritten_after_s: float = Field(
        300.0, gt=0, validation_alias="REPORTS_RELAY_UNWRITTEN_AFTER_S"
    )
    # The group commit of booths' first answers and of answer links' holder checks
    # (adapters/batching.py): at most this many a round trip, gathered for at most this long
    # after the first (more gather anyway while a batch is written), and how long a request waits
    # for its batch before a 503.
    ingest_batch: int = Field(256, ge=1, le=5000, validation_alias="REPORTS_INGEST_BATCH")
    ingest_linger_s: float = Field(0.002, ge=0, le=1, validation_alias="REPORTS_INGEST_LINGER_S")
    ingest_wait_s: float = Field(8.0, gt=0, validation_alias="REPORTS_INGEST_WAIT_S")
    # Threads for the HTTP handlers (their I/O is blocking): answers waiting in a batch hold one.
    handler_threads: int = Field(128, ge=1, le=1000, validation_alias="REPORTS_HANDLER_THREADS")
    # The scheduler looks for rounds whose time has come this often.
    schedule_interval_s: float = Field(30.0, gt=0, validation_alias="REPORTS_SCHEDULE_INTERVAL_S")
    # The fan-out confirms its cursor with Kafka every so many pages of 1,000 booths.
    fanout_pages_per_flush: int = Field(20, ge=1, validation_alias="REPORTS_FANOUT_PAGES_PER_FLUSH")
    # Seals the booth WhatsApp groups' invite links at rest: `<key id>:<secret>` lines, the last
    # the current key (shared/crypto/fields.py); made once under .state/reports in development.
    personal_data_keys: SecretStr | None = Field(
        None, validation_alias="REPORTS_PERSONAL_DATA_KEYS"
    )
    personal_data_keys_file: Path | None = Field(
        None, validation_alias="REPORTS_PERSONAL_DATA_KEYS_FILE"
    )

    @model_validator(mode="after")
    def _refuse_missing_keys(self) -> "ReportsSettings":
        if self.makes_development_keys:
            return self
        if self.personal_data_keys is None and self.personal_data_keys_file is None:
            raise ValueError(
                "set REPORTS_PERSONAL_DATA_KEYS or REPORTS_PERSONAL_DATA_KEYS_FILE "
                "outside development"
            )
        return self

    def personal_data_cipher(self) -> FieldCipher:
        raw = self.key(
            self.personal_data_keys,
            self.personal_data_keys_file,
            development_file="reports/personal-data.keys",
            what="the reports personal-data keyring",
        )
        return keyring(raw, "the reports personal-data keyring")
