"""Meetings held per unit against a goal by a date, from the same targets file as coverage's
deadlines and with the same projection (analytics/coverage/deadline.py). Pure, but for loading."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml

from analytics.coverage.deadline import Projection, deadline_of, project
from analytics.meetings.totals import Held

KINDS = ("audio_bridge", "video_conference")


@dataclass(frozen=True)
class MeetingsTarget:
    unit: str
    held: int  # meetings to hold, by the unit or under it
    by: datetime
    kind: str | None = None  # only meetings of this kind count; None: every meeting


def meetings_progress(
    target: MeetingsTarget, held: Held, now: float, window_hours: float
) -> Projection:
    return project(
        target.held, held.count(target.kind), held.hours(target.kind), target.by, now, window_hours
    )


def progress_json(target: MeetingsTarget, projection: Projection) -> dict:
    return {"kind": target.kind, "target_held": target.held, **projection.to_json()}


def load_meeting_targets(path: Path) -> dict[str, MeetingsTarget]:
    """Meetings targets by unit id: the `meetings:` block of a unit in the targets file."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    targets = {}
    for unit, spec in raw.items():
        meetings = (spec or {}).get("meetings")
        if not meetings:
            continue
        kind = meetings.get("kind")
        if kind is not None and kind not in KINDS:
            raise ValueError(f"{path}: {unit}: meetings kind must be one of {', '.join(KINDS)}")
        held = meetings.get("held")
        if not isinstance(held, int) or held < 1:
            raise ValueError(f"{path}: {unit}: meetings held must be a whole number above 0")
        targets[unit] = MeetingsTarget(unit, held, deadline_of(path, unit, meetings["by"]), kind)
    return targets
