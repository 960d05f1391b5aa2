"""Mute windows: times during which an action does not fire (maintenance windows), as
Alertmanager's mute_time_intervals. Pure functions of (windows, time).

A delivery that falls in a window is dropped and counted, not postponed: a maintenance window is
declared because its alerts are expected and unwanted.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterable, Mapping
from zoneinfo import ZoneInfo

from streams.config import WEEKDAYS, MuteWindow


def window_contains(window: MuteWindow, now: datetime) -> bool:
    """``now`` is timezone-aware. One-off windows include their start and exclude their end;
    a weekly window whose end_time is not after its start_time runs past midnight into the next
    day (a 22:00-02:00 window on Saturday covers Saturday 22:00 to Sunday 02:00)."""
    if window.start is not None and window.end is not None:
        return _aware(window.start, window.timezone) <= now < _aware(window.end, window.timezone)
    assert window.weekdays is not None and window.start_time is not None and window.end_time is not None
    local = now.astimezone(ZoneInfo(window.timezone))
    days = {WEEKDAYS.index(day) for day in window.weekdays}
    clock = local.time().replace(tzinfo=None)
    if window.start_time < window.end_time:
        return local.weekday() in days and window.start_time <= clock < window.end_time
    # Past midnight: the evening part belongs to the listed day, the morning part to the day after.
    previous_day = (local - timedelta(days=1)).weekday()
    return (local.weekday() in days and clock >= window.start_time) or \
        (previous_day in days and clock < window.end_time)


def active_window(windows: Mapping[str, MuteWindow], names: Iterable[str], now: datetime) -> str | None:
    """The first of ``names`` whose window contains ``now``, or None."""
    for name in names:
        if window_contains(windows[name], now):
            return name
    return None


def _aware(moment: datetime, zone: str) -> datetime:
    # A one-off window written without an offset is in the window's timezone (UTC by default).
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=ZoneInfo(zone))
