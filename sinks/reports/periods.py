"""Report periods: which period an event routed at a given time belongs to, per priority.

CRITICAL events are gathered for ``email.immediate_window`` seconds (aligned to the epoch, so
every worker agrees); the other priorities use the seed's cadence (``email.periods``), aligned
to the report's wall clock: hours, 00/06/12/18, midnight, Monday 00:00. Wall-clock alignment is
why Faust's own windows (epoch-aligned in UTC) are not used: a day in Europe/Prague starts at
23:00 or 22:00 UTC, and a day with a DST change lasts 23 or 25 hours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from streams.config import EmailAction, EmailSettings
from streams.priorities import Priority

WEEK = 7 * 86400.0
_CADENCE_NAMES = {3600.0: "hourly", 6 * 3600.0: "6-hour", 86400.0: "daily", WEEK: "weekly"}


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) in UTC; ``zone`` is the report's time zone, for display."""

    start: datetime
    end: datetime
    zone: str
    # The configured length: a day with a DST change lasts 23 or 25 hours and is still "daily".
    length: float
    immediate: bool = False

    @property
    def key(self) -> str:
        """Names the period (in Message-IDs): its start as integer milliseconds since the epoch."""
        return str(round(self.start.timestamp() * 1000))

    @property
    def cadence(self) -> str:
        if self.immediate:
            return "immediate"
        return _CADENCE_NAMES.get(self.length, f"{self.length:g}-second")


def report_zone(report: EmailAction, settings: EmailSettings) -> str:
    return report.timezone or settings.timezone


def period_length(priority: Priority, settings: EmailSettings) -> float:
    if priority is Priority.CRITICAL:
        return settings.immediate_window
    return getattr(settings.periods, priority.name)


def period_at(moment: datetime, priority: Priority, zone: str, settings: EmailSettings) -> Period:
    """The period of ``priority`` that contains ``moment`` (an aware datetime)."""
    length = period_length(priority, settings)
    if priority is Priority.CRITICAL or length < 3600:
        # Shorter than an hour (immediate windows, shortened test periods): aligned to the epoch,
        # which every zone's quarter hours agree with.
        seconds = moment.timestamp()
        start = math.floor(seconds / length) * length
        return Period(_utc(start), _utc(start + length), zone, length, immediate=priority is Priority.CRITICAL)
    tz = ZoneInfo(zone)
    local = moment.astimezone(tz).replace(tzinfo=None)
    if length == WEEK:
        start_local = datetime.combine(local.date() - timedelta(days=local.weekday()), datetime.min.time())
    else:
        midnight = datetime.combine(local.date(), datetime.min.time())
        elapsed = (local - midnight).total_seconds()
        start_local = midnight + timedelta(seconds=math.floor(elapsed / length) * length)
    # Boundaries are whole local hours, read with fold=0: the hour repeated when DST ends belongs
    # to one period (an hourly period of two hours, once a year) and periods never overlap.
    end_local = start_local + timedelta(seconds=length)
    return Period(start_local.replace(tzinfo=tz).astimezone(timezone.utc),
                  end_local.replace(tzinfo=tz).astimezone(timezone.utc), zone, length)


def next_period(period: Period, priority: Priority, settings: EmailSettings) -> Period:
    """The period right after ``period``: where an event goes that arrives after its period was sent."""
    return period_at(period.end, priority, period.zone, settings)


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)
