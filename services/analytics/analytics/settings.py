from pathlib import Path

from pydantic import Field

from shared import topics
from shared.auth import exchange
from shared.settings import PlatformSettings

TARGETS = Path(__file__).with_name("coverage") / "targets.yaml"


class AnalyticsSettings(PlatformSettings):
    """Settings of the analytics worker (environment variables, local defaults)."""

    service_name: str = "analytics"
    # The dashboard's public key: analytics takes its exchanged, read-only organiser tokens.
    dashboard_public_key_file: Path = Field(
        exchange.LOCAL_PUBLIC_KEY, validation_alias="DASHBOARD_PUBLIC_KEY_FILE"
    )
    # Faust's own web server serves the coverage API, health and metrics; loopback by default.
    web_bind: str = Field("127.0.0.1", validation_alias="ANALYTICS_WEB_BIND")
    web_port: int = Field(8004, validation_alias="ANALYTICS_WEB_PORT")
    # Table state and offsets of this worker; tables are rebuilt from changelog topics.
    data_dir: Path = Field(Path(".state/analytics"), validation_alias="ANALYTICS_DATA_DIR")
    # The Faust app id: consumer group and prefix of its own topics (changelogs, partials).
    # Workers with the same id share the partitions; tests give each worker group its own.
    app_id: str = Field("sangathan-analytics", validation_alias="ANALYTICS_APP_ID")
    # Topics read and written; the registry's by default, scratch topics in tests.
    appointments_topic: str = Field(
        topics.APPOINTMENTS.name, validation_alias="ANALYTICS_APPOINTMENTS_TOPIC"
    )
    delivery_status_topic: str = Field(
        topics.DELIVERY_STATUS.name, validation_alias="ANALYTICS_DELIVERY_STATUS_TOPIC"
    )
    directive_acks_topic: str = Field(
        topics.DIRECTIVE_ACKS.name, validation_alias="ANALYTICS_DIRECTIVE_ACKS_TOPIC"
    )
    directives_topic: str = Field(
        topics.DIRECTIVES.name, validation_alias="ANALYTICS_DIRECTIVES_TOPIC"
    )
    meetings_topic: str = Field(topics.MEETINGS.name, validation_alias="ANALYTICS_MEETINGS_TOPIC")
    meeting_attendance_topic: str = Field(
        topics.MEETING_ATTENDANCE.name, validation_alias="ANALYTICS_MEETING_ATTENDANCE_TOPIC"
    )
    report_submissions_topic: str = Field(
        topics.REPORT_SUBMISSIONS.name, validation_alias="ANALYTICS_REPORT_SUBMISSIONS_TOPIC"
    )
    whatsapp_groups_topic: str = Field(
        topics.WHATSAPP_GROUPS.name, validation_alias="ANALYTICS_WHATSAPP_GROUPS_TOPIC"
    )
    coverage_topic: str = Field(topics.COVERAGE.name, validation_alias="ANALYTICS_COVERAGE_TOPIC")
    dead_letter_topic: str = Field(
        topics.DEAD_LETTER.name, validation_alias="ANALYTICS_DEAD_LETTER_TOPIC"
    )
    # How often this worker publishes its changed partials: the floor of the API's freshness.
    publish_interval_s: float = Field(0.25, gt=0, validation_alias="ANALYTICS_PUBLISH_INTERVAL_S")
    # Report records are counted in batches of at most this many, taken within this long (a lone
    # record waits at most that before it is counted).
    reports_batch_max: int = Field(500, ge=1, validation_alias="ANALYTICS_REPORTS_BATCH_MAX")
    reports_batch_s: float = Field(0.05, gt=0, validation_alias="ANALYTICS_REPORTS_BATCH_S")
    # At most one coverage-updated event per unit per this many seconds.
    coverage_interval_s: float = Field(1.0, gt=0, validation_alias="ANALYTICS_COVERAGE_INTERVAL_S")
    # Deadlines per state and meetings targets per unit (one file), and the window over which a
    # state's recent rate is measured.
    targets_file: Path = Field(TARGETS, validation_alias="ANALYTICS_TARGETS_FILE")
    rate_window_hours: float = Field(
        6.0, gt=0, le=168, validation_alias="ANALYTICS_RATE_WINDOW_HOURS"
    )
    # A meeting's attendance per invitee and per unit is kept this long after it ended (late
    # callbacks still count), then dropped, its counts kept per unit (analytics.meetings.retention);
    # the timer looks every interval.
    meeting_keep_hours: float = Field(24.0, ge=0, validation_alias="ANALYTICS_MEETING_KEEP_HOURS")
    meeting_drop_interval_s: float = Field(
        60.0, gt=0, validation_alias="ANALYTICS_MEETING_DROP_INTERVAL_S"
    )
    # How soon a worker that died without leaving (SIGKILL, lost node) loses its partitions to
    # the others; the broker's floor is 6 s. Heartbeats go every third of it.
    session_timeout_s: float = Field(10.0, ge=6, validation_alias="ANALYTICS_SESSION_TIMEOUT_S")
    # A table recovery that reads no changelog record for this long has stalled (a Faust bug):
    # the worker exits so that its supervisor starts it afresh.
    recovery_stall_s: float = Field(60.0, gt=0, validation_alias="ANALYTICS_RECOVERY_STALL_S")
    # An owned partition with records waiting and no commit for this long has stalled (another
    # Faust bug): /healthz then fails, so the liveness probe restarts the worker.
    partition_stall_s: float = Field(120.0, gt=0, validation_alias="ANALYTICS_PARTITION_STALL_S")
    # Children lists come from a registry scan (~0.5 s per state on FerretDB): kept this long.
    children_cache_s: float = Field(600.0, ge=0, validation_alias="ANALYTICS_CHILDREN_CACHE_S")
