"""Settings of the meetings service: where invitees, the notifier and the public links are, the
sending policy meetings share with the notifier, and the service's keys.

The quiet hours and the close-of-poll schedule are the notifier's (NOTIFIER_QUIET_HOURS,
NOTIFIER_POLLS) unless MEETINGS_* says otherwise: one exported schedule keeps a meeting and a
directive under the same blackout.
"""

import math
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.auth.keys import LOCAL_TOKENS
from shared.settings import PlatformSettings, is_loopback

# Seconds a call may take to settle besides ringing (the provider's callbacks on their way).
OWED_SLACK_S = 5.0


class MeetingsSettings(PlatformSettings):
    """Settings of the meetings service (environment variables, local defaults)."""

    model_config = SettingsConfigDict(hide_input_in_errors=True)
    service_name: str = "meetings"

    # Where invitees open their join links (`{public_url}/j/{token}`).
    public_url: str = Field("http://127.0.0.1:8007", validation_alias="MEETINGS_PUBLIC_URL")
    # The number an audio bridge's invitee rings to join with the meeting's PIN.
    dial_in_number: str = Field("+911140000700", validation_alias="MEETINGS_DIAL_IN_NUMBER")

    # Invitees: the appointments service's stream of verified appointees, with our own token.
    recipients_url: str = Field("http://127.0.0.1:8001", validation_alias="MEETINGS_RECIPIENTS_URL")
    token_file: Path = Field(LOCAL_TOKENS / "meetings.jwt", validation_alias="MEETINGS_TOKEN_FILE")
    recipients_timeout_s: float = Field(
        60.0, gt=0, validation_alias="MEETINGS_RECIPIENTS_TIMEOUT_S"
    )
    # Invitations and reminders: the notifier's per-recipient messages, on this lane.
    notifier_url: str = Field("http://127.0.0.1:8003", validation_alias="NOTIFIER_URL")
    notifier_timeout_s: float = Field(10.0, gt=0, validation_alias="MEETINGS_NOTIFIER_TIMEOUT_S")
    invitation_lane: str = Field(
        "normal", pattern="^(normal|bulk)$", validation_alias="MEETINGS_LANE"
    )
    reminder_before_minutes: int = Field(
        15, ge=1, le=24 * 60, validation_alias="MEETINGS_REMINDER_BEFORE_MINUTES"
    )

    # The sending policy (shared/sending/policy.py), shared with the notifier by default.
    quiet_hours: str = Field(
        "22:00-06:00", validation_alias=AliasChoices("MEETINGS_QUIET_HOURS", "NOTIFIER_QUIET_HOURS")
    )
    polls: str = Field("", validation_alias=AliasChoices("MEETINGS_POLLS", "NOTIFIER_POLLS"))

    # Join links are signed with this key; invitees' phones are sealed with this keyring.
    link_secret: SecretStr | None = Field(None, validation_alias="MEETINGS_LINK_SECRET")
    link_secret_file: Path | None = Field(None, validation_alias="MEETINGS_LINK_SECRET_FILE")
    personal_data_keys: SecretStr | None = Field(
        None, validation_alias="MEETINGS_PERSONAL_DATA_KEYS"
    )
    personal_data_keys_file: Path | None = Field(
        None, validation_alias="MEETINGS_PERSONAL_DATA_KEYS_FILE"
    )

    # The conference provider (docs/meetings.md; the simulator locally): its address and key, the
    # key its webhooks are signed with (the messaging provider's, a development file locally),
    # its per-bridge cap and calls per second, and how invitees are dialled.
    provider_url: str = Field("http://127.0.0.1:8005", validation_alias="PROVIDER_URL")
    provider_api_key: SecretStr | None = Field(None, validation_alias="PROVIDER_API_KEY")
    provider_timeout_s: float = Field(10.0, gt=0, validation_alias="MEETINGS_PROVIDER_TIMEOUT_S")
    webhook_secret: SecretStr | None = Field(None, validation_alias="PROVIDER_WEBHOOK_SECRET")
    webhook_secret_file: Path | None = Field(None, validation_alias="PROVIDER_WEBHOOK_SECRET_FILE")
    conference_cap: int = Field(250, ge=3, validation_alias="MEETINGS_CONFERENCE_CAP")
    # Seats the speaker bridge keeps, besides one per speaker and moderator, for late joiners
    # dialling the meeting's PIN (it leads to the speaker bridge); the rest feed the cascade.
    late_joiner_seats: int = Field(50, ge=0, validation_alias="MEETINGS_LATE_JOINER_SEATS")
    calls_per_second: float = Field(50.0, gt=0, validation_alias="MEETINGS_CALLS_PER_SECOND")
    # Batches a pod dials at once (each dialler one batch at a time, at one shared pace). With a
    # call costing ten store operations, eight made 12.6 calls/s of 50 on FerretDB; in batches a
    # call costs about one (README, Meetings bench).
    diallers: int = Field(8, ge=1, le=64, validation_alias="MEETINGS_DIALLERS")
    # Calls a dialler claims at once, from one meeting's queue (one compare-and-set), reads with
    # one `_id $in` find and writes to their invitees with one update command.
    dial_batch: int = Field(8, ge=1, le=100, validation_alias="MEETINGS_DIAL_BATCH")
    # Busy and no-answer are called again: at most this many calls per invitee, waiting
    # backoff, then twice that, between them.
    dial_attempts: int = Field(3, ge=1, le=10, validation_alias="MEETINGS_DIAL_ATTEMPTS")
    redial_backoff_s: float = Field(60.0, gt=0, validation_alias="MEETINGS_REDIAL_BACKOFF_S")
    ring_timeout_s: float = Field(30.0, gt=0, le=120, validation_alias="MEETINGS_RING_TIMEOUT_S")
    # Calls of a meeting made and not yet settled (no outcome from the provider's webhooks: still
    # ringing, or their callbacks not yet taken) above which its diallers wait: the provider then
    # never owes more webhooks than the service keeps up with. Unset: the calls that ring at the
    # pace until the ring timeout (calls_per_second x (ring_timeout_s + OWED_SLACK_S)); 0: none.
    dial_max_owed: int | None = Field(None, ge=0, validation_alias="MEETINGS_DIAL_MAX_OWED")
    caller_id: str | None = Field(None, validation_alias="MEETINGS_CALLER_ID")
    # How often a pod looks for meetings to start or end and calls to make, when it found none.
    live_interval_s: float = Field(0.5, gt=0, validation_alias="MEETINGS_LIVE_INTERVAL_S")

    @property
    def max_owed(self) -> int:
        """MEETINGS_DIAL_MAX_OWED, or by default what ringing at the pace owes (0: no bound)."""
        if self.dial_max_owed is not None:
            return self.dial_max_owed
        return math.ceil(self.calls_per_second * (self.ring_timeout_s + OWED_SLACK_S))

    # The webhooks' group commit (shared/batching.py): concurrent webhooks' reads of their
    # invitees go to the store as one find, their compare-and-sets as one bulk write and their
    # events to Kafka with one flush. At most this many a batch; gathered for this long after
    # the first (0: none, a batch is what queued while the one before ran, so a lone webhook, or
    # the end's reconciliation, waits for nothing); how long a webhook waits for its batch's
    # read or write before a 503. 1: one by one.
    webhook_batch: int = Field(64, ge=1, le=1000, validation_alias="MEETINGS_WEBHOOK_BATCH")
    webhook_linger_s: float = Field(0.0, ge=0, le=1, validation_alias="MEETINGS_WEBHOOK_LINGER_S")
    webhook_wait_s: float = Field(8.0, gt=0, validation_alias="MEETINGS_WEBHOOK_WAIT_S")
    # The end's reconciliation folds a bridge's end-of-call records this many at once, so they
    # share the webhooks' group commit (one at a time, a state's 65,015 records took ~100 s).
    reconcile_threads: int = Field(32, ge=1, le=256, validation_alias="MEETINGS_RECONCILE_THREADS")

    collection_prefix: str = Field("meetings_", validation_alias="MEETINGS_COLLECTION_PREFIX")
    # How many invitees one insert and one notifier request carry (the notifier takes 1,000).
    batch: int = Field(1000, ge=1, le=1000, validation_alias="MEETINGS_BATCH")
    # Batches of invitees announced and not yet stored, at most (about 1.3 MB each): the store
    # (FerretDB, one insert at a time) is slower than Kafka; 64 lets nearly all of a state's 65
    # batches reach Kafka without waiting for it, where 16 held a third of MP's back by seconds.
    invite_ahead: int = Field(64, ge=1, le=256, validation_alias="MEETINGS_INVITE_AHEAD")
    # A benchmark or a test may run the HTTP side alone.
    background_jobs: bool = Field(True, validation_alias="MEETINGS_BACKGROUND_JOBS")

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> "MeetingsSettings":
        if self.makes_development_keys:
            return self  # missing keys are made once under .state/meetings (adapters.keys)
        if self.link_secret is None and self.link_secret_file is None:
            raise ValueError(
                "set MEETINGS_LINK_SECRET or MEETINGS_LINK_SECRET_FILE outside development"
            )
        if self.personal_data_keys is None and self.personal_data_keys_file is None:
            raise ValueError(
                "set MEETINGS_PERSONAL_DATA_KEYS or MEETINGS_PERSONAL_DATA_KEYS_FILE "
                "outside development"
            )
        if self.webhook_secret is None and self.webhook_secret_file is None:
            raise ValueError(
                "set PROVIDER_WEBHOOK_SECRET or PROVIDER_WEBHOOK_SECRET_FILE outside development"
            )
        if is_loopback(self.provider_url):
            raise ValueError(
                "PROVIDER_URL is this machine (the local simulator's default); set the conference "
                "provider's address outside development"
            )
        # Join links are opened on invitees' phones: a loopback address could never be opened.
        if is_loopback(self.public_url):
            raise ValueError(
                "MEETINGS_PUBLIC_URL is this machine (the local default) or has no host; set the "
                "public address invitees open join links at outside development"
            )
        return self
