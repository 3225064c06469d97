"""Progress against a deadline: the recent rate, and when that rate finishes. Pure.

A state's booths against its coverage target here; meetings held reuse `project` and the
targets file (analytics/meetings/targets.py)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml

from analytics.coverage.domain import HOUR_S, Counts

MEASURES = {
    "booths_complete": "complete_hours",
    "booths_with_verified_president": "president_hours",
}


@dataclass(frozen=True)
class Target:
    state: str  # the state's unit id, e.g. IN-MP
    by: datetime
    measure: str = "booths_complete"
    booths: int | None = None  # None: every booth the registry holds for the state


@dataclass(frozen=True)
class Projection:
    """How far something counted is towards a goal by a date, at its recent hourly rate."""

    goal: int
    achieved: int
    by: datetime
    rate_per_hour: float  # reaching the goal's measure per hour, over the window
    window_hours: float
    projected_completion: datetime | None  # None: met already, or no progress in the window

    @property
    def remaining(self) -> int:
        return max(0, self.goal - self.achieved)

    @property
    def met(self) -> bool:
        return self.remaining == 0

    @property
    def on_track(self) -> bool:
        if self.met:
            return True
        return self.projected_completion is not None and self.projected_completion <= self.by

    def to_json(self) -> dict:
        return {
            "target_date": self.by.isoformat(),
            "achieved": self.achieved,
            "remaining": self.remaining,
            "rate_per_hour": round(self.rate_per_hour, 3),
            "window_hours": self.window_hours,
            "projected_completion": self.projected_completion.isoformat()
            if self.projected_completion
            else None,
            "met": self.met,
            "on_track": self.on_track,
        }


def project(
    goal: int,
    achieved: int,
    hours: Mapping[int, int],
    by: datetime,
    now: float,
    window_hours: float,
) -> Projection:
    """The rate over the last `window_hours` (from counts per hour since the epoch), and when it
    reaches `goal`."""
    first_hour = math.floor((now - window_hours * HOUR_S) / HOUR_S)
    # Whole hours: the current hour counts in full, so the rate leans slightly optimistic early on.
    recent = sum(n for hour, n in hours.items() if hour >= first_hour)
    rate = recent / window_hours
    remaining = max(0, goal - achieved)
    projected = None
    if remaining and rate > 0:
        projected = datetime.fromtimestamp(now + remaining / rate * HOUR_S, timezone.utc)
    return Projection(goal, achieved, by, rate, window_hours, projected)


@dataclass(frozen=True)
class Progress(Projection):
    """A state's booths against its coverage deadline."""

    target: Target | None = None

    @property
    def target_booths(self) -> int:
        return self.goal

    def to_json(self) -> dict:
        return {"measure": self.target.measure, "target_booths": self.goal, **super().to_json()}


def progress(
    target: Target, counts: Counts, booths_in_registry: int, now: float, window_hours: float
) -> Progress:
    """How far the state is, how fast it went over the last `window_hours`, and when it ends."""
    target_booths = target.booths if target.booths is not None else booths_in_registry
    hours: Mapping[int, int] = getattr(counts, MEASURES[target.measure])
    projection = project(
        target_booths, getattr(counts, target.measure), hours, target.by, now, window_hours
    )
    return Progress(**vars(projection), target=target)


def deadline_of(path: Path, unit: str, by) -> datetime:
    """A target's `by` from a targets file: a date and time with its zone offset."""
    by = by if isinstance(by, datetime) else datetime.fromisoformat(str(by))
    if by.tzinfo is None:
        raise ValueError(f"{path}: {unit}: 'by' needs a time zone offset (IST or UTC is ambiguous)")
    return by


def load_targets(path: Path) -> dict[str, Target]:
    """Deadlines by state unit id, from the YAML file named in the settings."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    targets = {}
    for state, spec in raw.items():
        if "by" not in spec:
            continue  # a unit with a meetings target only (analytics/meetings/targets.py)
        measure = spec.get("measure", "booths_complete")
        if measure not in MEASURES:
            raise ValueError(f"{path}: {state}: measure must be one of {', '.join(MEASURES)}")
        targets[state] = Target(
            state, deadline_of(path, state, spec["by"]), measure, spec.get("booths")
        )
    return targets
