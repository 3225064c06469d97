"""The Grafana dashboards as code: `python deploy/grafana/dashboards.py` writes
deploy/grafana/dashboards/*.json.

The JSON files are what Grafana loads (provisioning/dashboards/sangathan.yml points at them, or
import them by hand); this script is where they are edited. tests/unit/test_grafana_dashboards.py
fails if the two disagree, and tests/e2e/test_operations_metrics.py runs every panel's query
against the running platform's Prometheus and fails on any that returns nothing.

Every panel reads the data source picked in the `datasource` variable, so the files work in any
Grafana whatever its Prometheus data source is called.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "dashboards"
DS = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"

# --- building blocks ------------------------------------------------------------------------------


def target(expr: str, legend: str = "", ref: str = "A", instant: bool = False) -> dict:
    return {
        "refId": ref,
        "datasource": DS,
        "expr": expr,
        "legendFormat": legend or "__auto",
        "range": not instant,
        "instant": instant,
    }


def panel(
    kind: str, title: str, description: str, targets: list[dict], unit: str = "short", **extra
) -> dict:
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "fieldConfig": {"defaults": {"unit": unit, **extra.pop("defaults", {})}, "overrides": []},
        "options": extra.pop("options", {}),
        "targets": targets,
        **extra,
    }


def timeseries(title: str, description: str, *targets: dict, unit: str = "short") -> dict:
    return panel(
        "timeseries",
        title,
        description,
        list(targets),
        unit,
        options={
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    )


# A 0/1 "on track" gauge, said in words.
ON_TRACK = [
    {
        "type": "value",
        "options": {
            "0": {"text": "behind", "color": "red"},
            "1": {"text": "on track", "color": "green"},
        },
    }
]


def stat(
    title: str,
    description: str,
    *targets: dict,
    unit: str = "short",
    mappings: list | None = None,
    thresholds: list | None = None,
) -> dict:
    defaults = {
        "mappings": mappings or [],
        "thresholds": {
            "mode": "absolute",
            "steps": thresholds or [{"color": "green", "value": None}],
        },
    }
    return panel(
        "stat",
        title,
        description,
        list(targets),
        unit,
        defaults=defaults,
        options={
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "none",
            "textMode": "value_and_name",
        },
    )


def bargauge(title: str, description: str, *targets: dict, unit: str = "percent") -> dict:
    defaults = {
        "min": 0,
        "max": 100,
        "thresholds": {
            "mode": "absolute",
            "steps": [
                {"color": "red", "value": None},
                {"color": "orange", "value": 50},
                {"color": "green", "value": 90},
            ],
        },
    }
    return panel(
        "bargauge",
        title,
        description,
        list(targets),
        unit,
        defaults=defaults,
        options={
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "orientation": "horizontal",
            "displayMode": "gradient",
            "showUnfilled": True,
        },
    )


UP_DOWN = [
    {
        "type": "value",
        "options": {"0": {"text": "DOWN", "color": "red"}, "1": {"text": "UP", "color": "green"}},
    }
]
RED_GREEN = [{"color": "red", "value": None}, {"color": "green", "value": 1}]
# The analytics worker's label for the meeting events it takes (their CloudEvents type's name).
MEETING_TYPES = "org.sangathan.(meeting|participant|call)-.*"


def p95(metric: str, by: str, selector: str = "") -> str:
    return f"histogram_quantile(0.95, sum by ({by}, le) (rate({metric}_bucket{selector}[{RATE}])))"


def datasource_variable() -> dict:
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "regex": "",
        "options": [],
    }


def query_variable(name: str, label: str, query: str, multi: bool = False) -> dict:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": {"query": query, "refId": "StandardVariableQuery"},
        "definition": query,
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": multi,
        "allValue": ".*" if multi else None,
        "current": {},
        "hide": 0,
        "options": [],
        "regex": "",
    }


def dashboard(
    uid: str, title: str, description: str, panels: list[dict], variables: list[dict] = ()
) -> dict:
    """Panels are laid out two to a row, in the order given; ids are their positions."""
    for i, p in enumerate(panels):
        p["id"] = i + 1
        p["gridPos"] = {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)}
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["sangathan"],
        "editable": True,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "10s",
        "timezone": "browser",
        "time": {"from": "now-1h", "to": "now"},
        "graphTooltip": 1,
        "annotations": {"list": []},
        "links": [
            {"title": "Sangathan", "type": "dashboards", "tags": ["sangathan"], "asDropdown": True}
        ],
        "templating": {"list": [datasource_variable(), *variables]},
        "panels": panels,
    }


# --- panels more than one dashboard shows ---------------------------------------------------------


def http_panels(service: str) -> list[dict]:
    sel = f'{{service="{service}"}}'
    return [
        timeseries(
            "Requests per second by route",
            "HTTP requests by route template and status.",
            target(
                "sum by (method, route, status) "
                f"(rate(sangathan_http_requests_total{sel}[{RATE}]))",
                "{{method}} {{route}} {{status}}",
            ),
            unit="reqps",
        ),
        timeseries(
            "Latency p95 by route",
            "95th percentile of request duration.",
            target(
                p95("sangathan_http_request_duration_seconds", "method, route", sel),
                "{{method}} {{route}}",
            ),
            unit="s",
        ),
    ]


def lag_panel(selector: str) -> dict:
    return timeseries(
        "Consumer lag by group and topic",
        "Records not yet handled: high watermark minus committed offset, summed over partitions "
        "(each partition counted once even if several workers report it).",
        target(
            f"sum by (group, topic) (max by (group, topic, partition) "
            f"(sangathan_kafka_consumer_lag{selector}))",
            "{{group}} {{topic}}",
        ),
    )


def dead_letter_panel(selector: str) -> dict:
    return timeseries(
        "Dead letters in the last hour",
        "Records sent to sangathan.dead-letter.v1, by consumer group "
        "and reason (their dlt_* headers say more).",
        target(
            "sum by (group, reason) "
            f"(increase(sangathan_events_dead_lettered_total{selector}[1h]))",
            "{{group}} {{reason}}",
        ),
    )


def dependency_panel(job: str) -> dict:
    return stat(
        "Dependencies",
        "1 if the last readiness check of the dependency passed.",
        target(f'min by (dependency) (sangathan_dependency_up{{job="{job}"}})', "{{dependency}}"),
        mappings=UP_DOWN,
        thresholds=RED_GREEN,
    )


def on_track_panel(title: str, description: str, expr: str) -> dict:
    """A 0/1 per-state gauge of a projection shown as behind / on track."""
    return stat(
        title, description, target(expr, "{{state}}"), mappings=ON_TRACK, thresholds=RED_GREEN
    )


# --- the dashboards -------------------------------------------------------------------------------


def overview() -> dict:
    return dashboard(
        "sangathan-overview",
        "Sangathan / Platform overview",
        "Every service at a glance: up, traffic, errors, latency, Kafka lag, dead letters.",
        [
            stat(
                "Services up",
                "Prometheus's own scrape of each process (1 up, 0 down).",
                target('up{job!="prometheus"}', "{{job}}"),
                mappings=UP_DOWN,
                thresholds=RED_GREEN,
            ),
            stat(
                "Dependencies",
                "Readiness checks per service and dependency.",
                target(
                    "min by (job, dependency) (sangathan_dependency_up)", "{{job}} {{dependency}}"
                ),
                mappings=UP_DOWN,
                thresholds=RED_GREEN,
            ),
            timeseries(
                "Requests per second by service",
                "HTTP requests, all routes.",
                target(
                    f"sum by (service) (rate(sangathan_http_requests_total[{RATE}]))", "{{service}}"
                ),
                unit="reqps",
            ),
            timeseries(
                "Error responses per second",
                "HTTP answers with a 4xx or 5xx status, by service and status.",
                target(
                    "sum by (service, status) "
                    f'(rate(sangathan_http_requests_total{{status=~"[45].."}}[{RATE}]))',
                    "{{service}} {{status}}",
                ),
                unit="reqps",
            ),
            timeseries(
                "Latency p95 by service",
                "95th percentile of request duration, all routes.",
                target(p95("sangathan_http_request_duration_seconds", "service"), "{{service}}"),
                unit="s",
            ),
            timeseries(
                "Requests per second by route: $service",
                "Pick the service above.",
                target(
                    "sum by (method, route) "
                    f'(rate(sangathan_http_requests_total{{service="$service"}}[{RATE}]))',
                    "{{method}} {{route}}",
                ),
                unit="reqps",
            ),
            lag_panel(""),
            dead_letter_panel(""),
            timeseries(
                "Events handled per second by consumer group",
                "Events consumers handled (after de-duplication and validation).",
                target(
                    f"sum by (group) (rate(sangathan_events_consumed_total[{RATE}]))", "{{group}}"
                ),
            ),
            timeseries(
                "Events published per second by type",
                "Events the broker acknowledged: published by the "
                "services (A) and relayed from the appointments outbox (B).",
                target(
                    f"sum by (type) (rate(sangathan_events_published_total[{RATE}]))", "{{type}}"
                ),
                target(
                    f"sum by (type) (rate(sangathan_outbox_events_relayed_total[{RATE}]))",
                    "outbox {{type}}",
                    ref="B",
                ),
            ),
            timeseries(
                "Appointments outbox backlog",
                "Booth teams with events not yet published to Kafka.",
                target("sum(sangathan_outbox_backlog_booths)", "booth teams"),
            ),
            timeseries(
                "Deliveries per second by channel and outcome",
                "Provider answers to the notifier's sends.",
                target(
                    f"sum by (channel, outcome) (rate(sangathan_notifier_messages_total[{RATE}]))",
                    "{{channel}} {{outcome}}",
                ),
            ),
            timeseries(
                "MongoDB commands per second by service and collection",
                "What each service asks of the store; FerretDB's cost is per command.",
                target(
                    "sum by (job, command, collection) "
                    f"(rate(sangathan_mongo_commands_total[{RATE}]))",
                    "{{job}} {{command}} {{collection}}",
                ),
            ),
            timeseries(
                "Time waiting on MongoDB by service and collection",
                "Seconds per second the services' threads waited for the store's answers: "
                "where a busy store's time goes.",
                target(
                    "sum by (job, collection) "
                    f"(rate(sangathan_mongo_command_seconds_total[{RATE}]))",
                    "{{job}} {{collection}}",
                ),
                unit="s",
            ),
        ],
        [
            query_variable(
                "service", "Service", "label_values(sangathan_http_requests_total, service)"
            )
        ],
    )


def appointments() -> dict:
    return dashboard(
        "sangathan-appointments",
        "Sangathan / Appointments",
        "Booth appointments API, its outbox relay and its OTP-results consumer.",
        [
            *http_panels("appointments"),
            timeseries(
                "Outbox backlog",
                "Booth teams with events not yet published; grows while Kafka is down.",
                target("sum(sangathan_outbox_backlog_booths)", "booth teams"),
            ),
            timeseries(
                "Outbox events relayed per second by type",
                "Events the relay published and Kafka acknowledged.",
                target(
                    f"sum by (type) (rate(sangathan_outbox_events_relayed_total[{RATE}]))",
                    "{{type}}",
                ),
            ),
            timeseries(
                "Outbox relay failures",
                "Relay rounds that could not publish, per interval.",
                target(
                    f"sum(increase(sangathan_outbox_relay_failures_total[{RATE}]))", "failed rounds"
                ),
            ),
            timeseries(
                "OTP results handled per second",
                "otp-verified / otp-failed events applied to booth teams.",
                target(
                    "sum by (type) "
                    f'(rate(sangathan_events_consumed_total{{job="appointments"}}[{RATE}]))',
                    "{{type}}",
                ),
            ),
            lag_panel('{job="appointments"}'),
            dependency_panel("appointments"),
        ],
    )


def otp() -> dict:
    failed = 'sangathan_otp_verifications_total{outcome!="verified"}'
    return dashboard(
        "sangathan-otp",
        "Sangathan / OTP",
        "One-time codes: sent, refused, verified, failed, locked.",
        [
            timeseries(
                "Codes sent per second by channel",
                "Codes handed to a delivery channel.",
                target(
                    f"sum by (channel) (rate(sangathan_otp_codes_sent_total[{RATE}]))",
                    "{{channel}}",
                ),
            ),
            timeseries(
                "Sends refused in the last hour by reason",
                "Requests that got no code: prefix, stale, rate_limit, cooldown, undeliverable.",
                target(
                    "sum by (reason) (increase(sangathan_otp_sends_rejected_total[1h]))",
                    "{{reason}}",
                ),
            ),
            timeseries(
                "Verifications per second by outcome",
                "verified, rejected, locked, expired, throttled, unavailable.",
                target(
                    f"sum by (outcome) (rate(sangathan_otp_verifications_total[{RATE}]))",
                    "{{outcome}}",
                ),
            ),
            timeseries(
                "Verification failure share (last hour)",
                "Share of verifications that did not verify.",
                target(
                    f"sum(increase({failed}[1h])) "
                    "/ sum(increase(sangathan_otp_verifications_total[1h]))",
                    "failed share",
                ),
                unit="percentunit",
            ),
            timeseries(
                "Codes locked in the last hour",
                "Codes killed by too many wrong tries.",
                target("sum(increase(sangathan_otp_locks_total[1h]))", "locked"),
            ),
            *http_panels("otp"),
            lag_panel('{job="otp"}'),
            dead_letter_panel('{job="otp"}'),
        ],
    )


def notifier() -> dict:
    return dashboard(
        "sangathan-notifier",
        "Sangathan / Notifier",
        "Directives fanned out to booths: lanes, channels, providers, receipts.",
        [
            timeseries(
                "Deliveries per second by channel and outcome",
                "Provider answers: accepted, transient "
                "(retried), permanent (next channel or dead letter).",
                target(
                    f"sum by (channel, outcome) (rate(sangathan_notifier_messages_total[{RATE}]))",
                    "{{channel}} {{outcome}}",
                ),
            ),
            timeseries(
                "Provider latency p95 by channel",
                "One provider request, sent to answered.",
                target(
                    p95("sangathan_notifier_provider_latency_seconds", "channel"), "{{channel}}"
                ),
                unit="s",
            ),
            timeseries(
                "Queued to accepted p95 by lane",
                "From a task put on its lane to the provider accepting it.",
                target(p95("sangathan_notifier_lane_latency_seconds", "lane"), "{{lane}}"),
                unit="s",
            ),
            timeseries(
                "Tasks put on lanes per second",
                "Delivery tasks produced by the fan-out, by lane.",
                target(
                    f"sum by (lane) (rate(sangathan_notifier_tasks_produced_total[{RATE}]))",
                    "{{lane}}",
                ),
            ),
            timeseries(
                "Provider status reports per second",
                "Webhook receipts by status (sent, delivered, read, failed).",
                target(
                    f"sum by (status) (rate(sangathan_notifier_receipts_total[{RATE}]))",
                    "{{status}}",
                ),
            ),
            lag_panel('{job="notifier"}'),
            dead_letter_panel('{job="notifier"}'),
            *http_panels("notifier"),
            dependency_panel("notifier"),
        ],
    )


def analytics() -> dict:
    group = '{group="sangathan-analytics"}'
    return dashboard(
        "sangathan-analytics",
        "Sangathan / Analytics",
        "The Faust coverage worker: input events, visibility lag, partitions, Kafka lag.",
        [
            timeseries(
                "Input events per second by type and outcome",
                "counted, duplicate, ignored, dead_lettered.",
                target(
                    f"sum by (type, outcome) (rate(sangathan_analytics_events_total[{RATE}]))",
                    "{{type}} {{outcome}}",
                ),
            ),
            timeseries(
                "Visibility lag p95",
                "From an appointment event's time to its partial being visible to every "
                "worker's API.",
                target(p95("sangathan_analytics_visibility_lag_seconds", "job"), "p95"),
                unit="s",
            ),
            timeseries(
                "Partitions owned",
                "Booth-keyed partitions each worker counts.",
                target("sum by (instance) (sangathan_analytics_partitions_owned)", "{{instance}}"),
            ),
            timeseries(
                "Published per second",
                "Partial records (A) and coverage-updated events (B).",
                target(
                    f"sum(rate(sangathan_analytics_partials_published_total[{RATE}]))", "partials"
                ),
                target(
                    f"sum(rate(sangathan_analytics_coverage_updates_published_total[{RATE}]))",
                    "coverage-updated",
                    ref="B",
                ),
            ),
            lag_panel(group),
            dead_letter_panel(group),
            dependency_panel("analytics"),
        ],
    )


def coverage() -> dict:
    state = '{state=~"$state"}'

    def per_state(metric: str) -> str:
        return f"max by (state) (sangathan_coverage_{metric}{state})"

    def share(metric: str) -> str:
        return f"100 * {per_state(metric)} / {per_state('booths_total')}"

    return dashboard(
        "sangathan-coverage",
        "Sangathan / Coverage by state",
        "Booth coverage per state from the analytics worker; lower units are in the coverage API "
        "and the HQ dashboard (too many for Prometheus labels).",
        [
            bargauge(
                "Booths with a verified president",
                "Share of the state's booths.",
                target(share("booths_with_verified_president"), "{{state}}"),
            ),
            bargauge(
                "Booths with a complete team",
                "Every required role and at least 3 women, verified.",
                target(share("booths_complete"), "{{state}}"),
            ),
            timeseries(
                "Booths with a verified president",
                "Count per state.",
                target(per_state("booths_with_verified_president"), "{{state}}"),
            ),
            timeseries(
                "Booths with a complete team",
                "Count per state.",
                target(per_state("booths_complete"), "{{state}}"),
            ),
            timeseries(
                "Verified appointees",
                "Verified booth-team members per state.",
                target(per_state("verified_appointees"), "{{state}}"),
            ),
            timeseries(
                "Booths with a WhatsApp pramukh",
                "Count per state.",
                target(per_state("booths_with_whatsapp_pramukh"), "{{state}}"),
            ),
            timeseries(
                "Progress rate (booths per hour)",
                "Booths reaching the deadline's measure per hour, recent window.",
                target(per_state("deadline_rate_per_hour"), "{{state}}"),
            ),
            timeseries(
                "Booths still to go",
                "Booths still to reach the deadline's measure.",
                target(per_state("deadline_remaining_booths"), "{{state}}"),
            ),
            on_track_panel(
                "On track for the deadline",
                "1 if the recent rate completes the state before its deadline.",
                per_state("deadline_on_track"),
            ),
            stat(
                "Deadline and projected completion",
                "The state's deadline (A) and when the recent rate completes it "
                "(B; empty with no recent progress).",
                target(
                    f"1000 * {per_state('deadline_target_timestamp_seconds')}", "{{state}} deadline"
                ),
                target(
                    f"1000 * {per_state('deadline_projected_timestamp_seconds')}",
                    "{{state}} projected",
                    ref="B",
                ),
                unit="dateTimeAsIso",
            ),
            stat(
                "Booths total",
                "Booths in the state (org registry).",
                target(per_state("booths_total"), "{{state}}"),
            ),
        ],
        [
            query_variable(
                "state", "State", "label_values(sangathan_coverage_booths_total, state)", multi=True
            )
        ],
    )


def meetings() -> dict:
    state = '{state=~"$state"}'

    def per_state(metric: str) -> str:
        return f"max by (state) (sangathan_meetings_{metric}{state})"

    return dashboard(
        "sangathan-meetings",
        "Sangathan / Meetings by state",
        "Audio bridges and video conferences per state from the analytics worker: held against "
        "the target, attendance live, confirmations, calls; each meeting's reach per unit is in "
        "the HQ dashboard (meetings and booths are too many for Prometheus labels).",
        [
            timeseries(
                "Meetings held",
                "Meetings ended that the state or a unit under it held.",
                target(per_state("held"), "{{state}}"),
            ),
            timeseries(
                "Meetings in progress",
                "Meetings started and not yet ended, held in the state.",
                target(per_state("in_progress"), "{{state}}"),
            ),
            stat(
                "Meetings still to hold for the target",
                "The state's meetings target (analytics' targets file) less the meetings held.",
                target(per_state("target_remaining"), "{{state}}"),
            ),
            on_track_panel(
                "On track for the meetings target",
                "1 if the recent rate of meetings held meets the target by its date.",
                per_state("target_on_track"),
            ),
            timeseries(
                "Participants joined, by state",
                "Invitees who joined (A) out of those invited (B), over all meetings; each "
                "counted once a meeting however often they dialled in again.",
                target(per_state("joined"), "{{state}} joined"),
                target(per_state("invited"), "{{state}} invited", ref="B"),
            ),
            timeseries(
                "Joins in the last 5 minutes",
                "Invitees joining now: the change of the joined count over 5 minutes.",
                target(
                    f"max by (state) (delta(sangathan_meetings_joined{state}[5m]))",
                    "{{state}}",
                ),
            ),
            timeseries(
                "Confirmations",
                "Invitees who pressed 1 on the call or checked in with their join link.",
                target(per_state("confirmed"), "{{state}}"),
            ),
            bargauge(
                "Confirmed share of those who joined",
                "Confirmations against joins, over all meetings.",
                target(f"100 * {per_state('confirmed')} / {per_state('joined')}", "{{state}}"),
            ),
            timeseries(
                "Call outcomes",
                "Dial-out per state: invitees rung (A), who answered (B), and rung but never "
                "answered after the retries (C: busy, no answer, failed).",
                target(per_state("rang"), "{{state}} rang"),
                target(per_state("answered"), "{{state}} answered", ref="B"),
                target(
                    f"{per_state('rang')} - {per_state('answered')}",
                    "{{state}} not answered",
                    ref="C",
                ),
            ),
            timeseries(
                "Workers reached",
                "Distinct appointees of the state who joined any meeting.",
                target(per_state("workers_reached"), "{{state}}"),
            ),
            timeseries(
                "Hours attended",
                "Time in meetings, summed over every invitee's legs.",
                target(f"{per_state('attended_seconds')} / 3600", "{{state}}"),
            ),
            timeseries(
                "Attendance visibility lag p95",
                "From an attendance event's time to its count being visible to every "
                "analytics worker's API.",
                target(p95("sangathan_analytics_attendance_visibility_lag_seconds", "job"), "p95"),
                unit="s",
            ),
            timeseries(
                "Meeting events per second by type and outcome",
                "Meeting and attendance events the analytics worker took: counted, duplicate "
                "(replays and provider retries count once), ignored, dead_lettered.",
                target(
                    "sum by (type, outcome) "
                    f'(rate(sangathan_analytics_events_total{{type=~"{MEETING_TYPES}"}}[{RATE}]))',
                    "{{type}} {{outcome}}",
                ),
            ),
        ],
        [
            query_variable(
                "state", "State", "label_values(sangathan_meetings_invited, state)", multi=True
            )
        ],
    )


def reports() -> dict:
    state = '{state=~"$state"}'

    def per_state(metric: str) -> str:
        return f"max by (state) (sangathan_{metric}{state})"

    return dashboard(
        "sangathan-reports",
        "Sangathan / Field reports and WhatsApp groups by state",
        "Booth reports asked and answered today (IST) over every form, and booth WhatsApp groups, "
        "per state from the analytics worker; a form's options, sums and silent booths per unit "
        "are in the API (GET /reports/{unit}) and the HQ dashboard.",
        [
            timeseries(
                "Reports asked, submitted and late today",
                "Booths asked for today's period (A), that answered (B), after their due time (C).",
                target(per_state("reports_expected_today"), "{{state}} asked"),
                target(per_state("reports_submitted_today"), "{{state}} submitted", ref="B"),
                target(per_state("reports_late_today"), "{{state}} late", ref="C"),
            ),
            bargauge(
                "Share of today's reports in",
                "Submitted over asked, today's period.",
                target(
                    f"100 * {per_state('reports_submitted_today')} "
                    f"/ clamp_min({per_state('reports_expected_today')}, 1)",
                    "{{state}}",
                    instant=True,
                ),
            ),
            timeseries(
                "Booths with a WhatsApp group",
                "Booths whose WhatsApp pramukh registered an active group.",
                target(per_state("whatsapp_booths_with_group"), "{{state}}"),
            ),
            bargauge(
                "Share of booths with a WhatsApp group",
                "Booths with an active group over the state's booths, as the HQ dashboard shows.",
                target(
                    f"100 * {per_state('whatsapp_booths_with_group')} "
                    f"/ clamp_min({per_state('coverage_booths_total')}, 1)",
                    "{{state}}",
                    instant=True,
                ),
            ),
            timeseries(
                "Members reached",
                "Members of active booth groups (A) and recipients of active broadcast lists (B).",
                target(per_state("whatsapp_members_reached"), "{{state}} group members"),
                target(
                    per_state("whatsapp_broadcast_recipients"), "{{state}} list recipients", ref="B"
                ),
            ),
            stat(
                "Broadcast lists",
                "Active booth broadcast lists (up to 256 recipients each).",
                target(per_state("whatsapp_broadcast_lists"), "{{state}}"),
            ),
        ],
        [
            query_variable(
                "state",
                "State",
                "label_values(sangathan_reports_expected_today, state)",
                multi=True,
            )
        ],
    )


DASHBOARDS = {
    "overview": overview,
    "appointments": appointments,
    "otp": otp,
    "notifier": notifier,
    "analytics": analytics,
    "coverage": coverage,
    "meetings": meetings,
    "reports": reports,
}


def render() -> dict[str, str]:
    """File name -> JSON text, as committed."""
    return {
        f"{name}.json": json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
        for name, build in DASHBOARDS.items()
    }


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text)
        print(f"wrote {OUT / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
