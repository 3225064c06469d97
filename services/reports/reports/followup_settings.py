"""Settings of the reports follow-ups (reminders and escalations), from the environment; a part of
ReportsSettings. Tests and the local platform make the times short."""

from datetime import timedelta
from pathlib import Path

from pydantic import AliasChoices, Field, model_validator

from reports.followups import Escalation
from shared.auth.keys import LOCAL_TOKENS
from shared.sending.policy import SendingPolicy, parse_quiet_hours
from shared.settings import PlatformSettings


class FollowUpSettings(PlatformSettings):
    # Recipients: the appointments service's stream of verified appointees, with our own token.
    recipients_url: str = Field("http://127.0.0.1:8001", validation_alias="REPORTS_RECIPIENTS_URL")
    recipients_timeout_s: float = Field(60.0, gt=0, validation_alias="REPORTS_RECIPIENTS_TIMEOUT_S")
    token_file: Path = Field(LOCAL_TOKENS / "reports.jwt", validation_alias="REPORTS_TOKEN_FILE")
    # Reminders and escalations: the notifier's messages and escalations.
    notifier_url: str = Field("http://127.0.0.1:8003", validation_alias="NOTIFIER_URL")
    notifier_timeout_s: float = Field(10.0, gt=0, validation_alias="REPORTS_NOTIFIER_TIMEOUT_S")
    reminder_channel: str = Field(
        "whatsapp", pattern="^(whatsapp|sms)$", validation_alias="REPORTS_REMINDER_CHANNEL"
    )
    # How often a process looks for follow-ups whose time has come.
    followups_interval_s: float = Field(15.0, gt=0, validation_alias="REPORTS_FOLLOWUPS_INTERVAL_S")
    # Silent booths are told to the first level at the due time plus this, each next level this
    # step later, none more than the window after its time.
    escalation_levels: str = Field("mandal,district", validation_alias="REPORTS_ESCALATION_LEVELS")
    escalate_after_due_s: float = Field(0.0, ge=0, validation_alias="REPORTS_ESCALATE_AFTER_DUE_S")
    escalate_step_s: float = Field(4 * 3600.0, gt=0, validation_alias="REPORTS_ESCALATE_STEP_S")
    escalation_window_s: float = Field(
        24 * 3600.0, gt=0, validation_alias="REPORTS_ESCALATION_WINDOW_S"
    )
    # The notifier's quiet hours (unless REPORTS_QUIET_HOURS says otherwise): a reminder held by
    # them moves the escalations by as long.
    quiet_hours: str = Field(
        "22:00-06:00", validation_alias=AliasChoices("REPORTS_QUIET_HOURS", "NOTIFIER_QUIET_HOURS")
    )
    # The shortest due time a dispatch may set (an hour; a test makes it seconds).
    min_due_after_s: float = Field(3600.0, gt=0, validation_alias="REPORTS_MIN_DUE_AFTER_S")

    def escalation(self) -> Escalation:
        """The escalation rules; a level list out of order fails at start."""
        return Escalation(
            levels=tuple(level.strip() for level in self.escalation_levels.split(",")),
            after_due=timedelta(seconds=self.escalate_after_due_s),
            step=timedelta(seconds=self.escalate_step_s),
            window=timedelta(seconds=self.escalation_window_s),
            quiet=SendingPolicy(*parse_quiet_hours(self.quiet_hours)),
        )

    @model_validator(mode="after")
    def _levels_in_order(self):
        self.escalation()  # ValueError names what is wrong
        return self
