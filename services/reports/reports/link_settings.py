"""The answer links' settings: where booth workers open them, the key they are signed with, how
long after the due time they still answer, and how they are sent. The services that find the
recipients and carry the messages are FollowUpSettings' (the same for reminders)."""

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, model_validator

from shared.settings import is_loopback


class LinkSettings(BaseModel):
    # Where recipients open their answer links (`{public_url}/r/{token}`).
    public_url: str = Field("http://127.0.0.1:8008", validation_alias="REPORTS_PUBLIC_URL")
    link_secret: SecretStr | None = Field(None, validation_alias="REPORTS_LINK_SECRET")
    link_secret_file: Path | None = Field(None, validation_alias="REPORTS_LINK_SECRET_FILE")
    # A link answers until the round's due time plus this grace: late answers are kept, marked.
    link_grace_h: float = Field(48.0, ge=0, le=24 * 30, validation_alias="REPORTS_LINK_GRACE_H")
    # Campaign traffic: the notifier's quiet hours and polling blackout hold it.
    link_lane: str = Field(
        "normal", pattern="^(normal|bulk)$", validation_alias="REPORTS_LINK_LANE"
    )
    link_channel: str = Field(
        "whatsapp", pattern="^(whatsapp|sms)$", validation_alias="REPORTS_LINK_CHANNEL"
    )
    # How often the sender looks for rounds whose links are not all handed over yet.
    link_interval_s: float = Field(1.0, gt=0, validation_alias="REPORTS_LINK_INTERVAL_S")
    # How often appointments ended longer ago than any link lasts are forgotten (where the
    # server has no TTL index: FerretDB 1.x; reports/link_holders.py).
    holders_purge_interval_s: float = Field(
        3600.0, gt=0, validation_alias="REPORTS_HOLDERS_PURGE_INTERVAL_S"
    )

    @model_validator(mode="after")
    def _refuse_unsafe_links(self):
        if getattr(self, "makes_development_keys", True):
            return self  # a missing key is made once under .state/reports
        if self.link_secret is None and self.link_secret_file is None:
            raise ValueError(
                "set REPORTS_LINK_SECRET or REPORTS_LINK_SECRET_FILE outside development"
            )
        # Links are opened on booth workers' phones: a loopback address could never be opened.
        if is_loopback(self.public_url):
            raise ValueError(
                "REPORTS_PUBLIC_URL is this machine (the local default) or has no host; set the "
                "public address booth workers open answer links at outside development"
            )
        return self
